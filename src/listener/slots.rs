//! The fixed pool of handler slots: `server.workers` of them, each with its own database
//! connection. A connection thread holds a slot only while a handler runs — never while it
//! waits on its client — so the number of handlers at work, and of database connections, stays
//! fixed however many clients are connected.

use rusqlite::Connection;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct Slots {
    free: Mutex<Vec<Connection>>,
    returned: Condvar,
    count: usize,
}

/// A slot in use; it goes back to the pool when dropped.
pub struct Slot<'a> {
    pool: &'a Slots,
    db: Option<Connection>,
}

impl Slots {
    pub fn new(connections: Vec<Connection>) -> Slots {
        Slots {
            count: connections.len(),
            free: Mutex::new(connections),
            returned: Condvar::new(),
        }
    }

    fn free(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a free slot.
    pub fn take(&self) -> Slot<'_> {
        let mut free = self.free();
        loop {
            if let Some(db) = free.pop() {
                return Slot {
                    pool: self,
                    db: Some(db),
                };
            }
            free = self.returned.wait(free).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits at most `grace` for every slot to come back, then closes the database
    /// connections that did. Returns how many were still in use.
    pub fn close(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        let mut free = self.free();
        while free.len() < self.count {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            free = self
                .returned
                .wait_timeout(free, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let busy = self.count - free.len();
        free.clear();
        busy
    }
}

impl Slot<'_> {
    pub fn db(&mut self) -> &mut Connection {
        self.db
            .as_mut()
            .expect("a slot holds its connection until dropped")
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            self.pool.free().push(db);
            self.pool.returned.notify_all();
        }
    }
}
