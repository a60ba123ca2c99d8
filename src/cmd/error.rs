//! What a command can fail with, and the exit code each kind gives: the commands' counterpart
//! of the request path's HTTP error. A command prints the message after its own prefix (`nmr:
//! fsck stopped: ...`); the kind alone decides the exit code.

use crate::store;
use std::io;

/// Everything an operator command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line, its input or the state it was pointed at is wrong (a non-empty backup
    /// directory, an existing database to restore over): nothing was done, exit 2.
    #[error("{0}")]
    Usage(String),
    /// The command ran and could not finish: exit 1.
    #[error("{0}")]
    Failed(String),
    /// The database or a blob store failed: exit 1.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// A file operation outside the stores (a backup's files, the progress output); `what`
    /// says which: exit 1.
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    /// The registry's state (database, blob store) could not be opened with this configuration:
    /// nothing was done, and the fix is in the configuration, so exit 2 as for a usage error.
    /// The whole message is shown, internal detail included: the operator is its reader.
    #[error("{}", .0.message())]
    Open(crate::error::Error),
    /// Code the command shares with the request path (the upstream client, publishing's
    /// checks) failed: exit 1. The whole message is shown, as for `Open`.
    #[error("{}", .0.message())]
    Request(crate::error::Error),
    /// `source` stopped a larger step, which `what` names along with what was left behind (an
    /// import undone). The cause decides the exit code.
    #[error("{what}: {source}")]
    Context { what: String, source: Box<Error> },
}

/// Shorthand for the commands' fallible functions.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A failed file operation, described by `what`.
    pub fn io(what: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// The process exit code: 2 when the operator must change what they asked for, 1 when it
    /// failed while running (and running it again may work once the cause is fixed).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Open(_) => 2,
            Error::Failed(_) | Error::Store(_) | Error::Io { .. } | Error::Request(_) => 1,
            Error::Context { source, .. } => source.exit_code(),
        }
    }
}

/// Queries a command runs itself (its own transactions, SQLite's backup API) fail as the
/// store's do.
impl From<crate::store::db::Error> for Error {
    fn from(e: crate::store::db::Error) -> Self {
        Error::Store(e.into())
    }
}

/// `nmr db copy`'s engine half: a value that fits no column is a database changed by hand.
impl From<crate::store::dbcopy::Error> for Error {
    fn from(e: crate::store::dbcopy::Error) -> Self {
        match e {
            crate::store::dbcopy::Error::Database(e) => e.into(),
            e => Error::Failed(e.to_string()),
        }
    }
}

/// SQLite's backup API, which only `nmr backup` uses.
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e.into())
    }
}

/// Writing progress lines, and file operations with no more specific description.
impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::io("i/o", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2_and_failures_1_with_their_message() {
        let cases = [
            (Error::Usage("/b is not empty".into()), 2, "/b is not empty"),
            (
                store::Error::BadKey("../x".into()).into(),
                1,
                "refusing blob key \"../x\"",
            ),
            (
                io::Error::from(io::ErrorKind::BrokenPipe).into(),
                1,
                "i/o: broken pipe",
            ),
            (
                Error::Open(crate::error::Error::Internal("cannot create /db".into())),
                2,
                "cannot create /db",
            ),
            (
                Error::Request(crate::error::Error::NotFound("no dist-tag \"next\"".into())),
                1,
                "no dist-tag \"next\"",
            ),
            (
                Error::Context {
                    what: "import of b.tar failed".into(),
                    source: Box::new(Error::Usage("b.tar: no such file".into())),
                },
                2,
                "import of b.tar failed: b.tar: no such file",
            ),
        ];
        for (e, code, message) in cases {
            assert_eq!((e.exit_code(), e.to_string().as_str()), (code, message));
        }
    }
}
