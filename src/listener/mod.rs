//! The connection front: nmr's own accept loop in front of tiny_http, which has no socket
//! timeouts, no limit on header size or on connections, and stops for good on an accept error.
//!
//! Design. nmr owns the public TCP listener. Each accepted connection gets one thread; past
//! `server.max_connections` open connections a new one is answered `503` and closed. The thread
//! sets `TCP_NODELAY` and a write timeout (`server.write_timeout`) on the socket, then for each
//! request on the connection:
//!
//! 1. waits for its first byte at most `server.read_timeout` (an idle keep-alive connection is
//!    closed quietly after that), then reads the whole head within `server.read_timeout` of
//!    that byte, line by line through a bounded buffer (a slow-loris client gets `408`);
//! 2. checks the head ([`head`]): at most 32 KiB and 100 fields (`431`), one unambiguous body
//!    framing (`Content-Length` with `Transfer-Encoding`, an unknown coding, conflicting
//!    lengths: `400`), a declared body within `settings.max_body_size` (`413`, unread);
//! 3. receives the whole body ([`body`]), each read waiting at most `server.read_timeout`, so a
//!    slow upload only ever holds its own thread, never one of the workers;
//! 4. passes the request to tiny_http, which listens on a Unix socket in a private directory,
//!    over one of the front's kept-alive connections to it ([`pool`], one per worker): the
//!    head re-encoded canonically with the body's length, then the body. The worker answers
//!    tiny_http with the head alone and parks the body in the [`Handoff`]; the thread reads
//!    the head, takes the body, returns the connection to the pool and writes both to the
//!    client ([`reply`]; each write bounded by `server.write_timeout`, a large file with
//!    `sendfile`), and goes back to 1.
//!
//! So the workers stay the fixed pool and only ever talk to the front over a local socket;
//! tiny_http's per-connection threads are bounded by the connection cap; one thread per client
//! connection does all the waiting on the client, receiving its uploads and sending its
//! downloads, so a slow client never holds a worker.
//!
//! Shutdown: [`Front::stop`] closes the listener, closes connections that wait for a request,
//! and waits (bounded) for the others to finish the request they are in.
//!
//! This module accepts and counts connections; `conn` serves one, [`head`] and [`body`] read
//! a request, [`pool`] holds the connections to tiny_http, [`reply`] writes the answer,
//! [`handoff`] carries bodies from the workers, `backend` owns the private directory.

mod backend;
pub mod body;
mod conn;
pub mod handoff;
pub mod head;
mod pool;
mod reply;

pub use backend::BackendDir;
use conn::{serve, turn_away};
pub use handoff::Handoff;
pub use head::PEER_HEADER;
pub use pool::WARM_UP;
pub use reply::{use_sendfile, SendFile, NO_BODY};

