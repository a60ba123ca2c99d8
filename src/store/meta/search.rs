//! The full-text index (FTS5) over packages and the summaries it stores, which search hits and
//! the home page's list of recent packages return as they are.

use super::Package;
use crate::store::db::{params, Connection, OptionalExtension, Transaction};
use crate::store::Result;

/// What the search index holds for one package.
pub struct SearchDoc<'a> {
    pub description: &'a str,
    pub keywords: &'a str,
    pub author: &'a str,
    pub maintainers: &'a str,
    /// The JSON object a search hit returns as `package`.
    pub summary: &'a str,
}

/// Replaces a package's row in the full-text index.
pub fn index_package(tx: &Transaction, pkg: &Package, doc: &SearchDoc) -> Result<()> {
    tx.execute("DELETE FROM search WHERE rowid = ?1", [pkg.id])?;
    tx.execute(
        "INSERT INTO search (rowid, name, description, keywords, author, maintainers, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![pkg.id, pkg.name, doc.description, doc.keywords, doc.author, doc.maintainers, doc.summary],
    )?;
    Ok(())
}

/// One page of search hits (each a stored summary JSON) and the total number of hits.
/// `fts` is an FTS5 query or `None` for every package; `scope` limits to `@scope/` names;
/// a package named exactly `exact` (lowercase; names are compared folded) that matches comes
/// first.
///
/// Sorting handles only ids (never summaries), and listings and scopes use the packages
/// table's name index, so a page costs about the same however deep it is.
pub fn search(
    conn: &Connection,
    fts: Option<&str>,
    scope: Option<&str>,
    exact: &str,
    size: i64,
    from: i64,
) -> Result<(Vec<String>, i64)> {
    // '0' follows '/' in ASCII, so [@s/, @s0) is every name under the scope.
    let (lo, hi) = match scope {
        Some(s) => (Some(format!("@{s}/")), Some(format!("@{s}0"))),
        None => (None, None),
    };
    let in_scope =
        "(?2 IS NULL OR rowid IN (SELECT id FROM packages WHERE name >= ?2 AND name < ?3))";
    let (ids, total): (Vec<i64>, i64) = match fts {
        None => {
            let mut st = conn.prepare_cached(
                "SELECT id FROM packages WHERE (?1 IS NULL OR (name >= ?1 AND name < ?2)) ORDER BY name LIMIT ?3 OFFSET ?4",
            )?;
            let ids = st
                .query_map(params![lo, hi, size, from], |r| r.get(0))?
                .collect::<crate::store::db::Result<_>>()?;
            let total = conn.query_row(
                "SELECT count(*) FROM packages WHERE (?1 IS NULL OR (name >= ?1 AND name < ?2))",
                params![lo, hi],
                |r| r.get(0),
            )?;
            (ids, total)
        }
        Some(q) => {
            let exact_id: Option<i64> = conn
                .query_row(
                    &format!("SELECT rowid FROM search WHERE search MATCH ?1 AND {in_scope} AND rowid = (SELECT id FROM packages WHERE lower(name) = ?4)"),
                    params![q, lo, hi, exact],
                    |r| r.get(0),
                )
                .optional()?;
            let (limit, offset) = match (exact_id, from) {
                (Some(_), 0) => (size - 1, 0),
                (Some(_), f) => (size, f - 1),
                (None, f) => (size, f),
            };
            let mut st = conn.prepare_cached(&format!(
                "SELECT rowid FROM search WHERE search MATCH ?1 AND {in_scope} AND rowid IS NOT ?4 ORDER BY rank LIMIT ?5 OFFSET ?6"
            ))?;
            let mut ids: Vec<i64> = st
                .query_map(params![q, lo, hi, exact_id, limit.max(0), offset], |r| {
                    r.get(0)
                })?
                .collect::<crate::store::db::Result<_>>()?;
            if let (Some(id), 0) = (exact_id, from) {
                if size > 0 {
                    ids.insert(0, id);
                }
            }
            let total = conn.query_row(
                &format!("SELECT count(*) FROM search WHERE search MATCH ?1 AND {in_scope}"),
                params![q, lo, hi],
                |r| r.get(0),
            )?;
            (ids, total)
        }
    };
    let mut st = conn.prepare_cached("SELECT summary FROM search WHERE rowid = ?1")?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(summary) = st.query_row([id], |r| r.get::<String>(0)).optional()? {
            rows.push(summary);
        }
    }
    Ok((rows, total))
}

/// The search summaries of the `limit` packages changed last, newest first, skipping `from`.
pub fn recent(conn: &Connection, limit: i64, from: i64) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached(
        "SELECT s.summary FROM packages p JOIN search s ON s.rowid = p.id
         ORDER BY p.modified DESC, p.id DESC LIMIT ?1 OFFSET ?2",
    )?;
    let rows = st.query_map(params![limit, from], |r| r.get(0))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}
