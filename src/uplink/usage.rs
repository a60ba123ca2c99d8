//! When cached upstream tarballs were served, noted in memory until the cache's upkeep (see
//! `cache`) writes them: a cache hit costs no database write.

use std::collections::HashMap;
use std::sync::Mutex;

/// Served times are noted in memory and written at most this often (or before an eviction
/// reads them), so that a cache hit costs no database write.
const WRITE_EVERY_MS: i64 = 60_000;

/// Served times not yet written, by `(name, filename)`.
#[derive(Default)]
pub struct Usage(Mutex<Noted>);

#[derive(Default)]
struct Noted {
    served: HashMap<(String, String), i64>,
    written_at: i64,
}

impl Usage {
    fn lock(&self) -> std::sync::MutexGuard<'_, Noted> {
        // A panic while holding it leaves at worst a served time unwritten.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a serve; says whether the noted times are due to be written.
    pub(super) fn note(&self, name: &str, filename: &str, now: i64) -> bool {
        let mut n = self.lock();
        n.served
            .insert((name.to_string(), filename.to_string()), now);
        now - n.written_at >= WRITE_EVERY_MS
    }

    pub(super) fn take(&self, now: i64) -> Vec<(String, String, String)> {
        let mut n = self.lock();
        n.written_at = now;
        n.served
            .drain()
            .map(|((name, file), at)| (name, file, crate::time::format_millis(at)))
            .collect()
    }
}
