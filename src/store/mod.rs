//! Persistent state: package metadata in SQLite ([`meta`]) and tarball bytes in a blob store
//! ([`blob`]). Tarball bytes are durable before the metadata that points at them commits.

pub mod blob;
pub mod meta;
