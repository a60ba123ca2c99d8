//! Settings and their layers: built-in defaults < config file < `NMR_SECTION__KEY` environment
//! variables < command-line flags. Every key is declared once in [`KEYS`]; an unknown key or a bad
//! value stops start-up with a message naming the key and where it came from.

use crate::log::Level;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The type of a setting, which decides how its text is parsed and checked.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Free text.
    Text,
    /// A filesystem path.
    Path,
    /// A TCP port; 0 picks a free one.
    Port,
    /// A whole number within `min..=max`.
    Count { min: u64, max: u64 },
    /// `true` or `false`.
    Bool,
    /// Bytes, as a number or with a suffix: `200mb`, `1g`, `512k`.
    Size,
    /// An `http://` or `https://` base URL, or empty for "not set".
    BaseUrl,
    /// One of a fixed list of words.
    Choice(&'static [&'static str]),
    /// Whole seconds within `min..=max`: `300`, `300s`, `5m` or `1h`.
    Seconds { min: u64, max: u64 },
    /// npm scopes (`@acme` or `acme`): a TOML array, or comma-separated in variables and flags.
    Scopes,
    /// A folder inside a bucket: `/`-separated segments, or empty for the bucket's top.
    Prefix,
}

/// One setting: its dotted key, type, default and meaning.
#[derive(Debug)]
pub struct Key {
    /// Dotted path, e.g. `server.port`; the environment variable is `NMR_SERVER__PORT`.
    pub path: &'static str,
    /// How the value is parsed.
    pub kind: Kind,
    /// The built-in default, written as it would be in an environment variable.
    pub default: &'static str,
    /// Secrets are printed masked by `nmr config`.
    pub secret: bool,
    /// One line for the README and `nmr config`.
    pub doc: &'static str,
}

const fn key(path: &'static str, kind: Kind, default: &'static str, doc: &'static str) -> Key {
    Key {
        path,
        kind,
        default,
        secret: false,
        doc,
    }
}

const fn secret(path: &'static str, kind: Kind, doc: &'static str) -> Key {
    Key {
        secret: true,
        ..key(path, kind, "", doc)
    }
}

