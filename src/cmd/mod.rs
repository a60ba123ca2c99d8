//! Command-line parsing and the subcommands: `nmr serve` (the default), `nmr config`,
//! `nmr storage copy`, `nmr db copy` (see `db_copy`), `nmr fsck`, `nmr backup` and
//! `nmr restore`, the account commands `nmr user` / `nmr token` (see `accounts`), `nmr package`
//! (see `package`), `nmr org` / `nmr team` (see `org`), the air-gap transfer: `nmr mirror`,
//! `nmr export`, `nmr import` (whose `--from-verdaccio` and `--from-registry` move another
//! registry here, see `migrate`); the upstream cache's `nmr cache list | drop | prune`; and
//! `nmr notify log | retry` for the webhook outbox. Each subcommand with more than a few lines
//! has a file here.

pub mod accounts;
mod args;
pub mod backup;
pub mod bundle;
mod cache;
mod db_copy;
mod error;
pub mod fsck;
pub mod lockfile;
pub mod migrate;
pub mod mirror;
pub mod notify;
pub mod org;
pub mod package;

pub use error::Error;

use crate::app::App;
use crate::config::{self, Config, StorageType};
use crate::store::{blob::BlobStore, copy, meta};
use args::{parse, CacheCommand, Command, CopyEnds, Transfer, USAGE};
use bundle::{export, import};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Prints a command's error after `nmr: ` and `doing` (`fsck stopped: `, or nothing) and
/// returns the exit code its kind gives.
fn report(doing: &str, e: &Error) -> i32 {
    eprintln!("nmr: {doing}{e}");
    e.exit_code()
}

/// Opening the database would create an empty one; a missing file is a wrong path.
fn require_db(config: &Config, what: &str) -> Result<(), Error> {
    if config.db_url.is_some() || config.db_path.is_file() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "no database at {} (db.path): nothing to {what}",
        config.db_path.display()
    )))
}

/// `nmr fsck`: exit 0 when storage and metadata agree (after `--repair`, once orphans are
/// gone), 1 when anything is missing, damaged or orphaned, 2 for a usage or configuration error.
fn fsck(config: &Config, repair: bool) -> i32 {
    if let Err(e) = require_db(config, "check") {
        return report("", &e);
    }
    let run = || {
        let mut db = meta::connect(config)?;
        // As the server would at start: pending keys are recorded since schema 3.
        meta::migrate(&mut db)?;
        let blobs = BlobStore::open(config, config.storage_type)?;
        crate::cmd::fsck::run(&mut db, &blobs, repair, &mut std::io::stdout())
    };
    match run() {
        Ok(r) if r.problems() == 0 => 0,
        Ok(r) => {
            eprintln!("nmr: fsck: {} problems", r.problems());
            1
        }
        Err(e) => report("fsck stopped: ", &e),
    }
}

