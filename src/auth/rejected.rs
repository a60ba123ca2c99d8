//! GitHub tokens that GitHub refused lately (`GET /user` answered 401), remembered for a
//! minute by their SHA-256 (never the token itself), so that a stream of made-up tokens does
//! not cost a call to GitHub each. In memory and bounded: when full, the entry refused longest
//! ago makes room.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a refusal is remembered: long enough to spare GitHub a flood, short enough that a
/// token GitHub refused by mistake works again soon.
pub const REMEMBERED: Duration = Duration::from_secs(60);
/// Most refusals remembered.
const MAX_ENTRIES: usize = 10_000;

/// The refused tokens' digests and when they were refused.
#[derive(Default)]
pub struct Rejected {
    seen: Mutex<HashMap<String, Instant>>,
}

impl Rejected {
    fn seen(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        // Timestamps only: nothing is left half-changed by a panic.
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the token with this digest was refused within [`REMEMBERED`].
    pub fn recently(&self, digest: &str, now: Instant) -> bool {
        self.seen()
            .get(digest)
            .is_some_and(|at| now.saturating_duration_since(*at) < REMEMBERED)
    }

    /// Remembers a refusal.
    pub fn refused(&self, digest: String, now: Instant) {
        let mut seen = self.seen();
        if seen.len() >= MAX_ENTRIES && !seen.contains_key(&digest) {
            seen.retain(|_, at| now.saturating_duration_since(*at) < REMEMBERED);
            if seen.len() >= MAX_ENTRIES {
                if let Some(oldest) = seen
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone())
                {
                    seen.remove(&oldest);
                }
            }
        }
        seen.insert(digest, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_remembered_for_a_while_in_a_bounded_table() {
        let r = Rejected::default();
        let now = Instant::now();
        assert!(!r.recently("a", now));
        r.refused("a".into(), now);
        assert!(r.recently("a", now + Duration::from_secs(59)));
        assert!(!r.recently("a", now + REMEMBERED));
        for i in 0..MAX_ENTRIES + 5 {
            r.refused(format!("t{i}"), now + Duration::from_millis(i as u64));
        }
        assert_eq!(r.seen().len(), MAX_ENTRIES);
        assert!(r.recently(
            &format!("t{}", MAX_ENTRIES + 4),
            now + Duration::from_secs(1)
        ));
    }
}