/// Every setting nmr knows. Adding a setting means adding a line here and a field in [`Config`].
pub const KEYS: &[Key] = &[
    key(
        "server.host",
        Kind::Text,
        "127.0.0.1",
        "address to listen on (0.0.0.0 for all interfaces)",
    ),
    key(
        "server.port",
        Kind::Port,
        "4873",
        "TCP port to listen on (0 picks a free port)",
    ),
    key(
        "server.public_url",
        Kind::BaseUrl,
        "",
        "base URL clients use, for tarball links behind a proxy; empty = from the Host header",
    ),
    key(
        "server.workers",
        Kind::Count { min: 1, max: 1024 },
        "16",
        "request-handling threads",
    ),
    key(
        "server.max_connections",
        // Each open connection holds a thread and a few file descriptors.
        Kind::Count { min: 1, max: 65_536 },
        "1024",
        "client connections held open at once; more are answered 503 and closed",
    ),
    key(
        "server.read_timeout",
        Kind::Seconds { min: 1, max: 3600 },
        "30",
        "seconds a client may take to send a request's headers, or stay silent between requests or while sending a body",
    ),
    key(
        "server.write_timeout",
        Kind::Seconds { min: 1, max: 3600 },
        "30",
        "seconds a client may take to accept more of a response before it is cut off",
    ),
    key(
        "server.shutdown_timeout",
        Kind::Seconds { min: 0, max: 3600 },
        "30",
        "seconds requests in flight get to finish after SIGTERM before their connections are closed",
    ),
    key(
        "server.max_connections_per_address",
        Kind::Count { min: 1, max: 65_536 },
        "256",
        "client connections one address may hold open at once; more are answered 429 and closed",
    ),
    key(
        "server.min_upload_rate",
        Kind::Size,
        "4k",
        "bytes per second a request body must average after its first server.read_timeout; a slower upload is answered 408",
    ),
    key(
        "server.spool_budget",
        Kind::Size,
        "1g",
        "disk space all request bodies being received may take at once (bodies over 256 KiB are spooled); past it uploads get 503",
    ),
    key(
        "server.tls.cert",
        Kind::Path,
        "",
        "PEM certificate chain: with server.tls.key, the listener speaks HTTPS only; SIGHUP reloads both",
    ),
    key(
        "server.tls.key",
        Kind::Path,
        "",
        "PEM private key of server.tls.cert",
    ),
    key(
        "logger.level",
        Kind::Choice(&["error", "warn", "info", "debug"]),
        "info",
        "most verbose log level printed to stderr",
    ),
    key(
        "settings.allow_previous_version",
        Kind::Bool,
        "false",
        "allow publishing over an existing version (not recommended)",
    ),
    key(
        "settings.max_body_size",
        Kind::Size,
        "200mb",
        "largest request body accepted (publish bodies carry the tarball in base64)",
    ),
    key(
        "auth.type",
        Kind::Choice(&["none", "local", "github"]),
        "none",
        "who may do what: none = anyone may do anything (development only); local = users and tokens kept by nmr; github = GitHub tokens and repository permissions",
    ),
    key(
        "auth.read",
        Kind::Choice(&["public", "authenticated"]),
        "authenticated",
        "who may install: everyone, or only authenticated users (with auth.type = github: those who can read the package's repository)",
    ),
    key(
        "auth.local.allow_registration",
        Kind::Bool,
        "false",
        "let anyone create an account with npm adduser (otherwise the operator runs nmr user add)",
    ),
    key(
        "auth.github.host",
        Kind::Text,
        "github.com",
        "GitHub host; any other host is taken as GitHub Enterprise (API at https://HOST/api/v3)",
    ),
    key(
        "auth.github.api_url",
        Kind::BaseUrl,
        "",
        "GitHub API base URL, overriding the one derived from auth.github.host",
    ),
    key(
        "auth.github.allow_unscoped",
        Kind::Bool,
        "false",
        "allow unscoped packages in github mode (their repository still decides who may publish)",
    ),
    key(
        "auth.github.cache.ttl",
        Kind::Seconds { min: 0, max: MAX_SECONDS },
        "300",
        "seconds a GitHub answer is used before it is revalidated",
    ),
    key(
        "storage.type",
        Kind::Choice(&["local", "s3"]),
        "local",
        "where tarballs are kept: local = a directory, s3 = an S3-compatible bucket",
    ),
    key(
        "storage.local.path",
        Kind::Path,
        "./data/storage",
        "directory for tarballs with storage.type = local",
    ),
    key(
        "storage.s3.bucket",
        Kind::Text,
        "",
        "bucket for tarballs with storage.type = s3 (it must exist)",
    ),
    key(
        "storage.s3.region",
        Kind::Text,
        "us-east-1",
        "region the requests are signed for",
    ),
    key(
        "storage.s3.endpoint",
        Kind::BaseUrl,
        "",
        "URL of an S3-compatible server; empty = AWS's endpoint for the region",
    ),
    key(
        "storage.s3.path_style",
        Kind::Bool,
        "false",
        "address the bucket as ENDPOINT/BUCKET (most S3-compatible servers) instead of BUCKET.HOST",
    ),
    key(
        "storage.s3.prefix",
        Kind::Prefix,
        "",
        "folder inside the bucket for nmr's objects, e.g. npm/; empty = the top",
    ),
    key(
        "storage.s3.access_key_id",
        Kind::Text,
        "",
        "access key; empty = the AWS_ACCESS_KEY_ID environment variable",
    ),
    secret(
        "storage.s3.secret_access_key",
        Kind::Text,
        "secret key; empty = the AWS_SECRET_ACCESS_KEY environment variable",
    ),
    key(
        "storage.s3.redirect",
        Kind::Bool,
        "false",
        "answer tarball GETs with a 302 to a presigned S3 URL instead of streaming the bytes",
    ),
    key(
        "storage.s3.expires",
        // A week is the longest S3 lets a presigned URL live.
        Kind::Seconds { min: 1, max: 604_800 },
        "60",
        "how long a presigned tarball URL stays valid, in seconds (at most 604800)",
    ),
    key(
        "db.path",
        Kind::Path,
        "./data/nmr.sqlite",
        "SQLite database file for metadata",
    ),
    key(
        "uplink.mode",
        Kind::Choice(&["off", "redirect", "proxy"]),
        "off",
        "names nmr does not hold: off = 404, redirect = 302 to the upstream, proxy = fetch and cache",
    ),
    key(
        "uplink.url",
        Kind::BaseUrl,
        "",
        "base URL of the upstream npm registry; required unless uplink.mode = off",
    ),
    secret(
        "uplink.token",
        Kind::Text,
        "token for a private upstream, sent as a Bearer token to the uplink.url origin only",
    ),
    key(
        "uplink.timeout",
        Kind::Seconds { min: 1, max: MAX_SECONDS },
        "30",
        "seconds to wait for the upstream to connect or to send the next bytes",
    ),
    key(
        "uplink.maxage",
        Kind::Seconds { min: 0, max: MAX_SECONDS },
        "300",
        "seconds a fetched packument is served before it is revalidated with the upstream",
    ),
    key(
        "uplink.offline",
        Kind::Bool,
        "false",
        "never contact the upstream: serve only what is cached",
    ),
    key(
        "uplink.private_scopes",
        Kind::Scopes,
        "",
        "scopes that never go upstream, e.g. [\"@acme\"] (scopes with a local package never do either)",
    ),
];

/// A parsed value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// Text, path or URL.
    Text(String),
    /// Port, count or size.
    Int(u64),
    /// A flag.
    Bool(bool),
    /// A list of words (scopes).
    List(Vec<String>),
}

/// Where a value came from, for error messages and `nmr config`.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Built into nmr.
    Default,
    /// A config file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File(p) => write!(f, "config file {}", p.display()),
            Source::Env(v) => write!(f, "environment variable {v}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

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
    /// Scope names without `@`.
    pub private_scopes: Vec<String>,
}

/// Which authentication mode is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthType {
    None,
    Local,
    GitHub,
}

/// `auth.*` settings.
#[derive(Clone, Debug)]
pub struct Auth {
    pub kind: AuthType,
    /// `auth.read = "public"`: installs need no credentials.
    pub read_public: bool,
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
    pub uplink: Uplink,
}

