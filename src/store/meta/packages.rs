//! Packages published here: their rows, versions, files, dist-tags and maintainers, the
//! packument templates served on reads (the upstream's too: a read asks by [`Origin`] for
//! whichever side holds the package), and the record of unpublished versions, which never come
//! back.

use super::{file_row, File, Package, Version};
use crate::store::db::{params, Connection, Engine, OptionalExtension, Transaction};
use crate::store::Result;

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

/// Another package whose name differs from `name` only in case (`JSONStream` for `jsonstream`),
/// if one exists. Asked inside the write transaction that creates a package, so two publishes
/// racing with `Foo` and `foo` cannot both pass.
pub fn case_twin(conn: &Connection, name: &str) -> Result<Option<String>> {
    let mut st = conn.prepare_cached(
        "SELECT name FROM packages WHERE lower(name) = lower(?1) AND name != ?1 LIMIT 1",
    )?;
    Ok(st.query_row([name], |r| r.get(0)).optional()?)
}

/// Creates an empty package row; its documents are filled in by the same transaction.
pub fn insert_package(tx: &Transaction, name: &str, now: &str) -> Result<i64> {
    Ok(tx.query_row(
        "INSERT INTO packages (name, rev, created, modified) VALUES (?1, 0, ?2, ?2) RETURNING id",
        params![name, now],
        |r| r.get(0),
    )?)
}

