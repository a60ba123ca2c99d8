//! The webhook outbox: events written by the transaction of the change they report, claimed by
//! one deliverer at a time with a lease (an UPDATE that only succeeds while nobody holds the
//! row), marked delivered, retried later or failed, and listed for `nmr notify log`.

use crate::store::db::{params, Connection, OptionalExtension, Transaction};
use crate::store::Result;

/// An event to queue: one receiver (`target`, an entry's URL) and the body built for it.
pub struct NewEvent<'a> {
    pub delivery: &'a str,
    pub target: &'a str,
    pub event: &'a str,
    pub package: &'a str,
    pub body: &'a [u8],
    pub created: &'a str,
}

/// A row of the outbox.
#[derive(Clone, Debug)]
pub struct Outboxed {
    pub id: i64,
    pub delivery: String,
    pub target: String,
    pub event: String,
    pub package: String,
    pub body: Vec<u8>,
    pub created: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    /// Unix ms.
    pub next_try: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub done: Option<String>,
}

const COLUMNS: &str = "id, delivery, target, event, package, body, created, state, attempts, next_try, last_status, last_error, done";

fn row(r: &crate::store::db::Row) -> crate::store::db::Result<Outboxed> {
    Ok(Outboxed {
        id: r.get(0)?,
        delivery: r.get(1)?,
        target: r.get(2)?,
        event: r.get(3)?,
        package: r.get(4)?,
        body: r.get(5)?,
        created: r.get(6)?,
        state: r.get(7)?,
        attempts: r.get(8)?,
        next_try: r.get(9)?,
        last_status: r.get(10)?,
        last_error: r.get(11)?,
        done: r.get(12)?,
    })
}

/// Queues an event, due at once, inside the transaction of its change.
pub fn outbox_add(tx: &Transaction, e: &NewEvent, now_ms: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO notify_outbox (delivery, target, event, package, body, created, next_try)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![e.delivery, e.target, e.event, e.package, e.body, e.created, now_ms],
    )?;
    Ok(())
}

/// Claims the oldest due event whose receiver has nothing older pending for the same package
/// (so one package's events arrive in order), for `lease_ms`. The claim is an UPDATE that
/// succeeds only while the row is unclaimed, so two deliverers never both own it.
pub fn outbox_claim(conn: &Connection, now_ms: i64, lease_ms: i64) -> Result<Option<Outboxed>> {
    let mut st = conn.prepare_cached(
        "SELECT n.id FROM notify_outbox n
         WHERE n.state = 'pending' AND n.next_try <= ?1 AND n.claimed_until <= ?1
           AND NOT EXISTS (SELECT 1 FROM notify_outbox o
                           WHERE o.target = n.target AND o.package = n.package
                             AND o.state = 'pending' AND o.id < n.id)
         ORDER BY n.id LIMIT 16",
    )?;
    let candidates = st
        .query_map([now_ms], |r| r.get::<i64>(0))?
        .collect::<crate::store::db::Result<Vec<_>>>()?;
    for id in candidates {
        let won = conn.execute(
            "UPDATE notify_outbox SET claimed_until = ?2
             WHERE id = ?1 AND state = 'pending' AND claimed_until <= ?3",
            params![id, now_ms + lease_ms, now_ms],
        )? == 1;
        if won {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM notify_outbox WHERE id = ?1"
            ))?;
            return Ok(st.query_row([id], row).optional()?);
        }
    }
    Ok(None)
}

/// Records an attempt's outcome and gives the claim up: `state` is `delivered`, `failed` (both
/// final, `done` set) or `pending` again with the next try at `next_try`.
pub fn outbox_settle(
    conn: &Connection,
    id: i64,
    state: &str,
    next_try: i64,
    status: Option<u16>,
    error: Option<&str>,
    now: &str,
) -> Result<()> {
    let done = (state != "pending").then_some(now);
    conn.execute(
        "UPDATE notify_outbox SET state = ?2, attempts = attempts + 1, next_try = ?3,
           claimed_until = 0, last_status = ?4, last_error = ?5, done = ?6
         WHERE id = ?1",
        params![id, state, next_try, status, error, done],
    )?;
    Ok(())
}

/// Marks an event failed without an attempt (its receiver is no longer configured).
pub fn outbox_abandon(conn: &Connection, id: i64, error: &str, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE notify_outbox SET state = 'failed', claimed_until = 0, last_error = ?2, done = ?3
         WHERE id = ?1",
        params![id, error, now],
    )?;
    Ok(())
}

