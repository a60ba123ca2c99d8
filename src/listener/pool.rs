//! The front's connections to tiny_http: kept-alive Unix connections, at most one per worker,
//! opened one at a time as requests need them and each confirmed before it is used, lent to
//! one request at a time.
//!
//! Why like this. tiny_http serves each connection on a thread of its own pool, and that pool
//! can lose a connection opened while another one is being handed to a waking thread: the
//! second waits in its queue until some thread finishes its connection. With a connection per
//! request that wait was short; with kept-alive connections it would be forever. So the front
//! opens its connections one at a time, each only after the last is known to be served (a
//! warm-up request answered), and keeps them. There are at most one per worker because
//! tiny_http never runs more requests at once than there are workers: a request that finds
//! none free waits here, where tiny_http's queue would have held it. They are opened on demand
//! because each holds a tiny_http thread.

use super::reply;
use std::io::{self, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The request field that marks the front's warm-up request, which tiny_http's worker answers
/// `204` at once. The front drops any client field starting `X-Nmr-`, so only it can send one.
pub const WARM_UP: &str = "X-Nmr-Warm-Up";

/// One connection to tiny_http; requests are written under the buffered reader.
pub struct Backend(pub BufReader<UnixStream>);

struct Slots {
    idle: Vec<Backend>,
    /// Connections open now, lent or idle.
    open: usize,
}

/// The set of connections, opened as requests need them, up to one per worker.
pub struct Pool {
    socket: PathBuf,
    max: usize,
    slots: Mutex<Slots>,
    freed: Condvar,
    /// Held while a connection is being opened and confirmed, so that no two are at once.
    opening: Mutex<()>,
}

impl Pool {
    /// A pool of at most `max` connections to tiny_http listening on `socket`. The first is
    /// opened here, so that a tiny_http that does not answer stops nmr at start-up.
    pub fn open(socket: &Path, max: usize) -> io::Result<Pool> {
        let pool = Pool {
            socket: socket.to_path_buf(),
            max: max.max(1),
            slots: Mutex::new(Slots {
                idle: Vec::with_capacity(max),
                open: 1,
            }),
            freed: Condvar::new(),
            opening: Mutex::new(()),
        };
        let first = pool.connect()?;
        pool.slots().idle.push(first);
        Ok(pool)
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens one connection and waits for the answer to a warm-up request on it, which proves
    /// that a tiny_http thread serves it.
    fn connect(&self) -> io::Result<Backend> {
        let _one_at_a_time = self.opening.lock().unwrap_or_else(|p| p.into_inner());
        let s = UnixStream::connect(&self.socket)?;
        (&s).write_all(format!("GET / HTTP/1.1\r\n{WARM_UP}: 1\r\n\r\n").as_bytes())?;
        let mut b = Backend(BufReader::with_capacity(4096, s));
        reply::warmed_up(&mut b.0)?;
        Ok(b)
    }

    /// Lends a connection: an idle one, a new one while there are fewer than one per worker,
    /// or else the next one given back. An error means a new one could not be opened.
    pub fn take(&self) -> io::Result<Backend> {
        let mut slots = self.slots();
        loop {
            if let Some(b) = slots.idle.pop() {
                return Ok(b);
            }
            if slots.open < self.max {
                slots.open += 1;
                drop(slots);
                return self.connect().inspect_err(|_| self.lost());
            }
            slots = self.freed.wait(slots).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Takes back a connection whose exchange completed.
    pub fn give(&self, b: Backend) {
        self.slots().idle.push(b);
        self.freed.notify_one();
    }

    /// Records that a lent connection broke (or could not be opened): a request that finds
    /// none idle may open one in its place.
    pub fn lost(&self) {
        self.slots().open -= 1;
        self.freed.notify_one();
    }
}
