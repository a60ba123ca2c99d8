//! The deliverer: one background thread of `nmr serve` that claims due events from the outbox,
//! posts them to their entry's URL (the only URLs ever called), and records the outcome. A 2xx
//! delivers; connection errors, timeouts, 429 and 5xx are retried with a back-off doubling from
//! the entry's `retry_base` up to a day; any other answer (a 4xx, or a redirect, which is never
//! followed) is final and logged as a warning. Woken after each commit, and by a timer for
//! retries and for events queued by other processes.

use super::Notifier;
use crate::config::Notify;
use crate::store::meta;
use std::io::Read;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// The longest wait between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(86_400);
/// Attempts before an event is given up (about a week with the default `retry_base`); `nmr
/// notify retry` queues it again.
pub const MAX_ATTEMPTS: i64 = 20;
/// How much of a receiver's answer is read (and dropped) so its connection can be reused.
const BODY_LIMIT: u64 = 64 * 1024;
/// How often the outbox is looked at with nothing due: picks up `nmr notify retry` and events
/// other processes queued and could not deliver.
const POLL: Duration = Duration::from_secs(5);
/// Delivered events are listed by `nmr notify log` this long.
const KEEP_DELIVERED_MS: i64 = 30 * 86_400_000;

/// What an attempt came to.
#[derive(Debug, PartialEq)]
enum Outcome {
    Delivered(u16),
    /// Retrying cannot help.
    Final(Option<u16>, String),
    Retry(Option<u16>, String),
}

/// The wait after the `attempts`-th failed attempt.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 32)).unwrap_or(32);
    base.saturating_mul(1u32 << doublings.min(31))
        .min(BACKOFF_MAX)
}

fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered(status),
        429 | 500..=599 => Outcome::Retry(Some(status), format!("answered {status}")),
        300..=399 => Outcome::Final(
            Some(status),
            format!(
                "answered {status}, a redirect, which nmr does not follow: configure the final URL"
            ),
        ),
        _ => Outcome::Final(Some(status), format!("answered {status}")),
    }
}

/// The running deliverer.
pub struct Deliverer {
    notifier: Arc<Notifier>,
    done: mpsc::Receiver<()>,
}

