//! The command line as `nmr` reads it: the usage text, the flags and switches, and parsing
//! the words into a subcommand with its settings layers (`--set`, `--config`, ...) and its own
//! arguments.

use super::accounts;
use super::error::{Error, Result};
use crate::config::{Inputs, StorageType};
use std::path::PathBuf;

pub(super) const USAGE: &str = "\
nmr: a private npm registry

usage:
  nmr [serve] [options]   start the registry (the default)
  nmr config [options]    print the effective configuration and where each value came from
  nmr storage copy --to local|s3 [--from s3|local] [options]
                          copy every tarball the metadata knows to the other storage backend
                          (storage.local.* and storage.s3.* say where), verifying each sha512;
                          run it again to resume: verified objects already there are skipped
  nmr db copy --to postgres [--url URL] [--verify-only] [options]
  nmr db copy --to sqlite [--path FILE] [--verify-only] [options]
                          copy every row of the metadata database from SQLite (db.path) into an
                          empty PostgreSQL database (--url, default db.url), or from PostgreSQL
                          (db.url) into a new SQLite file (--path, default db.path); rebuild the
                          search index there, then compare every table's row count and sha256 on
                          both sides (exit 1 if any differs); run it again to resume; stop nmr
                          first: what it writes during the copy is not copied
  nmr mirror [LOCKFILE...] [--package NAME[@VERSION|@TAG]...] [options]
                          fetch every registry package the lockfiles (package-lock.json,
                          npm-shrinkwrap.json, pnpm-lock.yaml, yarn.lock v1) or specs name
                          from the upstream (uplink.url) into the proxy cache, verified;
                          run it again to resume
  nmr export --out FILE [--since TIME] [--package NAME...] [options]
                          write the packages held here (published or cached) to one bundle;
                          --since 2026-11-01 or 2026-11-01T12:00:00Z: only what arrived since
  nmr import FILE [--repository-from-manifest] [options]
                          verify a bundle whole, then add its packages here as local packages;
                          versions already here are skipped, conflicting ones reported;
                          --repository-from-manifest: a package without a GitHub repository
                          takes the one its manifest names, if its scope is the owner's
  nmr import --from-verdaccio STORAGE_DIR [--htpasswd FILE] [--verdaccio-config FILE]
             [--include-cached] [options]
                          add the packages published in a (stopped) Verdaccio's storage here,
                          every tarball verified, and its htpasswd users as accounts that keep
                          their passwords; --verdaccio-config prints what its packages: access
                          rules are in nmr and, with local auth, applies whole-scope publish
                          lists as organisations and teams; --include-cached: what it cached
                          from its uplink goes to the upstream cache (uplink.mode = proxy); run
                          it again to resume: only what is new is added
  nmr import --from-registry URL [--token T] [--scope @acme] [--package NAME...] [options]
                          copy a scope (found with the registry's search) and named packages
                          from any npm registry, verified; the token goes to URL's host only
  nmr cache list [options]
                          list the packages cached from the upstream: tarballs, bytes, last use
  nmr cache drop NAME[@VERSION] [options]
                          forget a cached package (refetched on its next request), or one
                          version's tarball
  nmr cache prune --unused-for AGE [options]
                          drop cached tarballs not downloaded for AGE (90d, 12h)
  nmr fsck [--repair] [options]
                          check every stored tarball against the metadata (size, sha1, sha512)
                          and list missing, damaged and orphaned objects; exit 1 if any;
                          --repair deletes orphans (never metadata)
  nmr backup DIR [options]
                          copy the database (a consistent snapshot, while nmr runs) and every
                          tarball it points at into the new directory DIR
  nmr restore DIR [options]
                          put a backup back: tarballs into the configured storage, then the
                          database into db.path, which must not exist yet
  nmr notify log [--failed] [--limit N] [options]
                          list the latest webhook events ([[notify]]) and how their delivery went
  nmr notify retry ID [options]
                          queue a webhook event again, due at once
  nmr --help | --version

options (each overrides the config file and NMR_* environment variables):
  --config PATH              read this config file instead of searching
                             ./nmr.toml, $XDG_CONFIG_HOME/nmr/config.toml, /etc/nmr/config.toml
  --host HOST                server.host
  --port PORT                server.port (0 picks a free port)
  --public-url URL           server.public_url
  --workers N                server.workers
  --log-level LEVEL          logger.level (error, warn, info, debug)
  --storage-path DIR         storage.local.path
  --db-path FILE             db.path
  --allow-previous-version   settings.allow_previous_version = true
  --offline                  uplink.offline = true (serve only what is cached; never ask the upstream)
  --set KEY=VALUE            any setting by its dotted key, e.g. --set settings.max_body_size=50mb
";

/// Flags that set one key to the value that follows them.
pub(super) const FLAGS: &[(&str, &str)] = &[
    ("--host", "server.host"),
    ("--port", "server.port"),
    ("--public-url", "server.public_url"),
    ("--workers", "server.workers"),
    ("--log-level", "logger.level"),
    ("--storage-path", "storage.local.path"),
    ("--db-path", "db.path"),
];

/// Flags that take no value and set one boolean key to true.
pub(super) const SWITCHES: &[(&str, &str)] = &[
    (
        "--allow-previous-version",
        "settings.allow_previous_version",
    ),
    ("--offline", "uplink.offline"),
];

pub(super) enum Command {
    Serve,
    Config,
    /// `nmr user ...` (false) or `nmr token ...` (true), with the words after it.
    Accounts(bool),
    /// `nmr package ...`, with the words after it.
    Package,
    /// `nmr org ...` (false) or `nmr team ...` (true), with the words after it.
    Orgs(bool),
    /// `storage copy`; the ends are checked after parsing.
    StorageCopy,
    /// `db copy`, with the words after it.
    DbCopy,
    /// `fsck`, with `--repair` or not.
    Fsck {
        repair: bool,
    },
    Backup(PathBuf),
    Restore(PathBuf),
    Mirror,
    Export,
    Import,
    Cache(CacheCommand),
    /// `nmr notify ...`, with the words after it.
    Notify,
}

/// `nmr cache ...`; its arguments are checked after parsing.
pub(super) enum CacheCommand {
    List,
    /// `NAME[@VERSION]`, once given.
    Drop(Option<String>),
    /// `--unused-for AGE`, once given.
    Prune(Option<String>),
}

/// The arguments of the air-gap commands.
#[derive(Default)]
pub(super) struct Transfer {
    /// Lockfiles for `mirror`, the bundle for `import`.
    pub(super) files: Vec<PathBuf>,
    /// `--package`: specs for `mirror`, names for `export`.
    pub(super) packages: Vec<String>,
    pub(super) out: Option<PathBuf>,
    pub(super) since: Option<String>,
    /// `import --repository-from-manifest`.
    pub(super) repository_from_manifest: bool,
    /// `import --from-verdaccio STORAGE_DIR`, with `--htpasswd` and `--verdaccio-config`.
    pub(super) from_verdaccio: Option<PathBuf>,
    pub(super) htpasswd: Option<PathBuf>,
    pub(super) verdaccio_config: Option<PathBuf>,
    pub(super) include_cached: bool,
    /// `import --from-registry URL`, with `--token` and `--scope` (and `--package`).
    pub(super) from_registry: Option<String>,
    pub(super) token: Option<String>,
    pub(super) scope: Option<String>,
}

/// `--from` / `--to` of `nmr storage copy`.
#[derive(Default)]
pub(super) struct CopyEnds {
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
}

pub(super) fn backend(flag: &str, name: &str) -> Result<StorageType> {
    StorageType::parse(name)
        .ok_or_else(|| Error::Usage(format!("{flag} {name:?}: expected local or s3")))
}

impl CopyEnds {
    /// The source defaults to the other backend: there are only two.
    pub(super) fn resolve(self) -> Result<(StorageType, StorageType)> {
        let to = backend(
            "--to",
            &self.to.ok_or_else(|| {
                Error::Usage("nmr storage copy needs --to local or --to s3".into())
            })?,
        )?;
        let from = match self.from {
            Some(f) => backend("--from", &f)?,
            None if to == StorageType::S3 => StorageType::Local,
            None => StorageType::S3,
        };
        if from == to {
            return Err(Error::Usage(format!(
                "--from and --to are both {}; copy between local and s3",
                to.name()
            )));
        }
        Ok((from, to))
    }
}

pub(super) fn parse(args: &[String]) -> Result<(Command, Inputs, CopyEnds, Transfer, Vec<String>)> {
    let mut rest = Vec::new();
    let mut inputs = Inputs::default();
    let mut ends = CopyEnds::default();
    let mut transfer = Transfer::default();
    let mut command = None;
    let mut it = args.iter().peekable();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Error::Usage(format!("{flag} needs {what}"))),
            }
        };
        match flag {
            "serve" if command.is_none() => command = Some(Command::Serve),
            "config" if command.is_none() => command = Some(Command::Config),
            "storage" if command.is_none() => match it.next().map(String::as_str) {
                Some("copy") => command = Some(Command::StorageCopy),
                other => {
                    return Err(Error::Usage(format!(
                        "nmr storage: unknown subcommand {other:?}; the one there is: copy"
                    )))
                }
            },
            "db" if command.is_none() => match it.next().map(String::as_str) {
                Some("copy") => command = Some(Command::DbCopy),
                other => {
                    return Err(Error::Usage(format!(
                        "nmr db: unknown subcommand {other:?}; the one there is: copy"
                    )))
                }
            },
            "--to" | "--url" | "--path" if matches!(command, Some(Command::DbCopy)) => {
                rest.push(flag.to_string());
                rest.push(value("a value")?);
            }
            "--verify-only" if matches!(command, Some(Command::DbCopy)) => {
                rest.push(flag.to_string())
            }
            "cache" if command.is_none() => {
                command = Some(Command::Cache(match it.next().map(String::as_str) {
                    Some("list") => CacheCommand::List,
                    Some("drop") => CacheCommand::Drop(None),
                    Some("prune") => CacheCommand::Prune(None),
                    other => {
                        return Err(Error::Usage(format!(
                            "nmr cache: unknown subcommand {other:?}; there are: list, drop, prune"
                        )))
                    }
                }))
            }
            _ if !arg.starts_with('-')
                && matches!(command, Some(Command::Cache(CacheCommand::Drop(None)))) =>
            {
                command = Some(Command::Cache(CacheCommand::Drop(Some(arg.clone()))))
            }
            "--unused-for" if matches!(command, Some(Command::Cache(CacheCommand::Prune(_)))) => {
                command = Some(Command::Cache(CacheCommand::Prune(Some(value(
                    "an age such as 90d",
                )?))))
            }
            "notify" if command.is_none() => command = Some(Command::Notify),
            "--failed" if matches!(command, Some(Command::Notify)) => rest.push(arg.clone()),
            "--limit" if matches!(command, Some(Command::Notify)) => {
                rest.push(flag.to_string());
                rest.push(value("a number")?);
            }
            _ if !arg.starts_with('-') && matches!(command, Some(Command::Notify)) => {
                rest.push(arg.clone())
            }
            "mirror" if command.is_none() => command = Some(Command::Mirror),
            "export" if command.is_none() => command = Some(Command::Export),
            "import" if command.is_none() => command = Some(Command::Import),
            "--package"
                if matches!(
                    command,
                    Some(Command::Mirror | Command::Export | Command::Import)
                ) =>
            {
                transfer.packages.push(value("a package")?)
            }
            "--out" if matches!(command, Some(Command::Export)) => {
                transfer.out = Some(PathBuf::from(value("a file")?))
            }
            "--repository-from-manifest" if matches!(command, Some(Command::Import)) => {
                transfer.repository_from_manifest = true
            }
            // `--config` stays nmr's own config file for every command, so Verdaccio's has
            // a flag of its own.
            "--from-verdaccio" | "--htpasswd" | "--verdaccio-config"
                if matches!(command, Some(Command::Import)) =>
            {
                let v = Some(PathBuf::from(value("a path")?));
                match flag {
                    "--from-verdaccio" => transfer.from_verdaccio = v,
                    "--htpasswd" => transfer.htpasswd = v,
                    _ => transfer.verdaccio_config = v,
                }
            }
            "--include-cached" if matches!(command, Some(Command::Import)) => {
                transfer.include_cached = true
            }
            "--from-registry" | "--token" | "--scope"
                if matches!(command, Some(Command::Import)) =>
            {
                let v = Some(value("a value")?);
                match flag {
                    "--from-registry" => transfer.from_registry = v,
                    "--token" => transfer.token = v,
                    _ => transfer.scope = v,
                }
            }
            "--since" if matches!(command, Some(Command::Export)) => {
                transfer.since = Some(value("a date or time")?)
            }
            _ if !arg.starts_with('-')
                && matches!(command, Some(Command::Mirror | Command::Import)) =>
            {
                transfer.files.push(PathBuf::from(arg))
            }
            "fsck" if command.is_none() => command = Some(Command::Fsck { repair: false }),
            "--repair" if matches!(command, Some(Command::Fsck { .. })) => {
                command = Some(Command::Fsck { repair: true });
            }
            "backup" | "restore" if command.is_none() => {
                let dir = it.next().filter(|d| !d.starts_with("--")).ok_or_else(|| {
                    Error::Usage(format!("nmr {flag} needs a directory: nmr {flag} DIR"))
                })?;
                let dir = PathBuf::from(dir);
                command = Some(if flag == "backup" {
                    Command::Backup(dir)
                } else {
                    Command::Restore(dir)
                });
            }
            "--to" | "--from" if matches!(command, Some(Command::StorageCopy)) => {
                let v = value("local or s3")?;
                if flag == "--to" {
                    ends.to = Some(v);
                } else {
                    ends.from = Some(v);
                }
            }
            "package" if command.is_none() => command = Some(Command::Package),
            _ if matches!(command, Some(Command::Package)) && !arg.starts_with("--") => {
                rest.push(arg.to_string())
            }
            "org" | "team" if command.is_none() => command = Some(Command::Orgs(flag == "team")),
            "--owner" if matches!(command, Some(Command::Orgs(false))) => {
                rest.push(flag.to_string());
                rest.push(value("a user")?);
            }
            _ if matches!(command, Some(Command::Orgs(_))) && !arg.starts_with("--") => {
                rest.push(arg.to_string())
            }
            "user" | "token" if command.is_none() => {
                command = Some(Command::Accounts(flag == "token"))
            }
            f if matches!(command, Some(Command::Accounts(_)))
                && accounts::VALUE_OPTIONS.contains(&f) =>
            {
                rest.push(f.to_string());
                rest.push(value("a value")?);
            }
            f if matches!(command, Some(Command::Accounts(_)))
                && (accounts::SWITCH_OPTIONS.contains(&f) || !f.starts_with("--")) =>
            {
                rest.push(f.to_string());
            }
            "--config" => inputs.config_path = Some(PathBuf::from(value("a path")?)),
            "--set" => {
                let kv = value("KEY=VALUE")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| Error::Usage(format!("--set {kv}: expected KEY=VALUE")))?;
                inputs
                    .flags
                    .push((k.to_string(), v.to_string(), format!("--set {k}")));
            }
            _ => {
                if let Some((_, key)) = SWITCHES.iter().find(|(f, _)| *f == flag) {
                    inputs
                        .flags
                        .push((key.to_string(), "true".into(), flag.to_string()));
                } else if let Some((_, key)) = FLAGS.iter().find(|(f, _)| *f == flag) {
                    inputs
                        .flags
                        .push((key.to_string(), value("a value")?, flag.to_string()));
                } else {
                    return Err(Error::Usage(format!(
                        "unknown argument {arg:?}; see nmr --help"
                    )));
                }
            }
        }
    }
    Ok((
        command.unwrap_or(Command::Serve),
        inputs,
        ends,
        transfer,
        rest,
    ))
}
