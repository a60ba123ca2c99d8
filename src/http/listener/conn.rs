//! One client connection, served start to end on its own thread: each request's head read
//! within the deadline and checked, the route found and the caller checked from the head, the
//! body received, the handler run on a slot from the fixed pool, and the answer written after
//! the slot is given back. Refusals are answered here, with a lingering close.

use super::body::{self, Body};
use super::head::{self, Failure, Framing, Head, MAX_HEAD};
use super::reply;
use super::socket::Socket;
use super::wire::Wire;
use super::Shared;
use crate::app::Ctx;
use crate::auth::Identity;
use crate::error::Error;
use crate::http::routes::{self, Admitted};
use crate::http::{BodyLimit, Method, Request, Response};
use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a refused connection is read from (and the bytes dropped) after its answer, so
/// that closing it with unread data does not reset it before the client has read the answer.
const LINGER: Duration = Duration::from_secs(2);
/// A refused request's unread body up to this size is read and dropped, and the connection
/// kept; a larger one is not received at all (the connection closes after the answer).
const DRAIN: u64 = crate::http::SMALL_BODY;

/// What the binary wants done after a write request (see [`after_writes`]).
static AFTER_WRITE: OnceLock<fn()> = OnceLock::new();

/// Sets a function to run after every `PUT` and `DELETE` has been answered. Writes (publish
/// above all) are where the big, short-lived buffers are; the binary uses this to hand the
/// freed memory back to the system (glibc's `malloc_trim`, which no safe wrapper offers, and
/// the library forbids `unsafe`). Only the first call counts.
pub fn after_writes(f: fn()) {
    let _ = AFTER_WRITE.set(f);
}

/// The client's address and port for log lines.
fn peer_text(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "-".into(), |a| a.to_string())
}

/// The URL as it may appear in the log: a token in the path (logout), the id that collects an
/// npm web login's token, and the login page's session id are replaced, since a log line must
/// never be enough to act as someone.
fn loggable(url: &str) -> Cow<'_, str> {
    for secret in ["/-/user/token/", "/-/v1/login/done/"] {
        if let Some(i) = url.find(secret) {
            return format!("{}{secret}<redacted>", &url[..i]).into();
        }
    }
    match url.split_once('?') {
        Some((path, query)) if query.split('&').any(|p| p.starts_with("session=")) => {
            format!("{path}?<redacted>").into()
        }
        _ => url.into(),
    }
}

/// A complete answer to a request refused before it reached a handler; the connection is
/// closed after it.
fn refusal(e: &Error) -> Vec<u8> {
    let resp = Response::error(e);
    let mut out = reply::head(&resp, true).expect("an error answer's head is safe");
    out.extend_from_slice(&e.body());
    out
}

/// Answers a connection nmr will not serve and closes it, without blocking the accept loop.
/// Logged at debug only: in a flood these come by the thousand, and the metrics count them.
pub(super) fn turn_away(stream: TcpStream, e: &Error) {
    let peer = stream.peer_addr().ok();
    crate::debug!("{} turned away: {}", peer_text(peer), e.message());
    let _ = stream.set_nonblocking(true);
    let _ = (&stream).write_all(&refusal(e));
    let _ = stream.shutdown(Shutdown::Write);
}

/// Sends the answer to a refused request, then drops whatever the client still sends for a
/// moment before the connection closes (see [`LINGER`]).
fn refuse(shared: &Shared, w: &mut Wire<Socket>, peer: Option<SocketAddr>, e: &Error) {
    shared.app.metrics.request_refused(e.status());
    crate::info!(
        "{} refused {}: {}",
        peer_text(peer),
        e.status(),
        e.message()
    );
    if w.get_mut().write_all(&refusal(e)).is_err() || w.get_mut().flush().is_err() {
        return;
    }
    linger(w);
}

/// Reads and drops what the client still sends, for at most [`LINGER`].
fn linger(w: &mut Wire<Socket>) {
    w.get_mut().close_notify();
    if let Some(sock) = w.get_ref().plain() {
        let _ = sock.shutdown(Shutdown::Write);
    }
    w.get_mut().set_deadline(Some(Instant::now() + LINGER));
    let mut buf = [0u8; 4096];
    while matches!(w.read(&mut buf), Ok(n) if n > 0) {}
}

