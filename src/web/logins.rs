//! npm's web logins waiting for a browser (`npm login` with the web flow): each has a random
//! id for the login page and another for the URL npm polls, a time limit, a cap on how many
//! wait at once and a smaller one per client address, so that one client cannot fill the table
//! for everyone. Part of the shared state, below the handlers in `session`.

use crate::error::{Error, Result};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long npm's web login waits for the browser.
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Most npm logins waiting at once; more are refused until some finish or expire.
const MAX_WAITING: usize = 1000;
/// Most npm logins one client address may have waiting: a few terminals' worth.
pub const PER_ADDRESS: usize = 10;

/// npm's web logins waiting for the browser: each has a random id for the login URL and another
/// for the done URL, so whoever sees the page's URL cannot collect the token.
#[derive(Default)]
pub struct Logins {
    waiting: Mutex<Vec<Waiting>>,
    /// How long a login waits; `None` is [`LOGIN_TTL`].
    ttl: Option<Duration>,
}

struct Waiting {
    /// Who started it (see [`crate::cidr::client`]).
    from: Option<IpAddr>,
    login_id: String,
    done_id: String,
    started: Instant,
    token: Option<String>,
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

impl Logins {
    /// The logins still within their time.
    fn live(&self) -> MutexGuard<'_, Vec<Waiting>> {
        let ttl = self.ttl.unwrap_or(LOGIN_TTL);
        // Nothing here is left half-changed by a panic, so a poisoned lock is safe to take over.
        let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|l| l.started.elapsed() < ttl);
        w
    }

    /// Starts a login for a client at `from`; returns its (login id, done id).
    pub fn start(&self, from: Option<IpAddr>) -> Result<(String, String)> {
        let (login_id, done_id) = (crate::random::hex_token(32)?, crate::random::hex_token(32)?);
        let from = from.map(crate::cidr::client);
        let mut w = self.live();
        if from.is_some() && w.iter().filter(|l| l.from == from).count() >= PER_ADDRESS {
            return Err(Error::TooManyRequests(format!(
                "this address has {PER_ADDRESS} npm logins waiting for a browser; finish one, or wait until they expire (10 minutes)"
            )));
        }
        if w.len() >= MAX_WAITING {
            return Err(Error::Unavailable(
                "too many npm logins are waiting; try again in a few minutes".into(),
            ));
        }
        w.push(Waiting {
            from,
            login_id: login_id.clone(),
            done_id: done_id.clone(),
            started: Instant::now(),
            token: None,
        });
        Ok((login_id, done_id))
    }

    /// Whether the login with this id still waits for the user.
    pub fn is_waiting(&self, login_id: &str) -> bool {
        self.live()
            .iter()
            .any(|l| l.login_id == login_id && l.token.is_none())
    }

    /// Hands the login its token; false if it is gone or already done.
    pub fn approve(&self, login_id: &str, token: String) -> bool {
        let mut w = self.live();
        match w
            .iter_mut()
            .find(|l| l.login_id == login_id && l.token.is_none())
        {
            Some(l) => {
                l.token = Some(token);
                true
            }
            None => false,
        }
    }

    /// What the done URL answers; a finished login is forgotten once its token is out.
    pub fn poll(&self, done_id: &str) -> Poll {
        let mut w = self.live();
        let Some(i) = w.iter().position(|l| l.done_id == done_id) else {
            return Poll::Unknown;
        };
        match w[i].token.take() {
            Some(t) => {
                w.remove(i);
                Poll::Done(t)
            }
            None => Poll::Waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_hands_out_its_token_once() {
        let logins = Logins::default();
        let (login, done) = logins.start(None).unwrap();
        assert_ne!(login, done, "the page's id does not collect the token");
        assert_eq!(logins.poll(&done), Poll::Waiting);
        assert_eq!(logins.poll(&login), Poll::Unknown);
        assert!(logins.is_waiting(&login));
        assert!(logins.approve(&login, "tok".into()));
        assert!(!logins.approve(&login, "again".into()), "approved once");
        assert!(!logins.is_waiting(&login));
        assert_eq!(logins.poll(&done), Poll::Done("tok".into()));
        assert_eq!(logins.poll(&done), Poll::Unknown, "collected once");
    }

    #[test]
    fn logins_expire() {
        let logins = Logins {
            ttl: Some(Duration::ZERO),
            ..Default::default()
        };
        let (login, done) = logins.start(None).unwrap();
        assert!(!logins.is_waiting(&login));
        assert!(!logins.approve(&login, "tok".into()));
        assert_eq!(logins.poll(&done), Poll::Unknown);
    }

    #[test]
    fn one_address_cannot_fill_the_table() {
        let logins = Logins::default();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        for _ in 0..PER_ADDRESS {
            logins.start(ip("10.0.0.1")).unwrap();
        }
        assert!(matches!(
            logins.start(ip("10.0.0.1")),
            Err(Error::TooManyRequests(_))
        ));
        assert!(logins.start(ip("10.0.0.2")).is_ok(), "others still can");
    }
}
