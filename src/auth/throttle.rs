//! Failed password checks, counted per account and per client address, so that guessing
//! passwords costs time: the first few failures are free, then every try must wait, the wait
//! doubling from 30 seconds up to 15 minutes. A success clears the account's and the address's
//! counts. The counts live in the metadata database, so that every instance sharing it refuses
//! alike, and the table is bounded: old counts go, and when it is full the entries touched
//! longest ago make room, so a flood of made-up names cannot grow it.

use crate::error::Error;
use crate::store::db::Connection;
use crate::store::meta;
use std::net::IpAddr;
use std::time::Duration;

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

const ACCOUNT: &str = "account:";
const ADDRESS: &str = "address:";

/// The keys a login attempt counts against: the account's, and the address's when it is
/// known. Names are compared without case, so `Alice` and `alice` share a count; an IPv6
/// client counts by its /64, which one client usually holds whole.
fn keys(account: &str, from: Option<IpAddr>) -> (String, Option<String>) {
    (
        format!("{ACCOUNT}{}", account.trim().to_lowercase()),
        from.map(|ip| format!("{ADDRESS}{}", crate::cidr::client(ip))),
    )
}

fn free(key: &str) -> u32 {
    if key.starts_with(ADDRESS) {
        ADDRESS_FREE
    } else {
        ACCOUNT_FREE
    }
}

