//! `nmr db copy --to postgres|sqlite`: moves the metadata database from one engine to the
//! other (see `store::dbcopy`), rebuilds the search index at the destination, then verifies
//! every table by its row count and checksum on both sides. The source is only read. Run again,
//! it resumes an unfinished copy from the same source (known by the template marker, which the
//! copy carries over first), and refuses any other destination that holds something.

use super::error::{Error, Result};
use crate::config::Config;
use crate::store::db::{pg, Connection, Engine};
use crate::store::dbcopy::{self, Sum, Table, TABLES};
use crate::store::meta;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Usage lines, shown with a usage error (`nmr --help` has its own).
pub const USAGE: &str = "\
  nmr db copy --to postgres [--url URL] [--verify-only]
  nmr db copy --to sqlite [--path FILE] [--verify-only]
";

/// The words after `nmr db copy`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    to: Option<Engine>,
    url: Option<String>,
    path: Option<PathBuf>,
    verify_only: bool,
}

fn parse(words: &[String]) -> Result<Options> {
    let mut o = Options::default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| Error::Usage(format!("{w} needs a value")))
        };
        match w.as_str() {
            "--to" => {
                o.to = Some(match value()?.as_str() {
                    "postgres" | "postgresql" => Engine::Postgres,
                    "sqlite" => Engine::Sqlite,
                    other => {
                        return Err(Error::Usage(format!(
                            "--to {other:?}: expected postgres or sqlite"
                        )))
                    }
                })
            }
            "--url" => o.url = Some(value()?),
            "--path" => o.path = Some(PathBuf::from(value()?)),
            "--verify-only" => o.verify_only = true,
            other => {
                return Err(Error::Usage(format!(
                    "nmr db copy: unknown argument {other:?}; usage:\n{USAGE}"
                )))
            }
        }
    }
    match o.to {
        None => Err(Error::Usage(format!(
            "nmr db copy needs --to postgres or --to sqlite; usage:\n{USAGE}"
        ))),
        Some(Engine::Postgres) if o.path.is_some() => Err(Error::Usage(
            "--path names the SQLite file written by --to sqlite; --to postgres reads db.path (--db-path FILE)".into(),
        )),
        Some(Engine::Sqlite) if o.url.is_some() => Err(Error::Usage(
            "--url names the PostgreSQL database written by --to postgres; --to sqlite reads db.url".into(),
        )),
        Some(_) => Ok(o),
    }
}

/// One side of a copy.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Sqlite(PathBuf),
    /// The URL, as given (it may hold a password).
    Postgres(String),
}

impl End {
    /// How the side is named in output: never with a password.
    fn describe(&self) -> String {
        match self {
            End::Sqlite(p) => p.display().to_string(),
            End::Postgres(url) => pg::mask_url(url),
        }
    }
}

