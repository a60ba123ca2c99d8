//! `nmr mirror`: stores here every registry package that lockfiles (or `--package` specs) name,
//! so that an export carries them to an air-gapped registry.
//!
//! Mirrored packages become **upstream-cache entries**, exactly what a client's install through
//! the proxy would have cached (`uplink_*` rows, tarballs under `_uplink/`, each verified
//! against the upstream packument's digests), never local packages: a local name or scope
//! would stop going upstream on this connected registry, so later upstream versions and the
//! rest of the scope would vanish from it. The air-gapped side gets them as local packages
//! from `nmr import`, since it has no upstream to serve a cache for. Names published here are
//! left as they are and only checked.
//!
//! A run can be repeated or resumed: what is cached already is verified but not fetched again.

use super::error::{Error, Result};
use crate::app::{App, Ctx};
use crate::cmd::lockfile::{self, Entry};
use crate::config::UplinkMode;
use crate::digest::Digests;
use crate::store::db::Connection;
use crate::store::meta;
use crate::uplink::{self, Mirrored};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

/// What to mirror.
#[derive(Debug, Default)]
pub struct Request {
    pub lockfiles: Vec<PathBuf>,
    /// `name`, `name@version` or `name@tag`.
    pub specs: Vec<String>,
}

/// What a run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub fetched: usize,
    pub cached: usize,
    pub local: usize,
    /// Bytes downloaded by this run.
    pub bytes: u64,
    /// `(name@version, why)`.
    pub failed: Vec<(String, String)>,
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// One line rewritten in place, for a person at a terminal.
    Line,
    /// One line per package version, for logs.
    Lines,
}

/// A `--package` spec: the version is exact, or a dist-tag to look up.
#[derive(Debug, PartialEq, Eq)]
enum Spec {
    Exact(String, String),
    Tag(String, String),
}

fn parse_spec(spec: &str) -> Result<Spec> {
    let (name, rest) = match lockfile::split_at_version(spec) {
        Some((name, rest)) => (name, Some(rest)),
        None => (spec, None),
    };
    crate::name::validate(name)
        .map_err(|e| Error::Usage(format!("--package {spec}: {}", e.message())))?;
    let name = name.to_string();
    match rest {
        None => Ok(Spec::Tag(name, "latest".into())),
        Some(v) if semver::Version::parse(v).is_ok() => Ok(Spec::Exact(name, v.into())),
        Some(t) if crate::api::document::validate_tag(t).is_ok() => Ok(Spec::Tag(name, t.into())),
        Some(r) => Err(Error::Usage(format!(
            "--package {spec}: {r:?} is not an exact version or a dist-tag; ranges are not supported, because a mirror should hold what will be installed: give the exact version (`npm view {name} versions` lists them), or mirror the project's lockfile"
        ))),
    }
}

/// `(name, version)` to mirror, with the integrities lockfiles pin for it.
type Wanted = BTreeMap<(String, String), Vec<String>>;

/// Reads every lockfile and checks every spec before anything is fetched, so bad input changes
/// nothing. Returns the entries in order with the integrities pinned for each. Every error is
/// a usage error, an unreadable lockfile too: the operator named it.
fn gather(req: &Request, out: &mut dyn Write) -> Result<(Wanted, Vec<Spec>)> {
    let mut wanted = Wanted::new();
    for path in &req.lockfiles {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("cannot read lockfile {}: {e}", path.display())))?;
        let parsed =
            lockfile::parse(&text).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
        let _ = writeln!(
            out,
            "{} ({}): {} registry packages, {} left out",
            path.display(),
            parsed.kind,
            parsed.entries.len(),
            parsed.skipped.len()
        );
        for (what, why) in &parsed.skipped {
            let _ = writeln!(out, "  left out {what}: {why}");
        }
        for Entry {
            name,
            version,
            integrity,
        } in parsed.entries
        {
            let pins = wanted.entry((name, version)).or_default();
            pins.extend(integrity.filter(|i| !pins.contains(i)));
        }
    }
    let specs = req
        .specs
        .iter()
        .map(|s| parse_spec(s))
        .collect::<Result<Vec<_>>>()?;
    Ok((wanted, specs))
}

/// The version a tag names, here if the package is local, else upstream.
fn resolve_tag(ctx: &mut Ctx, name: &str, tag: &str) -> crate::error::Result<String> {
    let missing = || {
        crate::error::Error::NotFound(format!(
            "{name} has no dist-tag {tag:?}; name an exact version"
        ))
    };
    if let Some(p) = meta::package(ctx.db, name)? {
        return meta::tags(ctx.db, p.id)?
            .into_iter()
            .find(|(t, _)| t == tag)
            .map(|(_, v)| v)
            .ok_or_else(missing);
    }
    let (tags, _) = uplink::upstream_versions(ctx, name)?;
    tags.get(tag)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(missing)
}

