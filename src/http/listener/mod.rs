//! nmr's HTTP layer: it owns the listening socket and serves every request itself, with no
//! other HTTP server behind it.
//!
//! Design. Each accepted connection gets one thread; past `server.max_connections` open
//! connections, or `server.max_connections_per_address` from one address, a new one is
//! answered (`503`, `429`) and closed. With `server.tls.*` set the connection speaks TLS
//! (rustls), its handshake within `server.read_timeout`. The thread sets `TCP_NODELAY` and a
//! write timeout (`server.write_timeout`) on the socket, then for each request:
//!
//! 1. waits for its first byte at most `server.read_timeout` (an idle keep-alive connection is
//!    closed quietly after that), then reads the whole head within `server.read_timeout` of
//!    that byte ([`head`], parsed by `httparse`): at most 32 KiB and 100 fields (`431`), one
//!    unambiguous body framing (`400`), a slow-loris client gets `408`;
//! 2. takes a handler slot from the fixed pool of `server.workers` ([`slots`], each with its
//!    own database connection), finds the route and checks the caller from the head alone, so
//!    a request that will be refused is refused before its body is read;
//! 3. for a request with a body, gives the slot back and receives the whole body ([`body`]):
//!    within the route's body limit (`413`), the shared spool budget (`503`) and the minimum
//!    upload rate (`408`); then takes a slot again;
//! 4. runs the handler, gives the slot back, and writes the answer ([`reply`], the one writer
//!    of response heads; each write bounded by `server.write_timeout`, a large file with
//!    `sendfile`), and goes back to 1.
//!
//! So a slow client only ever holds its own thread, never a handler slot, and no answer is
//! ever read back and re-parsed inside nmr.
//!
//! Shutdown: [`Front::stop`] closes the listener, closes connections that wait for a request,
//! and waits (bounded) for the others to finish the request they are in.
//!
//! This module accepts and counts connections; `conn` serves one, [`socket`] is its byte
//! stream (plain or TLS, with deadlines), [`wire`] buffers it, [`tls`] holds the certificate,
//! [`spool`] the directory and budget for large bodies.

pub mod body;
mod conn;
pub mod head;
mod reply;
mod slots;
mod socket;
mod spool;
pub mod tls;
mod wire;

pub use conn::after_writes;
use conn::{serve, turn_away};
use slots::Slots;
use spool::Spool;
use tls::Tls;

