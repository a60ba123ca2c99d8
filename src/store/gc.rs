//! Blobs that may have no metadata pointing at them, so that neither a crash nor a failed
//! request leaves an orphan behind. The rule: a publish records its blob keys as pending, in a
//! committed transaction, before it writes the blobs; the metadata commit that points at them
//! clears the records. A commit that stops pointing at a blob (unpublish, a replaced tarball)
//! records it as pending in the same transaction. Settling a pending key deletes the blob unless
//! metadata points at it, then clears the record. Requests settle their own keys at once;
//! start-up settles whatever a crash left; `nmr fsck` treats pending keys as in flight.

use super::blob::BlobStore;
use super::meta;
use crate::store::db::{Connection, Engine};
use crate::store::Result;

/// Records keys as pending before their blobs are written.
pub fn reserve(db: &mut Connection, keys: &[String]) -> Result<()> {
    let tx = meta::write_tx(db)?;
    meta::pend(&tx, keys)?;
    tx.commit()?;
    Ok(())
}

/// Deletes each pending key's blob unless metadata points at it, and clears its record. A key
/// that cannot be settled now (storage or database failing) keeps its record for the next
/// start-up; that is logged, not returned, since the request it belongs to is decided.
pub fn settle(db: &Connection, blobs: &BlobStore, keys: &[String]) -> usize {
    let mut deleted = 0;
    for key in keys {
        let done = meta::blob_referenced(db, key).and_then(|used| {
            if !used {
                blobs.delete(key)?;
                deleted += 1;
            }
            meta::unpend(db, std::slice::from_ref(key))
        });
        if let Err(e) = done {
            crate::warn!("blob {key} is left for the next start to remove: {e}");
        }
    }
    deleted
}

/// How long a key must have been pending before an instance starting beside others settles
/// it: far longer than any publish takes to write its blobs, so a publish in flight on another
/// instance never loses them.
const SHARED_GRACE_MS: i64 = 3600 * 1000;

/// Settles what requests interrupted by a crash left: every pending key when this process is
/// the database's only user (SQLite), only keys older than [`SHARED_GRACE_MS`] when other
/// instances may be publishing (PostgreSQL). Returns how many blobs were deleted.
pub fn recover(db: &Connection, blobs: &BlobStore) -> Result<usize> {
    let keys = match db.engine() {
        Engine::Sqlite => meta::pending(db)?,
        Engine::Postgres => meta::pending_since(
            db,
            crate::time::now_millis().saturating_sub(SHARED_GRACE_MS),
        )?,
    };
    Ok(settle(db, blobs, &keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_an_interrupted_publish_left_is_removed_and_what_metadata_uses_is_kept() {
        let d = std::env::temp_dir().join(format!("nmr-gc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let blobs = BlobStore::open_local(&d.join("storage")).unwrap();
        let mut db = meta::open(&d.join("db.sqlite")).unwrap();
        meta::migrate(&mut db).unwrap();
        let keys = vec!["p/p-1.0.0-a.tgz".to_string(), "p/p-2.0.0-b.tgz".to_string()];
        reserve(&mut db, &keys).unwrap();
        for k in &keys {
            blobs.put(k, b"bytes").unwrap();
        }
        // 1.0.0 committed (its record cleared in the same transaction); 2.0.0 did not.
        let tx = meta::write_tx(&mut db).unwrap();
        let id = meta::insert_package(&tx, "p", "now").unwrap();
        let file = meta::File {
            filename: "p-1.0.0.tgz".into(),
            version: "1.0.0".into(),
            blob_key: keys[0].clone(),
            size: 5,
            sha1: "x".into(),
            integrity: "y".into(),
        };
        meta::put_file(&tx, id, &file).unwrap();
        meta::unpend(&tx, &keys[..1]).unwrap();
        tx.commit().unwrap();
        // A stale record of a key the metadata points at is cleared, the blob kept.
        meta::pend(&db, &keys[..1]).unwrap();

        assert_eq!(recover(&db, &blobs).unwrap(), 1);
        assert_eq!(blobs.list().unwrap(), keys[..1]);
        assert!(meta::pending(&db).unwrap().is_empty());
    }
}