/// The source and destination the options and configuration name: `--to postgres` reads the
/// SQLite file at db.path into `--url` (default db.url); `--to sqlite` reads db.url into
/// `--path` (default db.path), or, with no PostgreSQL configured, db.path into another file.
fn ends(config: &Config, o: &Options) -> Result<(End, End)> {
    let db_url = config.db_url.as_ref().map(|u| u.0.clone());
    let (from, to) = match o.to {
        Some(Engine::Postgres) => {
            let url = o.url.clone().or(db_url).ok_or_else(|| {
                Error::Usage(
                    "nmr db copy --to postgres needs --url postgres://USER@HOST/DB (or db.url)"
                        .into(),
                )
            })?;
            (End::Sqlite(config.db_path.clone()), End::Postgres(url))
        }
        _ => {
            let from = match db_url {
                Some(url) => End::Postgres(url),
                None => End::Sqlite(config.db_path.clone()),
            };
            let path = o.path.clone().unwrap_or_else(|| config.db_path.clone());
            (from, End::Sqlite(path))
        }
    };
    if let (End::Sqlite(a), End::Sqlite(b)) = (&from, &to) {
        if same_file(a, b) {
            return Err(Error::Usage(format!(
                "the source and the destination are both {}: name another file with --path",
                a.display()
            )));
        }
    }
    if let End::Sqlite(p) = &from {
        if !p.is_file() {
            return Err(Error::Usage(format!(
                "no database at {} (db.path): nothing to copy",
                p.display()
            )));
        }
    }
    Ok((from, to))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Connects to one side. A URL that cannot be used is the operator's to fix (exit 2).
fn connect(config: &Config, end: &End, create: bool) -> Result<Connection> {
    match end {
        End::Sqlite(path) if create => Ok(meta::open(path)?),
        End::Sqlite(path) => {
            if !path.is_file() {
                return Err(Error::Usage(format!(
                    "no database at {}: nothing to verify",
                    path.display()
                )));
            }
            Ok(meta::open(path)?)
        }
        End::Postgres(url) => {
            let password = config.db_password.as_ref().map(|p| p.0.as_str());
            Connection::postgres(url, password).map_err(|e| match e {
                crate::store::db::Error::Setup(m) => Error::Usage(m),
                e => Error::Failed(format!("cannot connect to {}: {e}", end.describe())),
            })
        }
    }
}

/// Refuses a source whose schema is not this nmr's: the source is never changed, and the
/// destination gets this nmr's schema.
fn check_source_schema(conn: &Connection, from: &End) -> Result<()> {
    let (found, known) = meta::schema_version(conn)?;
    if found < known {
        return Err(Error::Usage(format!(
            "the source database {} has schema {found}, this nmr writes schema {known}: start this nmr on it once (it upgrades the schema as it starts), stop it, then copy",
            from.describe()
        )));
    }
    if found > known {
        return Err(Error::Usage(format!(
            "the source database {} has schema {found}, newer than this nmr knows ({known}): copy with the nmr that wrote it",
            from.describe()
        )));
    }
    Ok(())
}

/// The database's revision counter (see `meta::migrate`).
fn rev_seq(conn: &Connection) -> Result<i64> {
    let v: String = conn.query_row("SELECT value FROM meta WHERE key = 'rev_seq'", (), |r| {
        r.get(0)
    })?;
    Ok(v.trim().parse().unwrap_or(0))
}

/// A destination with the source's marker resumes only while both revision counters agree:
/// the copy writes the source's counter first, and every change to a package moves it on.
/// Ahead, the destination was written to since it was copied (nmr ran on it, or it is the
/// original and the source a copy of it), and copying would set its counter back: a revision
/// handed out again lets caches serve an old document for a new one. Behind, the source
/// changed since the copy began, and rows already copied would keep their old contents.
fn check_resumable(src: &Connection, dest: &Connection, from: &End, to: &End) -> Result<()> {
    let (a, b) = (rev_seq(src)?, rev_seq(dest)?);
    let why = match b.cmp(&a) {
        std::cmp::Ordering::Equal => return Ok(()),
        std::cmp::Ordering::Greater => format!(
            "{} was changed after it was copied from {} (its revision counter is at {b}, the source's at {a})",
            to.describe(),
            from.describe()
        ),
        std::cmp::Ordering::Less => format!(
            "{} changed since this copy into {} began (its revision counter is at {a}, the copy's at {b})",
            from.describe(),
            to.describe()
        ),
    };
    Err(Error::Usage(format!(
        "{why}: stop nmr and copy into an empty database"
    )))
}

/// Reads the source in one snapshot, so that what is copied and what is verified are the
/// same rows even if a server writes to it meanwhile (what it writes then is not copied).
fn snapshot(conn: &Connection) -> Result<()> {
    Ok(conn.execute_batch(match conn.engine() {
        Engine::Sqlite => "BEGIN",
        Engine::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    })?)
}

/// `nmr db copy ...`: exit 0 when every table verified, 1 when any differs or the copy
/// stopped, 2 for usage errors and refused destinations (nothing was written then).
pub fn run(config: &Config, words: &[String]) -> i32 {
    let out = &mut std::io::stdout();
    match run_inner(config, words, out) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e @ Error::Usage(_)) => {
            eprintln!("nmr: db copy: {e}");
            e.exit_code()
        }
        Err(e) => {
            eprintln!(
                "nmr: db copy stopped: {e}; run the same command again to resume where it stopped"
            );
            e.exit_code()
        }
    }
}

fn run_inner(config: &Config, words: &[String], out: &mut impl Write) -> Result<bool> {
    let o = parse(words)?;
    let (from, to) = ends(config, &o)?;
    let src = match &from {
        End::Sqlite(p) => meta::open_read_only(p)?,
        End::Postgres(_) => connect(config, &from, false)?,
    };
    snapshot(&src)?;
    check_source_schema(&src, &from)?;
    let marker = meta::marker(&src)?;
    let mut dest = connect(config, &to, !o.verify_only)?;
    if !o.verify_only {
        meta::migrate(&mut dest)?;
    }
    let resume = meta::marker(&dest).ok().as_deref() == Some(marker.as_str());
    if resume && !o.verify_only {
        check_resumable(&src, &dest, &from, &to)?;
    }
    if !resume {
        if o.verify_only {
            return Err(Error::Usage(format!(
                "{} is no copy of {}: nothing to verify",
                to.describe(),
                from.describe()
            )));
        }
        let held = dbcopy::holdings(&dest)?;
        if !held.is_empty() {
            let list: Vec<String> = held.iter().map(|(t, n)| format!("{t}: {n}")).collect();
            return Err(Error::Usage(format!(
                "{} already holds rows ({}) and is no copy of {}: copy into an empty database",
                to.describe(),
                list.join(", "),
                from.describe()
            )));
        }
    }
    if !o.verify_only {
        let verb = if resume {
            "resuming the copy"
        } else {
            "copying"
        };
        writeln!(out, "{verb} from {} to {}", from.describe(), to.describe())?;
        copy(&src, &mut dest, out)?;
    }
    writeln!(out, "verifying every table on both sides:")?;
    verify(&src, &dest, out)
}

