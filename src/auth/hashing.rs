//! The password-hashing pool: a few threads of their own (half the cores, at least one) that
//! run PBKDF2 for logins, fed through a short queue. A handler waits for its hash outside its
//! handler slot, and when the queue is full the login is answered 503 at once, so a burst of
//! logins can take neither the handler slots nor all the CPU that installs need.

use crate::error::{Error, Result};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

/// Hashes waiting for a thread; more are refused. With the ones running, this bounds how many
/// handlers wait outside their slots (each holding a database connection).
pub const QUEUE: usize = 8;

type Job = Box<dyn FnOnce() + Send>;

/// The pool; its threads start with the first hash.
#[derive(Default)]
pub struct Pool {
    queue: OnceLock<SyncSender<Job>>,
}

/// How many hashing threads: half the cores, so that installs keep the other half.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// Most handlers that can be waiting on the pool at once: a hash running on each thread and a
/// full queue.
pub fn capacity() -> usize {
    threads() + QUEUE
}

impl Pool {
    fn queue(&self) -> &SyncSender<Job> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE);
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..threads() {
                let rx = rx.clone();
                let spawned =
                    std::thread::Builder::new()
                        .name(format!("hash-{i}"))
                        .spawn(move || loop {
                            // Only the wait for the next job is under the lock.
                            let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                            match job {
                                Ok(job) => job(),
                                Err(_) => return,
                            }
                        });
                if let Err(e) = spawned {
                    crate::error!("cannot start a password-hashing thread: {e}");
                }
            }
            tx
        })
    }

    /// Queues `f`; the answer comes on the returned channel. Refused with 503 when the queue
    /// is full.
    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Receiver<T>> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        match self.queue().try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(Error::Unavailable(
                "the registry is checking too many passwords at once; try again in a few seconds"
                    .into(),
            )),
            Err(TrySendError::Disconnected(_)) => Err(Error::Internal(
                "the password-hashing threads are gone".into(),
            )),
        }
    }
}

/// Waits for a job's answer.
pub fn wait<T>(rx: Receiver<T>) -> Result<T> {
    rx.recv()
        .map_err(|_| Error::Internal("a password-hashing job was lost".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_the_pool_and_a_full_queue_refuses_at_once() {
        let pool = Pool::default();
        assert_eq!(wait(pool.submit(|| 6 * 7).unwrap()).unwrap(), 42);
        // Hold every thread, then fill the queue.
        let (release, held) = mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let mut started = Vec::new();
        for _ in 0..threads() {
            let (tx, rx) = mpsc::channel();
            let held = held.clone();
            pool.submit(move || {
                tx.send(()).unwrap();
                let _ = held.lock().unwrap().recv();
            })
            .unwrap();
            started.push(rx);
        }
        for rx in started {
            rx.recv().unwrap();
        }
        let queued: Vec<_> = (0..QUEUE)
            .map(|i| pool.submit(move || i).unwrap())
            .collect();
        assert!(matches!(pool.submit(|| 0), Err(Error::Unavailable(_))));
        for _ in 0..threads() {
            release.send(()).unwrap();
        }
        let done: Vec<usize> = queued.into_iter().map(|rx| wait(rx).unwrap()).collect();
        assert_eq!(done, (0..QUEUE).collect::<Vec<_>>());
    }
}
