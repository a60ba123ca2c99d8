//! Packuments and tarballs cached from the upstream registry (`uplink_*`), kept apart from the
//! packages published here so that local and upstream never mix.

use super::{file_row, write_tx, File};
use crate::store::db::{params, Connection, OptionalExtension};
use crate::store::Result;

/// What revalidating a cached upstream packument needs.
#[derive(Clone, Debug)]
pub struct UplinkState {
    pub rev: i64,
    /// Unix milliseconds of the last 200 or 304 from the upstream.
    pub fetched_at: i64,
    pub etag: Option<String>,
}

/// One tarball an upstream packument lists.
#[derive(Clone, Debug, PartialEq)]
pub struct UplinkDist {
    pub filename: String,
    pub version: String,
    /// Where the upstream serves it.
    pub url: String,
    pub integrity: Option<String>,
    pub shasum: Option<String>,
}

/// An upstream packument ready to store: both templates, the tarballs they list, and the
/// upstream's ETag for revalidation.
#[derive(Clone, Debug)]
pub struct UplinkDoc {
    pub etag: Option<String>,
    pub full: Vec<u8>,
    pub abbrev: Vec<u8>,
    pub dists: Vec<UplinkDist>,
}

/// An upstream tarball as recorded: what the packument claims, and the stored copy if any.
#[derive(Clone, Debug)]
pub struct UplinkFile {
    pub dist: UplinkDist,
    pub stored: Option<File>,
}

/// Whether an upstream tarball's row (being replaced by `excluded`) keeps the digests it had:
/// only then does a stored copy stay attached. Either digest may be absent, hence the
/// NULL-safe comparison.
const SAME_DIGESTS: &str = "uplink_files.integrity IS NOT DISTINCT FROM excluded.integrity
    AND uplink_files.shasum IS NOT DISTINCT FROM excluded.shasum";

/// The cached upstream packument's state, if it is cached.
pub fn uplink_state(conn: &Connection, name: &str) -> Result<Option<UplinkState>> {
    let mut st =
        conn.prepare_cached("SELECT rev, fetched_at, etag FROM uplink_packages WHERE name = ?1")?;
    Ok(st
        .query_row([name], |r| {
            Ok(UplinkState {
                rev: r.get(0)?,
                fetched_at: r.get(1)?,
                etag: r.get(2)?,
            })
        })
        .optional()?)
}

