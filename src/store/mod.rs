//! Persistent state: package metadata in SQLite ([`meta`]) and tarball bytes in a blob store
//! ([`blob`], backed by local disk or by S3 in [`s3`]). Tarball bytes are durable before the
//! metadata that points at them commits, and blobs no metadata points at are removed ([`gc`]).

pub mod blob;
pub mod copy;
pub mod db;
pub mod dbcopy;
mod error;
pub mod gc;
pub mod meta;
pub mod s3;

pub use error::{no_room, Error, Result};
