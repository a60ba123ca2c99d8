//! What can go wrong in storage, said in storage terms: the request path turns it into an HTTP
//! status in one place (`From<store::Error> for crate::error::Error`), the commands into a
//! printed message. Each message is the whole detail, for the log or the operator; which part
//! of it a client may see is decided at that edge, not here.

use std::io;
use std::path::PathBuf;

/// Everything the metadata database and the blob stores can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query, a transaction or a setting failed in the database.
    #[error("database: {0}")]
    Database(crate::store::db::Error),
    /// SQLite could not write because the disk holding the database is full: nothing was
    /// stored, and making room is the cure.
    #[error("database: {0}")]
    DatabaseFull(crate::store::db::Error),
    /// The database file could not be opened at all.
    #[error("cannot open database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: crate::store::db::Error,
    },
    /// The database was written by a newer nmr, whose schema this one must not touch.
    #[error("database schema {found} is newer than this nmr understands ({known}); upgrade nmr")]
    SchemaTooNew { found: i64, known: i64 },
    /// A file operation of the local store failed; `what` says which.
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    /// The disk holding the tarballs is full, or a file hit a size limit: nothing was stored.
    #[error("{what}: {source}")]
    Full { what: String, source: io::Error },
    /// A blob key that could name a file outside the store's root: a bug elsewhere, refused.
    #[error("refusing blob key {0:?}")]
    BadKey(String),
    /// The storage settings cannot work (an S3 section without a bucket, unusable
    /// credentials), so the store could not be opened.
    #[error("{0}")]
    Config(String),
    /// The S3 backend could not be reached, or answered with an error that may pass (5xx,
    /// throttling): trying again later may work. The message names the bucket and endpoint.
    #[error("{0}")]
    Unavailable(String),
    /// The S3 backend answered with an error it will keep giving (refused credentials, a
    /// missing bucket) or sent something unusable. The message names the bucket and endpoint.
    #[error("{0}")]
    Refused(String),
    /// No random bytes for a temp file name or the database marker.
    #[error(transparent)]
    Random(#[from] crate::random::NoRandomness),
}

/// Shorthand for the store's fallible functions.
pub type Result<T> = std::result::Result<T, Error>;

/// Whether a failed file operation failed for want of room: a full disk, a quota or a
/// file-size limit. Shared with `crate::error::Error::io`, so both say 507 for the same cases.
pub fn no_room(e: &io::Error) -> bool {
    use io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
    matches!(e.kind(), StorageFull | QuotaExceeded | FileTooLarge)
}

impl Error {
    /// A failed file operation, described by `what`: [`Error::Full`] when there was no room.
    pub fn io(what: impl Into<String>, source: io::Error) -> Error {
        let what = what.into();
        if no_room(&source) {
            Error::Full { what, source }
        } else {
            Error::Io { what, source }
        }
    }
}

impl From<crate::store::db::Error> for Error {
    fn from(e: crate::store::db::Error) -> Self {
        if e.is_full() {
            Error::DatabaseFull(e)
        } else if e.is_unavailable() {
            Error::Unavailable(format!("the metadata database is unavailable: {e}"))
        } else {
            Error::Database(e)
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        crate::store::db::Error::from(e).into()
    }
}

/// A file operation with no more specific description than the one it always had.
impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::io("i/o", e)
    }
}
