//! The PostgreSQL side of [`super::Connection`]: one client that reconnects after the server
//! went away (outside a transaction only), the write lock every writer takes, and SQLite-style
//! `?N` placeholders rewritten to PostgreSQL's `$N`.

use super::pg::{self, Client};
use super::{Error, Result, Value, ValueRef};
use std::borrow::Cow;

/// The advisory lock every write transaction takes: writers on every instance take turns, as
/// SQLite's one writer does, so what a transaction checks still holds when it commits.
const WRITE_LOCK: i64 = 0x6e6d_7200_0001;

/// The class of the two-part advisory locks on package names, apart from every other lock.
const NAME_LOCKS: i64 = 0x6e6d;

/// A name's lock key: 32 bits of its SHA-1. Two names sharing a key only take turns.
pub(super) fn name_key(name: &str) -> i32 {
    use sha1::{Digest, Sha1};
    let d = Sha1::digest(name.as_bytes());
    i32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A client, made again when the last one broke.
pub(super) struct Pg {
    config: pg::Config,
    client: Option<Client>,
    /// Inside a write transaction: a broken connection then fails every statement until the
    /// transaction ends, rather than running the rest of it outside any transaction.
    in_tx: bool,
    /// Name locks held (see [`super::Connection::lock_name`]): they end with the session, so
    /// a broken connection fails every statement until they are let go, as in a transaction.
    names_held: usize,
}

impl Pg {
    pub(super) fn connect(config: pg::Config) -> Result<Pg> {
        let client = Client::connect(&config)?;
        Ok(Pg {
            config,
            client: Some(client),
            in_tx: false,
            names_held: 0,
        })
    }

    /// The live client, connecting again if the last one broke (outside a transaction).
    fn client(&mut self) -> Result<&mut Client> {
        // A session the server ended while idle is made again before a query goes into it,
        // so a database restart costs the next request nothing.
        if self.client.as_mut().is_some_and(Client::ended_by_server) {
            self.client = None;
        }
        if self.client.is_none() {
            if self.in_tx || self.names_held > 0 {
                return Err(Error::Lost);
            }
            self.client = Some(Client::connect(&self.config)?);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    pub(super) fn query(&mut self, sql: &str, values: &[ValueRef]) -> Result<Vec<Vec<Value>>> {
        let sql = placeholders(sql);
        Ok(self.client()?.query(&sql, values)?.rows)
    }

    pub(super) fn execute(&mut self, sql: &str, values: &[ValueRef]) -> Result<usize> {
        let sql = placeholders(sql);
        let n = self.client()?.execute(&sql, values)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.client()?.batch(sql)?)
    }

    pub(super) fn lock_name(&mut self, key: i32) -> Result<()> {
        let sql = "SELECT pg_advisory_lock(CAST($1 AS INTEGER), CAST($2 AS INTEGER))";
        self.client()?
            .query(sql, &[ValueRef::Int(NAME_LOCKS), ValueRef::Int(key.into())])?;
        self.names_held += 1;
        Ok(())
    }

    pub(super) fn unlock_name(&mut self, key: i32) -> Result<()> {
        self.names_held = self.names_held.saturating_sub(1);
        let Some(c) = self.client.as_mut().filter(|c| !c.is_broken()) else {
            return Ok(());
        };
        let sql = "SELECT pg_advisory_unlock(CAST($1 AS INTEGER), CAST($2 AS INTEGER))";
        c.query(sql, &[ValueRef::Int(NAME_LOCKS), ValueRef::Int(key.into())])?;
        Ok(())
    }

    pub(super) fn begin_write(&mut self) -> Result<()> {
        let client = self.client()?;
        client.batch("BEGIN")?;
        self.in_tx = true;
        let locked = self.client().and_then(|c| {
            Ok(c.query(
                "SELECT pg_advisory_xact_lock($1)",
                &[ValueRef::Int(WRITE_LOCK)],
            )?)
        });
        if let Err(e) = locked {
            // The lock's failure is the news; a failed rollback adds nothing to it.
            let _ = self.end(false);
            return Err(e);
        }
        Ok(())
    }

    /// Commits or rolls back the transaction begun by [`Pg::begin_write`].
    pub(super) fn end(&mut self, commit: bool) -> Result<()> {
        let done = match self.client.as_mut().filter(|c| !c.is_broken()) {
            Some(c) => c
                .batch(if commit { "COMMIT" } else { "ROLLBACK" })
                .map_err(Error::from),
            // The server dropped the transaction with the connection.
            None if commit => Err(Error::Lost),
            None => Ok(()),
        };
        self.in_tx = false;
        done
    }
}

/// `?N` placeholders as `$N`, outside quoted strings and identifiers. Query texts are
/// constants written for both engines, so this never meets a `?` meant otherwise.
fn placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quote = None;
    for c in sql.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '?') => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_become_numbered_dollars_outside_quotes() {
        assert_eq!(
            super::placeholders("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND \"?\" = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND \"?\" = $12"
        );
        assert_eq!(super::placeholders("SELECT 1"), "SELECT 1");
    }
}