/// What the layers are built from; gathered by the CLI, injected by tests.
#[derive(Default, Debug)]
pub struct Inputs {
    /// `--config PATH`, which must exist.
    pub config_path: Option<PathBuf>,
    /// The process environment (only `NMR_*`, the XDG/HOME variables and the standard
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` pair are read).
    pub env: Vec<(String, String)>,
    /// `(key, value, flag as typed)` from the command line, in order.
    pub flags: Vec<(String, String, String)>,
    /// Where `./nmr.toml` is looked for.
    pub cwd: PathBuf,
}

/// The configuration together with where each value came from.
#[derive(Debug)]
pub struct Effective {
    pub config: Config,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    /// Every key with its value and source, in [`KEYS`] order.
    pub entries: Vec<(&'static Key, Val, Source)>,
}

fn find_key(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}

fn known_keys_near(path: &str) -> String {
    let section = path.split('.').next().unwrap_or("");
    let near: Vec<&str> = KEYS
        .iter()
        .map(|k| k.path)
        .filter(|p| p.split('.').next() == Some(section))
        .collect();
    if near.is_empty() {
        let sections: std::collections::BTreeSet<&str> = KEYS
            .iter()
            .filter_map(|k| k.path.split('.').next())
            .collect();
        format!(
            "known sections: {}",
            sections.into_iter().collect::<Vec<_>>().join(", ")
        )
    } else {
        format!("known keys there: {}", near.join(", "))
    }
}

/// Largest accepted `settings.max_body_size`.
const MAX_SIZE: u64 = 2 << 30;

/// Suffixes of `Kind::Size` and the bytes they stand for.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("kb", 1 << 10),
    ("m", 1 << 20),
    ("mb", 1 << 20),
    ("g", 1 << 30),
    ("gb", 1 << 30),
];

/// Longest accepted duration: a year.
const MAX_SECONDS: u64 = 365 * 86_400;

/// Suffixes of `Kind::Seconds` and the seconds they stand for.
const SECONDS_UNITS: &[(&str, u64)] = &[("", 1), ("s", 1), ("m", 60), ("h", 3600)];

/// A whole number with an optional unit suffix from `units`, scaled by that unit.
fn parse_scaled(s: &str, units: &[(&str, u64)]) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..digits_end].parse().ok()?;
    let suffix = t[digits_end..].trim();
    let (_, mult) = units.iter().find(|(u, _)| *u == suffix)?;
    n.checked_mul(*mult)
}

/// One scope, `@acme` or `acme`, checked against npm's name rules and returned as `@acme`.
fn parse_scope(s: &str) -> Result<String, String> {
    let bare = s.trim().trim_start_matches('@');
    crate::name::validate(&format!("@{bare}/x"))
        .map(|()| format!("@{bare}"))
        .map_err(|_| format!("{s:?} is not an npm scope such as @acme"))
}

/// Parses a value written as text (environment, flags, defaults).
fn parse_text(kind: Kind, s: &str) -> Result<Val, String> {
    match kind {
        Kind::Text | Kind::Path => Ok(Val::Text(s.to_string())),
        Kind::Port => s
            .parse::<u16>()
            .map(|p| Val::Int(p.into()))
            .map_err(|_| format!("{s:?} is not a port number (0-65535)")),
        Kind::Count { min, max } => match s.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Val::Int(n)),
            _ => Err(format!("{s:?} is not a whole number from {min} to {max}")),
        },
        Kind::Bool => match s {
            "true" | "1" | "yes" => Ok(Val::Bool(true)),
            "false" | "0" | "no" => Ok(Val::Bool(false)),
            _ => Err(format!("{s:?} is not true or false")),
        },
        Kind::Size => match parse_scaled(s, SIZE_UNITS) {
            // Bodies are held in memory while checked; beyond this a publish is a mistake.
            Some(n) if (1..=MAX_SIZE).contains(&n) => Ok(Val::Int(n)),
            Some(_) => Err(format!("{s:?} is out of range: from 1 byte to 2gb")),
            None => Err(format!("{s:?} is not a size such as 200mb, 1g or 1048576")),
        },
        Kind::BaseUrl => check_base_url(s).map(Val::Text),
        Kind::Seconds { min, max } => match parse_scaled(s, SECONDS_UNITS) {
            Some(n) if (min..=max).contains(&n) => Ok(Val::Int(n)),
            Some(_) => Err(format!(
                "{s:?} is out of range: from {min} to {max} seconds"
            )),
            None => Err(format!("{s:?} is not a duration such as 30, 30s, 5m or 1h")),
        },
        Kind::Scopes => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(parse_scope)
            .collect::<Result<_, _>>()
            .map(Val::List),
        Kind::Prefix => check_prefix(s).map(Val::Text),
        Kind::Choice(options) => {
            if options.contains(&s) {
                Ok(Val::Text(s.to_string()))
            } else {
                Err(format!("{s:?} is not one of: {}", options.join(", ")))
            }
        }
    }
}

fn expected_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Port | Kind::Count { .. } => "integer",
        Kind::Size => "integer or string such as \"200mb\"",
        Kind::Seconds { .. } => "integer or string such as \"5m\"",
        Kind::Bool => "boolean",
        Kind::Scopes => "array of strings such as [\"@acme\"]",
        _ => "string",
    }
}

/// Parses a value from the config file, where numbers and booleans are typed.
fn parse_toml(kind: Kind, v: &toml::Value) -> Result<Val, String> {
    match (kind, v) {
        (_, toml::Value::String(s)) => parse_text(kind, s),
        (
            Kind::Port | Kind::Count { .. } | Kind::Size | Kind::Seconds { .. },
            toml::Value::Integer(n),
        ) => parse_text(kind, &n.to_string()),
        (Kind::Scopes, toml::Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| {
                        format!(
                            "a {} in the list where a scope string is expected",
                            i.type_str()
                        )
                    })
                    .and_then(parse_scope)
            })
            .collect::<Result<_, _>>()
            .map(Val::List),
        (Kind::Bool, toml::Value::Boolean(b)) => Ok(Val::Bool(*b)),
        (_, other) => Err(format!(
            "a {} where a {} is expected",
            other.type_str(),
            expected_type(kind)
        )),
    }
}

/// A base URL must be http(s) and safe to splice into JSON and headers as is.
fn check_base_url(s: &str) -> Result<String, String> {
    let s = s.trim_end_matches('/');
    if s.is_empty() {
        return Ok(String::new());
    }
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(|| format!("{s:?} must start with http:// or https://"))?;
    if rest.is_empty()
        || s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"\\<>{}|^`".contains(c))
    {
        return Err(format!("{s:?} is not a valid base URL"));
    }
    Ok(s.to_string())
}