/// A client per entry: its timeout bounds connecting and the whole exchange, and redirects come
/// back as answers instead of being followed.
fn agent(n: &Notify) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(n.timeout))
        .timeout_global(Some(n.timeout))
        .user_agent(concat!("nmr/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Starts the thread, with a database connection of its own.
pub fn start(
    entries: Vec<Notify>,
    db: crate::store::db::Connection,
    notifier: Arc<Notifier>,
) -> std::io::Result<Deliverer> {
    let (done_tx, done) = mpsc::channel();
    let n = notifier.clone();
    std::thread::Builder::new()
        .name("notify".into())
        .spawn(move || {
            run(&entries, &db, &n);
            let _ = done_tx.send(());
        })?;
    Ok(Deliverer { notifier, done })
}

impl Deliverer {
    /// Asks the thread to stop and waits up to `grace` for it; an exchange in flight is left
    /// to end with the process (its event stays claimed until its lease runs out, and is sent
    /// again then). Returns whether the thread stopped.
    pub fn stop(self, grace: Duration) -> bool {
        self.notifier.stop();
        self.done.recv_timeout(grace).is_ok()
    }
}

fn run(entries: &[Notify], db: &crate::store::db::Connection, notifier: &Notifier) {
    let agents: Vec<ureq::Agent> = entries.iter().map(agent).collect();
    // Longer than any exchange can take, so a live deliverer never loses its claim.
    let lease = entries
        .iter()
        .map(|n| n.timeout)
        .max()
        .unwrap_or_default()
        .saturating_mul(2)
        + Duration::from_secs(5);
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let mut next_prune = 0;
    while !notifier.stopping() {
        let now = crate::time::now_millis();
        if now >= next_prune {
            let before = crate::time::format_millis(now - KEEP_DELIVERED_MS);
            if let Err(e) = meta::outbox_prune(db, &before) {
                crate::warn!("notify: cannot prune delivered events: {e}");
            }
            next_prune = now + 3_600_000;
        }
        let wait = match meta::outbox_claim(db, now, lease_ms) {
            Ok(Some(row)) => {
                attempt(entries, &agents, db, notifier, &row);
                continue;
            }
            Ok(None) => match meta::outbox_next_due(db) {
                Ok(Some(due)) => Duration::from_millis(u64::try_from(due - now).unwrap_or(0)),
                Ok(None) => POLL,
                Err(e) => {
                    crate::warn!("notify: cannot read the outbox: {e}");
                    POLL
                }
            },
            Err(e) => {
                crate::warn!("notify: cannot read the outbox: {e}");
                POLL
            }
        };
        // A lease or a retry may fall due in 0 ms: yield at least a moment so a clock that
        // moved backwards cannot spin this loop.
        if notifier.wait(wait.clamp(Duration::from_millis(1), POLL)) {
            break;
        }
    }
}

/// Posts one claimed event and records the outcome.
fn attempt(
    entries: &[Notify],
    agents: &[ureq::Agent],
    db: &crate::store::db::Connection,
    notifier: &Notifier,
    row: &meta::Outboxed,
) {
    let now_text = crate::time::now_rfc3339();
    let Some(i) = entries.iter().position(|n| n.url == row.target) else {
        let why = "no [[notify]] entry has this URL any more";
        crate::warn!(
            "notify: {} event {} of {} for {}: {why}; not delivered",
            row.event,
            row.delivery,
            row.package,
            crate::config::shown_url(&row.target)
        );
        notifier
            .failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = meta::outbox_abandon(db, row.id, why, &now_text) {
            crate::warn!("notify: cannot record that: {e}");
        }
        return;
    };
    let n = &entries[i];
    let outcome = post(&agents[i], n, row);
    let attempts = row.attempts + 1;
    let now = crate::time::now_millis();
    let (state, next_try, status, why) = match outcome {
        Outcome::Delivered(status) => {
            notifier
                .delivered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            crate::debug!(
                "notify: delivered {} of {} to {}",
                row.event,
                row.package,
                crate::config::shown_url(&n.url)
            );
            ("delivered", now, Some(status), None)
        }
        Outcome::Retry(status, why) if attempts < MAX_ATTEMPTS => {
            let wait = backoff(n.retry_base, attempts);
            crate::info!(
                "notify: {} event {} of {} to {}: {why}; attempt {attempts}, next in {} s",
                row.event,
                row.delivery,
                row.package,
                crate::config::shown_url(&n.url),
                wait.as_secs()
            );
            let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
            ("pending", now + wait_ms, status, Some(why))
        }
        Outcome::Retry(status, why) | Outcome::Final(status, why) => {
            notifier
                .failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            crate::warn!(
                "notify: {} event {} of {} to {} failed for good after {attempts} attempts: {why} (nmr notify retry {} sends it again)",
                row.event,
                row.delivery,
                row.package,
                crate::config::shown_url(&n.url),
                row.id
            );
            ("failed", now, status, Some(why))
        }
    };
    if let Err(e) = meta::outbox_settle(
        db,
        row.id,
        state,
        next_try,
        status,
        why.as_deref(),
        &now_text,
    ) {
        // The claim runs out and the event is sent again: a receiver sees it twice, with the
        // same X-Nmr-Delivery, rather than never.
        crate::warn!(
            "notify: cannot record the outcome for {}: {e}",
            row.delivery
        );
    }
}

fn post(agent: &ureq::Agent, n: &Notify, row: &meta::Outboxed) -> Outcome {
    let mut rb = agent
        .post(&n.url)
        .header("Content-Type", "application/json")
        .header("X-Nmr-Event", &row.event)
        .header("X-Nmr-Delivery", &row.delivery);
    if let Some(secret) = &n.secret {
        rb = rb.header(
            "X-Nmr-Signature-256",
            super::sign::signature(secret.0.as_bytes(), &row.body),
        );
    }
    for (k, v) in &n.headers {
        rb = rb.header(k.as_str(), v.0.as_str());
    }
    match rb.send(&row.body[..]) {
        Ok(mut resp) => {
            // Read a bounded part of the answer and drop it; what it says does not matter.
            let mut sink = std::io::sink();
            let _ = std::io::copy(&mut resp.body_mut().as_reader().take(BODY_LIMIT), &mut sink);
            classify(resp.status().as_u16())
        }
        Err(ureq::Error::Timeout(_)) => Outcome::Retry(
            None,
            format!("no answer within {} ms (timeout)", n.timeout.as_millis()),
        ),
        // ureq's own texts quote a bad URL whole, and a receiver's URL may be its credential.
        Err(e) => Outcome::Retry(None, crate::uplink::describe(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_a_day() {
        let base = Duration::from_secs(10);
        let waits: Vec<u64> = (1..=15).map(|n| backoff(base, n).as_secs()).collect();
        assert_eq!(&waits[..4], [10, 20, 40, 80]);
        assert_eq!(waits[14], 86_400);
        assert_eq!(backoff(base, i64::MAX), BACKOFF_MAX);
        assert_eq!(
            backoff(Duration::from_millis(100), 1),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn only_2xx_delivers_and_only_429_and_5xx_retry() {
        assert_eq!(classify(204), Outcome::Delivered(204));
        assert!(matches!(classify(429), Outcome::Retry(Some(429), _)));
        assert!(matches!(classify(503), Outcome::Retry(Some(503), _)));
        assert!(matches!(classify(404), Outcome::Final(Some(404), _)));
        assert!(matches!(classify(410), Outcome::Final(Some(410), _)));
        assert!(matches!(classify(301), Outcome::Final(Some(301), _)));
    }
}