/// Marks a change: bumps the revision and the modification time.
pub fn touch(tx: &Transaction, id: i64, now: &str) -> Result<()> {
    super::next_rev(tx)?;
    tx.execute(
        "UPDATE packages SET rev = (SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'rev_seq'), modified = ?2 WHERE id = ?1",
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

/// Replaces the maintainers (`[{name, email}]`).
pub fn set_maintainers(tx: &Transaction, id: i64, maintainers_json: &str) -> Result<()> {
    tx.execute(
        "UPDATE packages SET maintainers = ?2 WHERE id = ?1",
        params![id, maintainers_json],
    )?;
    Ok(())
}

/// The `owner/repo` a package belongs to in github mode, fixed when it was first published or
/// assigned by the operator: `None` when there is no such package, `Some(None)` when it exists
/// without one (it came in by import, or was published in another auth mode).
pub fn repository(conn: &Connection, name: &str) -> Result<Option<Option<String>>> {
    let mut st = conn.prepare_cached("SELECT repository FROM packages WHERE name = ?1")?;
    Ok(st
        .query_row([name], |r| r.get::<Option<String>>(0))
        .optional()?)
}

/// Names of the packages with no repository, sorted: in github mode nobody may read or write
/// them until the operator assigns one.
pub fn unassigned(conn: &Connection) -> Result<Vec<String>> {
    let mut st =
        conn.prepare("SELECT name FROM packages WHERE repository IS NULL ORDER BY name")?;
    let rows = st.query_map((), |r| r.get(0))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Names of the packages with no maintainers, sorted: in local mode nobody may change them
/// until the operator names one.
///
/// Read in Rust rather than with the engines' JSON functions: PostgreSQL before 16 cannot test
/// text for valid JSON without failing the query. As SQLite's `json_array_length` did, anything
/// but a non-empty array (unreadable text, an object) counts as no maintainers.
pub fn unowned(conn: &Connection) -> Result<Vec<String>> {
    Ok(all_maintainers(conn)?
        .into_iter()
        .filter(|(_, maintainers)| {
            !matches!(
                serde_json::from_str::<serde_json::Value>(maintainers),
                Ok(serde_json::Value::Array(a)) if !a.is_empty()
            )
        })
        .map(|(name, _)| name)
        .collect())
}

/// Records the repository of a package: a new one's, or the operator's assignment.
pub fn set_repository(tx: &Transaction, id: i64, repo: &str) -> Result<()> {
    tx.execute(
        "UPDATE packages SET repository = ?2 WHERE id = ?1",
        params![id, repo],
    )?;
    Ok(())
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
    // `users` is a JSON object stored as text; each engine walks its keys its own way.
    let mut st = conn.prepare_cached(match conn.engine() {
        Engine::Sqlite => {
            "SELECT p.name FROM packages p, json_each(p.users) j WHERE j.key = ?1 ORDER BY p.name"
        }
        Engine::Postgres => {
            "SELECT p.name FROM packages p, jsonb_each(CAST(p.users AS jsonb)) j
             WHERE j.key = ?1 ORDER BY p.name"
        }
    })?;
    let rows = st.query_map([user], |r| r.get(0))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Every package's name and maintainers JSON, for the access listings.
pub fn all_maintainers(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut st = conn.prepare_cached("SELECT name, maintainers FROM packages ORDER BY name")?;
    let rows = st.query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Names of every local package, sorted.
pub fn package_names(conn: &Connection) -> Result<Vec<String>> {
    let mut st = conn.prepare("SELECT name FROM packages ORDER BY name")?;
    let rows = st.query_map((), |r| r.get(0))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// How many packages and versions are published here.
pub fn counts(conn: &Connection) -> Result<(i64, i64)> {
    Ok(conn.query_row(
        "SELECT (SELECT count(*) FROM packages), (SELECT count(*) FROM versions)",
        (),
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// How many packages and files are published, and the files' total size in bytes.
pub fn totals(conn: &Connection) -> Result<(i64, i64, i64)> {
    Ok(conn.query_row(
        // PostgreSQL sums BIGINTs as NUMERIC; the cast keeps the total an integer in both.
        "SELECT (SELECT COUNT(*) FROM packages), COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT)
         FROM files",
        (),
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
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

/// All versions of a package, in no particular order.
pub fn versions(conn: &Connection, id: i64) -> Result<Vec<Version>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions WHERE package_id = ?1"
    ))?;
    let rows = st.query_map([id], version_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

const VERSION_COLUMNS: &str = "version, manifest, readme, deprecated, published";

fn version_row(r: &crate::store::db::Row) -> crate::store::db::Result<Version> {
    Ok(Version {
        version: r.get(0)?,
        manifest: r.get(1)?,
        readme: r.get(2)?,
        deprecated: r.get(3)?,
        published: r.get(4)?,
    })
}

/// One version of a package.
pub fn version(conn: &Connection, id: i64, version: &str) -> Result<Option<Version>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions WHERE package_id = ?1 AND version = ?2"
    ))?;
    Ok(st.query_row(params![id, version], version_row).optional()?)
}

/// Inserts a version, replacing an existing one (only reached with `allow_previous_version`).
/// No table refers to a version's row, so updating it in place is what SQLite's
/// `INSERT OR REPLACE` (a delete and an insert) did.
pub fn put_version(tx: &Transaction, id: i64, v: &Version) -> Result<()> {
    tx.execute(
        "INSERT INTO versions (package_id, version, manifest, readme, deprecated, published)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (package_id, version) DO UPDATE SET manifest = excluded.manifest,
           readme = excluded.readme, deprecated = excluded.deprecated,
           published = excluded.published",
        params![
            id,
            v.version,
            v.manifest,
            v.readme,
            v.deprecated,
            v.published
        ],
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
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// The columns [`file_row`] reads, in its order.
const FILE_COLUMNS: &str = "f.filename, f.version, f.blob_key, f.size, f.sha1, f.integrity";

/// All files of a package.
pub fn files(conn: &Connection, id: i64) -> Result<Vec<File>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {FILE_COLUMNS} FROM files f WHERE f.package_id = ?1"
    ))?;
    let rows = st.query_map([id], file_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
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
        "INSERT INTO files (package_id, filename, version, blob_key, size, sha1, integrity)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (package_id, filename) DO UPDATE SET version = excluded.version,
           blob_key = excluded.blob_key, size = excluded.size, sha1 = excluded.sha1,
           integrity = excluded.integrity",
        params![
            id,
            f.filename,
            f.version,
            f.blob_key,
            f.size,
            f.sha1,
            f.integrity
        ],
    )?;
    Ok(old.filter(|k| *k != f.blob_key))
}

/// The dist-tags of a package, sorted by tag.
pub fn tags(conn: &Connection, id: i64) -> Result<Vec<(String, String)>> {
    let mut st = conn
        .prepare_cached("SELECT tag, version FROM dist_tags WHERE package_id = ?1 ORDER BY tag")?;
    let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Points a tag at a version.
pub fn set_tag(tx: &Transaction, id: i64, tag: &str, version: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO dist_tags (package_id, tag, version) VALUES (?1, ?2, ?3)
         ON CONFLICT (package_id, tag) DO UPDATE SET version = excluded.version",
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
        .collect::<crate::store::db::Result<Vec<String>>>()?;
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
        "INSERT INTO deleted_versions (name, version, deleted) VALUES (?1, ?2, ?3)
         ON CONFLICT (name, version) DO UPDATE SET deleted = excluded.deleted",
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
    super::search::unindex(tx, pkg.id)?;
    tx.execute("DELETE FROM packages WHERE id = ?1", [pkg.id])?;
    super::orgs::forget_grants(tx, &pkg.name)?;
    Ok(keys)
}

/// Whether `name@version` was published once and then unpublished.
pub fn is_deleted(conn: &Connection, name: &str, version: &str) -> Result<bool> {
    let mut st = conn.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM deleted_versions WHERE name = ?1 AND version = ?2)",
    )?;
    Ok(st.query_row(params![name, version], |r| r.get(0))?)
}