/// Reads a stored tarball back once and checks it against every integrity the lockfiles pin.
fn check_pins(app: &App, f: &meta::File, pins: &[String]) -> Result<()> {
    if pins.is_empty() {
        return Ok(());
    }
    let (mut r, _) = app.blobs.get(&f.blob_key)?.ok_or_else(|| {
        Error::Failed(format!(
            "{} is missing from {}",
            f.blob_key,
            app.blobs.name()
        ))
    })?;
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("reading {} failed", f.blob_key), e))?;
    let digests = Digests::of(&bytes);
    pins.iter().try_for_each(|pin| {
        digests.check_integrity(pin, &bytes).map_err(|e| {
            Error::Failed(format!(
                "the lockfile pins {pin}, but the registry's tarball differs: {e}"
            ))
        })
    })
}

/// Human-readable byte counts for progress lines.
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b < 1 << 10 => format!("{b} B"),
        b if b < 1 << 20 => format!("{:.1} KiB", b as f64 / 1024.0),
        b if b < 1 << 30 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
    }
}

/// Runs a mirror. Returns `Err` for bad input (nothing fetched); per-package failures are in
/// the summary, each also written to `err` as it happens.
pub fn run(
    app: &App,
    db: &mut Connection,
    req: &Request,
    progress: Progress,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Summary> {
    let cfg = &app.config.uplink;
    if cfg.mode != UplinkMode::Proxy || cfg.url.is_none() {
        return Err(Error::Usage("nmr mirror fetches from the upstream registry into the proxy cache: set uplink.mode = \"proxy\" and uplink.url".into()));
    }
    if cfg.offline {
        return Err(Error::Usage(
            "nmr mirror needs the upstream registry, but uplink.offline is set".into(),
        ));
    }
    let (mut wanted, specs) = gather(req, out)?;
    let mut s = Summary::default();
    // The operator runs this command on the server itself: no permission check applies.
    let mut ctx = Ctx {
        app,
        db,
        who: crate::auth::Identity::Anyone,
        slot: None,
    };
    for spec in specs {
        let (name, version) = match spec {
            Spec::Exact(n, v) => (n, v),
            Spec::Tag(n, t) => match resolve_tag(&mut ctx, &n, &t).map_err(Error::Request) {
                Ok(v) => (n, v),
                Err(e) => {
                    let _ = writeln!(err, "FAILED {n}@{t}: {e}");
                    s.failed.push((format!("{n}@{t}"), e.to_string()));
                    continue;
                }
            },
        };
        wanted.entry((name, version)).or_default();
    }
    s.total = wanted.len() + s.failed.len();
    let _ = writeln!(
        out,
        "mirroring {} package versions from {}",
        wanted.len(),
        cfg.url.as_deref().unwrap_or_default()
    );
    let start = s.failed.len();
    for (i, ((name, version), pins)) in wanted.iter().enumerate() {
        let n = start + i + 1;
        let id = format!("{name}@{version}");
        let outcome = uplink::mirror(&mut ctx, name, version)
            .map_err(Error::Request)
            .and_then(|m| {
                let f = match &m {
                    Mirrored::Local(f) | Mirrored::Cached(f) | Mirrored::Fetched(f) => f,
                };
                check_pins(app, f, pins)?;
                Ok(m)
            });
        let line = match outcome {
            Ok(Mirrored::Fetched(f)) => {
                s.fetched += 1;
                s.bytes += f.size as u64;
                format!("fetched {id} ({})", human(f.size as u64))
            }
            Ok(Mirrored::Cached(_)) => {
                s.cached += 1;
                format!("already cached {id}")
            }
            Ok(Mirrored::Local(_)) => {
                s.local += 1;
                format!("published here {id}")
            }
            Err(e) => {
                let why = e.to_string();
                if progress == Progress::Line {
                    let _ = write!(out, "\r\x1b[K");
                    let _ = out.flush();
                }
                let _ = writeln!(err, "[{n}/{}] FAILED {id}: {why}", s.total);
                s.failed.push((id.clone(), why));
                format!("failed {id}")
            }
        };
        match progress {
            Progress::Lines => {
                let _ = writeln!(out, "[{n}/{}] {line}", s.total);
            }
            Progress::Line => {
                let _ = write!(
                    out,
                    "\r\x1b[K[{n}/{}] {} fetched, {} failed  {id}",
                    s.total,
                    human(s.bytes),
                    s.failed.len()
                );
                let _ = out.flush();
            }
        }
    }
    if progress == Progress::Line {
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "done: {} package versions: {} fetched ({}), {} already cached, {} published here, {} failed",
        s.total,
        s.fetched,
        human(s.bytes),
        s.cached,
        s.local,
        s.failed.len()
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_exact_versions_or_tags_never_ranges() {
        let ok = |s: &str| parse_spec(s).unwrap();
        assert_eq!(ok("lodash"), Spec::Tag("lodash".into(), "latest".into()));
        assert_eq!(
            ok("@up/lib@1.2.3-rc.1"),
            Spec::Exact("@up/lib".into(), "1.2.3-rc.1".into())
        );
        assert_eq!(ok("@up/lib"), Spec::Tag("@up/lib".into(), "latest".into()));
        assert_eq!(ok("x@next"), Spec::Tag("x".into(), "next".into()));
        for bad in ["x@^1.0.0", "x@1.2", "x@>=1 <2", "x@*", "Bad Name", "@scope"] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
        let e = parse_spec("x@~1").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("exact version"), "{e}");
    }

    #[test]
    fn byte_counts_read_as_people_write_them() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(5 << 20), "5.0 MiB");
    }
}
