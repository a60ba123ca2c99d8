//! The fixed pool of handler slots: `server.workers` of them, each with a database
//! connection. A connection thread holds a slot only while a handler runs — never while it
//! waits on its client — so the number of handlers at work stays fixed however many clients
//! are connected. A handler may step out of its slot while it waits on the password-hashing
//! pool (see [`crate::app::Slot`]): it keeps its database connection, and the slot goes to the
//! next request, with a connection opened for it if none is free. Handlers stepping back in go
//! before new requests, so the connections in use stay within `server.workers` plus the
//! hashing pool's capacity.

use crate::store::db::Connection;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Opens another database connection.
type Connect = Box<dyn Fn() -> Result<Connection, String> + Send + Sync>;

struct State {
    /// Connections nobody holds.
    free: Vec<Connection>,
    /// Slots nobody holds.
    permits: usize,
    /// Connections opened, held or free.
    opened: usize,
    /// Handlers waiting to step back into a slot: they go first.
    returning: usize,
}

pub struct Slots {
    /// `server.workers`: the slots, and the connections worth keeping open.
    count: usize,
    state: Mutex<State>,
    changed: Condvar,
    connect: Connect,
}

/// A slot in use; it goes back to the pool when dropped.
pub struct Slot<'a> {
    pool: &'a Slots,
    db: Option<Connection>,
}

impl Slots {
    /// One slot per connection in `connections`; `connect` opens more when handlers that
    /// stepped out hold them.
    pub fn new(connections: Vec<Connection>, connect: Connect) -> Slots {
        Slots {
            count: connections.len(),
            state: Mutex::new(State {
                permits: connections.len(),
                opened: connections.len(),
                free: connections,
                returning: 0,
            }),
            changed: Condvar::new(),
            connect,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&self, s: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(s).unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a free slot.
    pub fn take(&self) -> Slot<'_> {
        let mut s = self.state();
        while s.permits == 0 || s.returning > 0 {
            s = self.wait(s);
        }
        s.permits -= 1;
        loop {
            if let Some(db) = s.free.pop() {
                return Slot {
                    pool: self,
                    db: Some(db),
                };
            }
            // Every connection is held, some by handlers outside their slots: open one.
            drop(s);
            match (self.connect)() {
                Ok(db) => {
                    self.state().opened += 1;
                    return Slot {
                        pool: self,
                        db: Some(db),
                    };
                }
                Err(e) => crate::warn!(
                    "cannot open another database connection: {e}; waiting for one to come back"
                ),
            }
            s = self.wait(self.state());
        }
    }

    /// Waits at most `grace` for every slot and connection to come back, then closes the
    /// database connections. Returns how many were still in use.
    pub fn close(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        let mut s = self.state();
        while s.free.len() < s.opened {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            s = self
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let busy = s.opened - s.free.len();
        s.free.clear();
        busy
    }
}

impl crate::app::Slot for Slots {
    fn step_out(&self) {
        self.state().permits += 1;
        self.changed.notify_all();
    }

    fn step_in(&self) {
        let mut s = self.state();
        s.returning += 1;
        while s.permits == 0 {
            s = self.wait(s);
        }
        s.permits -= 1;
        s.returning -= 1;
        drop(s);
        // New requests may have waited for the returning to go first.
        self.changed.notify_all();
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
            let mut s = self.pool.state();
            // A connection opened for a login burst is closed once the slots have enough.
            if s.free.len() >= self.pool.count {
                s.opened -= 1;
                drop(db);
            } else {
                s.free.push(db);
            }
            s.permits += 1;
            drop(s);
            self.pool.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Slot as _;

    fn memory() -> Result<Connection, String> {
        rusqlite::Connection::open_in_memory()
            .map(Connection::from_sqlite)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_handler_outside_its_slot_leaves_it_to_another_request() {
        let slots = Slots::new(vec![memory().unwrap()], Box::new(memory));
        let mut first = slots.take();
        first.db();
        slots.step_out();
        // The one slot is free again; the next request gets a new connection.
        let second = slots.take();
        assert_eq!(slots.state().opened, 2);
        drop(second);
        slots.step_in();
        drop(first);
        let s = slots.state();
        assert_eq!(
            (s.permits, s.free.len(), s.opened, s.returning),
            (1, 1, 1, 0),
            "the extra connection is closed again"
        );
        drop(s);
        assert_eq!(slots.close(Duration::ZERO), 0);
    }
}
