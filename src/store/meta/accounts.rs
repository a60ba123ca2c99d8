//! Local accounts: name, e-mail address and password hash.

use crate::store::db::{params, Connection, OptionalExtension};
use crate::store::Result;

/// A local account.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub email: String,
    /// The password hash in its self-describing form.
    pub password: String,
}

/// Looks a user up.
pub fn user(conn: &Connection, name: &str) -> Result<Option<User>> {
    let mut st = conn.prepare_cached("SELECT name, email, password FROM users WHERE name = ?1")?;
    Ok(st
        .query_row([name], |r| {
            Ok(User {
                name: r.get(0)?,
                email: r.get(1)?,
                password: r.get(2)?,
            })
        })
        .optional()?)
}

/// All user names and e-mail addresses.
pub fn users(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut st = conn.prepare_cached("SELECT name, email FROM users ORDER BY name")?;
    let rows = st.query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Creates a user; returns false if the name is taken.
pub fn insert_user(conn: &Connection, u: &User, now: &str) -> Result<bool> {
    Ok(conn.execute(
        "INSERT INTO users (name, email, password, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        params![u.name, u.email, u.password, now],
    )? > 0)
}

/// Replaces a user's password hash; returns false if there is no such user.
pub fn set_password(conn: &Connection, name: &str, hash: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE users SET password = ?2 WHERE name = ?1",
        params![name, hash],
    )? > 0)
}

/// Replaces a user's password hash if it is still `old`; returns whether it was.
pub fn upgrade_password(conn: &Connection, name: &str, old: &str, hash: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE users SET password = ?3 WHERE name = ?1 AND password = ?2",
        params![name, old, hash],
    )? > 0)
}

/// Deletes a user and, with them, their tokens.
pub fn delete_user(conn: &Connection, name: &str) -> Result<bool> {
    // Quoted: `user` is a reserved word in PostgreSQL (unquoted, it is the session's role).
    conn.execute("DELETE FROM tokens WHERE \"user\" = ?1", [name])?;
    Ok(conn.execute("DELETE FROM users WHERE name = ?1", [name])? > 0)
}
