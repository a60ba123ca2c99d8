//! Access tokens, stored under the SHA-256 of their secret so that the database never holds a
//! token that works.

use crate::store::db::{params, Connection, OptionalExtension};
use crate::store::Result;

/// A stored token; the secret itself is never stored, only its SHA-256.
#[derive(Clone, Debug)]
pub struct Token {
    /// Public id, used to list and revoke.
    pub key: String,
    pub user: String,
    /// The first characters of the secret, for listings.
    pub prefix: String,
    pub name: Option<String>,
    pub readonly: bool,
    /// JSON list of CIDR ranges the token may be used from; empty = anywhere.
    pub cidr: String,
    pub created: String,
    /// Unix seconds after which the token is dead.
    pub expires: Option<i64>,
}

fn token_row(r: &crate::store::db::Row) -> crate::store::db::Result<Token> {
    Ok(Token {
        key: r.get(0)?,
        user: r.get(1)?,
        prefix: r.get(2)?,
        name: r.get(3)?,
        readonly: r.get(4)?,
        cidr: r.get(5)?,
        created: r.get(6)?,
        expires: r.get(7)?,
    })
}

/// `user` quoted: a reserved word in PostgreSQL.
const TOKEN_COLUMNS: &str = "key, \"user\", prefix, name, readonly, cidr, created, expires";

/// Stores a token under the hash of its secret.
pub fn insert_token(conn: &Connection, t: &Token, hash: &str) -> Result<()> {
    conn.execute(
        &format!("INSERT INTO tokens ({TOKEN_COLUMNS}, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![t.key, t.user, t.prefix, t.name, t.readonly, t.cidr, t.created, t.expires, hash],
    )?;
    Ok(())
}

/// The token whose secret hashes to `hash`.
pub fn token_by_hash(conn: &Connection, hash: &str) -> Result<Option<Token>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"
    ))?;
    Ok(st.query_row([hash], token_row).optional()?)
}

/// A user's tokens, oldest first.
pub fn tokens_of(conn: &Connection, user: &str) -> Result<Vec<Token>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE \"user\" = ?1 ORDER BY created, key"
    ))?;
    let rows = st.query_map([user], token_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Revokes a token by its secret's hash; returns whether one was removed.
pub fn delete_token_by_hash(conn: &Connection, hash: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM tokens WHERE hash = ?1", [hash])? > 0)
}

/// Revokes one of a user's tokens by key (or, for the operator, any user's with `user` None).
pub fn delete_token_by_key(conn: &Connection, key: &str, user: Option<&str>) -> Result<bool> {
    Ok(conn.execute(
        // The cast lets PostgreSQL type a parameter it otherwise only sees tested for NULL.
        "DELETE FROM tokens WHERE key = ?1 AND (CAST(?2 AS TEXT) IS NULL OR \"user\" = ?2)",
        params![key, user],
    )? > 0)
}