/// A bucket prefix is normalised to `a/b/` (or empty); its segments follow the same rules as
/// blob keys, so no prefix can make two configurations' keys collide in surprising ways.
fn check_prefix(s: &str) -> Result<String, String> {
    let t = s.trim_matches('/');
    if t.is_empty() {
        return Ok(String::new());
    }
    let ok = t.split('/').all(|seg| {
        !seg.is_empty()
            && !seg.starts_with('.')
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    });
    if ok {
        Ok(format!("{t}/"))
    } else {
        Err(format!(
            "{s:?} is not a bucket prefix: use /-separated names of letters, digits, '-', '_', '.' and '@', none starting with '.'"
        ))
    }
}

/// The S3 access key pair: both from the config, else both from the standard AWS variables.
/// Mixing the two sources would hide a half-finished configuration, so it is refused.
fn s3_credentials(
    id: String,
    secret: String,
    env: &[(String, String)],
) -> Result<S3Credentials, String> {
    match (id.is_empty(), secret.is_empty()) {
        (false, false) => Ok(S3Credentials {
            access_key_id: id,
            secret_access_key: Secret(secret),
            source: "config",
        }),
        (true, true) => {
            let id = env_lookup(env, "AWS_ACCESS_KEY_ID");
            let secret = env_lookup(env, "AWS_SECRET_ACCESS_KEY");
            match (id, secret) {
                (Some(id), Some(secret)) => Ok(S3Credentials {
                    access_key_id: id.to_string(),
                    secret_access_key: Secret(secret.to_string()),
                    source: "environment",
                }),
                (None, None) => Err("S3 storage needs credentials: storage.s3.access_key_id and storage.s3.secret_access_key, or the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables".into()),
                _ => Err("only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set; set both or neither".into()),
            }
        }
        _ => Err("storage.s3.access_key_id and storage.s3.secret_access_key must be set together (or both left empty to use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into()),
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            // A table is a section unless a key by that exact name exists (none do today).
            toml::Value::Table(t) if find_key(&path).is_none() => flatten(&path, t, out),
            _ => out.push((path, v.clone())),
        }
    }
}

fn env_lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The config file to read: `--config`, then `NMR_CONFIG`, then the first that exists of
/// `./nmr.toml`, `$XDG_CONFIG_HOME/nmr/config.toml` (default `~/.config`), `/etc/nmr/config.toml`.
fn choose_file(inputs: &Inputs) -> Result<Option<PathBuf>, String> {
    if let Some(p) = &inputs.config_path {
        return if p.is_file() {
            Ok(Some(p.clone()))
        } else {
            Err(format!(
                "config file {} (from --config) does not exist",
                p.display()
            ))
        };
    }
    if let Some(p) = env_lookup(&inputs.env, "NMR_CONFIG") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(Some(p))
        } else {
            Err(format!(
                "config file {} (from NMR_CONFIG) does not exist",
                p.display()
            ))
        };
    }
    let mut candidates = vec![inputs.cwd.join("nmr.toml")];
    if let Some(x) = env_lookup(&inputs.env, "XDG_CONFIG_HOME") {
        candidates.push(Path::new(x).join("nmr/config.toml"));
    } else if let Some(h) = env_lookup(&inputs.env, "HOME") {
        candidates.push(Path::new(h).join(".config/nmr/config.toml"));
    }
    candidates.push(PathBuf::from("/etc/nmr/config.toml"));
    Ok(candidates.into_iter().find(|p| p.is_file()))
}