/// Copies every table, then makes what each engine keeps for itself: identity sequences and
/// the search index.
fn copy(src: &Connection, dest: &mut Connection, out: &mut impl Write) -> Result<()> {
    for t in TABLES {
        let mut line = Ok(());
        let done = dbcopy::copy_table(src, dest, t, |n, total| {
            if n < total && line.is_ok() {
                line = writeln!(out, "  {}: {n} of {total} rows", t.name);
            }
        })?;
        line?;
        let what = match (done.rows, done.copied) {
            (0, _) => "no rows".to_string(),
            (n, 0) => format!("{}, all there already", rows(n)),
            (n, c) if c == n => format!("{} copied", rows(n)),
            (n, c) => format!("{}, {c} copied, {} there already", rows(n), n - c),
        };
        writeln!(out, "  {}: {what}", t.name)?;
    }
    dbcopy::advance_identities(dest)?;
    let n = reindex(dest)?;
    writeln!(out, "  search: index rebuilt for {n} packages")?;
    Ok(())
}

fn rows(n: u64) -> String {
    if n == 1 {
        "1 row".to_string()
    } else {
        format!("{n} rows")
    }
}

/// Rebuilds the destination's search row of every package, a batch of packages per
/// transaction. Each row is replaced whole, so a rerun does it all again harmlessly.
fn reindex(dest: &mut Connection) -> Result<u64> {
    let mut after = 0i64;
    let mut n = 0;
    loop {
        let batch: Vec<(i64, String)> = dest.query_all(
            "SELECT id, name FROM packages WHERE id > ?1 ORDER BY id LIMIT 200",
            [after],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let Some((last, _)) = batch.last() else {
            return Ok(n);
        };
        after = *last;
        let tx = dest.write_tx()?;
        for (_, name) in &batch {
            crate::packument::reindex(&tx, name).map_err(Error::Request)?;
        }
        tx.commit()?;
        n += batch.len() as u64;
    }
}

/// Counts and sums every table on both sides and prints them side by side. True when all
/// agree.
fn verify(src: &Connection, dest: &Connection, out: &mut impl Write) -> Result<bool> {
    writeln!(
        out,
        "  {:<18} {:>10} {:>10}  {:<16}  {:<16}",
        "table", "source", "dest", "source sha256", "dest sha256"
    )?;
    let mut differ = Vec::new();
    for t in TABLES {
        let (a, b) = (dbcopy::checksum(src, t)?, dbcopy::checksum(dest, t)?);
        line(out, t, &a, &b)?;
        if a != b {
            differ.push(t.name);
        }
    }
    // The index is the destination's own, so only its size can be checked: one row per
    // package.
    let packages = dbcopy::count(dest, dbcopy::named("packages"))?;
    let indexed: i64 = dest.query_row("SELECT count(*) FROM search", (), |r| r.get(0))?;
    let indexed = u64::try_from(indexed).unwrap_or(0);
    let ok = if indexed == packages { "ok" } else { "DIFFERS" };
    writeln!(
        out,
        "  {:<18} {:>10} {:>10}  (one row per package)  {ok}",
        "search", packages, indexed
    )?;
    if indexed != packages {
        differ.push("search");
    }
    if differ.is_empty() {
        writeln!(out, "all {} tables match", TABLES.len())?;
        return Ok(true);
    }
    eprintln!(
        "nmr: db copy: verification failed: {} differ between source and destination; if the source changed during the copy, copy into an empty database again",
        differ.join(", ")
    );
    Ok(false)
}

fn line(out: &mut impl Write, t: &Table, a: &Sum, b: &Sum) -> Result<()> {
    let ok = if a == b { "ok" } else { "DIFFERS" };
    writeln!(
        out,
        "  {:<18} {:>10} {:>10}  {}  {}  {ok}",
        t.name,
        a.rows,
        b.rows,
        &a.hex()[..16],
        &b.hex()[..16]
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn options_name_one_direction_and_its_own_end() {
        assert_eq!(
            parse(&words("--to postgres --url postgres://u@h/d")).unwrap(),
            Options {
                to: Some(Engine::Postgres),
                url: Some("postgres://u@h/d".into()),
                ..Options::default()
            }
        );
        assert!(
            parse(&words("--to sqlite --path x --verify-only"))
                .unwrap()
                .verify_only
        );
        for bad in [
            "",
            "--to mysql",
            "--to postgres --path x",
            "--to sqlite --url u",
            "--to sqlite --bogus",
            "--to",
        ] {
            assert_eq!(parse(&words(bad)).unwrap_err().exit_code(), 2, "{bad}");
        }
    }
}
