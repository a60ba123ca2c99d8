//! GitHub API answers kept with their ETags, so that permission checks neither wait for GitHub
//! nor spend its rate limit on every request.

use crate::store::db::{params, Connection, OptionalExtension};
use crate::store::Result;

/// A cached GitHub answer.
pub struct Cached {
    pub status: u16,
    pub etag: Option<String>,
    pub body: String,
    /// Unix seconds.
    pub fetched: i64,
}

/// Looks up a cached GitHub answer.
pub fn github_cached(conn: &Connection, key: &str) -> Result<Option<Cached>> {
    let mut st =
        conn.prepare_cached("SELECT status, etag, body, fetched FROM github_cache WHERE key = ?1")?;
    Ok(st
        .query_row([key], |r| {
            Ok(Cached {
                status: r.get(0)?,
                etag: r.get(1)?,
                body: r.get(2)?,
                fetched: r.get(3)?,
            })
        })
        .optional()?)
}

/// Stores a GitHub answer.
pub fn github_store(conn: &Connection, key: &str, c: &Cached) -> Result<()> {
    conn.execute(
        "INSERT INTO github_cache (key, status, etag, body, fetched) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (key) DO UPDATE SET status = excluded.status, etag = excluded.etag,
           body = excluded.body, fetched = excluded.fetched",
        params![key, c.status, c.etag, c.body, c.fetched],
    )?;
    Ok(())
}