/// Builds the effective configuration from all layers.
pub fn load(inputs: &Inputs) -> Result<Effective, String> {
    let mut values: BTreeMap<&'static str, (Val, Source)> = BTreeMap::new();
    for k in KEYS {
        let v = parse_text(k.kind, k.default)
            .map_err(|e| format!("built-in default for {}: {e}", k.path))?;
        values.insert(k.path, (v, Source::Default));
    }

    let file = choose_file(inputs)?;
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| format!("config file {} is not valid TOML: {e}", path.display()))?;
        let mut flat = Vec::new();
        flatten("", &table, &mut flat);
        for (p, v) in flat {
            let src = Source::File(path.clone());
            let k = find_key(&p)
                .ok_or_else(|| format!("unknown key `{p}` in {src} ({})", known_keys_near(&p)))?;
            let val =
                parse_toml(k.kind, &v).map_err(|e| format!("bad value for `{p}` in {src}: {e}"))?;
            values.insert(k.path, (val, src));
        }
    }

    let mut env: Vec<&(String, String)> = inputs
        .env
        .iter()
        .filter(|(k, _)| k.starts_with("NMR_") && k != "NMR_CONFIG")
        .collect();
    env.sort();
    for (var, raw) in env {
        let p = var["NMR_".len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join(".");
        let src = Source::Env(var.clone());
        let k = find_key(&p).ok_or_else(|| format!("unknown setting `{p}` from {src} ({}; nested keys use a double underscore, e.g. NMR_SERVER__PORT)", known_keys_near(&p)))?;
        let val =
            parse_text(k.kind, raw).map_err(|e| format!("bad value for `{p}` from {src}: {e}"))?;
        values.insert(k.path, (val, src));
    }

    for (p, raw, flag) in &inputs.flags {
        let src = Source::Flag(flag.clone());
        let k = find_key(p)
            .ok_or_else(|| format!("unknown key `{p}` from {src} ({})", known_keys_near(p)))?;
        let val =
            parse_text(k.kind, raw).map_err(|e| format!("bad value for `{p}` from {src}: {e}"))?;
        values.insert(k.path, (val, src));
    }

    let text = |p: &str| match &values[p].0 {
        Val::Text(s) => s.clone(),
        other => unreachable!("{p} holds {other:?}"),
    };
    let int = |p: &str| match &values[p].0 {
        Val::Int(n) => *n,
        other => unreachable!("{p} holds {other:?}"),
    };
    let boolean = |p: &str| matches!(values[p].0, Val::Bool(true));
    let nonempty = |s: String| (!s.is_empty()).then_some(s);
    let public_url = text("server.public_url");
    let storage_type = StorageType::parse(&text("storage.type")).expect("checked by Kind::Choice");
    let endpoint = text("storage.s3.endpoint");
    let s3 = S3 {
        bucket: text("storage.s3.bucket"),
        region: text("storage.s3.region"),
        endpoint: (!endpoint.is_empty()).then_some(endpoint),
        path_style: boolean("storage.s3.path_style"),
        prefix: text("storage.s3.prefix"),
        credentials: s3_credentials(
            text("storage.s3.access_key_id"),
            text("storage.s3.secret_access_key"),
            &inputs.env,
        ),
        redirect: boolean("storage.s3.redirect"),
        expires: u32::try_from(int("storage.s3.expires")).expect("checked by Kind::Seconds"),
    };
    if storage_type == StorageType::S3 {
        check_s3(&s3)?;
    }
    let mode = match text("uplink.mode").as_str() {
        "redirect" => UplinkMode::Redirect,
        "proxy" => UplinkMode::Proxy,
        _ => UplinkMode::Off,
    };
    let uplink_url = nonempty(text("uplink.url"));
    if mode != UplinkMode::Off && uplink_url.is_none() {
        return Err(format!(
            "uplink.mode = {:?} (from {}) needs uplink.url, the upstream registry's base URL; set uplink.url, or set uplink.mode = \"off\"",
            text("uplink.mode"),
            values["uplink.mode"].1
        ));
    }
    let scopes = match &values["uplink.private_scopes"].0 {
        Val::List(l) => l
            .iter()
            .map(|s| s.trim_start_matches('@').to_string())
            .collect(),
        other => unreachable!("uplink.private_scopes holds {other:?}"),
    };
    let github_host = text("auth.github.host").trim().to_ascii_lowercase();
    let github_api = match text("auth.github.api_url") {
        u if !u.is_empty() => u,
        _ if github_host == "github.com" => "https://api.github.com".to_string(),
        _ => format!("https://{github_host}/api/v3"),
    };
    let tls = match (text("server.tls.cert"), text("server.tls.key")) {
        (c, k) if c.is_empty() && k.is_empty() => None,
        (c, k) if c.is_empty() || k.is_empty() => {
            return Err(format!(
                "server.tls.cert (from {}) and server.tls.key (from {}) go together: set both for HTTPS, or neither",
                values["server.tls.cert"].1, values["server.tls.key"].1
            ))
        }
        (c, k) => Some(Tls {
            cert: PathBuf::from(c),
            key: PathBuf::from(k),
        }),
    };
    let config = Config {
        auth: Auth {
            kind: match text("auth.type").as_str() {
                "local" => AuthType::Local,
                "github" => AuthType::GitHub,
                _ => AuthType::None,
            },
            read_public: text("auth.read") == "public",
            allow_registration: boolean("auth.local.allow_registration"),
            github_api,
            github_allow_unscoped: boolean("auth.github.allow_unscoped"),
            github_cache_ttl: int("auth.github.cache.ttl"),
            github_host,
        },
        server: Server {
            host: text("server.host"),
            port: int("server.port") as u16,
            public_url: (!public_url.is_empty()).then_some(public_url),
            workers: int("server.workers") as usize,
            max_connections: int("server.max_connections") as usize,
            read_timeout: Duration::from_secs(int("server.read_timeout")),
            write_timeout: Duration::from_secs(int("server.write_timeout")),
            shutdown_timeout: Duration::from_secs(int("server.shutdown_timeout")),
            max_connections_per_address: int("server.max_connections_per_address") as usize,
            min_upload_rate: int("server.min_upload_rate"),
            spool_budget: int("server.spool_budget"),
            tls,
        },
        log_level: str::parse(&text("logger.level")).expect("checked by Kind::Choice"),
        settings: Settings {
            allow_previous_version: boolean("settings.allow_previous_version"),
            max_body_size: int("settings.max_body_size"),
        },
        storage_type,
        storage_path: PathBuf::from(text("storage.local.path")),
        s3,
        db_path: PathBuf::from(text("db.path")),
        uplink: Uplink {
            mode,
            url: uplink_url,
            token: nonempty(text("uplink.token")).map(Secret),
            timeout: Duration::from_secs(int("uplink.timeout")),
            maxage: Duration::from_secs(int("uplink.maxage")),
            offline: boolean("uplink.offline"),
            private_scopes: scopes,
        },
    };
    let entries = KEYS
        .iter()
        .map(|k| {
            let (v, s) = values.remove(k.path).expect("every key has a default");
            (k, v, s)
        })
        .collect();
    Ok(Effective {
        config,
        file,
        entries,
    })
}

