//! What the metadata says about blobs: the keys that may have no metadata pointing at them yet
//! (see `store::gc`), whether any row points at a key, and every stored object, for a copy or
//! fsck to walk.

use crate::store::db::Connection;
use crate::store::Result;

/// Records blob keys as pending (see `store::gc`).
pub fn pend(conn: &Connection, keys: &[String]) -> Result<()> {
    let mut st =
        conn.prepare_cached("INSERT INTO pending_blobs (key) VALUES (?1) ON CONFLICT DO NOTHING")?;
    for k in keys {
        st.execute([k])?;
    }
    Ok(())
}

/// Clears pending records.
pub fn unpend(conn: &Connection, keys: &[String]) -> Result<()> {
    let mut st = conn.prepare_cached("DELETE FROM pending_blobs WHERE key = ?1")?;
    for k in keys {
        st.execute([k])?;
    }
    Ok(())
}

/// Whether a blob key is pending.
pub fn is_pending(conn: &Connection, key: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM pending_blobs WHERE key = ?1)",
        [key],
        |r| r.get(0),
    )?)
}

/// Every pending blob key.
pub fn pending(conn: &Connection) -> Result<Vec<String>> {
    let mut st = conn.prepare("SELECT key FROM pending_blobs ORDER BY key")?;
    let rows = st.query_map((), |r| r.get(0))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Whether any metadata (a published file, or a cached upstream tarball) points at this blob key.
pub fn blob_referenced(conn: &Connection, key: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM files WHERE blob_key = ?1)
             OR EXISTS(SELECT 1 FROM uplink_files WHERE blob_key = ?1)",
        [key],
        |r| r.get(0),
    )?)
}

/// A stored object as the metadata records it: a published file, or a cached upstream tarball.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    pub size: i64,
    /// Hex SHA-1 of the bytes.
    pub sha1: String,
    /// The SRI string (always `sha512-...` for published files; as the upstream gave it, or
    /// none, for cached ones).
    pub integrity: Option<String>,
    /// `name@version`, for messages.
    pub what: String,
}

/// Every object the metadata points at, ordered by key: what a copy, a backup or fsck walks.
pub fn stored_objects(conn: &Connection) -> Result<Vec<Stored>> {
    let mut st = conn.prepare(
        "SELECT f.blob_key, f.size, f.sha1, f.integrity, p.name || '@' || f.version
           FROM files f JOIN packages p ON p.id = f.package_id
         UNION ALL
         SELECT blob_key, size, sha1, integrity, name || '@' || version
           FROM uplink_files WHERE blob_key IS NOT NULL
         ORDER BY 1",
    )?;
    let rows = st.query_map((), |r| {
        Ok(Stored {
            key: r.get(0)?,
            size: r.get(1)?,
            sha1: r.get(2)?,
            integrity: r.get(3)?,
            what: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}