use crate::app::App;
use crate::error::Error;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the process's main thread waits for: a stop signal, a reload, or a listener that
/// failed for good (see `server`).
pub enum Event {
    /// SIGTERM or SIGINT: stop gracefully.
    Stop(&'static str),
    /// SIGHUP: read the TLS certificate and key again.
    Reload,
    /// The listener failed for good.
    Fatal(String),
}

/// Stack of the per-connection threads, which run the handlers: Rust's default for spawned
/// threads. A publish (JSON parsing, hashing, SQLite) needs more than half a megabyte in a
/// debug build. Only pages a thread touches become resident; the rest is address space.
const THREAD_STACK: usize = 2 * 1024 * 1024;

/// Binds the public listener.
pub fn bind(addr: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// One open connection, as shutdown sees it.
struct Live {
    stream: TcpStream,
    peer: IpAddr,
    /// Waiting for the first byte of a request: nothing is lost by closing it.
    idle: Arc<AtomicBool>,
}

/// The open connections: by id, and how many each address holds.
#[derive(Default)]
struct Connections {
    next: u64,
    open: HashMap<u64, Live>,
    per_address: HashMap<IpAddr, usize>,
}

/// What the accept loop and the connection threads share.
struct Shared {
    app: Arc<App>,
    /// `server.max_connections`, or fewer if the open-files limit is lower (see
    /// [`connection_cap`]).
    max_connections: usize,
    /// The handler slots.
    slots: Slots,
    /// The certificate, when the listener speaks TLS.
    tls: Option<Tls>,
    /// Where large request bodies are spooled.
    spool: Arc<Spool>,
    stopping: AtomicBool,
    live: Mutex<Connections>,
    /// Signalled whenever a connection ends.
    ended: Condvar,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, Connections> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets a connection that has ended.
    fn ended(&self, id: u64) -> Option<Live> {
        let mut live = self.live();
        let gone = live.open.remove(&id)?;
        if let Some(n) = live.per_address.get_mut(&gone.peer) {
            *n -= 1;
            if *n == 0 {
                live.per_address.remove(&gone.peer);
            }
        }
        drop(live);
        self.app.metrics.connection_closed();
        self.ended.notify_all();
        Some(gone)
    }
}

/// The running front.
pub struct Front {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

/// File descriptors one client connection can hold at once: its socket and another handle to
/// it (for shutdown), a spooled request body and a tarball being sent.
const FDS_PER_CONNECTION: u64 = 4;

/// File descriptors kept for everything else: stdio, the listener, the signal pipe, and per
/// handler slot its database files (and a fresh read-only set for a ping) and a tarball being
/// opened; and the database files of handlers waiting on the password-hashing pool.
fn fds_reserved(workers: usize) -> u64 {
    64 + 8 * workers as u64 + 4 * crate::auth::hashing::capacity() as u64
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

/// Where request bodies are spooled when there is no temp dir: beside the database, the one
/// directory nmr is sure to be able to write.
fn spool_fallback(db_path: &Path) -> PathBuf {
    match db_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// How many connections may be open at once: `server.max_connections`, or fewer when the
/// open-files limit could not hold that many: past it, opening a tarball or the database would
/// fail in the middle of a request.
fn connection_cap(configured: usize, workers: usize, limit: Option<u64>) -> usize {
    let Some(limit) = limit else {
        return configured;
    };
    let fit = limit.saturating_sub(fds_reserved(workers)) / FDS_PER_CONNECTION;
    configured
        .min(usize::try_from(fit).unwrap_or(usize::MAX))
        .max(1)
}

/// The errors (errno) after which accepting can never work again; any other accept error
/// (a full descriptor table, an aborted handshake, memory pressure) passes, so it is retried.
fn fatal_accept_error(e: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(e),
        Some(Errno::BADF | Errno::FAULT | Errno::INVAL | Errno::NOTSOCK)
    )
}

/// How long handlers get to finish after the connections are gone (a handler may still be
/// waiting on the upstream or the storage for a client that was cut off).
pub const WORKER_GRACE: Duration = Duration::from_secs(5);

impl Front {
    /// Starts accepting on `listener`; serves requests on `app` with `server.workers` handler
    /// slots. A listener that fails for good is reported on `fatal` as [`Event::Fatal`].
    pub fn start(
        listener: TcpListener,
        app: Arc<App>,
        fatal: mpsc::Sender<Event>,
    ) -> Result<Front, String> {
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listening address: {e}"))?;
        let server = &app.config.server;
        let open_files = open_files_limit();
        let max_connections = connection_cap(server.max_connections, server.workers, open_files);
        if max_connections < server.max_connections {
            crate::warn!(
                "the open-files limit ({}) holds about {max_connections} connections, not server.max_connections = {}; serving at most {max_connections} (raise LimitNOFILE or ulimit -n)",
                open_files.unwrap_or(0),
                server.max_connections
            );
        }
        let tls = server.tls.as_ref().map(Tls::open).transpose()?;
        let connections = (0..server.workers)
            .map(|_| app.connect())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.message().to_string())?;
        let more = app.clone();
        let connect = Box::new(move || more.connect().map_err(|e| e.message().to_string()));
        let shared = Arc::new(Shared {
            max_connections,
            slots: Slots::new(connections, connect),
            tls,
            spool: Arc::new(Spool::create(
                server.spool_budget,
                &spool_fallback(&app.config.db_path),
            )?),
            app,
            stopping: AtomicBool::new(false),
            live: Mutex::new(Connections::default()),
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

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// `server.shutdown_timeout`.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shared.app.config.server.shutdown_timeout
    }

    /// Reads the certificate and key again (SIGHUP); on an error the ones in use stay.
    pub fn reload_tls(&self) -> Result<bool, String> {
        match &self.shared.tls {
            None => Ok(false),
            Some(tls) => tls.reload().map(|()| true),
        }
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
        for c in live.open.values() {
            // A request whose first bytes have arrived but not yet been read is in flight.
            if c.idle.load(SeqCst) && !has_unread_bytes(&c.stream) {
                let _ = c.stream.shutdown(Shutdown::Read);
            }
        }
        while !live.open.is_empty() {
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
        let cut = live.open.len();
        for c in live.open.values() {
            let _ = c.stream.shutdown(Shutdown::Both);
        }
        cut
    }

    /// After [`Front::stop`]: waits at most [`WORKER_GRACE`] for handlers still running, then
    /// closes the database connections. Returns how many handlers were still busy.
    pub fn close(&self) -> usize {
        self.shared.slots.close(WORKER_GRACE)
    }
}

/// Whether the client has sent bytes that nmr has not read yet (without taking them, and
/// without blocking: the connection's own thread may be waiting to read them).
fn has_unread_bytes(stream: &TcpStream) -> bool {
    use rustix::net::RecvFlags;
    let mut byte = [0u8; 1];
    matches!(
        rustix::net::recv(stream, &mut byte, RecvFlags::PEEK | RecvFlags::DONTWAIT),
        Ok((n, _)) if n > 0
    )
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener, fatal: &mpsc::Sender<Event>) {
    let mut backoff = Duration::from_millis(5);
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if shared.stopping.load(SeqCst) {
                    admit_waiting(shared, listener, stream);
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

/// At a stop: the connections the kernel completed before the listener closed are clients
/// waiting for an answer too. Those that have sent a request are served like the ones in
/// flight; the others (and the stop's own wake-up connection) are closed.
fn admit_waiting(shared: &Arc<Shared>, listener: &TcpListener, first: TcpStream) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    let mut next = Some(first);
    while let Some(stream) = next.take() {
        if has_unread_bytes(&stream) && stream.set_nonblocking(false).is_ok() {
            admit(shared, stream);
        }
        next = listener.accept().ok().map(|(s, _)| s);
    }
}

fn admit(shared: &Arc<Shared>, stream: TcpStream) {
    let metrics = &shared.app.metrics;
    let (max, per_address) = (
        shared.max_connections,
        shared.app.config.server.max_connections_per_address,
    );
    let peer = match stream.peer_addr() {
        Ok(a) => a.ip(),
        // Already reset by the client.
        Err(_) => return,
    };
    let mut live = shared.live();
    let refused = if live.open.len() >= max {
        Some(Error::Unavailable(format!(
            "the registry has {max} connections open (server.max_connections); try again shortly"
        )))
    } else if live.per_address.get(&peer).copied().unwrap_or(0) >= per_address {
        Some(Error::TooManyRequests(format!(
            "{peer} has {per_address} connections open to the registry (server.max_connections_per_address); close some and try again"
        )))
    } else {
        None
    };
    if let Some(e) = refused {
        drop(live);
        metrics.connection_rejected();
        turn_away(stream, &e);
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
    live.next += 1;
    let id = live.next;
    live.open.insert(
        id,
        Live {
            stream: handle,
            peer,
            idle: idle.clone(),
        },
    );
    *live.per_address.entry(peer).or_default() += 1;
    drop(live);
    metrics.connection_opened();
    let s = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("conn".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            serve(&s, stream, &idle);
            s.ended(id);
        });
    if spawned.is_err() {
        if let Some(c) = shared.ended(id) {
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
        assert!(
            cap < 1024 && cap as u64 * FDS_PER_CONNECTION + fds_reserved(16) <= 1024,
            "{cap}"
        );
        assert_eq!(connection_cap(1024, 16, Some(10)), 1);
    }
}