/// How long the next try must wait after `failures` in a row: nothing before `free` of them,
/// then [`FIRST_WAIT`], doubling with each failure after that.
fn wait(failures: u32, free: u32) -> Option<Duration> {
    let over = failures.checked_sub(free)?;
    Some(FIRST_WAIT.saturating_mul(1 << over.min(20)).min(MAX_WAIT))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The failed password checks, per account and per address. Holds no state: the counts are
/// in the database each call is given, and times are unix milliseconds, which every instance
/// sharing it agrees on.
#[derive(Default)]
pub struct Throttle;

impl Throttle {
    /// Refuses (429 with `Retry-After`) a password check for `account` from `from` while either
    /// must still wait. Asked before the password is hashed, so a refused try costs nothing
    /// but one indexed read.
    pub fn check(
        &self,
        conn: &Connection,
        account: &str,
        from: Option<IpAddr>,
        now: i64,
    ) -> Result<(), Error> {
        let (account, address) = keys(account, from);
        let left = meta::login_failures(conn, &account, address.as_deref())?
            .iter()
            .filter_map(|f| {
                // A wait ends FORGET_AFTER at the latest, so an old count needs no check here.
                let failures = u32::try_from(f.failures).unwrap_or(u32::MAX);
                let until = f.touched.saturating_add(ms(wait(failures, free(&f.key))?));
                Some(until.saturating_sub(now))
            })
            .max();
        match left {
            Some(left) if left > 0 => {
                let secs = u64::try_from(left).unwrap_or(0).div_ceil(1000);
                Err(Error::Throttled(
                    format!("too many failed logins for this account or from this address; try again in {secs} s"),
                    secs,
                ))
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong password, and drops the counts that are old or too many while at it.
    pub fn failed(
        &self,
        conn: &mut Connection,
        account: &str,
        from: Option<IpAddr>,
        now: i64,
    ) -> Result<(), Error> {
        let (account, address) = keys(account, from);
        let forget_before = now.saturating_sub(ms(FORGET_AFTER));
        // One commit for the lot; each count is one upsert, so instances counting the same
        // key at once each add theirs.
        let tx = meta::write_tx(conn)?;
        for key in std::iter::once(account).chain(address) {
            meta::count_login_failure(&tx, &key, now, forget_before)?;
        }
        meta::trim_login_failures(&tx, forget_before, MAX_ENTRIES as i64)?;
        tx.commit()?;
        Ok(())
    }

    /// A right password clears the account's and the address's counts.
    pub fn succeeded(
        &self,
        conn: &Connection,
        account: &str,
        from: Option<IpAddr>,
    ) -> Result<(), Error> {
        let (account, address) = keys(account, from);
        meta::clear_login_failures(conn, &account, address.as_deref())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn retry(c: &Connection, who: &str, from: Option<IpAddr>, now: i64) -> Option<u64> {
        Throttle
            .check(c, who, from, now)
            .err()
            .and_then(|e| e.retry_after())
    }

    fn failed(c: &mut Connection, who: &str, from: Option<IpAddr>, now: i64) {
        Throttle.failed(c, who, from, now).unwrap();
    }

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn an_account_waits_after_a_handful_of_failures_doubling_to_a_cap() {
        let c = &mut meta::test_db();
        for _ in 0..ACCOUNT_FREE {
            assert_eq!(retry(c, "alice", ip("10.0.0.1"), NOW), None);
            failed(c, "alice", ip("10.0.0.1"), NOW);
        }
        assert_eq!(
            retry(c, "ALICE", ip("10.0.0.2"), NOW),
            Some(30),
            "any address, any case"
        );
        assert_eq!(
            retry(c, "alice", None, NOW + 29_001),
            Some(1),
            "part of a second counts as one"
        );
        assert_eq!(
            retry(c, "bob", ip("10.0.0.1"), NOW),
            None,
            "others are not held up"
        );
        let later = NOW + ms(FIRST_WAIT);
        assert_eq!(retry(c, "alice", None, later), None, "the wait is over");
        failed(c, "alice", None, later);
        assert_eq!(retry(c, "alice", None, later), Some(60));
        assert_eq!(wait(4, 5), None);
        let waits: Vec<u64> = (5..30).map(|n| wait(n, 5).unwrap().as_secs()).collect();
        assert_eq!(&waits[..4], [30, 60, 120, 240]);
        assert_eq!(*waits.last().unwrap(), MAX_WAIT.as_secs());
        assert_eq!(wait(u32::MAX, 5), Some(MAX_WAIT));
    }

    #[test]
    fn an_address_waits_after_its_own_allowance_and_success_clears_both() {
        let c = &mut meta::test_db();
        for i in 0..ADDRESS_FREE {
            failed(c, &format!("user{i}"), ip("2001:db8::1"), NOW);
        }
        assert!(
            retry(c, "someone", ip("2001:db8::ffff"), NOW).is_some(),
            "the same /64"
        );
        assert_eq!(retry(c, "someone", ip("2001:db8:0:1::1"), NOW), None);
        Throttle.succeeded(c, "someone", ip("2001:db8::2")).unwrap();
        assert_eq!(retry(c, "someone", ip("2001:db8::1"), NOW), None);
    }

    fn entries(c: &Connection) -> i64 {
        c.query_row("SELECT COUNT(*) FROM login_failures", (), |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn old_failures_are_forgotten_and_the_table_stays_bounded() {
        let c = &mut meta::test_db();
        for _ in 0..ACCOUNT_FREE {
            failed(c, "alice", None, NOW);
        }
        let much_later = NOW + ms(FORGET_AFTER) + 1000;
        failed(c, "alice", None, much_later);
        assert_eq!(
            retry(c, "alice", None, much_later),
            None,
            "counting starts again"
        );
        failed(c, "bob", None, much_later + ms(FORGET_AFTER) + 1);
        assert_eq!(entries(c), 1, "alice's count is gone: nothing to wait for");
        let start = much_later + ms(FORGET_AFTER) + 2;
        for i in 0..MAX_ENTRIES + 10 {
            failed(c, &format!("made-up-{i}"), None, start + i as i64);
        }
        assert_eq!(entries(c), MAX_ENTRIES as i64);
        let kept: i64 = c
            .query_row("SELECT MIN(touched) FROM login_failures", (), |r| r.get(0))
            .unwrap();
        assert_eq!(kept, start + 10, "the ones touched longest ago made room");
    }

    #[test]
    fn failures_counted_at_once_all_count() {
        let c = &mut meta::test_db();
        // Two instances that each read the count before writing it would both write 1.
        for _ in 0..2 {
            meta::count_login_failure(c, "account:alice", NOW, 0).unwrap();
        }
        let f = meta::login_failures(c, "account:alice", None).unwrap();
        assert_eq!(f[0].failures, 2);
        meta::count_login_failure(c, "account:alice", NOW - 5, 0).unwrap();
        let f = meta::login_failures(c, "account:alice", None).unwrap();
        assert_eq!(
            (f[0].failures, f[0].touched),
            (3, NOW),
            "a late commit keeps the later time"
        );
    }
}
