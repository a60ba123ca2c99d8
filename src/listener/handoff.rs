//! Response bodies handed from the workers to the connection front past tiny_http. A worker
//! parks the body here and answers tiny_http with the head alone, naming the parked body in
//! [`HEADER`]; the front takes the body and writes it to the client itself. So bodies never
//! cross the Unix socket (a cached packument goes out without a copy, a tarball on disk with
//! `sendfile`), and a client that reads slowly holds its own connection thread, never a worker.

use crate::http::Body;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The response field naming a parked body. Only the front reads it, and it never reaches a
/// client.
pub const HEADER: &str = "X-Nmr-Body";

/// Parked bodies older than this are dropped: the front that should have taken one lost its
/// connection to tiny_http before it read the head naming it.
const STALE: Duration = Duration::from_secs(60);
/// How many bodies may be parked before stale ones are looked for.
const SWEEP_ABOVE: usize = 256;

/// The bodies parked between a worker's answer and the front's write.
#[derive(Default)]
pub struct Handoff {
    next: AtomicU64,
    parked: Mutex<HashMap<u64, (Instant, Body)>>,
}

impl Handoff {
    /// Parks `body` and returns the number that takes it back.
    pub fn park(&self, body: Body) -> u64 {
        let id = self.next.fetch_add(1, Relaxed);
        let now = Instant::now();
        let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        if parked.len() >= SWEEP_ABOVE {
            parked.retain(|_, (at, _)| now.duration_since(*at) < STALE);
        }
        parked.insert(id, (now, body));
        id
    }

    /// Takes the body parked under `id`, if it is still there.
    pub fn take(&self, id: u64) -> Option<Body> {
        let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        parked.remove(&id).map(|(_, body)| body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_body_is_taken_once() {
        let h = Handoff::default();
        let a = h.park(Body::Bytes(b"a".to_vec()));
        let b = h.park(Body::Bytes(b"b".to_vec()));
        assert_ne!(a, b);
        assert!(matches!(h.take(b), Some(Body::Bytes(x)) if x == b"b"));
        assert!(h.take(b).is_none());
        assert!(matches!(h.take(a), Some(Body::Bytes(x)) if x == b"a"));
    }
}
