//! The SQLite schema and every query against it: packages, versions, files, dist-tags and the
//! pre-serialised packument templates served on reads; and, apart from them, the packuments and
//! tarballs cached from the upstream registry (`uplink_*`), so local and upstream never mix.

mod accounts;
mod blobs;
mod github_cache;
mod schema;
mod search;
mod tokens;
mod uplink_cache;

use crate::error::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

pub use accounts::{delete_user, insert_user, set_password, user, users, User};
pub use blobs::{blob_referenced, is_pending, pend, pending, stored_objects, unpend, Stored};
pub use github_cache::{github_cached, github_store, Cached};
pub use schema::{marker, migrate};
pub use search::{index_package, recent, search, SearchDoc};
pub use tokens::{
    delete_token_by_hash, delete_token_by_key, insert_token, token_by_hash, tokens_of, Token,
};
pub use uplink_cache::{
    uplink_cached, uplink_cached_in_scope, uplink_confirmed, uplink_file, uplink_file_stored,
    uplink_names_with_files, uplink_state, uplink_store, uplink_stored_files, UplinkDist,
    UplinkDoc, UplinkFile, UplinkState,
};

/// Opens a connection with the settings every connection needs. WAL lets readers run while a
/// publish commits; `synchronous = FULL` makes a 2xx publish survive power loss.
///
/// Every worker thread has its own connection, each with its own page cache, so SQLite's default
/// of 2 MB per connection came to 32 MB with 16 workers once publishes had touched the pages.
/// The operating system caches the file for all of them anyway, and the hot paths (a package's
/// revision, a file's row) touch a few index pages, so each connection keeps 128 KB (256 KB
/// left 2 MB more at the benchmark's peak, all of it pages of rebuilt packuments).
pub fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .map_err(|e| Error::Internal(format!("cannot open database {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -128;",
    )?;
    Ok(conn)
}

/// Opens an existing database for reading only: never creates a file or changes a setting.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::Internal(format!("cannot open database {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    Ok(conn)
}

/// Starts a write transaction that takes the database write lock at once, so that the checks
/// made inside it still hold when it commits.
pub fn write_tx(conn: &mut Connection) -> Result<Transaction<'_>> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

/// A package's row.
#[derive(Clone, Debug)]
pub struct Package {
    pub id: i64,
    pub name: String,
    pub rev: i64,
    pub created: String,
    pub modified: String,
    /// JSON object of users who starred it.
    pub users: String,
    /// JSON array of `{name, email}`.
    pub maintainers: String,
}

/// One published version.
#[derive(Clone, Debug)]
pub struct Version {
    pub version: String,
    /// The manifest as published, without `readme` and `dist.tarball`.
    pub manifest: String,
    pub readme: Option<String>,
    pub deprecated: Option<String>,
    pub published: String,
}

/// One stored file (a tarball or its provenance bundle).
#[derive(Clone, Debug)]
pub struct File {
    /// The name in the URL: `widget-1.1.0.tgz`.
    pub filename: String,
    pub version: String,
    pub blob_key: String,
    pub size: i64,
    pub sha1: String,
    pub integrity: String,
}

/// Looks a package up by name.
pub fn package(conn: &Connection, name: &str) -> Result<Option<Package>> {
    let mut st = conn.prepare_cached(
        "SELECT id, name, rev, created, modified, users, maintainers FROM packages WHERE name = ?1",
    )?;
    Ok(st
        .query_row([name], |r| {
            Ok(Package {
                id: r.get(0)?,
                name: r.get(1)?,
                rev: r.get(2)?,
                created: r.get(3)?,
                modified: r.get(4)?,
                users: r.get(5)?,
                maintainers: r.get(6)?,
            })
        })
        .optional()?)
}

/// The package's revision counter, the cheap check behind the packument cache.
pub fn package_rev(conn: &Connection, name: &str) -> Result<Option<i64>> {
    let mut st = conn.prepare_cached("SELECT rev FROM packages WHERE name = ?1")?;
    Ok(st.query_row([name], |r| r.get(0)).optional()?)
}

