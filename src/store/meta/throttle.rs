//! Failed password checks (see `auth::throttle` for the rules), kept in the database so that
//! every instance sharing it counts the same failures. Times are unix milliseconds: the
//! instances' clocks agree on wall time, not on each one's monotonic clock.

use crate::store::db::{params, Connection};
use crate::store::Result;

/// The same table for PostgreSQL's migrations. Keys compare byte by byte, as in SQLite.
pub(crate) const PG_TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS login_failures (
    key      TEXT COLLATE "C" PRIMARY KEY,
    failures BIGINT NOT NULL,
    touched  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_touched ON login_failures (touched, key);
"#;

/// One key's failures in a row and when the last of them was counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginFailures {
    pub key: String,
    pub failures: i64,
    /// Unix ms of the last failure.
    pub touched: i64,
}

/// The counts of up to two keys (an account's and an address's): one indexed read, since it
/// runs before every password check.
pub fn login_failures(
    conn: &Connection,
    key: &str,
    other: Option<&str>,
) -> Result<Vec<LoginFailures>> {
    let mut st = conn.prepare_cached(
        "SELECT key, failures, touched FROM login_failures WHERE key IN (?1, ?2)",
    )?;
    let rows = st.query_map(params![key, other], |r| {
        Ok(LoginFailures {
            key: r.get(0)?,
            failures: r.get(1)?,
            touched: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Counts one failure for `key` at `now`, starting again from one when the last was counted
/// before `forget_before`. One statement, so that instances counting the same key at once each
/// add theirs; the later time wins whichever commits last.
pub fn count_login_failure(
    conn: &Connection,
    key: &str,
    now: i64,
    forget_before: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO login_failures (key, failures, touched) VALUES (?1, 1, ?2)
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN login_failures.touched < ?3 THEN 1
                           ELSE login_failures.failures + 1 END,
           touched = CASE WHEN excluded.touched > login_failures.touched THEN excluded.touched
                          ELSE login_failures.touched END",
        params![key, now, forget_before],
    )?;
    Ok(())
}

/// Drops the counts last touched before `before` (they would start again from zero anyway),
/// then, while more than `max` are left, those touched longest ago, so that a flood of made-up
/// names cannot grow the table. Counting walks the table's pages, not its rows.
pub fn trim_login_failures(conn: &Connection, before: i64, max: i64) -> Result<()> {
    conn.execute("DELETE FROM login_failures WHERE touched < ?1", [before])?;
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM login_failures", (), |r| r.get(0))?;
    if count > max {
        conn.execute(
            "DELETE FROM login_failures WHERE key IN
               (SELECT key FROM login_failures ORDER BY touched, key LIMIT ?1)",
            [count - max],
        )?;
    }
    Ok(())
}

/// Forgets the counts of these keys (a right password).
pub fn clear_login_failures(conn: &Connection, key: &str, other: Option<&str>) -> Result<()> {
    conn.execute(
        "DELETE FROM login_failures WHERE key IN (?1, ?2)",
        params![key, other],
    )?;
    Ok(())
}
