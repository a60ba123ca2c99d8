//! npm's web logins waiting for a browser (`npm login` with the web flow): each has a random
//! id for the login page and another for the URL npm polls, a time limit, a cap on how many
//! wait at once and a smaller one per client address, so that one client cannot fill the table
//! for everyone. They wait in the metadata database, so that npm's polls and the browser's form
//! may reach different instances behind a load balancer. Below the handlers in `session`.

use crate::error::{Error, Result};
use crate::store::db::Connection;
use crate::store::meta;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::time::Duration;

/// How long npm's web login waits for the browser.
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Most npm logins waiting at once; more are refused until some finish or expire.
const MAX_WAITING: i64 = 1000;
/// Most npm logins one client address may have waiting: a few terminals' worth.
pub const PER_ADDRESS: i64 = 10;

/// npm's web logins waiting for the browser: each has a random id for the login URL and another
/// for the done URL, so whoever sees the page's URL cannot collect the token. Holds only the
/// time limit; the logins are in the database each call is given, with times in unix ms, which
/// every instance sharing it agrees on.
#[derive(Default)]
pub struct Logins {
    /// How long a login waits; `None` is [`LOGIN_TTL`].
    ttl: Option<Duration>,
}

/// What polling the done URL finds.
#[derive(Debug, PartialEq)]
pub enum Poll {
    /// No such login, or it expired, or its token was collected.
    Unknown,
    /// The user has not logged in yet.
    Waiting,
    /// The token, handed out this once.
    Done(String),
}

/// What the database keeps of an id: its SHA-256, so that reading the database neither
/// completes a login nor collects one.
fn digest(id: &str) -> String {
    crate::digest::hex(&Sha256::digest(id.as_bytes()))
}

impl Logins {
    /// The earliest start of a login still within its time at `now`.
    fn since(&self, now: i64) -> i64 {
        let ttl = i64::try_from(self.ttl.unwrap_or(LOGIN_TTL).as_millis()).unwrap_or(i64::MAX);
        now.saturating_sub(ttl).saturating_add(1)
    }

    /// Starts a login for a client at `from`; returns its (login id, done id). Expired logins
    /// are dropped first, and the counts are taken in the transaction that adds the login, so
    /// the caps hold across instances.
    pub fn start(
        &self,
        conn: &mut Connection,
        from: Option<IpAddr>,
        now: i64,
    ) -> Result<(String, String)> {
        let (login_id, done_id) = (crate::random::hex_token(32)?, crate::random::hex_token(32)?);
        let from = from.map(|ip| crate::cidr::client(ip).to_string());
        let tx = meta::write_tx(conn)?;
        meta::web_logins_expire(&tx, self.since(now))?;
        let (all, here) = meta::web_logins_count(&tx, from.as_deref())?;
        if here >= PER_ADDRESS {
            return Err(Error::TooManyRequests(format!(
                "this address has {PER_ADDRESS} npm logins waiting for a browser; finish one, or wait until they expire (10 minutes)"
            )));
        }
        if all >= MAX_WAITING {
            return Err(Error::Unavailable(
                "too many npm logins are waiting; try again in a few minutes".into(),
            ));
        }
        meta::web_login_add(
            &tx,
            &digest(&done_id),
            &digest(&login_id),
            from.as_deref(),
            now,
        )?;
        tx.commit()?;
        Ok((login_id, done_id))
    }

    /// Whether the login with this id still waits for the user.
    pub fn is_waiting(&self, conn: &Connection, login_id: &str, now: i64) -> Result<bool> {
        Ok(meta::web_login_waiting(
            conn,
            &digest(login_id),
            self.since(now),
        )?)
    }

    /// Records that `user` logged in for the login; false if it is gone or already done.
    pub fn approve(&self, conn: &Connection, login_id: &str, user: &str, now: i64) -> Result<bool> {
        Ok(meta::web_login_finish(
            conn,
            &digest(login_id),
            user,
            self.since(now),
        )?)
    }