/// Where a packument template is stored. Revisions of the two kinds are counted apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Published here (`packages`).
    Local,
    /// Cached from the upstream registry (`uplink_packages`).
    Uplink,
}

/// The stored packument template (full or abbreviated) with the revision it belongs to.
pub fn template(
    conn: &Connection,
    origin: Origin,
    name: &str,
    abbreviated: bool,
) -> Result<Option<(i64, Vec<u8>)>> {
    let sql = match (origin, abbreviated) {
        (Origin::Local, true) => "SELECT rev, doc_abbrev FROM packages WHERE name = ?1",
        (Origin::Local, false) => "SELECT rev, doc_full FROM packages WHERE name = ?1",
        (Origin::Uplink, true) => "SELECT rev, doc_abbrev FROM uplink_packages WHERE name = ?1",
        (Origin::Uplink, false) => "SELECT rev, doc_full FROM uplink_packages WHERE name = ?1",
    };
    let mut st = conn.prepare_cached(sql)?;
    Ok(st
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Creates an empty package row; its documents are filled in by the same transaction.
pub fn insert_package(tx: &Transaction, name: &str, now: &str) -> Result<i64> {
    tx.execute(
        "INSERT INTO packages (name, rev, created, modified) VALUES (?1, 0, ?2, ?2)",
        params![name, now],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Marks a change: bumps the revision and the modification time.
pub fn touch(tx: &Transaction, id: i64, now: &str) -> Result<()> {
    tx.execute(
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'rev_seq'",
        [],
    )?;
    tx.execute(
        "UPDATE packages SET rev = (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'rev_seq'), modified = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// Stores the rebuilt packument templates.
pub fn store_docs(tx: &Transaction, id: i64, full: &[u8], abbrev: &[u8]) -> Result<()> {
    tx.execute(
        "UPDATE packages SET doc_full = ?2, doc_abbrev = ?3 WHERE id = ?1",
        params![id, full, abbrev],
    )?;
    Ok(())
}

/// Replaces the set of users who starred the package.
pub fn set_users(tx: &Transaction, id: i64, users_json: &str) -> Result<()> {
    tx.execute(
        "UPDATE packages SET users = ?2 WHERE id = ?1",
        params![id, users_json],
    )?;
    Ok(())
}

/// All versions of a package, in no particular order.
pub fn versions(conn: &Connection, id: i64) -> Result<Vec<Version>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions WHERE package_id = ?1"
    ))?;
    let rows = st.query_map([id], version_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

const VERSION_COLUMNS: &str = "version, manifest, readme, deprecated, published";

fn version_row(r: &rusqlite::Row) -> rusqlite::Result<Version> {
    Ok(Version {
        version: r.get(0)?,
        manifest: r.get(1)?,
        readme: r.get(2)?,
        deprecated: r.get(3)?,
        published: r.get(4)?,
    })
}

/// What a list of versions shows: no manifest or readme, so a package with hundreds of versions
/// (and a readme stored with each) is cheap to list; the `versions_summary` index covers it.
#[derive(Clone, Debug)]
pub struct VersionSummary {
    pub version: String,
    pub published: String,
    pub deprecated: Option<String>,
}

/// Every version of a package, summarised, in no particular order.
pub fn version_summaries(conn: &Connection, id: i64) -> Result<Vec<VersionSummary>> {
    let mut st = conn.prepare_cached(
        "SELECT version, published, deprecated FROM versions WHERE package_id = ?1",
    )?;
    let rows = st.query_map([id], |r| {
        Ok(VersionSummary {
            version: r.get(0)?,
            published: r.get(1)?,
            deprecated: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many packages and versions are published here.
pub fn counts(conn: &Connection) -> Result<(i64, i64)> {
    Ok(conn.query_row(
        "SELECT (SELECT count(*) FROM packages), (SELECT count(*) FROM versions)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// One version of a package.
pub fn version(conn: &Connection, id: i64, version: &str) -> Result<Option<Version>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions WHERE package_id = ?1 AND version = ?2"
    ))?;
    Ok(st.query_row(params![id, version], version_row).optional()?)
}

/// Inserts a version, replacing an existing one (only reached with `allow_previous_version`).
pub fn put_version(tx: &Transaction, id: i64, v: &Version) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO versions (package_id, version, manifest, readme, deprecated, published) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, v.version, v.manifest, v.readme, v.deprecated, v.published],
    )?;
    Ok(())
}

/// Sets or clears a version's deprecation message.
pub fn set_deprecated(
    tx: &Transaction,
    id: i64,
    version: &str,
    message: Option<&str>,
) -> Result<()> {
    tx.execute(
        "UPDATE versions SET deprecated = ?3 WHERE package_id = ?1 AND version = ?2",
        params![id, version, message],
    )?;
    Ok(())
}

/// The columns [`file_row`] reads, in its order.
const FILE_COLUMNS: &str = "f.filename, f.version, f.blob_key, f.size, f.sha1, f.integrity";

fn file_row(r: &rusqlite::Row) -> rusqlite::Result<File> {
    Ok(File {
        filename: r.get(0)?,
        version: r.get(1)?,
        blob_key: r.get(2)?,
        size: r.get(3)?,
        sha1: r.get(4)?,
        integrity: r.get(5)?,
    })
}

/// All files of a package.
pub fn files(conn: &Connection, id: i64) -> Result<Vec<File>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {FILE_COLUMNS} FROM files f WHERE f.package_id = ?1"
    ))?;
    let rows = st.query_map([id], file_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many packages and files are published, and the files' total size in bytes.
pub fn totals(conn: &Connection) -> Result<(i64, i64, i64)> {
    Ok(conn.query_row(
        "SELECT (SELECT COUNT(*) FROM packages), COUNT(*), COALESCE(SUM(size), 0) FROM files",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// The file served at `/<name>/-/<filename>`.
pub fn file(conn: &Connection, name: &str, filename: &str) -> Result<Option<File>> {
    // A subquery, not a join: SQLite re-prepares a join filtered by a bound parameter every
    // time the parameter changes, which made this lookup most of a tarball request's CPU.
    let mut st = conn.prepare_cached(&format!(
        "SELECT {FILE_COLUMNS} FROM files f
         WHERE f.package_id = (SELECT id FROM packages WHERE name = ?1) AND f.filename = ?2"
    ))?;
    Ok(st.query_row(params![name, filename], file_row).optional()?)
}

/// Records a file, returning the blob key it replaced (if a republish replaced one).
pub fn put_file(tx: &Transaction, id: i64, f: &File) -> Result<Option<String>> {
    let old: Option<String> = tx
        .query_row(
            "SELECT blob_key FROM files WHERE package_id = ?1 AND filename = ?2",
            params![id, f.filename],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "INSERT OR REPLACE INTO files (package_id, filename, version, blob_key, size, sha1, integrity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, f.filename, f.version, f.blob_key, f.size, f.sha1, f.integrity],
    )?;
    Ok(old.filter(|k| *k != f.blob_key))
}

/// The dist-tags of a package, sorted by tag.
pub fn tags(conn: &Connection, id: i64) -> Result<Vec<(String, String)>> {
    let mut st = conn
        .prepare_cached("SELECT tag, version FROM dist_tags WHERE package_id = ?1 ORDER BY tag")?;
    let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Points a tag at a version.
pub fn set_tag(tx: &Transaction, id: i64, tag: &str, version: &str) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO dist_tags (package_id, tag, version) VALUES (?1, ?2, ?3)",
        params![id, tag, version],
    )?;
    Ok(())
}

/// Removes a tag; returns whether it existed.
pub fn delete_tag(tx: &Transaction, id: i64, tag: &str) -> Result<bool> {
    Ok(tx.execute(
        "DELETE FROM dist_tags WHERE package_id = ?1 AND tag = ?2",
        params![id, tag],
    )? > 0)
}

/// Replaces the maintainers (`[{name, email}]`).
pub fn set_maintainers(tx: &Transaction, id: i64, maintainers_json: &str) -> Result<()> {
    tx.execute(
        "UPDATE packages SET maintainers = ?2 WHERE id = ?1",
        params![id, maintainers_json],
    )?;
    Ok(())
}

/// Removes one version with its files and the tags that pointed at it, and records it as
/// deleted so it is answered with 410 and never published again. Returns the blob keys to
/// remove once the transaction has committed.
pub fn delete_version(
    tx: &Transaction,
    pkg: &Package,
    version: &str,
    now: &str,
) -> Result<Vec<String>> {
    let mut st =
        tx.prepare_cached("SELECT blob_key FROM files WHERE package_id = ?1 AND version = ?2")?;
    let keys = st
        .query_map(params![pkg.id, version], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    tx.execute(
        "DELETE FROM files WHERE package_id = ?1 AND version = ?2",
        params![pkg.id, version],
    )?;
    tx.execute(
        "DELETE FROM versions WHERE package_id = ?1 AND version = ?2",
        params![pkg.id, version],
    )?;
    tx.execute(
        "DELETE FROM dist_tags WHERE package_id = ?1 AND version = ?2",
        params![pkg.id, version],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO deleted_versions (name, version, deleted) VALUES (?1, ?2, ?3)",
        params![pkg.name, version, now],
    )?;
    Ok(keys)
}

/// Removes a whole package, recording every version as deleted. Returns the blob keys to
/// remove once the transaction has committed.
pub fn delete_package(tx: &Transaction, pkg: &Package, now: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for v in versions(tx, pkg.id)? {
        keys.extend(delete_version(tx, pkg, &v.version, now)?);
    }
    tx.execute("DELETE FROM search WHERE rowid = ?1", [pkg.id])?;
    tx.execute("DELETE FROM packages WHERE id = ?1", [pkg.id])?;
    Ok(keys)
}

/// Whether `name@version` was published once and then unpublished.
pub fn is_deleted(conn: &Connection, name: &str, version: &str) -> Result<bool> {
    let mut st = conn.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM deleted_versions WHERE name = ?1 AND version = ?2)",
    )?;
    Ok(st.query_row(params![name, version], |r| r.get(0))?)
}

/// Whether any local package lives in `@scope/`. Such a scope never goes upstream.
pub fn scope_has_local(conn: &Connection, scope: &str) -> Result<bool> {
    // A range on the unique index: '0' is the character after '/'.
    let mut st = conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM packages WHERE name >= ?1 AND name < ?2)")?;
    Ok(
        st.query_row(params![format!("@{scope}/"), format!("@{scope}0")], |r| {
            r.get(0)
        })?,
    )
}

/// Names of the packages a user has starred.
pub fn starred_by(conn: &Connection, user: &str) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached(
        "SELECT p.name FROM packages p, json_each(p.users) j WHERE j.key = ?1 ORDER BY p.name",
    )?;
    let rows = st.query_map([user], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every package's name and maintainers JSON, for the access listings.
pub fn all_maintainers(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut st = conn.prepare_cached("SELECT name, maintainers FROM packages ORDER BY name")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Names of every local package, sorted.
pub fn package_names(conn: &Connection) -> Result<Vec<String>> {
    let mut st = conn.prepare("SELECT name FROM packages ORDER BY name")?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The `owner/repo` a package belongs to in github mode, fixed when it was first published.
pub fn repository(conn: &Connection, name: &str) -> Result<Option<String>> {
    let mut st = conn.prepare_cached("SELECT repository FROM packages WHERE name = ?1")?;
    Ok(st
        .query_row([name], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// Records the repository of a new package.
pub fn set_repository(tx: &Transaction, id: i64, repo: &str) -> Result<()> {
    tx.execute(
        "UPDATE packages SET repository = ?2 WHERE id = ?1",
        params![id, repo],
    )?;
    Ok(())
}