/// Serves one client connection until it closes, breaks, idles past `server.read_timeout` or
/// the registry stops.
pub(super) fn serve(shared: &Shared, stream: TcpStream, idle: &AtomicBool) {
    let cfg = &shared.app.config.server;
    let ready = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_write_timeout(Some(cfg.write_timeout)));
    if ready.is_err() {
        return;
    }
    let peer = stream.peer_addr().ok();
    let session = match &shared.tls {
        None => None,
        Some(tls) => match tls.accept() {
            Ok(s) => Some(s),
            Err(e) => {
                crate::error!("cannot start a TLS session: {e}");
                return;
            }
        },
    };
    let mut w = Wire::new(Socket::new(stream, session, cfg.read_timeout));
    if w.get_ref().is_tls() {
        // The handshake and the first request's first byte come within server.read_timeout.
        w.get_mut()
            .set_deadline(Some(Instant::now() + cfg.read_timeout));
    }
    loop {
        // Idle is set before the stop flag is read, and shutdown sets the flag before it looks
        // at idle connections: one of the two always sees the other.
        idle.store(true, SeqCst);
        // While stopping, a request already on its way is still served.
        if shared.stopping.load(SeqCst) && w.held().is_empty() && !w.get_ref().has_unread_bytes() {
            break;
        }
        if w.held().is_empty() && !matches!(w.fill_more(MAX_HEAD), Ok(n) if n > 0) {
            break;
        }
        idle.store(false, SeqCst);
        w.get_mut()
            .set_deadline(Some(Instant::now() + cfg.read_timeout));
        let head = head::read(&mut w);
        w.get_mut().set_deadline(None);
        let keep = match head {
            Ok(head) => request(shared, &mut w, head, peer),
            Err(Failure::Gone) => false,
            Err(Failure::Refused(e)) => {
                refuse(shared, &mut w, peer, &e);
                false
            }
        };
        if !keep {
            break;
        }
        w.shrink();
    }
    w.get_mut().close_notify();
    if let Some(sock) = w.get_ref().plain() {
        let _ = sock.shutdown(Shutdown::Both);
    }
}

/// The request handlers see: the head's fields (with the body's length), the client's address
/// (forwarded by a trusted proxy, or the peer's) and whether it came over TLS.
fn handler_request<'a>(
    head: &Head,
    mut fields: Vec<(String, String)>,
    len: Option<u64>,
    body: &'a mut dyn Read,
    peer: Option<SocketAddr>,
    tls: bool,
    trusted_proxies: &[String],
) -> Request<'a> {
    if let Some(n) = len {
        fields.push(("Content-Length".into(), n.to_string()));
    }
    let mut req = Request::new(head.method, &head.target, fields, body);
    req.set_peer(peer.map(|a| a.ip()), trusted_proxies);
    req.tls = tls;
    req
}

/// Serves one request whose head has been read. Returns whether the connection goes on.
fn request(
    shared: &Shared,
    w: &mut Wire<Socket>,
    mut head: Head,
    peer: Option<SocketAddr>,
) -> bool {
    let start = Instant::now();
    let app = &*shared.app;
    let tls = w.get_ref().is_tls();
    let declared = match head.framing {
        Framing::Length(n) => Some(n),
        _ => None,
    };
    let mut nothing = io::empty();
    // A request with a body is built again for its handler, after the body has come.
    let fields = match head.framing {
        Framing::Empty => std::mem::take(&mut head.fields),
        _ => head.fields.clone(),
    };
    let trusted = &app.config.server.trusted_proxies;
    let mut req = handler_request(&head, fields, declared, &mut nothing, peer, tls, trusted);
    let mut slot = shared.slots.take();
    let mut ctx = Ctx {
        app,
        db: slot.db(),
        who: Identity::Nobody,
        slot: Some(&shared.slots),
    };
    let (route, admitted) = catch_unwind(AssertUnwindSafe(|| routes::admit(&mut ctx, &mut req)))
        .unwrap_or_else(|_| (None, Err(panicked())));
    let mut close = head.close;
    let outcome = match admitted {
        Ok(Admitted::Run {
            route: i,
            params,
            page,
        }) if head.framing == Framing::Empty => {
            guarded(|| routes::run(&mut ctx, &mut req, i, &params, page))
        }
        Ok(Admitted::Run {
            route: i,
            params,
            page,
        }) => {
            // The body is received with no slot held: a slow upload holds only this thread.
            let who = std::mem::replace(&mut ctx.who, Identity::Nobody);
            drop(ctx);
            drop(slot);
            let limit = routes::body_limit(i, app.config.settings.max_body_size);
            let Some(mut body) = receive(shared, w, &head, limit, peer) else {
                return false;
            };
            let len = body.size();
            let fields = std::mem::take(&mut head.fields);
            let mut req = handler_request(&head, fields, Some(len), &mut body, peer, tls, trusted);
            let mut slot = shared.slots.take();
            let mut ctx = Ctx {
                app,
                db: slot.db(),
                who,
                slot: Some(&shared.slots),
            };
            let result = guarded(|| routes::run(&mut ctx, &mut req, i, &params, page));
            let user = ctx.who.name().unwrap_or("-").to_string();
            drop(ctx);
            drop(slot);
            return answer(shared, w, &head, route, result, &user, start, close);
        }
        Ok(Admitted::Answer(r)) => Ok(r),
        Err(e) => Err(e),
    };
    let user = ctx.who.name().unwrap_or("-").to_string();
    drop(ctx);
    drop(slot);
    if head.framing != Framing::Empty {
        // Refused before its body was read: a small body is read and dropped, so the
        // connection can go on; a large one is never received, nor one the client holds back
        // until it hears `100 Continue`.
        close |= head.expect_continue || !drain(w, head.framing);
    }
    answer(shared, w, &head, route, outcome, &user, start, close)
}