/// `nmr backup` and `nmr restore`: exit 0 when complete, 1 when anything failed (each named on
/// stderr; run it again), 2 for a usage or configuration error.
fn backup_or_restore(config: &Config, command: &Command) -> i32 {
    if config.db_url.is_some() {
        let e = Error::Usage(
            "nmr backup and restore copy the SQLite database; with db.url (PostgreSQL), back up the database with pg_dump and the bucket with its own tools, or move to SQLite with nmr db copy --to sqlite".into(),
        );
        return report("", &e);
    }
    let (what, result) = match command {
        Command::Backup(dir) => {
            if let Err(e) = require_db(config, "back up") {
                return report("", &e);
            }
            let r = crate::cmd::backup::backup(
                config,
                dir,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            ("backup", r)
        }
        Command::Restore(dir) => {
            let r = crate::cmd::backup::restore(
                config,
                dir,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            ("restore", r)
        }
        _ => unreachable!("only backup and restore come here"),
    };
    match result {
        Ok(true) => 0,
        Ok(false) => {
            eprintln!("nmr: {what} incomplete: fix the failures above and run it again");
            1
        }
        Err(e @ Error::Usage(_)) => report(&format!("{what}: "), &e),
        Err(e) => report(&format!("{what} stopped: "), &e),
    }
}

/// `nmr storage copy`: exit 0 when every tarball is at the destination and verified, 1 when
/// any failed (each named on stderr), 2 for a usage or configuration error.
fn storage_copy(config: &Config, ends: CopyEnds) -> i32 {
    let (from, to) = match ends.resolve() {
        Ok(x) => x,
        Err(e) => return report("", &e),
    };
    if from == StorageType::S3 || to == StorageType::S3 {
        if let Err(e) = config::check_s3(&config.s3) {
            return report("", &configuration(e));
        }
    }
    if let Err(e) = require_db(config, "copy") {
        return report("", &e);
    }
    let opened = (|| {
        Ok::<_, Error>((
            BlobStore::open(config, from)?,
            BlobStore::open(config, to)?,
            meta::connect(config)?,
        ))
    })();
    let (source, dest, db) = match opened {
        Ok(x) => x,
        Err(e) => return report("storage copy: ", &e),
    };
    // A person watching wants a steady count; a log wants every object.
    let every = if std::io::stdout().is_terminal() {
        100
    } else {
        1
    };
    match copy::run(
        &db,
        &source,
        &dest,
        every,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ) {
        Ok(s) if s.failed == 0 => 0,
        Ok(s) => {
            eprintln!(
                "nmr: storage copy: {} of {} tarballs failed; fix the cause and run it again",
                s.failed, s.total
            );
            1
        }
        Err(e) => report("storage copy stopped: ", &e.into()),
    }
}

/// The configuration's checks give text; a configuration the operator must change is a usage
/// error.
fn configuration(e: String) -> Error {
    Error::Usage(format!("configuration error: {e}"))
}

/// Opens the registry's state for an operator command that works beside a running server
/// (SQLite in WAL mode lets both write). `existing` refuses a missing database, which opening
/// would create empty.
fn open_app(config: &Config, existing: bool) -> Result<(App, crate::store::db::Connection), Error> {
    if existing && config.db_url.is_none() && !config.db_path.is_file() {
        return Err(Error::Usage(format!(
            "no database at {} (db.path): this registry holds nothing",
            config.db_path.display()
        )));
    }
    let app = App::open(config.clone()).map_err(Error::Open)?;
    let db = app.connect().map_err(Error::Open)?;
    Ok((app, db))
}

/// The operator commands print their own progress; the `info` lines of the code they share
/// with the server would repeat it, so they log warnings and errors unless asked for debug.
fn quiet_logs(config: &Config) {
    let level = match config.log_level {
        crate::log::Level::Info => crate::log::Level::Warn,
        other => other,
    };
    crate::log::set_level(level);
}

/// `nmr mirror`: exit 0 when every package is here and verified, 1 when any failed (each named),
/// 2 for bad input (arguments, lockfiles, configuration), when nothing was fetched.
fn mirror_cmd(config: &Config, t: Transfer) -> i32 {
    if t.files.is_empty() && t.packages.is_empty() {
        let e = Error::Usage("nmr mirror needs lockfiles, or --package NAME[@VERSION]".into());
        return report("", &e);
    }
    let (app, mut db) = match open_app(config, false) {
        Ok(x) => x,
        Err(e) => return report("mirror: ", &e),
    };
    let progress = if std::io::stdout().is_terminal() {
        mirror::Progress::Line
    } else {
        mirror::Progress::Lines
    };
    let req = mirror::Request {
        lockfiles: t.files,
        specs: t.packages,
    };
    match mirror::run(
        &app,
        &mut db,
        &req,
        progress,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ) {
        Ok(s) if s.failed.is_empty() => 0,
        Ok(s) => {
            eprintln!("nmr: mirror: {} of {} failed:", s.failed.len(), s.total);
            for (what, why) in &s.failed {
                eprintln!("  {what}: {why}");
            }
            eprintln!("fix the cause and run the same command again: what is here already is not fetched again");
            1
        }
        Err(e) => {
            eprintln!("nmr: mirror: {e}; nothing was fetched");
            e.exit_code()
        }
    }
}

/// `nmr export`: exit 0 with the bundle written, 1 if it could not be, 2 for usage errors.
fn export_cmd(config: &Config, t: Transfer) -> i32 {
    let usage = (|| {
        let out = t
            .out
            .clone()
            .ok_or_else(|| Error::Usage("nmr export needs --out FILE".into()))?;
        export::check_out(&out)?;
        let since = t.since.as_deref().map(export::since).transpose()?;
        Ok::<_, Error>(export::Options {
            out,
            since,
            packages: t.packages.clone(),
        })
    })();
    let opts = match usage {
        Ok(o) => o,
        Err(e) => return report("", &e),
    };
    let (app, db) = match open_app(config, true) {
        Ok(x) => x,
        Err(e) => return report("export: ", &e),
    };
    if let Err(e) = export::check_packages(&db, &opts.packages) {
        return report("", &e);
    }
    match export::run(&db, &app.blobs, &opts, &mut std::io::stdout()) {
        Ok(s) => {
            println!(
                "exported {} packages ({} versions, {} files, {}) to {}",
                s.packages,
                s.versions,
                s.files,
                mirror::human(s.bytes),
                opts.out.display()
            );
            println!(
                "for the next transfer: nmr export --since {} picks up what arrives after this one",
                s.created
            );
            0
        }
        Err(e) => report("export failed, no bundle was written: ", &e),
    }
}

/// The usage error for an import flag that belongs to a source not given: the one rule for
/// bundle imports and for either migration.
fn misplaced_source_flag(t: &Transfer) -> Option<&'static str> {
    if t.from_verdaccio.is_none()
        && (t.htpasswd.is_some() || t.verdaccio_config.is_some() || t.include_cached)
    {
        return Some(
            "--htpasswd, --verdaccio-config and --include-cached go with --from-verdaccio",
        );
    }
    if t.from_registry.is_none()
        && (t.token.is_some() || t.scope.is_some() || !t.packages.is_empty())
    {
        return Some("--token, --scope and --package go with --from-registry");
    }
    None
}

/// `nmr import --from-verdaccio` and `--from-registry`: exit 0 when everything the source
/// publishes is here (packages only cached there are skipped by design), 1 when anything was
/// left out for a problem (each named in the report) or the run stopped, 2 for usage errors.
fn migrate_cmd(config: &Config, t: Transfer) -> i32 {
    let usage = |m: &str| report("", &Error::Usage(m.to_string()));
    if !t.files.is_empty() || t.repository_from_manifest {
        return usage(
            "nmr import takes a bundle FILE, or --from-verdaccio, or --from-registry: one of them",
        );
    }
    if t.from_verdaccio.is_some() && t.from_registry.is_some() {
        return usage("--from-verdaccio and --from-registry: one at a time");
    }
    if let Some(m) = misplaced_source_flag(&t) {
        return usage(m);
    }
    let registry_opts = match &t.from_registry {
        Some(url) => {
            match migrate::registry::check(migrate::registry::Options {
                url: url.clone(),
                token: t.token.clone(),
                scope: t.scope.clone(),
                packages: t.packages.clone(),
            }) {
                Ok(o) => Some(o),
                Err(e) => return report("", &e),
            }
        }
        None => None,
    };
    if let Some(dir) = &t.from_verdaccio {
        if !dir.is_dir() {
            return usage(&format!(
                "--from-verdaccio {}: no such directory",
                dir.display()
            ));
        }
        if let Err(e) = migrate::verdaccio::check(dir) {
            return report("", &e);
        }
        if t.include_cached && config.uplink.mode != crate::config::UplinkMode::Proxy {
            return usage("--include-cached puts what Verdaccio cached into nmr's upstream cache, which only uplink.mode = \"proxy\" serves: set uplink.mode and uplink.url");
        }
    }
    let (app, mut db) = match open_app(config, false) {
        Ok(x) => x,
        Err(e) => return report("import: ", &e),
    };
    let progress = migrate::Progress::new();
    let out = &mut std::io::stdout();
    let result = match (&t.from_verdaccio, registry_opts) {
        (Some(dir), _) => (|| {
            let rules = match &t.verdaccio_config {
                Some(c) => {
                    let rules = migrate::access::read(c)?;
                    migrate::access::print(c, &rules, out);
                    Some(rules)
                }
                None => None,
            };
            let opts = migrate::verdaccio::Options {
                storage: dir.clone(),
                htpasswd: t.htpasswd.clone(),
                include_cached: t.include_cached,
            };
            let mut report = migrate::verdaccio::run(&app, &mut db, &opts, &progress, out)?;
            // After packages and users: the organisations refer to both.
            if let Some(rules) = rules {
                progress.clear();
                migrate::scopes::apply(&app, &mut db, &rules, &mut report, out)?;
            }
            Ok(report)
        })(),
        (None, Some(o)) => migrate::registry::run(&app, &mut db, &o, &progress, out),
        (None, None) => unreachable!("migrate_cmd runs with a source"),
    };
    progress.clear();
    match result {
        Ok(r) => {
            r.print(out);
            if r.problems.is_empty() {
                0
            } else {
                eprintln!(
                    "nmr: import: {} left out, listed above; fix the cause and run the same command again: what is here already is not imported again",
                    r.problems.len()
                );
                1
            }
        }
        Err(e @ Error::Usage(_)) => report("import: ", &e),
        Err(e) => report(
            "import stopped (the packages reported above are here; run it again to resume): ",
            &e,
        ),
    }
}

/// `nmr import`: exit 0 when every version is here, 1 when the bundle was refused or any
/// version conflicts (each named), 2 for usage errors.
fn import_cmd(config: &Config, t: Transfer) -> i32 {
    if t.from_verdaccio.is_some() || t.from_registry.is_some() {
        return migrate_cmd(config, t);
    }
    if let Some(m) = misplaced_source_flag(&t) {
        return report("", &Error::Usage(m.into()));
    }
    let [file] = t.files.as_slice() else {
        let e = Error::Usage("nmr import needs exactly one bundle file".into());
        return report("", &e);
    };
    let (app, mut db) = match open_app(config, false) {
        Ok(x) => x,
        Err(e) => return report("import: ", &e),
    };
    let from_manifest = t.repository_from_manifest;
    match import::run(&app, &mut db, file, from_manifest, &mut std::io::stdout()) {
        Ok(s) => {
            println!(
                "done: {} versions imported into {} packages, {} already here, {} conflicts",
                s.imported,
                s.packages,
                s.present,
                s.conflicts.len()
            );
            if from_manifest {
                println!(
                    "repositories: {} packages assigned from their manifests, {} left unassigned",
                    s.assigned,
                    s.unassigned.len()
                );
                for (name, why) in &s.unassigned {
                    println!("  {name}: {why}; nmr package set-repo {name} OWNER/REPO assigns one");
                }
            }
            if s.conflicts.is_empty() {
                return 0;
            }
            eprintln!(
                "nmr: import: {} versions conflict and were left as they are:",
                s.conflicts.len()
            );
            for (what, why) in &s.conflicts {
                eprintln!("  {what}: {why}");
            }
            1
        }
        Err(e) => report("", &e),
    }
}

/// `nmr cache ...`: exit 0 when done, 1 when it failed, 2 for a usage or configuration error
/// (a package that is not cached included: nothing was done).
fn cache_cmd(config: &Config, c: &CacheCommand) -> i32 {
    if let Err(e) = cache::check(c) {
        return report("", &e);
    }
    let (app, mut db) = match open_app(config, true) {
        Ok(x) => x,
        Err(e) => return report("cache: ", &e),
    };
    match cache::run(&app, &mut db, c, &mut std::io::stdout()) {
        Ok(()) => 0,
        Err(Error::Request(e @ crate::error::Error::NotFound(_))) => {
            report("cache: ", &Error::Usage(e.message().to_string()))
        }
        Err(e) => report("cache: ", &e),
    }
}

/// `nmr notify log|retry`: exit 0 when done, 1 when it failed (no such event), 2 for usage.
fn notify_cmd(config: &Config, rest: &[String]) -> i32 {
    if let Err(e) = require_db(config, "list") {
        return report("", &e);
    }
    let run = || {
        let mut db = meta::connect(config)?;
        // A database from before schema 5 has no outbox yet; the server would add it too.
        meta::migrate(&mut db)?;
        notify::run(&db, rest, &mut std::io::stdout())
    };
    match run() {
        Ok(()) => 0,
        Err(e) => report("notify: ", &e),
    }
}

/// Runs the command line and returns the process exit code.
pub fn main(args: Vec<String>) -> i32 {
    // Info until a command sets the configured level (`logger.level`).
    crate::log::set_level(crate::log::Level::Info);
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!(
            "{USAGE}\naccounts (auth.type = local):\n{}\norganisations and teams (auth.type = local):\n{}\npackages:\n{}",
            accounts::USAGE,
            org::USAGE,
            package::USAGE
        );
        return 0;
    }
    if args.iter().any(|a| a == "--version" || a == "-V") {
        // The commit comes from build.rs: which build a bug report is about.
        println!(
            "nmr {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            env!("BUILD_COMMIT")
        );
        return 0;
    }
    let (command, mut inputs, ends, transfer, rest) = match parse(&args) {
        Ok(x) => x,
        Err(e) => return report("", &e),
    };
    inputs.env = std::env::vars().collect();
    inputs.cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let effective = match config::load(&inputs) {
        Ok(e) => e,
        Err(e) => return report("", &configuration(e)),
    };
    match command {
        Command::Config => {
            print!(
                "{}",
                config::render(&effective.entries, effective.file.as_deref())
            );
            if let Ok(c) = &effective.config.s3.credentials {
                if c.source == "environment" {
                    println!("# storage.s3 credentials: from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (not shown)");
                }
            }
            0
        }
        Command::StorageCopy => storage_copy(&effective.config, ends),
        Command::DbCopy => {
            quiet_logs(&effective.config);
            db_copy::run(&effective.config, &rest)
        }
        Command::Accounts(token) => accounts::run(&effective.config, token, &rest),
        Command::Package => package::run(&effective.config, &rest),
        Command::Orgs(team) => org::run(&effective.config, team, &rest),
        Command::Notify => notify_cmd(&effective.config, &rest),
        Command::Mirror | Command::Export | Command::Import => {
            quiet_logs(&effective.config);
            match command {
                Command::Mirror => mirror_cmd(&effective.config, transfer),
                Command::Export => export_cmd(&effective.config, transfer),
                _ => import_cmd(&effective.config, transfer),
            }
        }
        Command::Cache(c) => {
            quiet_logs(&effective.config);
            cache_cmd(&effective.config, &c)
        }
        Command::Fsck { repair } => fsck(&effective.config, repair),
        c @ (Command::Backup(_) | Command::Restore(_)) => backup_or_restore(&effective.config, &c),
        Command::Serve => {
            crate::log::set_level(effective.config.log_level);
            if let Some(f) = &effective.file {
                crate::info!("config file {}", f.display());
            }
            let app = match crate::app::App::open(effective.config) {
                Ok(a) => a,
                Err(e) => {
                    crate::error!("cannot start: {}", e.message());
                    return 1;
                }
            };
            if let Err(e) = crate::auth::warn_ownerless(&app) {
                crate::error!("cannot start: {}", e.message());
                return 1;
            }
            match crate::http::server::run(app) {
                Ok(()) => 0,
                Err(e) => {
                    crate::error!("{e}");
                    1
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_flag_needs_its_source() {
        let verdaccio = Transfer {
            include_cached: true,
            ..Transfer::default()
        };
        let registry = Transfer {
            token: Some("t".into()),
            ..Transfer::default()
        };
        for (t, wanted) in [
            (&verdaccio, "--from-verdaccio"),
            (&registry, "--from-registry"),
        ] {
            let m = misplaced_source_flag(t).unwrap();
            assert!(m.ends_with(wanted), "{m}");
        }
        let with_registry = Transfer {
            from_registry: Some("http://r.test".into()),
            ..verdaccio
        };
        assert!(misplaced_source_flag(&with_registry)
            .unwrap()
            .ends_with("--from-verdaccio"));
        let with_verdaccio = Transfer {
            from_verdaccio: Some("/v".into()),
            ..registry
        };
        assert!(misplaced_source_flag(&with_verdaccio)
            .unwrap()
            .ends_with("--from-registry"));
        let fine = Transfer {
            from_registry: Some("http://r.test".into()),
            scope: Some("@acme".into()),
            ..Transfer::default()
        };
        assert_eq!(misplaced_source_flag(&fine), None);
    }
}
