//! Failed password checks, counted per account and per client address, so that guessing
//! passwords costs time: the first few failures are free, then every try must wait, the wait
//! doubling from 30 seconds up to 15 minutes. A success clears the account's and the address's
//! counts. The table lives in memory and is bounded: when full, the entries touched longest ago
//! make room, so a flood of made-up names cannot grow it.

use crate::error::Error;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Failures an account may have before it must wait: a handful of typos.
pub const ACCOUNT_FREE: u32 = 5;
/// Failures an address may have before it must wait: more than an account's, since many
/// people can share one address (an office behind NAT, a CI fleet).
pub const ADDRESS_FREE: u32 = 20;
/// Long enough that guessing is slow from the first wait (a second let a script try on almost
/// at full speed), short enough for someone who mistyped.
const FIRST_WAIT: Duration = Duration::from_secs(30);
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Counts older than this (with no failure since) start again from zero.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Most entries kept; each is a name or an address and two numbers.
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    Account(String),
    Address(IpAddr),
}

impl Key {
    fn free(&self) -> u32 {
        match self {
            Key::Account(_) => ACCOUNT_FREE,
            Key::Address(_) => ADDRESS_FREE,
        }
    }
}

struct Entry {
    failures: u32,
    /// No try before this.
    until: Option<Instant>,
    last: Instant,
}

/// The keys a login attempt counts against. Names are compared without case, so `Alice` and
/// `alice` share a count; an IPv6 client counts by its /64, which one client usually holds whole.
fn keys(account: &str, from: Option<IpAddr>) -> Vec<Key> {
    let mut keys = vec![Key::Account(account.trim().to_lowercase())];
    if let Some(ip) = from {
        keys.push(Key::Address(crate::cidr::client(ip)));
    }
    keys
}

/// How long the next try must wait after `failures` in a row: nothing before `free` of them,
/// then [`FIRST_WAIT`], doubling with each failure after that.
fn wait(failures: u32, free: u32) -> Option<Duration> {
    let over = failures.checked_sub(free)?;
    Some(FIRST_WAIT.saturating_mul(1 << over.min(20)).min(MAX_WAIT))
}

/// The failed password checks, per account and per address.
#[derive(Default)]
pub struct Throttle {
    table: Mutex<HashMap<Key, Entry>>,
}

impl Throttle {
    fn table(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        // Counters only: nothing is left half-changed by a panic.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses (429 with `Retry-After`) a password check for `account` from `from` while either
    /// must still wait. Asked before the password is hashed, so a refused try costs nothing.
    pub fn check(&self, account: &str, from: Option<IpAddr>, now: Instant) -> Result<(), Error> {
        let table = self.table();
        let left = keys(account, from)
            .iter()
            .filter_map(|k| table.get(k)?.until?.checked_duration_since(now))
            .max();
        match left {
            Some(d) if !d.is_zero() => {
                let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
                Err(Error::Throttled(
                    format!("too many failed logins for this account or from this address; try again in {secs} s"),
                    secs,
                ))
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong password.
    pub fn failed(&self, account: &str, from: Option<IpAddr>, now: Instant) {
        let mut table = self.table();
        for key in keys(account, from) {
            if !table.contains_key(&key) && table.len() >= MAX_ENTRIES {
                make_room(&mut table);
            }
            let free = key.free();
            let e = table.entry(key).or_insert(Entry {
                failures: 0,
                until: None,
                last: now,
            });
            if now.saturating_duration_since(e.last) > FORGET_AFTER {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last = now;
            e.until = wait(e.failures, free).map(|w| now + w);
        }
    }

    /// A right password clears the account's and the address's counts.
    pub fn succeeded(&self, account: &str, from: Option<IpAddr>) {
        let mut table = self.table();
        for key in keys(account, from) {
            table.remove(&key);
        }
    }
}

/// Drops the entry touched longest ago. Linear, but only when the table is full, and every
/// failure that gets here has cost a password hash, which takes far longer.
fn make_room(table: &mut HashMap<Key, Entry>) {
    if let Some(oldest) = table
        .iter()
        .min_by_key(|(_, e)| e.last)
        .map(|(k, _)| k.clone())
    {
        table.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn retry(t: &Throttle, who: &str, from: Option<IpAddr>, now: Instant) -> Option<u64> {
        t.check(who, from, now).err().and_then(|e| e.retry_after())
    }

    #[test]
    fn an_account_waits_after_a_handful_of_failures_doubling_to_a_cap() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..ACCOUNT_FREE {
            assert_eq!(retry(&t, "alice", ip("10.0.0.1"), now), None);
            t.failed("alice", ip("10.0.0.1"), now);
        }
        assert_eq!(
            retry(&t, "ALICE", ip("10.0.0.2"), now),
            Some(30),
            "any address, any case"
        );
        assert_eq!(
            retry(&t, "bob", ip("10.0.0.1"), now),
            None,
            "others are not held up"
        );
        let later = now + FIRST_WAIT;
        assert_eq!(retry(&t, "alice", None, later), None, "the wait is over");
        t.failed("alice", None, later);
        assert_eq!(retry(&t, "alice", None, later), Some(60));
        assert_eq!(wait(4, 5), None);
        let waits: Vec<u64> = (5..30).map(|n| wait(n, 5).unwrap().as_secs()).collect();
        assert_eq!(&waits[..4], [30, 60, 120, 240]);
        assert_eq!(*waits.last().unwrap(), MAX_WAIT.as_secs());
        assert_eq!(wait(u32::MAX, 5), Some(MAX_WAIT));
    }

    #[test]
    fn an_address_waits_after_its_own_allowance_and_success_clears_both() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..ADDRESS_FREE {
            t.failed(&format!("user{i}"), ip("2001:db8::1"), now);
        }
        assert!(
            retry(&t, "someone", ip("2001:db8::ffff"), now).is_some(),
            "the same /64"
        );
        assert_eq!(retry(&t, "someone", ip("2001:db8:0:1::1"), now), None);
        t.succeeded("someone", ip("2001:db8::2"));
        assert_eq!(retry(&t, "someone", ip("2001:db8::1"), now), None);
    }

    #[test]
    fn old_failures_are_forgotten_and_the_table_stays_bounded() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..ACCOUNT_FREE {
            t.failed("alice", None, now);
        }
        let much_later = now + FORGET_AFTER + Duration::from_secs(1);
        t.failed("alice", None, much_later);
        assert_eq!(
            retry(&t, "alice", None, much_later),
            None,
            "counting starts again"
        );
        for i in 0..MAX_ENTRIES + 10 {
            t.failed(
                &format!("made-up-{i}"),
                None,
                much_later + Duration::from_millis(i as u64),
            );
        }
        assert_eq!(t.table().len(), MAX_ENTRIES);
    }
}