/// What an S3 store needs before it can be opened: checked at load time when it is the
/// configured backend, and by `nmr storage copy` when it is one end of a copy.
pub fn check_s3(s3: &S3) -> Result<(), String> {
    if s3.bucket.is_empty() {
        return Err(
            "S3 storage needs storage.s3.bucket (e.g. NMR_STORAGE__S3__BUCKET=npm-tarballs)".into(),
        );
    }
    if s3.region.is_empty() {
        return Err("storage.s3.region must not be empty".into());
    }
    s3.credentials.as_ref().map(|_| ()).map_err(Clone::clone)
}

fn toml_value(v: &Val) -> String {
    match v {
        // JSON string escapes are valid TOML basic-string escapes.
        Val::Text(s) => serde_json::to_string(s).expect("strings serialise"),
        Val::Int(n) => n.to_string(),
        Val::Bool(b) => b.to_string(),
        Val::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| serde_json::to_string(i).expect("strings serialise"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Renders the effective configuration as TOML that nmr itself can read back, with each value's
/// source as a comment and secrets masked.
pub fn render(entries: &[(&Key, Val, Source)], file: Option<&Path>) -> String {
    let mut out = String::from(
        "# nmr effective configuration: defaults < config file < NMR_* environment < flags\n",
    );
    match file {
        Some(p) => out.push_str(&format!("# config file: {}\n", p.display())),
        None => out.push_str("# config file: none found\n"),
    }
    let mut section = "";
    for (k, v, src) in entries {
        let (sec, name) = k.path.rsplit_once('.').unwrap_or(("", k.path));
        if sec != section {
            out.push_str(&format!("\n[{sec}]\n"));
            section = sec;
        }
        let shown = match v {
            Val::Text(s) if k.secret && !s.is_empty() => "\"********\"".to_string(),
            _ => toml_value(v),
        };
        out.push_str(&format!("{name} = {shown}  # {src}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(dir: &Path) -> Inputs {
        Inputs {
            cwd: dir.to_path_buf(),
            env: vec![(
                "XDG_CONFIG_HOME".into(),
                dir.join("xdg").display().to_string(),
            )],
            ..Default::default()
        }
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nmr-config-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn defaults_apply_without_any_layer() {
        let d = tempdir("defaults");
        let e = load(&inputs(&d)).unwrap();
        assert_eq!(e.config.server.port, 4873);
        assert_eq!(e.config.settings.max_body_size, 200 << 20);
        assert!(!e.config.settings.allow_previous_version);
        assert!(e.file.is_none());
    }

    #[test]
    fn layers_override_in_order_file_env_flags() {
        let d = tempdir("layers");
        std::fs::write(d.join("nmr.toml"), "[server]\nport = 1111\nhost = \"0.0.0.0\"\nworkers = 3\n[settings]\nmax_body_size = \"1mb\"\n").unwrap();
        let mut i = inputs(&d);
        i.env.push(("NMR_SERVER__PORT".into(), "2222".into()));
        i.env.push(("NMR_SERVER__WORKERS".into(), "5".into()));
        i.flags
            .push(("server.port".into(), "3333".into(), "--port".into()));
        let e = load(&i).unwrap();
        assert_eq!(e.config.server.port, 3333);
        assert_eq!(e.config.server.workers, 5);
        assert_eq!(e.config.server.host, "0.0.0.0");
        assert_eq!(e.config.settings.max_body_size, 1 << 20);
        let src = |p: &str| {
            e.entries
                .iter()
                .find(|(k, _, _)| k.path == p)
                .unwrap()
                .2
                .clone()
        };
        assert_eq!(src("server.port"), Source::Flag("--port".into()));
        assert_eq!(
            src("server.workers"),
            Source::Env("NMR_SERVER__WORKERS".into())
        );
        assert_eq!(src("server.host"), Source::File(d.join("nmr.toml")));
        assert_eq!(src("db.path"), Source::Default);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_key_and_source() {
        let d = tempdir("bad");
        std::fs::write(d.join("nmr.toml"), "[server]\nprot = 1\n").unwrap();
        let err = load(&inputs(&d)).unwrap_err();
        assert!(
            err.contains("server.prot") && err.contains("nmr.toml"),
            "{err}"
        );

        std::fs::write(d.join("nmr.toml"), "[server]\nport = \"eighty\"\n").unwrap();
        let err = load(&inputs(&d)).unwrap_err();
        assert!(
            err.contains("server.port") && err.contains("nmr.toml"),
            "{err}"
        );

        std::fs::remove_file(d.join("nmr.toml")).unwrap();
        let mut i = inputs(&d);
        i.env.push(("NMR_SERVER__PROT".into(), "1".into()));
        let err = load(&i).unwrap_err();
        assert!(
            err.contains("server.prot") && err.contains("NMR_SERVER__PROT"),
            "{err}"
        );

        let mut i = inputs(&d);
        i.env.push((
            "NMR_SETTINGS__ALLOW_PREVIOUS_VERSION".into(),
            "maybe".into(),
        ));
        let err = load(&i).unwrap_err();
        assert!(
            err.contains("settings.allow_previous_version")
                && err.contains("NMR_SETTINGS__ALLOW_PREVIOUS_VERSION"),
            "{err}"
        );

        let mut i = inputs(&d);
        i.env
            .push(("NMR_SETTINGS__MAX_BODY_SIZE".into(), "3g".into()));
        assert!(load(&i).unwrap_err().contains("settings.max_body_size"));

        let mut i = inputs(&d);
        i.env.push(("NMR_AUTH__TYPE".into(), "ldap".into()));
        assert!(load(&i).unwrap_err().contains("auth.type"));

        let mut i = inputs(&d);
        i.flags.push((
            "server.public_url".into(),
            "ftp://x".into(),
            "--public-url".into(),
        ));
        let err = load(&i).unwrap_err();
        assert!(err.contains("--public-url"), "{err}");
    }

    #[test]
    fn the_github_api_follows_the_host_unless_set() {
        let d = tempdir("github");
        let api = |env: &[(&str, &str)]| {
            let mut i = inputs(&d);
            i.env
                .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            load(&i).unwrap().config.auth.github_api
        };
        assert_eq!(api(&[]), "https://api.github.com");
        assert_eq!(
            api(&[("NMR_AUTH__GITHUB__HOST", "GHE.Corp.Test")]),
            "https://ghe.corp.test/api/v3"
        );
        assert_eq!(
            api(&[
                ("NMR_AUTH__GITHUB__HOST", "ghe.corp.test"),
                ("NMR_AUTH__GITHUB__API_URL", "http://127.0.0.1:9/api/")
            ]),
            "http://127.0.0.1:9/api"
        );
    }

    #[test]
    fn explicit_config_path_must_exist_and_xdg_file_is_found() {
        let d = tempdir("paths");
        let mut i = inputs(&d);
        i.config_path = Some(d.join("missing.toml"));
        assert!(load(&i).unwrap_err().contains("missing.toml"));

        std::fs::create_dir_all(d.join("xdg/nmr")).unwrap();
        std::fs::write(
            d.join("xdg/nmr/config.toml"),
            "[db]\npath = \"/x/y.sqlite\"\n",
        )
        .unwrap();
        let e = load(&inputs(&d)).unwrap();
        assert_eq!(e.config.db_path, PathBuf::from("/x/y.sqlite"));
        assert_eq!(e.file, Some(d.join("xdg/nmr/config.toml")));
    }

    #[test]
    fn s3_needs_a_bucket_and_a_whole_key_pair_from_one_source() {
        let d = tempdir("s3");
        let mut i = inputs(&d);
        i.env.push(("NMR_STORAGE__TYPE".into(), "s3".into()));
        assert!(load(&i).unwrap_err().contains("storage.s3.bucket"));
        i.env.push(("NMR_STORAGE__S3__BUCKET".into(), "npm".into()));
        assert!(load(&i).unwrap_err().contains("AWS_ACCESS_KEY_ID"));
        i.env.push(("AWS_ACCESS_KEY_ID".into(), "AKID".into()));
        assert!(load(&i).unwrap_err().contains("only one of"));
        i.env
            .push(("AWS_SECRET_ACCESS_KEY".into(), "from-env".into()));
        let c = load(&i).unwrap().config.s3.credentials.unwrap();
        assert_eq!(
            (c.source, c.secret_access_key.0.as_str()),
            ("environment", "from-env")
        );

        i.env
            .push(("NMR_STORAGE__S3__ACCESS_KEY_ID".into(), "cfg-id".into()));
        assert!(load(&i).unwrap_err().contains("must be set together"));
        i.env.push((
            "NMR_STORAGE__S3__SECRET_ACCESS_KEY".into(),
            "from-config".into(),
        ));
        let e = load(&i).unwrap();
        let c = e.config.s3.credentials.as_ref().unwrap();
        assert_eq!((c.source, c.access_key_id.as_str()), ("config", "cfg-id"));
        let shown = format!("{:?}{}", e.config, render(&e.entries, None));
        assert!(
            !shown.contains("from-config") && !shown.contains("from-env"),
            "{shown}"
        );
    }

    #[test]
    fn s3_values_are_checked_even_when_storage_is_local() {
        let d = tempdir("s3-values");
        let mut i = inputs(&d);
        i.env
            .push(("AWS_ACCESS_KEY_ID".into(), "half a pair".into()));
        assert_eq!(load(&i).unwrap().config.storage_type, StorageType::Local);

        std::fs::write(
            d.join("nmr.toml"),
            "[storage.s3]\nprefix = \"/npm/v1/\"\nexpires = 120\n",
        )
        .unwrap();
        let s3 = load(&inputs(&d)).unwrap().config.s3;
        assert_eq!((s3.prefix.as_str(), s3.expires), ("npm/v1/", 120));
        for (k, v) in [
            ("NMR_STORAGE__S3__PREFIX", "a/../b"),
            ("NMR_STORAGE__S3__PREFIX", "a b"),
            ("NMR_STORAGE__S3__EXPIRES", "0"),
            ("NMR_STORAGE__S3__EXPIRES", "604801"),
            ("NMR_STORAGE__S3__ENDPOINT", "s3.example.test"),
        ] {
            let mut i = inputs(&d);
            i.env.push((k.into(), v.into()));
            assert!(load(&i).unwrap_err().contains(k), "{k}={v}");
        }
    }

    #[test]
    fn rendered_config_reads_back_to_the_same_values_and_masks_secrets() {
        let d = tempdir("render");
        let mut i = inputs(&d);
        i.env.push((
            "NMR_SERVER__PUBLIC_URL".into(),
            "https://npm.example.test/".into(),
        ));
        let e = load(&i).unwrap();
        let text = render(&e.entries, e.file.as_deref());
        assert!(text.contains("environment variable NMR_SERVER__PUBLIC_URL"));
        std::fs::write(d.join("nmr.toml"), &text).unwrap();
        let again = load(&inputs(&d)).unwrap();
        assert_eq!(
            again.config.server.public_url.as_deref(),
            Some("https://npm.example.test")
        );
        let values: Vec<&Val> = e.entries.iter().map(|(_, v, _)| v).collect();
        let values_again: Vec<&Val> = again.entries.iter().map(|(_, v, _)| v).collect();
        assert_eq!(values, values_again);

        let secret = Key {
            path: "s3.secret",
            kind: Kind::Text,
            default: "",
            secret: true,
            doc: "",
        };
        let masked = render(
            &[(&secret, Val::Text("hunter2".into()), Source::Default)],
            None,
        );
        assert!(!masked.contains("hunter2") && masked.contains("********"));
    }

    #[test]
    fn uplink_settings_come_from_every_layer_and_read_back() {
        let d = tempdir("uplink");
        std::fs::write(
            d.join("nmr.toml"),
            "[uplink]\nmode = \"proxy\"\nurl = \"http://upstream.example.test/\"\nprivate_scopes = [\"@acme\", \"internal\"]\nmaxage = \"5m\"\n",
        )
        .unwrap();
        let e = load(&inputs(&d)).unwrap();
        let u = &e.config.uplink;
        assert_eq!(u.mode, UplinkMode::Proxy);
        assert_eq!(u.url.as_deref(), Some("http://upstream.example.test"));
        assert_eq!(u.private_scopes, ["acme", "internal"]);
        assert_eq!(u.maxage, Duration::from_secs(300));
        assert_eq!(u.timeout, Duration::from_secs(30));
        assert!(!u.offline && u.token.is_none());

        let mut i = inputs(&d);
        i.env
            .push(("NMR_UPLINK__PRIVATE_SCOPES".into(), "@a, b,".into()));
        i.env.push(("NMR_UPLINK__TOKEN".into(), "s3cret".into()));
        i.flags
            .push(("uplink.offline".into(), "true".into(), "--offline".into()));
        i.flags.push((
            "uplink.timeout".into(),
            "2".into(),
            "--set uplink.timeout".into(),
        ));
        let e = load(&i).unwrap();
        let u = &e.config.uplink;
        assert_eq!(u.private_scopes, ["a", "b"]);
        assert_eq!(u.timeout, Duration::from_secs(2));
        assert!(u.offline);
        assert_eq!(u.token, Some(Secret("s3cret".into())));
        assert!(!format!("{:?}", e.config).contains("s3cret"));

        let text = render(&e.entries, e.file.as_deref());
        assert!(text.contains("private_scopes = [\"@a\", \"@b\"]"), "{text}");
        assert!(text.contains("token = \"********\"") && !text.contains("s3cret"));
        std::fs::write(d.join("nmr.toml"), &text).unwrap();
        let again = load(&inputs(&d)).unwrap().config.uplink;
        assert_eq!(again.private_scopes, ["a", "b"]);
        assert_eq!((again.timeout, again.offline), (u.timeout, true));
    }

    #[test]
    fn bad_uplink_settings_stop_start_up_naming_the_keys() {
        let d = tempdir("uplink-bad");
        let err = |env: &[(&str, &str)]| {
            let mut i = inputs(&d);
            i.env
                .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            load(&i).unwrap_err()
        };
        let e = err(&[("NMR_UPLINK__MODE", "redirect")]);
        assert!(
            e.contains("uplink.mode") && e.contains("uplink.url") && e.contains("NMR_UPLINK__MODE"),
            "{e}"
        );
        let e = err(&[("NMR_UPLINK__PRIVATE_SCOPES", "@acme,@Bad")]);
        assert!(
            e.contains("uplink.private_scopes") && e.contains("@Bad"),
            "{e}"
        );
        assert!(err(&[("NMR_UPLINK__MAXAGE", "soon")]).contains("uplink.maxage"));
        assert!(err(&[("NMR_UPLINK__TIMEOUT", "0")]).contains("uplink.timeout"));
        assert!(err(&[("NMR_UPLINK__URL", "upstream.example.test")]).contains("uplink.url"));
        assert!(err(&[("NMR_UPLINK__MODE", "mirror")]).contains("uplink.mode"));
    }

    #[test]
    fn the_readme_reference_table_lists_exactly_the_keys() {
        let readme = include_str!("../README.md");
        let listed: Vec<&str> = readme
            .lines()
            .skip_while(|l| !l.starts_with("| Key | Default | Meaning |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.strip_prefix("| `")?.split_once("` |").map(|(k, _)| k))
            .collect();
        let keys: Vec<&str> = KEYS.iter().map(|k| k.path).collect();
        assert_eq!(
            listed, keys,
            "README.md's configuration table and KEYS differ"
        );
    }
}
