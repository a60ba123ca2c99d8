//! The one error type of the request path, and its mapping to an HTTP status and JSON body.

use crate::store;
use std::fmt;

/// Everything a handler can fail with. Each variant is one HTTP status; the message is what
/// the npm client prints to the user, so it says what went wrong and what to do about it.
/// `Clone` lets one upstream fetch hand its outcome to every request that waited for it.
#[derive(Clone, Debug)]
pub enum Error {
    /// 400: the request is malformed or breaks a publishing rule.
    BadRequest(String),
    /// 401: no credentials, or credentials that are wrong, expired or revoked.
    Unauthorized(String),
    /// 403: the caller is known but may not do this.
    Forbidden(String),
    /// 404: no such package, version, tag, file or endpoint.
    NotFound(String),
    /// 405: the path exists but not for this method.
    MethodNotAllowed(String),
    /// 409: the version (or state) already exists and may not be overwritten.
    Conflict(String),
    /// 410: the version existed and was unpublished.
    Gone(String),
    /// 408: the client took longer than `server.read_timeout` to send its request headers.
    Timeout(String),
    /// 413: the body is larger than `settings.max_body_size`.
    TooLarge(String),
    /// 429: this client address holds too many connections (`server.max_connections_per_address`)
    /// or has failed too often; the answer says when to come back.
    TooManyRequests(String),
    /// 429 with `Retry-After`: too many failed password checks for this account or from this
    /// address; the number is how many seconds to wait.
    Throttled(String, u64),
    /// 431: the request headers are larger, or more, than the registry accepts.
    HeadersTooLarge(String),
    /// 500: a real fault on our side (I/O, database). The detail goes to the log, not the client.
    Internal(String),
    /// 502: a service nmr depends on answered with an error it will keep giving, or sent
    /// something unusable: the tarball storage (refused credentials, missing bucket) or the
    /// upstream registry (with no cached copy to serve instead). The message names which.
    BadGateway(String),
    /// 503: a service nmr depends on (tarball storage, GitHub) could not be reached or failed
    /// for now; trying again later may work. The message names the service.
    Unavailable(String),
    /// 504: the upstream registry did not answer within `uplink.timeout`.
    GatewayTimeout(String),
    /// 507: the disk (tarballs or database) is full or over a size limit, so nothing was
    /// stored. The detail goes to the log; the client is told to try again once there is room.
    InsufficientStorage(String),
}

/// Shorthand used by every fallible function in the request path.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The HTTP status code for this error: the one place where that mapping lives.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::MethodNotAllowed(_) => 405,
            Error::Conflict(_) => 409,
            Error::Gone(_) => 410,
            Error::Timeout(_) => 408,
            Error::TooLarge(_) => 413,
            Error::TooManyRequests(_) | Error::Throttled(..) => 429,
            Error::HeadersTooLarge(_) => 431,
            Error::Internal(_) => 500,
            Error::BadGateway(_) => 502,
            Error::Unavailable(_) => 503,
            Error::GatewayTimeout(_) => 504,
            Error::InsufficientStorage(_) => 507,
        }
    }

    /// The text for the `{"error": ...}` body. Internal details stay in the server log.
    pub fn client_message(&self) -> &str {
        match self {
            Error::BadRequest(m)
            | Error::Unauthorized(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::MethodNotAllowed(m)
            | Error::Conflict(m)
            | Error::Gone(m)
            | Error::Timeout(m)
            | Error::TooLarge(m)
            | Error::TooManyRequests(m)
            | Error::Throttled(m, _)
            | Error::HeadersTooLarge(m)
            | Error::BadGateway(m)
            | Error::Unavailable(m)
            | Error::GatewayTimeout(m) => m,
            Error::Internal(_) => "internal server error; the registry log has the details",
            Error::InsufficientStorage(_) => {
                "the registry's storage is full, so nothing was stored; try again once its operator has made room"
            }
        }
    }

    /// Seconds the client should wait before trying again, for a `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::Throttled(_, secs) => Some(*secs),
            _ => None,
        }
    }

    /// The whole message, internal detail included: for the log and start-up errors.
    pub fn message(&self) -> &str {
        match self {
            Error::Internal(m) | Error::InsufficientStorage(m) => m,
            other => other.client_message(),
        }
    }

    /// The JSON body every error response carries: npm prints only the `error` field.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "error": self.client_message() }))
            .expect("a JSON object with one string serialises")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Internal(m) => write!(f, "500 internal: {m}"),
            Error::InsufficientStorage(m) => write!(f, "507 storage full: {m}"),
            other => write!(f, "{} {}", other.status(), other.client_message()),
        }
    }
}

