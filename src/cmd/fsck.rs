//! `nmr fsck`: checks the blob store against the metadata, through the store's own `list` and
//! `get`, so both backends are checked the same way. Every object the metadata points at
//! (published files and cached upstream tarballs) must exist with its recorded size, sha1 and
//! sha512; every object in the store must be pointed at, except the upstream cache's (under
//! `_uplink/`, which keeps its own books) and pending keys (a publish in flight, or what a
//! crash left for the next start to remove). `--repair` deletes orphans, never metadata.

use super::error::Result;
use crate::store::blob::BlobStore;
use crate::store::copy::{read_verified, Fault};
use crate::store::db::Connection;
use crate::store::meta;
use std::collections::BTreeSet;
use std::io::Write;

/// The upstream cache's part of the blob store (see `uplink`).
const UPLINK_PREFIX: &str = "_uplink/";

/// What a check found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Objects the metadata points at.
    pub checked: usize,
    pub missing: usize,
    /// Present but with other bytes, or unreadable.
    pub corrupt: usize,
    /// Stored but pointed at by nothing.
    pub orphans: usize,
    /// Orphans `--repair` deleted.
    pub removed: usize,
    /// Keys left alone as pending.
    pub pending: usize,
}

impl Report {
    /// Whether anything is still wrong.
    pub fn problems(&self) -> usize {
        self.missing + self.corrupt + self.orphans - self.removed
    }
}

/// Deletes an orphan unless, by now, metadata points at it or a publish reserved it. The
/// write transaction holds the database lock, so a publish of that key waits and then writes
/// the blob anew.
fn remove_orphan(db: &mut Connection, blobs: &BlobStore, key: &str) -> Result<bool> {
    let tx = meta::write_tx(db)?;
    if meta::blob_referenced(&tx, key)? || meta::is_pending(&tx, key)? {
        return Ok(false);
    }
    blobs.delete(key)?;
    tx.commit()?;
    Ok(true)
}

/// Checks (and with `repair`, tidies) `blobs` against the database, one line per problem to
/// `out`, then a summary. Errors that stop the whole check (database, listing) are returned.
pub fn run(
    db: &mut Connection,
    blobs: &BlobStore,
    repair: bool,
    out: &mut dyn Write,
) -> Result<Report> {
    // Listed before the metadata is read: a blob stored since is then pointed at or pending,
    // never mistaken for an orphan.
    let listed: BTreeSet<String> = blobs.list()?.into_iter().collect();
    let objects = meta::stored_objects(db)?;
    let pending: BTreeSet<String> = meta::pending(db)?.into_iter().collect();
    let mut r = Report {
        checked: objects.len(),
        pending: pending.len(),
        ..Report::default()
    };
    writeln!(
        out,
        "checking {} objects in {} against the metadata",
        objects.len(),
        blobs.name()
    )?;
    for obj in &objects {
        match read_verified(blobs, obj) {
            Ok(_) => {}
            // Unpublished while the check ran.
            Err(_) if !meta::blob_referenced(db, &obj.key)? => r.checked -= 1,
            Err(Fault::Missing) => {
                r.missing += 1;
                writeln!(out, "MISSING {} ({})", obj.key, obj.what)?;
            }
            Err(f) => {
                r.corrupt += 1;
                writeln!(
                    out,
                    "CORRUPT {} ({}): {}",
                    obj.key,
                    obj.what,
                    f.describe(blobs)
                )?;
            }
        }
    }
    let referenced: BTreeSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    for key in &listed {
        if referenced.contains(key.as_str())
            || pending.contains(key)
            || key.starts_with(UPLINK_PREFIX)
        {
            continue;
        }
        r.orphans += 1;
        if repair && remove_orphan(db, blobs, key)? {
            r.removed += 1;
            writeln!(out, "removed orphan {key}")?;
        } else {
            writeln!(out, "ORPHAN {key}")?;
        }
    }
    writeln!(
        out,
        "{} objects: {} ok, {} missing, {} corrupt; {} orphans{}; {} pending",
        r.checked,
        r.checked - r.missing - r.corrupt,
        r.missing,
        r.corrupt,
        r.orphans,
        if repair {
            format!(" ({} removed)", r.removed)
        } else {
            String::new()
        },
        r.pending
    )?;
    Ok(r)
}