    /// What the done URL answers. A finished login is taken out of the table and its token made
    /// by `token_for` (given the account) in one transaction: of polls that race, one gets the
    /// token, and a token that could not be made leaves the login to be collected again.
    pub fn poll(
        &self,
        conn: &mut Connection,
        done_id: &str,
        now: i64,
        token_for: impl FnOnce(&Connection, &str) -> Result<String>,
    ) -> Result<Poll> {
        let (done, since) = (digest(done_id), self.since(now));
        // Read first: npm polls every second, and a waiting login needs no write lock.
        match meta::web_login_state(conn, &done, since)? {
            None => return Ok(Poll::Unknown),
            Some(None) => return Ok(Poll::Waiting),
            Some(Some(_)) => {}
        }
        let tx = meta::write_tx(conn)?;
        let Some(user) = meta::web_login_collect(&tx, &done, since)? else {
            return Ok(Poll::Unknown);
        };
        let token = token_for(&tx, &user)?;
        tx.commit()?;
        Ok(Poll::Done(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn db() -> Connection {
        let c = meta::test_db();
        c.execute(
            "INSERT INTO users (name, password, created) VALUES ('alice', 'x', 't')",
            (),
        )
        .unwrap();
        c
    }

    fn poll(logins: &Logins, c: &mut Connection, done: &str, now: i64) -> Poll {
        logins
            .poll(c, done, now, |_, user| Ok(format!("tok-{user}")))
            .unwrap()
    }

    #[test]
    fn a_login_hands_out_its_token_once() {
        let c = &mut db();
        let logins = Logins::default();
        let (login, done) = logins.start(c, None, NOW).unwrap();
        assert_ne!(login, done, "the page's id does not collect the token");
        assert_eq!(poll(&logins, c, &done, NOW), Poll::Waiting);
        assert_eq!(poll(&logins, c, &login, NOW), Poll::Unknown);
        assert!(logins.is_waiting(c, &login, NOW).unwrap());
        assert!(logins.approve(c, &login, "alice", NOW).unwrap());
        assert!(
            !logins.approve(c, &login, "alice", NOW).unwrap(),
            "approved once"
        );
        assert!(!logins.is_waiting(c, &login, NOW).unwrap());
        assert_eq!(poll(&logins, c, &done, NOW), Poll::Done("tok-alice".into()));
        assert_eq!(
            poll(&logins, c, &done, NOW),
            Poll::Unknown,
            "collected once"
        );
        let stored: String = c
            .query_row("SELECT login_hash FROM web_logins", (), |r| r.get(0))
            .unwrap_or_default();
        assert!(!stored.contains(&login), "ids are stored as digests");
    }

    #[test]
    fn a_token_that_cannot_be_made_leaves_the_login_to_collect_again() {
        let c = &mut db();
        let logins = Logins::default();
        let (login, done) = logins.start(c, None, NOW).unwrap();
        assert!(logins.approve(c, &login, "alice", NOW).unwrap());
        let failed = logins.poll(c, &done, NOW, |_, _| Err(Error::Internal("full".into())));
        assert!(failed.is_err());
        assert_eq!(poll(&logins, c, &done, NOW), Poll::Done("tok-alice".into()));
    }

    #[test]
    fn logins_expire() {
        let c = &mut db();
        let logins = Logins {
            ttl: Some(Duration::from_secs(1)),
        };
        let (login, done) = logins.start(c, None, NOW).unwrap();
        let later = NOW + 1000;
        assert!(logins.is_waiting(c, &login, later - 1).unwrap());
        assert!(!logins.is_waiting(c, &login, later).unwrap());
        assert!(!logins.approve(c, &login, "alice", later).unwrap());
        assert_eq!(poll(&logins, c, &done, later), Poll::Unknown);
        logins.start(c, None, later).unwrap();
        let left: i64 = c
            .query_row("SELECT COUNT(*) FROM web_logins", (), |r| r.get(0))
            .unwrap();
        assert_eq!(left, 1, "a start drops the expired");
    }

    #[test]
    fn one_address_cannot_fill_the_table() {
        let c = &mut db();
        let logins = Logins::default();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        for _ in 0..PER_ADDRESS {
            logins.start(c, ip("10.0.0.1"), NOW).unwrap();
        }
        assert!(matches!(
            logins.start(c, ip("10.0.0.1"), NOW),
            Err(Error::TooManyRequests(_))
        ));
        assert!(
            logins.start(c, ip("10.0.0.2"), NOW).is_ok(),
            "others still can"
        );
    }

    #[test]
    fn the_table_has_a_cap() {
        let c = &mut db();
        let logins = Logins::default();
        for _ in 0..MAX_WAITING {
            logins.start(c, None, NOW).unwrap();
        }
        assert!(matches!(
            logins.start(c, None, NOW),
            Err(Error::Unavailable(_))
        ));
    }
}