impl Error {
    /// A failed file operation, described by `what`: a full disk or a file-size limit is
    /// [`Error::InsufficientStorage`] (507), anything else internal.
    pub fn io(what: &str, e: &std::io::Error) -> Error {
        if store::no_room(e) {
            Error::InsufficientStorage(format!("{what}: {e}"))
        } else {
            Error::Internal(format!("{what}: {e}"))
        }
    }
}

/// The one place a storage failure becomes an HTTP answer. The store's message is the whole
/// detail; 500 and 507 keep it for the log, while the S3 answers name the storage to the client
/// because the operator reading an npm error needs to know which service failed.
impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        let detail = e.to_string();
        match e {
            store::Error::DatabaseFull(_) | store::Error::Full { .. } => {
                Error::InsufficientStorage(detail)
            }
            store::Error::Unavailable(_) => Error::Unavailable(detail),
            store::Error::Refused(_) => Error::BadGateway(detail),
            store::Error::Database(_)
            | store::Error::Open { .. }
            | store::Error::SchemaTooNew { .. }
            | store::Error::Io { .. }
            | store::Error::BadKey(_)
            | store::Error::Config(_)
            | store::Error::Random(_) => Error::Internal(detail),
        }
    }
}

/// Queries the request path makes itself (its own transactions) fail as the store's do.
impl From<crate::store::db::Error> for Error {
    fn from(e: crate::store::db::Error) -> Self {
        store::Error::from(e).into()
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io("i/o", &e)
    }
}

impl From<crate::random::NoRandomness> for Error {
    fn from(e: crate::random::NoRandomness) -> Self {
        Error::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_detail_from_clients() {
        let e = Error::Internal("disk /secret/path exploded".into());
        assert_eq!(e.status(), 500);
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert!(!body["error"].as_str().unwrap().contains("/secret/path"));
    }

    #[test]
    fn storage_failures_are_gateway_errors_that_name_the_storage() {
        let e = Error::from(store::Error::Unavailable(
            "S3 bucket \"npm\" is unreachable".into(),
        ));
        assert_eq!(e.status(), 503);
        assert!(String::from_utf8(e.body()).unwrap().contains("bucket"));
        let refused = Error::from(store::Error::Refused("S3 said 403".into()));
        assert_eq!(refused.status(), 502);
        assert_eq!(refused.client_message(), "S3 said 403");
    }

    #[test]
    fn store_faults_are_500_or_507_with_their_detail_kept_for_the_log() {
        let sqlite_full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let e = Error::from(store::Error::from(sqlite_full));
        assert_eq!(e.status(), 507);
        assert!(e.message().starts_with("database: "), "{}", e.message());
        let open = store::Error::Open {
            path: "/srv/nmr/db.sqlite".into(),
            source: crate::store::db::Error::NoRows,
        };
        let e = Error::from(open);
        assert_eq!(e.status(), 500);
        assert!(e
            .message()
            .starts_with("cannot open database /srv/nmr/db.sqlite: "));
        assert!(!String::from_utf8(e.body()).unwrap().contains("/srv/nmr"));
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let e = Error::from(store::Error::io("cannot store p/p-1.0.0.tgz", full));
        assert_eq!(e.status(), 507);
        assert!(e.message().starts_with("cannot store p/p-1.0.0.tgz: "));
        let e = Error::from(store::Error::SchemaTooNew { found: 9, known: 3 });
        assert_eq!(
            e.message(),
            "database schema 9 is newer than this nmr understands (3); upgrade nmr"
        );
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn a_full_disk_is_507_and_hides_its_detail() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let e = Error::io("cannot store /srv/nmr/x.tgz", &full);
        assert_eq!(e.status(), 507);
        assert!(!String::from_utf8(e.body()).unwrap().contains("/srv/nmr"));
        assert!(e.message().contains("/srv/nmr"));
        let too_big = std::io::Error::from(std::io::ErrorKind::FileTooLarge);
        assert_eq!(Error::from(too_big).status(), 507);
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(Error::from(other).status(), 500);
    }

    #[test]
    fn client_errors_carry_their_message() {
        let e = Error::Conflict("version 1.0.0 exists".into());
        assert_eq!(e.status(), 409);
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(body["error"], "version 1.0.0 exists");
    }
}
