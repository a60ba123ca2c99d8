//! Webhooks for package changes. A change's transaction also writes one event per matching
//! `[[notify]]` entry into the outbox ([`outbox`], bodies from [`payload`]); after the commit the
//! writer wakes the one background deliverer ([`deliver`]), which posts each event, signed
//! ([`sign`]), and retries with a growing back-off until the receiver takes it. Delivery never
//! delays or fails the write, and an event survives restarts until it is delivered.

pub mod deliver;
pub mod outbox;
pub mod payload;
pub mod sign;

pub use outbox::record;
pub use payload::{Change, Source};

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Signal {
    /// A commit queued something since the deliverer last looked.
    woken: bool,
    stopping: bool,
}

/// What writers and the deliverer share: the wake-up after a commit, the stop, and the counters
/// for the metrics.
#[derive(Default)]
pub struct Notifier {
    signal: Mutex<Signal>,
    cond: Condvar,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl Notifier {
    fn lock(&self) -> std::sync::MutexGuard<'_, Signal> {
        self.signal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the deliverer that a commit may have queued events.
    pub fn wake(&self) {
        self.lock().woken = true;
        self.cond.notify_all();
    }

    fn stop(&self) {
        self.lock().stopping = true;
        self.cond.notify_all();
    }

    fn stopping(&self) -> bool {
        self.lock().stopping
    }

    /// Waits until woken, stopped or `timeout` passed; true when stopping.
    fn wait(&self, timeout: Duration) -> bool {
        let mut s = self.lock();
        if !s.woken && !s.stopping {
            s = self
                .cond
                .wait_timeout_while(s, timeout, |s| !s.woken && !s.stopping)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        s.woken = false;
        s.stopping
    }

    /// Events delivered since start.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Relaxed)
    }

    /// Events that failed for good since start.
    pub fn failed(&self) -> u64 {
        self.failed.load(Relaxed)
    }
}
