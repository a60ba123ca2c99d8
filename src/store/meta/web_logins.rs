//! npm's web logins waiting for a browser (see `web::logins` for the rules), kept in the
//! database so that npm's polls and the browser's form may land on different instances. Each
//! login is stored under the SHA-256 of its two ids, so the database holds nothing that
//! completes or collects one; and a finished login holds the account that logged in, not a
//! token: the token is made when npm collects it. Times are unix milliseconds.

use crate::store::db::{params, Connection, OptionalExtension};
use crate::store::Result;

/// The same table for PostgreSQL's migrations.
pub(crate) const PG_TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS web_logins (
    done_hash  TEXT COLLATE "C" PRIMARY KEY,
    login_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    address    TEXT COLLATE "C",
    started    BIGINT NOT NULL,
    "user"     TEXT REFERENCES users(name) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS web_logins_address ON web_logins (address);
CREATE INDEX IF NOT EXISTS web_logins_started ON web_logins (started);
"#;

/// Drops the logins started before `before`: they have expired.
pub fn web_logins_expire(conn: &Connection, before: i64) -> Result<()> {
    conn.execute("DELETE FROM web_logins WHERE started < ?1", [before])?;
    Ok(())
}

/// How many logins wait in all, and how many of them were started from `address`.
pub fn web_logins_count(conn: &Connection, address: Option<&str>) -> Result<(i64, i64)> {
    Ok(conn.query_row(
        "SELECT COUNT(*), COUNT(CASE WHEN address = ?1 THEN 1 END) FROM web_logins",
        params![address],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// Records a login started at `started` from `address`.
pub fn web_login_add(
    conn: &Connection,
    done_hash: &str,
    login_hash: &str,
    address: Option<&str>,
    started: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO web_logins (done_hash, login_hash, address, started) VALUES (?1, ?2, ?3, ?4)",
        params![done_hash, login_hash, address, started],
    )?;
    Ok(())
}

/// Whether a login started at or after `since` waits for its user.
pub fn web_login_waiting(conn: &Connection, login_hash: &str, since: i64) -> Result<bool> {
    let mut st = conn.prepare_cached(
        r#"SELECT 1 FROM web_logins WHERE login_hash = ?1 AND "user" IS NULL AND started >= ?2"#,
    )?;
    Ok(st.exists(params![login_hash, since])?)
}

/// Records that `user` logged in for a waiting login started at or after `since`; false if there
/// is none (unknown, expired, or finished already).
pub fn web_login_finish(
    conn: &Connection,
    login_hash: &str,
    user: &str,
    since: i64,
) -> Result<bool> {
    Ok(conn.execute(
        r#"UPDATE web_logins SET "user" = ?2
           WHERE login_hash = ?1 AND "user" IS NULL AND started >= ?3"#,
        params![login_hash, user, since],
    )? == 1)
}

/// A login started at or after `since`, by its done id's hash: `Some(None)` while it waits,
/// `Some(Some(user))` once `user` logged in.
pub fn web_login_state(
    conn: &Connection,
    done_hash: &str,
    since: i64,
) -> Result<Option<Option<String>>> {
    let mut st = conn.prepare_cached(
        r#"SELECT "user" FROM web_logins WHERE done_hash = ?1 AND started >= ?2"#,
    )?;
    Ok(st
        .query_row(params![done_hash, since], |r| r.get(0))
        .optional()?)
}

/// Takes a finished login started at or after `since` out of the table and returns who logged in.
/// Of several callers racing for one login, exactly one gets it: the row goes with the
/// statement that reads it.
pub fn web_login_collect(conn: &Connection, done_hash: &str, since: i64) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            r#"DELETE FROM web_logins WHERE done_hash = ?1 AND "user" IS NOT NULL AND started >= ?2
               RETURNING "user""#,
            params![done_hash, since],
            |r| r.get(0),
        )
        .optional()?)
}