/// Stores a freshly fetched upstream packument and the tarballs it lists. The revision changes
/// only with the bytes, so an upstream without ETags does not change ours on every refresh. A
/// stored tarball stays attached only while the packument still claims the same digests for it.
pub fn uplink_store(
    conn: &mut Connection,
    name: &str,
    fetched_at: i64,
    doc: &UplinkDoc,
) -> Result<()> {
    let tx = write_tx(conn)?;
    // Revisions come from the database's one counter, so a packument dropped (`nmr cache drop`)
    // and fetched again never reuses one: the rendered-document cache keys on it.
    super::next_rev(&tx)?;
    // The stored row's columns are named by table: unqualified, PostgreSQL finds them
    // ambiguous with `excluded`'s.
    tx.execute(
        "INSERT INTO uplink_packages (name, rev, fetched_at, etag, doc_full, doc_abbrev)
         VALUES (?1, (SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'rev_seq'), ?2, ?3, ?4, ?5)
         ON CONFLICT (name) DO UPDATE SET
           rev = CASE WHEN uplink_packages.doc_full = excluded.doc_full
                       AND uplink_packages.doc_abbrev = excluded.doc_abbrev
                 THEN uplink_packages.rev ELSE excluded.rev END,
           fetched_at = excluded.fetched_at,
           etag = excluded.etag, doc_full = excluded.doc_full, doc_abbrev = excluded.doc_abbrev",
        params![name, fetched_at, doc.etag, doc.full, doc.abbrev],
    )?;
    {
        let mut st = tx.prepare_cached(&format!(
            "INSERT INTO uplink_files (name, filename, version, url, integrity, shasum)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (name, filename) DO UPDATE SET version = excluded.version,
               url = excluded.url, integrity = excluded.integrity, shasum = excluded.shasum,
               blob_key = CASE WHEN {SAME_DIGESTS} THEN uplink_files.blob_key END,
               size = CASE WHEN {SAME_DIGESTS} THEN uplink_files.size END,
               sha1 = CASE WHEN {SAME_DIGESTS} THEN uplink_files.sha1 END,
               stored_at = CASE WHEN {SAME_DIGESTS} THEN uplink_files.stored_at END,
               used_at = CASE WHEN {SAME_DIGESTS} THEN uplink_files.used_at END"
        ))?;
        for d in &doc.dists {
            st.execute(params![
                name,
                d.filename,
                d.version,
                d.url,
                d.integrity,
                d.shasum
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Records that the upstream confirmed the cached packument (a 304).
pub fn uplink_confirmed(conn: &Connection, name: &str, fetched_at: i64) -> Result<()> {
    conn.execute(
        "UPDATE uplink_packages SET fetched_at = ?2 WHERE name = ?1",
        params![name, fetched_at],
    )?;
    Ok(())
}

/// An upstream tarball by the file name in our URL.
pub fn uplink_file(conn: &Connection, name: &str, filename: &str) -> Result<Option<UplinkFile>> {
    let mut st = conn.prepare_cached(
        "SELECT filename, version, url, integrity, shasum, blob_key, size, sha1
         FROM uplink_files WHERE name = ?1 AND filename = ?2",
    )?;
    Ok(st
        .query_row(params![name, filename], |r| {
            let dist = UplinkDist {
                filename: r.get(0)?,
                version: r.get(1)?,
                url: r.get(2)?,
                integrity: r.get(3)?,
                shasum: r.get(4)?,
            };
            let blob_key: Option<String> = r.get(5)?;
            let stored = match blob_key {
                Some(blob_key) => Some(File {
                    filename: dist.filename.clone(),
                    version: dist.version.clone(),
                    blob_key,
                    size: r.get(6)?,
                    sha1: r.get(7)?,
                    integrity: dist.integrity.clone().unwrap_or_default(),
                }),
                None => None,
            };
            Ok(UplinkFile { dist, stored })
        })
        .optional()?)
}

/// Attaches downloaded, verified bytes to an upstream tarball, unless the packument changed its
/// digests meanwhile. Returns whether the row was updated.
pub fn uplink_file_stored(
    conn: &Connection,
    name: &str,
    dist: &UplinkDist,
    blob_key: &str,
    size: i64,
    sha1: &str,
) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE uplink_files SET blob_key = ?3, size = ?4, sha1 = ?5, stored_at = ?8,
           used_at = NULL
         WHERE name = ?1 AND filename = ?2 AND integrity IS NOT DISTINCT FROM ?6
           AND shasum IS NOT DISTINCT FROM ?7",
        params![
            name,
            dist.filename,
            blob_key,
            size,
            sha1,
            dist.integrity,
            dist.shasum,
            crate::time::now_rfc3339()
        ],
    )? > 0)
}

/// Names of the upstream packages with at least one stored tarball, sorted.
pub fn uplink_names_with_files(conn: &Connection) -> Result<Vec<String>> {
    let mut st = conn.prepare(
        "SELECT DISTINCT name FROM uplink_files WHERE blob_key IS NOT NULL ORDER BY name",
    )?;
    let rows = st.query_map((), |r| r.get(0))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// The stored tarballs of an upstream package, each with when it was stored (`None` for
/// tarballs cached before schema 3).
pub fn uplink_stored_files(conn: &Connection, name: &str) -> Result<Vec<(File, Option<String>)>> {
    let mut st = conn.prepare_cached(
        "SELECT filename, version, blob_key, size, sha1, COALESCE(integrity, ''), stored_at
         FROM uplink_files WHERE name = ?1 AND blob_key IS NOT NULL ORDER BY filename",
    )?;
    let rows = st.query_map([name], |r| Ok((file_row(r)?, r.get(6)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// The name under which `name`, or a name differing from it only in case, is cached from the
/// upstream, if it is.
pub fn uplink_cached(conn: &Connection, name: &str) -> Result<Option<String>> {
    let mut st = conn.prepare_cached(
        "SELECT name FROM uplink_packages WHERE lower(name) = lower(?1) ORDER BY name = ?1 DESC LIMIT 1",
    )?;
    Ok(st.query_row([name], |r| r.get(0)).optional()?)
}

/// How many packages of `@scope/` are cached from the upstream.
pub fn uplink_cached_in_scope(conn: &Connection, scope: &str) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM uplink_packages WHERE name >= ?1 AND name < ?2",
        params![format!("@{scope}/"), format!("@{scope}0")],
        |r| r.get(0),
    )?)
}

/// One cached upstream package, as `nmr cache list` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct UplinkListed {
    pub name: String,
    /// Tarballs stored, and their bytes.
    pub tarballs: i64,
    pub bytes: i64,
    /// When a tarball of it was last served (or stored), if any is stored.
    pub last_used: Option<String>,
}

/// Every cached upstream package with what it holds, by name.
pub fn uplink_listing(conn: &Connection) -> Result<Vec<UplinkListed>> {
    let mut st = conn.prepare(
        "SELECT p.name, COUNT(f.blob_key), CAST(COALESCE(SUM(f.size), 0) AS BIGINT),
                MAX(CASE WHEN f.blob_key IS NOT NULL THEN COALESCE(f.used_at, f.stored_at) END)
         FROM uplink_packages p LEFT JOIN uplink_files f ON f.name = p.name
         GROUP BY p.name ORDER BY p.name",
    )?;
    let rows = st.query_map((), |r| {
        Ok(UplinkListed {
            name: r.get(0)?,
            tarballs: r.get(1)?,
            bytes: r.get(2)?,
            last_used: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// How many upstream tarballs are stored, and their bytes.
pub fn uplink_totals(conn: &Connection) -> Result<(i64, i64)> {
    Ok(conn.query_row(
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT)
         FROM uplink_files WHERE blob_key IS NOT NULL",
        (),
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// Records when stored upstream tarballs were served: `(name, filename, time)`, in one
/// transaction. A time never goes back.
pub fn uplink_used(conn: &mut Connection, used: &[(String, String, String)]) -> Result<()> {
    let tx = write_tx(conn)?;
    {
        let mut st = tx.prepare_cached(
            "UPDATE uplink_files SET used_at = ?3
             WHERE name = ?1 AND filename = ?2 AND blob_key IS NOT NULL
               AND (used_at IS NULL OR used_at < ?3)",
        )?;
        for (name, filename, at) in used {
            st.execute(params![name, filename, at])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// A stored upstream tarball, as eviction and pruning pick them.
#[derive(Clone, Debug, PartialEq)]
pub struct UplinkStored {
    pub name: String,
    pub filename: String,
    pub size: i64,
}

/// Stored upstream tarballs, least recently served first (never-served ones by when they were
/// stored; those cached before either time was kept come first); only those last used before
/// `before` when it is given.
pub fn uplink_by_use(conn: &Connection, before: Option<&str>) -> Result<Vec<UplinkStored>> {
    let mut st = conn.prepare(
        "SELECT name, filename, size FROM uplink_files
         WHERE blob_key IS NOT NULL
           AND (CAST(?1 AS TEXT) IS NULL OR COALESCE(used_at, stored_at, '') < ?1)
         ORDER BY COALESCE(used_at, stored_at, ''), name, filename",
    )?;
    let rows = st.query_map([before], |r| {
        Ok(UplinkStored {
            name: r.get(0)?,
            filename: r.get(1)?,
            size: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// The blob keys of `name`'s stored tarballs (only `filename`'s when given).
fn stored_keys(conn: &Connection, name: &str, filename: Option<&str>) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached(
        "SELECT blob_key FROM uplink_files
         WHERE name = ?1 AND (CAST(?2 AS TEXT) IS NULL OR filename = ?2) AND blob_key IS NOT NULL",
    )?;
    let rows = st.query_map(params![name, filename], |r| r.get(0))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Forgets the stored bytes of the given upstream tarballs (their rows stay, so the packument
/// still lists them and the next request downloads them again). The blob keys are recorded as
/// pending in the same transaction and returned, for `store::gc::settle` to delete.
pub fn uplink_detach(conn: &mut Connection, files: &[(String, String)]) -> Result<Vec<String>> {
    let tx = write_tx(conn)?;
    let mut keys = Vec::new();
    for (name, filename) in files {
        keys.extend(stored_keys(&tx, name, Some(filename))?);
        tx.execute(
            "UPDATE uplink_files SET blob_key = NULL, size = NULL, sha1 = NULL, stored_at = NULL,
               used_at = NULL
             WHERE name = ?1 AND filename = ?2",
            params![name, filename],
        )?;
    }
    super::pend(&tx, &keys)?;
    tx.commit()?;
    Ok(keys)
}

/// Forgets an upstream package: its packument and every tarball. Returns the blob keys (pending,
/// for `store::gc::settle`), or `None` when nothing of that name is cached.
pub fn uplink_forget(conn: &mut Connection, name: &str) -> Result<Option<Vec<String>>> {
    let tx = write_tx(conn)?;
    let keys = stored_keys(&tx, name, None)?;
    let rows = tx.execute("DELETE FROM uplink_packages WHERE name = ?1", [name])?
        + tx.execute("DELETE FROM uplink_files WHERE name = ?1", [name])?;
    super::pend(&tx, &keys)?;
    tx.commit()?;
    Ok((rows > 0).then_some(keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::meta::contract::{uplink_dist as dist, uplink_doc as doc};
    use crate::store::meta::{insert_package, migrate, scope_has_local, test_db_file};

    fn db(tag: &str) -> Connection {
        let mut c = test_db_file(tag);
        migrate(&mut c).unwrap();
        c
    }

    #[test]
    fn upstream_revisions_follow_the_bytes_and_stored_tarballs_follow_the_digests() {
        let mut c = db("uplink");
        uplink_store(&mut c, "p", 1, &doc("{\"a\":1}", "sha512-A")).unwrap();
        assert!(uplink_file_stored(&c, "p", &dist("sha512-A"), "_uplink/p/k", 3, "s1").unwrap());
        uplink_store(&mut c, "p", 2, &doc("{\"a\":1}", "sha512-A")).unwrap();
        let s = uplink_state(&c, "p").unwrap().unwrap();
        assert_eq!((s.rev, s.fetched_at), (1, 2), "same bytes, same revision");
        let f = uplink_file(&c, "p", "p-1.0.0.tgz").unwrap().unwrap();
        assert_eq!(f.stored.unwrap().blob_key, "_uplink/p/k");
        let stored = uplink_stored_files(&c, "p").unwrap();
        let at = stored[0].1.clone().expect("stored_at is set");
        assert!(crate::time::parse(&at).is_some(), "{at}");
        assert_eq!(uplink_names_with_files(&c).unwrap(), ["p"]);

        uplink_store(&mut c, "p", 3, &doc("{\"a\":2}", "sha512-B")).unwrap();
        assert!(
            uplink_state(&c, "p").unwrap().unwrap().rev > 1,
            "new bytes, new revision"
        );
        let f = uplink_file(&c, "p", "p-1.0.0.tgz").unwrap().unwrap();
        assert!(f.stored.is_none(), "new digests detach the old bytes");
        assert!(uplink_stored_files(&c, "p").unwrap().is_empty());
        assert!(
            !uplink_file_stored(&c, "p", &dist("sha512-A"), "_uplink/p/k", 3, "s1").unwrap(),
            "bytes verified against old digests are not attached"
        );
        uplink_confirmed(&c, "p", 9).unwrap();
        assert_eq!(uplink_state(&c, "p").unwrap().unwrap().fetched_at, 9);
    }

    // Here rather than beside `scope_has_local`: what it guards is that a scope with local
    // packages never goes upstream, and the upstream side needs the fixtures above.
    #[test]
    fn scope_queries_match_exactly_that_scope() {
        let mut c = db("scope");
        let tx = write_tx(&mut c).unwrap();
        for name in ["@ab/x", "@a-b/x", "@a.b/y", "a"] {
            insert_package(&tx, name, "t").unwrap();
        }
        tx.commit().unwrap();
        assert!(scope_has_local(&c, "ab").unwrap());
        assert!(scope_has_local(&c, "a-b").unwrap());
        assert!(!scope_has_local(&c, "a").unwrap());
        assert!(!scope_has_local(&c, "a_b").unwrap());
        uplink_store(&mut c, "@up/one", 1, &doc("{}", "x")).unwrap();
        uplink_store(&mut c, "@up/two", 1, &doc("{}", "x")).unwrap();
        uplink_store(&mut c, "@upx/three", 1, &doc("{}", "x")).unwrap();
        assert_eq!(uplink_cached_in_scope(&c, "up").unwrap(), 2);
        assert_eq!(
            uplink_cached(&c, "@up/two").unwrap().as_deref(),
            Some("@up/two")
        );
        assert_eq!(
            uplink_cached(&c, "@UP/Two").unwrap().as_deref(),
            Some("@up/two")
        );
        assert_eq!(uplink_cached(&c, "@up/six").unwrap(), None);
    }
}
