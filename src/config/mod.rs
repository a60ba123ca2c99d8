//! Settings: the typed [`Config`] the rest of nmr reads, and the public face of the modules that
//! build it. Every key is declared once in [`KEYS`]; an unknown key or a bad value stops start-up
//! with a message naming the key and where it came from.

mod keys;
mod layers;
mod notify;
mod parse;
mod render;
mod typed;

pub use keys::{Key, Kind, KEYS};
pub use layers::{load, Effective, Inputs, Source};
pub use notify::{shown_url, Notify, NotifyEvent, NotifyFormat};
pub use parse::Val;
pub use render::render;
pub use typed::check_s3;

use crate::log::Level;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// `server.*` settings.
#[derive(Clone, Debug)]
pub struct Server {
    pub host: String,
    pub port: u16,
    /// Without a trailing slash.
    pub public_url: Option<String>,
    pub workers: usize,
    pub max_connections: usize,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub max_connections_per_address: usize,
    /// Bytes per second.
    pub min_upload_rate: u64,
    pub spool_budget: u64,
    /// Certificate chain and key files: both set, or neither.
    pub tls: Option<Tls>,
    /// Address ranges of the reverse proxies whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<String>,
}

/// `server.tls.*`: where the listener's certificate and key are read from (and re-read on
/// SIGHUP).
#[derive(Clone, Debug)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `settings.*`: publishing rules.
#[derive(Clone, Debug)]
pub struct Settings {
    pub allow_previous_version: bool,
    pub max_body_size: u64,
}

/// Which blob store holds the tarballs (`storage.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageType {
    Local,
    S3,
}

impl StorageType {
    /// Parses the name used in `storage.type` and `nmr storage copy --to`.
    pub fn parse(s: &str) -> Option<StorageType> {
        match s {
            "local" => Some(StorageType::Local),
            "s3" => Some(StorageType::S3),
            _ => None,
        }
    }

    /// The name used in `storage.type`.
    pub fn name(self) -> &'static str {
        match self {
            StorageType::Local => "local",
            StorageType::S3 => "s3",
        }
    }
}

/// What nmr does with a name it does not hold (`uplink.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UplinkMode {
    /// Answer 404, as if there were no upstream.
    Off,
    /// Answer 302 to the same path on the upstream.
    Redirect,
    /// Fetch from the upstream, cache, and serve.
    Proxy,
}

impl UplinkMode {
    fn parse(s: &str) -> Option<UplinkMode> {
        match s {
            "off" => Some(UplinkMode::Off),
            "redirect" => Some(UplinkMode::Redirect),
            "proxy" => Some(UplinkMode::Proxy),
            _ => None,
        }
    }
}

/// A value that must not show up in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

/// An access key pair and where it came from (for messages; never the values).
#[derive(Clone, Debug)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// `config` or `environment`.
    pub source: &'static str,
}

/// `storage.s3.*`.
#[derive(Clone, Debug)]
pub struct S3 {
    pub bucket: String,
    pub region: String,
    /// Without a trailing slash; `None` = AWS's endpoint for the region.
    pub endpoint: Option<String>,
    pub path_style: bool,
    /// Empty, or ending in `/`.
    pub prefix: String,
    /// The key pair, or why there is none; only an error when S3 is actually used.
    pub credentials: Result<S3Credentials, String>,
    pub redirect: bool,
    pub expires: u32,
}

/// `uplink.*`: the upstream registry.
#[derive(Clone, Debug)]
pub struct Uplink {
    pub mode: UplinkMode,
    /// Without a trailing slash; set whenever `mode` is not `Off`.
    pub url: Option<String>,
    pub token: Option<Secret>,
    pub timeout: Duration,
    pub maxage: Duration,
    pub offline: bool,
    /// Most bytes of cached upstream tarballs to keep; `None` for no limit.
    pub cache_max_size: Option<u64>,
    /// Scope names without `@`.
    pub private_scopes: Vec<String>,
    /// Origins (`scheme://host[:port]`, lower-cased, no default port) besides `url`'s that
    /// tarballs and redirects may be fetched from.
    pub tarball_hosts: Vec<String>,
}

/// Which authentication mode is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthType {
    None,
    Local,
    GitHub,
}

impl AuthType {
    fn parse(s: &str) -> Option<AuthType> {
        match s {
            "none" => Some(AuthType::None),
            "local" => Some(AuthType::Local),
            "github" => Some(AuthType::GitHub),
            _ => None,
        }
    }
}

/// `auth.*` settings.
#[derive(Clone, Debug)]
pub struct Auth {
    pub kind: AuthType,
    /// `auth.read = "public"`: installs need no credentials.
    pub read_public: bool,
    /// `auth.read = "members"` (local mode): scoped packages only for their organisation's
    /// members.
    pub read_members: bool,
    /// `auth.local.claim_scopes`.
    pub claim_scopes: bool,
    pub allow_registration: bool,
    /// GitHub API base URL without a trailing slash.
    pub github_api: String,
    pub github_allow_unscoped: bool,
    pub github_cache_ttl: u64,
    /// The host repository URLs must name in github mode.
    pub github_host: String,
}

/// The effective, checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub auth: Auth,
    pub server: Server,
    pub log_level: Level,
    pub settings: Settings,
    pub storage_type: StorageType,
    /// `storage.local.path`.
    pub storage_path: PathBuf,
    pub s3: S3,
    pub db_path: PathBuf,
    /// `db.url`: `None` for SQLite at `db_path`, else a PostgreSQL URL (a secret, since it may
    /// hold the password).
    pub db_url: Option<Secret>,
    /// The PostgreSQL password from `db.password_file` or `PGPASSWORD`, for a `db_url`
    /// without one.
    pub db_password: Option<Secret>,
    pub uplink: Uplink,
    /// `[[notify]]`: webhooks for package changes.
    pub notify: Vec<Notify>,
}

/// Inputs rooted in a fresh folder, so that no test reads the config file of the user running it.
#[cfg(test)]
mod testing {
    use super::Inputs;
    use std::path::{Path, PathBuf};

    pub(super) fn inputs(dir: &Path) -> Inputs {
        Inputs {
            cwd: dir.to_path_buf(),
            env: vec![(
                "XDG_CONFIG_HOME".into(),
                dir.join("xdg").display().to_string(),
            )],
            ..Default::default()
        }
    }

    /// [`inputs`] with these environment variables set as well.
    pub(super) fn inputs_with_env(dir: &Path, env: &[(&str, &str)]) -> Inputs {
        let mut i = inputs(dir);
        i.env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        i
    }

    pub(super) fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nmr-config-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
