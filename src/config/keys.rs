//! The declaration table: every setting's dotted key, kind, default and one-line meaning, kept
//! in one place so that parsing, layering, `nmr config` and the README all agree on it.

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
    /// Bytes of storage, `0` for no limit, up to terabytes: `20gb`, `1t`.
    Capacity,
    /// An `http://` or `https://` base URL, or empty for "not set".
    BaseUrl,
    /// One of a fixed list of words.
    Choice(&'static [&'static str]),
    /// Whole seconds within `min..=max`: `300`, `300s`, `5m` or `1h`.
    Seconds { min: u64, max: u64 },
    /// npm scopes (`@acme` or `acme`): a TOML array, or comma-separated in variables and flags.
    Scopes,
    /// IP addresses and ranges (`10.0.0.0/8`, `::1`), listed as scopes are.
    Addresses,
    /// Origins, `https://host[:port]`, listed as scopes are.
    Origins,
    /// A folder inside a bucket: `/`-separated segments, or empty for the bucket's top.
    Prefix,
    /// `[[notify]]` tables (see `config::notify`); a JSON array of objects in variables.
    Notify,
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

/// Longest accepted duration: a year.
const MAX_SECONDS: u64 = 365 * 86_400;

/// Every setting nmr knows. Adding a setting means adding a line here and a field in [`Config`](super::Config).
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
        "server.trusted_proxies",
        Kind::Addresses,
        "",
        "addresses or ranges of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed, e.g. [\"10.0.0.5\", \"fd00::/8\"]; empty = nobody's",
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
        Kind::Choice(&["public", "authenticated", "members"]),
        "authenticated",
        "who may install: everyone, or only authenticated users (with auth.type = github: those who can read the package's repository); members (auth.type = local): a scoped package only members of its organisation",
    ),
    key(
        "auth.local.allow_registration",
        Kind::Bool,
        "false",
        "let anyone create an account with npm adduser (otherwise the operator runs nmr user add)",
    ),
    key(
        "auth.local.claim_scopes",
        Kind::Bool,
        "true",
        "the first publish into a scope without an organisation makes the publisher its owner (otherwise only the operator creates organisations: nmr org add)",
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
        "SQLite database file for metadata (when db.url is empty)",
    ),
    Key {
        // Only the password inside it is a secret: `nmr config` shows the rest.
        secret: true,
        ..key(
            "db.url",
            Kind::Text,
            "",
            "empty = SQLite at db.path; postgres://user:pass@host:port/db?sslmode=... = PostgreSQL 13 or newer, shared by every instance",
        )
    },
    key(
        "db.password_file",
        Kind::Path,
        "",
        "file holding the PostgreSQL password, when db.url has none; else the PGPASSWORD environment variable",
    ),
    key(
        "db.allow_local_storage",
        Kind::Bool,
        "false",
        "allow PostgreSQL with storage.type = local: a single instance on an external database",
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
        "uplink.cache_max_size",
        Kind::Capacity,
        "0",
        "most bytes of upstream tarballs to keep, e.g. \"20gb\"; the least recently downloaded go first (0 = no limit)",
    ),
    key(
        "uplink.private_scopes",
        Kind::Scopes,
        "",
        "scopes that never go upstream, e.g. [\"@acme\"] (scopes with a local package never do either)",
    ),
    key(
        "uplink.tarball_hosts",
        Kind::Origins,
        "",
        "origins besides uplink.url's that upstream tarballs (and redirects) may come from, e.g. [\"https://cdn.example.test\"]",
    ),
    key(
        "notify",
        Kind::Notify,
        "",
        "webhooks called when a package changes: [[notify]] tables (see Notifications); a JSON array in NMR_NOTIFY",
    ),
];

/// The declared setting at a dotted path.
pub(super) fn find_key(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_reference_table_lists_exactly_the_keys() {
        let readme = include_str!("../../README.md");
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
