//! `nmr cache list | drop | prune`: what the upstream cache holds, and removing from it. They
//! work on the database and storage directly, while the server runs or not; a running server
//! fetches a dropped package again on its next request.

use super::args::CacheCommand;
use super::error::{Error, Result};
use crate::app::App;
use crate::store::db::Connection;
use crate::uplink::cache;
use std::io::Write;

/// Reads an age such as `90d`, `12h`, `30m` or `45s` as milliseconds.
pub fn age(s: &str) -> Result<i64> {
    let units = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ];
    units
        .iter()
        .find_map(|(u, ms)| {
            let n: i64 = s.strip_suffix(u)?.parse().ok()?;
            n.checked_mul(*ms).filter(|v| *v >= 0)
        })
        .ok_or_else(|| {
            Error::Usage(format!(
                "--unused-for {s:?}: expected an age such as 90d, 12h or 30m"
            ))
        })
}

/// Splits `NAME[@VERSION]`; a scope's `@` is part of the name.
fn spec(s: &str) -> Result<(String, Option<String>)> {
    let (name, version) = match super::lockfile::split_at_version(s) {
        Some((name, v)) => (name, Some(v.to_string())),
        None => (s, None),
    };
    crate::name::validate(name).map_err(|e| Error::Usage(format!("{s}: {}", e.message())))?;
    if let Some(v) = &version {
        if semver::Version::parse(v).is_err() {
            return Err(Error::Usage(format!(
                "{s}: {v:?} is not a version; drop one version as NAME@1.2.3"
            )));
        }
    }
    Ok((name.to_string(), version))
}

/// Checks the command's arguments before anything is opened.
pub(super) fn check(c: &CacheCommand) -> Result<()> {
    match c {
        CacheCommand::List => Ok(()),
        CacheCommand::Drop(None) => Err(Error::Usage(
            "nmr cache drop needs a package: nmr cache drop NAME[@VERSION]".into(),
        )),
        CacheCommand::Drop(Some(s)) => spec(s).map(drop),
        CacheCommand::Prune(None) => Err(Error::Usage(
            "nmr cache prune needs --unused-for AGE, e.g. --unused-for 90d".into(),
        )),
        CacheCommand::Prune(Some(a)) => age(a).map(drop),
    }
}

/// Runs a checked command, printing what it did to `out`.
pub(super) fn run(
    app: &App,
    db: &mut Connection,
    c: &CacheCommand,
    out: &mut impl Write,
) -> Result<()> {
    let io = |e| Error::io("writing the output", e);
    match c {
        CacheCommand::List => {
            let listed = crate::store::meta::uplink_listing(db)?;
            writeln!(
                out,
                "{:<40} {:>8} {:>12}  LAST USED",
                "NAME", "TARBALLS", "BYTES"
            )
            .map_err(io)?;
            for p in &listed {
                let used = p.last_used.as_deref().unwrap_or("-");
                writeln!(
                    out,
                    "{:<40} {:>8} {:>12}  {used}",
                    p.name, p.tarballs, p.bytes
                )
                .map_err(io)?;
            }
            let (tarballs, bytes) = crate::store::meta::uplink_totals(db)?;
            writeln!(
                out,
                "{} packages, {tarballs} tarballs, {bytes} bytes",
                listed.len()
            )
            .map_err(io)?;
        }
        CacheCommand::Drop(Some(s)) => {
            let (name, version) = spec(s)?;
            let d = cache::drop(app, db, &name, version.as_deref()).map_err(Error::Request)?;
            writeln!(
                out,
                "dropped {s} from the upstream cache ({} tarballs)",
                d.tarballs
            )
            .map_err(io)?;
        }
        CacheCommand::Prune(Some(a)) => {
            let (n, bytes) = cache::prune(app, db, age(a)?).map_err(Error::Request)?;
            writeln!(
                out,
                "pruned {n} cached tarballs ({bytes} bytes) not downloaded for {a}"
            )
            .map_err(io)?;
        }
        CacheCommand::Drop(None) | CacheCommand::Prune(None) => check(c)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_specs_are_read_as_written() {
        assert_eq!(age("90d").unwrap(), 90 * 86_400_000);
        assert_eq!(age("12h").unwrap(), 12 * 3_600_000);
        for bad in ["90", "d", "-1d", "1w", "1.5d"] {
            assert!(age(bad).is_err(), "{bad}");
        }
        assert_eq!(
            spec("@up/lib@1.2.3").unwrap(),
            ("@up/lib".into(), Some("1.2.3".into()))
        );
        assert_eq!(spec("JSONStream").unwrap(), ("JSONStream".into(), None));
        assert!(spec("lib@latest").is_err() && spec("../x").is_err());
    }
}