use crate::app::App;
use crate::error::Error;
use crate::server::Event;
use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Stack of the per-connection threads: they hold little on the stack (buffers are on the
/// heap), and hundreds of idle connections should not reserve megabytes each.
const THREAD_STACK: usize = 256 * 1024;

/// Binds the public listener.
pub fn bind(addr: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// One open connection, as shutdown sees it.
struct Live {
    stream: TcpStream,
    /// Waiting for the first byte of a request: nothing is lost by closing it.
    idle: Arc<AtomicBool>,
}

/// What the accept loop and the connection threads share.
struct Shared {
    app: Arc<App>,
    /// `server.max_connections`, or fewer if the open-files limit is lower (see
    /// [`connection_cap`]).
    max_connections: usize,
    /// The connections to tiny_http.
    pool: pool::Pool,
    /// Where the workers park the bodies of their answers.
    handoff: Arc<Handoff>,
    /// The private directory large request bodies are spooled to.
    spool: PathBuf,
    stopping: AtomicBool,
    live: Mutex<(u64, HashMap<u64, Live>)>,
    /// Signalled whenever a connection ends.
    ended: Condvar,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, (u64, HashMap<u64, Live>)> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running front.
pub struct Front {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

/// File descriptors one client connection can hold at once: its socket and two more handles to
/// it, a spooled request body and a tarball being sent.
const FDS_PER_CONNECTION: u64 = 5;

/// File descriptors kept for everything else: stdio, the listeners, the signal pipe, and per
/// worker its database files (and a fresh read-only set for a ping), a tarball being opened,
/// and both ends of its connection from the front's pool (tiny_http holds its end twice).
fn fds_reserved(workers: usize) -> u64 {
    64 + 11 * workers as u64
}

/// The process's soft limit on open files, from `/proc/self/limits`; `None` when unlimited or
/// unknown.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many connections may be open at once: `server.max_connections`, or fewer when the
/// open-files limit could not hold that many. Running out of descriptors would make tiny_http's
/// own accept fail, which ends its accept loop for good.
fn connection_cap(configured: usize, workers: usize, limit: Option<u64>) -> usize {
    let Some(limit) = limit else {
        return configured;
    };
    let fit = limit.saturating_sub(fds_reserved(workers)) / FDS_PER_CONNECTION;
    configured
        .min(usize::try_from(fit).unwrap_or(usize::MAX))
        .max(1)
}

/// Linux errno values after which accepting can never work again; any other accept error
/// (a full descriptor table, an aborted handshake, memory pressure) passes, so it is retried.
fn fatal_accept_error(e: &io::Error) -> bool {
    const EBADF: i32 = 9;
    const EFAULT: i32 = 14;
    const EINVAL: i32 = 22;
    const ENOTSOCK: i32 = 88;
    matches!(e.raw_os_error(), Some(EBADF | EFAULT | EINVAL | ENOTSOCK))
}

impl Front {
    /// Starts accepting on `listener`, passing checked requests to tiny_http listening in
    /// `dir`. A listener that fails for good is reported on `fatal` as [`Event::Fatal`].
    pub fn start(
        listener: TcpListener,
        app: Arc<App>,
        handoff: Arc<Handoff>,
        dir: &BackendDir,
        fatal: mpsc::Sender<Event>,
    ) -> Result<Front, String> {
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listening address: {e}"))?;
        let server = &app.config.server;
        let max_connections =
            connection_cap(server.max_connections, server.workers, open_files_limit());
        if max_connections < server.max_connections {
            crate::warn!(
                "the open-files limit ({}) holds about {max_connections} connections, not server.max_connections = {}; serving at most {max_connections} (raise LimitNOFILE or ulimit -n)",
                open_files_limit().unwrap_or(0),
                server.max_connections
            );
        }
        let pool = pool::Pool::open(&dir.socket(), server.workers)
            .map_err(|e| format!("cannot connect to the request workers: {e}"))?;
        let shared = Arc::new(Shared {
            max_connections,
            app,
            pool,
            handoff,
            spool: dir.path().to_path_buf(),
            stopping: AtomicBool::new(false),
            live: Mutex::new((0, HashMap::new())),
            ended: Condvar::new(),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("accept".into())
            .spawn(move || accept_loop(&s, &listener, &fatal))
            .map_err(|e| format!("cannot start the accept thread: {e}"))?;
        Ok(Front {
            shared,
            addr,
            accept: Some(accept),
        })
    }

    /// The address connections are accepted on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes connections waiting for a request, and gives the others up to
    /// `grace` to finish; then closes what is left. Returns how many had to be cut off.
    pub fn stop(&mut self, grace: Duration) -> usize {
        self.shared.stopping.store(true, SeqCst);
        // accept() blocks; a connection of our own wakes it to see the flag.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let woken = TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok();
        if let Some(t) = self.accept.take() {
            // Without the wake-up the thread may block in accept() for good: leave it, it
            // serves nobody once the flag is set.
            if woken {
                let _ = t.join();
            }
        }
        let deadline = Instant::now() + grace;
        let mut live = self.shared.live();
        for c in live.1.values() {
            if c.idle.load(SeqCst) {
                let _ = c.stream.shutdown(Shutdown::Read);
            }
        }
        while !live.1.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            live = self
                .shared
                .ended
                .wait_timeout(live, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let cut = live.1.len();
        for c in live.1.values() {
            let _ = c.stream.shutdown(Shutdown::Both);
        }
        cut
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener, fatal: &mpsc::Sender<Event>) {
    let mut backoff = Duration::from_millis(5);
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if shared.stopping.load(SeqCst) {
                    return;
                }
                backoff = Duration::from_millis(5);
                admit(shared, stream);
            }
            Err(e) if fatal_accept_error(&e) => {
                let _ = fatal.send(Event::Fatal(format!("the listener failed: {e}")));
                return;
            }
            Err(e) => {
                // Out of descriptors or memory: waiting lets connections end and free some.
                crate::warn!("accepting a connection failed: {e}; retrying in {backoff:?}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn admit(shared: &Arc<Shared>, stream: TcpStream) {
    let metrics = &shared.app.metrics;
    let max = shared.max_connections;
    let mut live = shared.live();
    if live.1.len() >= max {
        drop(live);
        metrics.connection_rejected();
        turn_away(
            stream,
            &Error::Unavailable(format!(
            "the registry has {max} connections open (server.max_connections); try again shortly"
        )),
        );
        return;
    }
    let Ok(handle) = stream.try_clone() else {
        drop(live);
        turn_away(
            stream,
            &Error::Unavailable("the registry is out of file descriptors".into()),
        );
        return;
    };
    let idle = Arc::new(AtomicBool::new(true));
    live.0 += 1;
    let id = live.0;
    live.1.insert(
        id,
        Live {
            stream: handle,
            idle: idle.clone(),
        },
    );
    drop(live);
    metrics.connection_opened();
    let s = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("conn".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            serve(&s, stream, &idle);
            s.live().1.remove(&id);
            s.app.metrics.connection_closed();
            s.ended.notify_all();
        });
    if spawned.is_err() {
        let gone = shared.live().1.remove(&id);
        metrics.connection_closed();
        shared.ended.notify_all();
        if let Some(c) = gone {
            turn_away(
                c.stream,
                &Error::Unavailable("the registry cannot start more threads".into()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_listener_is_fatal() {
        for (errno, fatal) in [
            (9, true),
            (22, true),
            (24, false),
            (23, false),
            (103, false),
        ] {
            assert_eq!(
                fatal_accept_error(&io::Error::from_raw_os_error(errno)),
                fatal,
                "errno {errno}"
            );
        }
    }

    #[test]
    fn the_connection_cap_stays_within_the_open_files_limit() {
        assert_eq!(connection_cap(1024, 16, None), 1024);
        assert_eq!(connection_cap(1024, 16, Some(65_536)), 1024);
        let cap = connection_cap(1024, 16, Some(1024));
        assert!(cap < 1024 && cap * 5 + 64 + 11 * 16 <= 1024, "{cap}");
        assert_eq!(connection_cap(1024, 16, Some(10)), 1);
    }
}