/// When the next pending event may become due (its retry time, or its lease running out).
/// Events waiting behind an older one of their package do not count: that one goes first.
pub fn outbox_next_due(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn.query_row(
        // The later of the two times, spelt as a CASE: the engines name the two-argument
        // maximum differently (SQLite's MAX, PostgreSQL's GREATEST).
        "SELECT MIN(CASE WHEN n.next_try > n.claimed_until THEN n.next_try ELSE n.claimed_until END)
         FROM notify_outbox n
         WHERE n.state = 'pending'
           AND NOT EXISTS (SELECT 1 FROM notify_outbox o
                           WHERE o.target = n.target AND o.package = n.package
                             AND o.state = 'pending' AND o.id < n.id)",
        (),
        |r| r.get(0),
    )?)
}

/// How many events wait for delivery.
pub fn outbox_queued(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM notify_outbox WHERE state = 'pending'",
        (),
        |r| r.get(0),
    )?)
}

/// The latest `limit` events, newest first; only failed ones with `failed_only`.
pub fn outbox_log(conn: &Connection, failed_only: bool, limit: i64) -> Result<Vec<Outboxed>> {
    let filter = if failed_only {
        "WHERE state = 'failed'"
    } else {
        ""
    };
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM notify_outbox {filter} ORDER BY id DESC LIMIT ?1"
    ))?;
    let rows = st.query_map([limit], row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Puts an event back in the queue, due at once with its back-off restarted; false when there
/// is no such event.
pub fn outbox_requeue(conn: &Connection, id: i64, now_ms: i64) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE notify_outbox SET state = 'pending', attempts = 0, next_try = ?2,
           claimed_until = 0, done = NULL
         WHERE id = ?1",
        params![id, now_ms],
    )? == 1)
}

/// Forgets delivered events that finished before `before` (an RFC 3339 time).
pub fn outbox_prune(conn: &Connection, before: &str) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM notify_outbox WHERE state = 'delivered' AND done < ?1",
        [before],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::meta::{migrate, test_db_file, write_tx};

    fn add(c: &mut Connection, delivery: &str, target: &str, package: &str) {
        let tx = write_tx(c).unwrap();
        let e = NewEvent {
            delivery,
            target,
            event: "publish",
            package,
            body: b"{}",
            created: "t",
        };
        outbox_add(&tx, &e, 1000).unwrap();
        tx.commit().unwrap();
    }

    #[test]
    fn a_claim_is_held_once_and_a_package_waits_for_its_older_event() {
        let mut c = test_db_file("outbox");
        migrate(&mut c).unwrap();
        add(&mut c, "a1", "http://r", "a");
        add(&mut c, "a2", "http://r", "a");
        add(&mut c, "b1", "http://r", "b");
        add(&mut c, "a1-other", "http://other", "a");

        let first = outbox_claim(&c, 2000, 500).unwrap().unwrap();
        assert_eq!(first.delivery, "a1");
        // a1 is claimed and a2 must wait for it: b1, then the other receiver's copy.
        let second = outbox_claim(&c, 2000, 500).unwrap().unwrap();
        assert_eq!(second.delivery, "b1");
        let third = outbox_claim(&c, 2000, 500).unwrap().unwrap();
        assert_eq!(third.delivery, "a1-other");
        assert!(outbox_claim(&c, 2000, 500).unwrap().is_none());

        outbox_settle(&c, second.id, "delivered", 0, Some(200), None, "t").unwrap();
        outbox_settle(&c, third.id, "delivered", 0, Some(204), None, "t").unwrap();

        // A retry later keeps a2 behind a1.
        outbox_settle(&c, first.id, "pending", 5000, Some(503), None, "t").unwrap();
        assert!(outbox_claim(&c, 2600, 500).unwrap().is_none());
        assert_eq!(outbox_next_due(&c).unwrap(), Some(5000));
        let claimed = |at| outbox_claim(&c, at, 500).unwrap().map(|r| r.delivery);
        assert_eq!(claimed(5000), Some("a1".into()));
        assert_eq!(claimed(5100), None);
        // A lease that ran out (its holder died) lets another deliverer take the row.
        assert_eq!(claimed(5600), Some("a1".into()));
        outbox_settle(&c, first.id, "delivered", 0, Some(200), None, "t2").unwrap();
        assert_eq!(claimed(5600), Some("a2".into()));
        assert_eq!(outbox_queued(&c).unwrap(), 1);
        let log = outbox_log(&c, false, 10).unwrap();
        assert_eq!(log.len(), 4);
        assert_eq!((log[3].state.as_str(), log[3].attempts), ("delivered", 2));
        assert!(outbox_log(&c, true, 10).unwrap().is_empty());
    }
}
