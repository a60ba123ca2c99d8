//! Single flight: concurrent requests for the same upstream object share one fetch. The first
//! caller for a key does the work; the others wait for it and get its outcome. The result itself
//! lives in the store, so callers read it from there afterwards.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The fetches in progress, by key.
#[derive(Default)]
pub struct Flights {
    running: Mutex<HashMap<String, Arc<Flight>>>,
}

#[derive(Default)]
struct Flight {
    outcome: Mutex<Option<Result<()>>>,
    landed: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Holders never leave these maps half-changed, so a poisoned lock is safe to take over.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Publishes the leader's outcome when dropped, so waiters never hang, even if the work panics.
struct Landing<'a> {
    flights: &'a Flights,
    key: &'a str,
    flight: Arc<Flight>,
    outcome: Result<()>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        // Leave the map first: a caller arriving from now on starts afresh and finds the
        // stored result itself.
        lock(&self.flights.running).remove(self.key);
        *lock(&self.flight.outcome) = Some(self.outcome.clone());
        self.flight.landed.notify_all();
    }
}

impl Flights {
    /// Runs `work` unless a fetch for `key` is already running; then waits for that one and
    /// returns its outcome instead.
    pub fn run(&self, key: &str, work: impl FnOnce() -> Result<()>) -> Result<()> {
        let (flight, leader) = {
            let mut running = lock(&self.running);
            match running.get(key) {
                Some(f) => (f.clone(), false),
                None => {
                    let f = Arc::new(Flight::default());
                    running.insert(key.to_string(), f.clone());
                    (f, true)
                }
            }
        };
        if !leader {
            let mut outcome = lock(&flight.outcome);
            loop {
                if let Some(o) = outcome.as_ref() {
                    return o.clone();
                }
                outcome = flight
                    .landed
                    .wait(outcome)
                    .unwrap_or_else(|p| p.into_inner());
            }
        }
        let mut landing = Landing {
            flights: self,
            key,
            flight,
            outcome: Err(Error::Internal(format!("fetch of {key} panicked"))),
        };
        landing.outcome = work();
        landing.outcome.clone()
    }

    /// How many callers share the running fetch for `key` (the leader included).
    #[cfg(test)]
    fn sharing(&self, key: &str) -> usize {
        lock(&self.running)
            .get(key)
            .map_or(0, |f| Arc::strong_count(f) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn concurrent_callers_share_one_run_and_its_outcome() {
        let flights = Flights::default();
        let runs = AtomicUsize::new(0);
        const CALLERS: usize = 6;
        let results: Vec<Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..CALLERS)
                .map(|_| {
                    s.spawn(|| {
                        flights.run("pkg", || {
                            runs.fetch_add(1, Ordering::SeqCst);
                            // Hold the flight until every caller has joined it.
                            let deadline = Instant::now() + Duration::from_secs(10);
                            while flights.sharing("pkg") < CALLERS && Instant::now() < deadline {
                                std::thread::yield_now();
                            }
                            Err(Error::BadGateway("upstream down".into()))
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(results
            .iter()
            .all(|r| matches!(r, Err(Error::BadGateway(m)) if m == "upstream down")));
        assert_eq!(flights.sharing("pkg"), 0, "finished flights leave the map");
    }

    #[test]
    fn a_panicking_leader_leaves_no_flight_behind() {
        let flights = Flights::default();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            flights.run("boom", || panic!("work failed"))
        }));
        assert!(caught.is_err());
        assert_eq!(flights.sharing("boom"), 0);
        assert!(
            flights.run("boom", || Ok(())).is_ok(),
            "the key is usable again"
        );
    }
}
