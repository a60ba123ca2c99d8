//! One client connection, as the front serves it: each request's head read within the
//! deadline and checked, its body received, the request passed to tiny_http on a connection
//! borrowed from the [`pool`](super::pool) and the answer written back ([`reply`]); refusals
//! answered here, with a lingering close.

use super::pool::Backend;
use super::{body, head, reply, Shared};
use crate::error::Error;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// Buffer for reading requests; heads beyond it still work (they are read line by line).
const READ_BUFFER: usize = 16 * 1024;
/// How long a refused connection is read from (and the bytes dropped) after its answer, so
/// that closing it with unread data does not reset it before the client has read the answer.
const LINGER: Duration = Duration::from_secs(2);

/// The client's address for log lines (the access log has none: tiny_http sees the front).
fn peer(stream: &TcpStream) -> String {
    stream
        .peer_addr()
        .map_or_else(|_| "-".into(), |a| a.to_string())
}

/// Answers a connection nmr will not serve and closes it, without blocking the accept loop.
/// Logged at debug only: in a flood these come by the thousand, and the metrics count them.
pub(super) fn turn_away(stream: TcpStream, e: &Error) {
    crate::debug!("{} turned away: {}", peer(&stream), e.message());
    let _ = stream.set_nonblocking(true);
    let _ = (&stream).write_all(&answer(e));
    let _ = stream.shutdown(Shutdown::Write);
}

/// The client socket as the reader sees it: every read waits at most `idle`, and no longer
/// than the deadline while one is set (the whole head of a request must arrive by then).
struct Timed {
    stream: TcpStream,
    idle: Duration,
    deadline: Option<Instant>,
    /// The timeout currently set on the socket, to skip needless system calls.
    set: Option<Duration>,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wait = match self.deadline {
            None => self.idle,
            Some(d) => d
                .checked_duration_since(Instant::now())
                .filter(|w| !w.is_zero())
                .ok_or(io::ErrorKind::TimedOut)?
                .min(self.idle),
        };
        if self.set != Some(wait) {
            self.stream.set_read_timeout(Some(wait))?;
            self.set = Some(wait);
        }
        self.stream.read(buf)
    }
}

/// A complete response for a refused request; the connection is closed after it.
fn answer(e: &Error) -> Vec<u8> {
    let body = e.body();
    let status = e.status();
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nServer: nmr/{}\r\n\r\n",
        tiny_http::StatusCode(status).default_reason_phrase(),
        body.len(),
        env!("CARGO_PKG_VERSION"),
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Sends the answer to a refused request, then drops whatever the client still sends for a
/// moment before closing (see [`LINGER`]).
fn refuse(shared: &Shared, stream: &TcpStream, e: &Error) {
    shared.app.metrics.request_refused(e.status());
    crate::info!("{} refused {}: {}", peer(stream), e.status(), e.message());
    if (&*stream).write_all(&answer(e)).is_err() || stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match (&*stream).read(&mut buf) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// Sends a request on a connection to tiny_http: head and a body in memory in one write.
fn send(to: &Backend, head: Vec<u8>, body: &mut body::Body) -> io::Result<()> {
    let mut to = to.0.get_ref();
    match body.in_memory() {
        Some(bytes) => {
            let mut all = head;
            all.extend_from_slice(bytes);
            to.write_all(&all)
        }
        None => {
            to.write_all(&head)?;
            body.send(&mut to)
        }
    }
}

/// Passes one request to tiny_http on a connection borrowed from the pool, and writes its
/// answer to the client once the connection is back in the pool. `Err(Some(e))`: answer `e`
/// instead; `Err(None)`: the client is gone.
fn exchange(
    shared: &Shared,
    client: &TcpStream,
    peer: Option<std::net::IpAddr>,
    head: &head::Head,
    body: &mut body::Body,
) -> Result<(), Option<Error>> {
    let unavailable = |e: io::Error| {
        crate::error!("cannot pass a request to the workers: {e}");
        Some(Error::Unavailable(
            "the registry is overloaded; try again shortly".into(),
        ))
    };
    let mut b = shared.pool.take().map_err(unavailable)?;
    let answered = send(&b, head.encode(body.size(), peer), body)
        .and_then(|()| reply::read(&mut b.0, &shared.handoff));
    match &answered {
        Ok(r) if r.reusable() => shared.pool.give(b),
        // Whatever is left on that connection cannot be matched to a request any more.
        _ => shared.pool.lost(),
    }
    // The client stopped reading for server.write_timeout, or went away.
    answered
        .map_err(unavailable)?
        .send(client, head.is_head(), head.close)
        .map_err(|_| None)
}

/// Serves one client connection: reads, checks and receives each request, then has it
/// answered.
pub(super) fn serve(shared: &Shared, stream: TcpStream, idle: &AtomicBool) {
    let cfg = &shared.app.config;
    let ready = stream.set_nodelay(true).and_then(|()| {
        stream.set_write_timeout(Some(cfg.server.write_timeout))?;
        stream.try_clone()
    });
    let Ok(read_half) = ready else { return };
    let peer = stream.peer_addr().ok().map(|a| a.ip());
    let mut reader = BufReader::with_capacity(
        READ_BUFFER,
        Timed {
            stream: read_half,
            idle: cfg.server.read_timeout,
            deadline: None,
            set: None,
        },
    );
    loop {
        // Idle is set before the stop flag is read, and shutdown sets the flag before it looks
        // at idle connections: one of the two always sees the other.
        idle.store(true, SeqCst);
        if shared.stopping.load(SeqCst) {
            break;
        }
        match reader.fill_buf() {
            Ok(b) if !b.is_empty() => {}
            _ => break,
        }
        idle.store(false, SeqCst);
        reader.get_mut().deadline = Some(Instant::now() + cfg.server.read_timeout);
        let head = head::read(&mut reader, cfg.settings.max_body_size);
        reader.get_mut().deadline = None;
        let received = head.and_then(|head| {
            if head.expect_continue && head.framing != head::Framing::Empty {
                (&stream)
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                    .map_err(|_| head::Failure::Gone)?;
            }
            let body = body::receive(
                head.framing,
                &mut reader,
                cfg.settings.max_body_size,
                &shared.spool,
            )?;
            Ok((head, body))
        });
        let (head, mut body) = match received {
            Ok(x) => x,
            Err(head::Failure::Gone) => break,
            Err(head::Failure::Refused(e)) => {
                refuse(shared, &stream, &e);
                break;
            }
        };
        match exchange(shared, &stream, peer, &head, &mut body) {
            Ok(()) if !head.close => {}
            Ok(()) | Err(None) => break,
            Err(Some(e)) => {
                refuse(shared, &stream, &e);
                break;
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_complete_responses_that_close() {
        let a = String::from_utf8(answer(&Error::HeadersTooLarge("too big".into()))).unwrap();
        assert!(a.starts_with("HTTP/1.1 431 "), "{a}");
        assert!(a.contains("Connection: close\r\n"));
        assert!(a.ends_with("\r\n\r\n{\"error\":\"too big\"}"), "{a}");
    }
}