/// A handler's panic is a 500 for its request, not the end of the connection's thread.
fn panicked() -> Error {
    Error::Internal("handler panicked".into())
}

fn guarded(f: impl FnOnce() -> crate::error::Result<Response>) -> crate::error::Result<Response> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(panicked()))
}

/// Receives a body for an admitted request (after `100 Continue` if the client waits for
/// it), holding the client to `server.min_upload_rate`. `None`: the connection is over (a
/// refusal was answered, or the client went away).
fn receive(
    shared: &Shared,
    w: &mut Wire<Socket>,
    head: &Head,
    limit: BodyLimit,
    peer: Option<SocketAddr>,
) -> Option<Body> {
    let cfg = &shared.app.config.server;
    if matches!(head.framing, Framing::Length(n) if n > limit.bytes) {
        // Refused unread, before a client that waits for `100 Continue` is told to send.
        refuse(shared, w, peer, &limit.exceeded());
        return None;
    }
    if head.expect_continue {
        let sock = w.get_mut();
        if sock
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .and_then(|()| sock.flush())
            .is_err()
        {
            return None;
        }
    }
    let begun = Instant::now();
    let grace = cfg.read_timeout;
    let rate = cfg.min_upload_rate.max(1) as f64;
    w.get_mut().set_deadline(Some(begun + grace));
    let received = body::receive(head.framing, w, limit, &shared.spool, |sock, got| {
        sock.set_deadline(Some(
            begun + grace + Duration::from_secs_f64(got as f64 / rate),
        ));
    });
    w.get_mut().set_deadline(None);
    match received {
        Ok(b) => Some(b),
        Err(Failure::Gone) => None,
        Err(Failure::Refused(e)) => {
            refuse(shared, w, peer, &e);
            None
        }
    }
}

/// Reads and drops the body of a request answered without it, when it is small enough.
/// Returns whether the connection can carry another request.
fn drain(w: &mut Wire<Socket>, framing: Framing) -> bool {
    let Framing::Length(n) = framing else {
        return false;
    };
    if n > DRAIN {
        return false;
    }
    w.get_mut().set_deadline(Some(Instant::now() + LINGER));
    let drained = io::copy(&mut w.by_ref().take(n), &mut io::sink());
    w.get_mut().set_deadline(None);
    matches!(drained, Ok(k) if k == n)
}

/// Logs, counts and writes the answer to a request. Returns whether the connection goes on.
#[allow(clippy::too_many_arguments)]
fn answer(
    shared: &Shared,
    w: &mut Wire<Socket>,
    head: &Head,
    route: Option<usize>,
    outcome: crate::error::Result<Response>,
    user: &str,
    start: Instant,
    close: bool,
) -> bool {
    let app = &*shared.app;
    let shown = loggable(&head.target);
    let mut resp = outcome.unwrap_or_else(|e| {
        if e.status() >= 500 {
            crate::error!("{} {shown}: {}", head.method_name, e.message());
        }
        Response::error(&e)
    });
    let bytes = match reply::head(&resp, close) {
        Ok(h) => h,
        Err(why) => {
            // Nothing malformed leaves the process: the answer becomes a logged 500.
            crate::error!(
                "{} {shown}: refused to write an answer: {why}",
                head.method_name
            );
            resp = Response::error(&Error::Internal(why));
            reply::head(&resp, close).expect("an error answer's head is safe")
        }
    };
    let (status, len) = (resp.status, resp.body_len());
    let took = start.elapsed();
    app.metrics.request(route, head.method, status, took);
    // Logged before the body goes out, so a client holding an answer can rely on its line being
    // in the log already; the time is therefore the time to the first byte.
    crate::info!(
        "{} {shown} {status} {len}B {:.1}ms {user}",
        head.method_name,
        took.as_secs_f64() * 1000.0
    );
    let sent = reply::send(w.get_mut(), bytes, resp.body, head.is_head());
    if matches!(head.method, Method::Put | Method::Delete) {
        if let Some(f) = AFTER_WRITE.get() {
            f();
        }
    }
    sent.is_ok() && !close
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_complete_responses_that_close() {
        let a = String::from_utf8(refusal(&Error::HeadersTooLarge("too big".into()))).unwrap();
        assert!(a.starts_with("HTTP/1.1 431 "), "{a}");
        assert!(a.contains("Connection: close\r\n"));
        assert!(a.ends_with("\r\n\r\n{\"error\":\"too big\"}"), "{a}");
    }

    #[test]
    fn tokens_in_paths_are_not_logged() {
        assert_eq!(loggable("/-/user/token/s3cr3t"), "/-/user/token/<redacted>");
        assert_eq!(loggable("/plainpkg"), "/plainpkg");
        assert_eq!(
            loggable("/-/v1/login/done/abc123"),
            "/-/v1/login/done/<redacted>"
        );
        assert_eq!(
            loggable("/-/web/login?session=abc123"),
            "/-/web/login?<redacted>"
        );
        assert_eq!(loggable("/-/web/search?q=a"), "/-/web/search?q=a");
    }
}
