//! The HTTP server and the life of the process. The connection front ([`crate::listener`]) owns
//! the public socket and passes checked requests to tiny_http on a private Unix socket, where a
//! fixed pool of worker threads, each with its own database connection, pulls requests and runs
//! them through the routing table. SIGTERM or SIGINT stops it gracefully; a listener that fails
//! for good stops it with an error, so that the service manager starts a fresh process.

use crate::app::{App, Ctx};
use crate::error::Error;
use crate::http::{Body, Method, Request, Response};
use crate::listener::{self, handoff, BackendDir, Front, Handoff};
use crate::routes;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io;
use std::os::unix::net::UnixListener;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

fn method(m: &tiny_http::Method) -> Method {
    match m {
        tiny_http::Method::Get => Method::Get,
        tiny_http::Method::Head => Method::Head,
        tiny_http::Method::Put => Method::Put,
        tiny_http::Method::Post => Method::Post,
        tiny_http::Method::Delete => Method::Delete,
        _ => Method::Other,
    }
}

/// The response as tiny_http sends it: the head alone. A body is parked in `handoff` and named
/// in its field (`none` without one), and the front writes it (see [`listener::handoff`]);
/// tiny_http's `Content-Length: 0` is replaced there by the body's length.
fn to_tiny(resp: Response, handoff: &Handoff) -> (tiny_http::Response<io::Empty>, Option<u64>) {
    let mut headers: Vec<tiny_http::Header> = resp
        .headers
        .iter()
        .filter_map(|(k, v)| tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).ok())
        .collect();
    headers.push(
        tiny_http::Header::from_bytes(
            &b"Server"[..],
            concat!("nmr/", env!("CARGO_PKG_VERSION")).as_bytes(),
        )
        .expect("static header"),
    );
    // Always present: it tells the front that a worker answered, not tiny_http itself.
    let parked = match resp.body {
        Body::Empty => None,
        body => Some(handoff.park(body)),
    };
    let named = parked.map_or_else(|| listener::NO_BODY.to_string(), |id| id.to_string());
    headers.push(
        tiny_http::Header::from_bytes(handoff::HEADER.as_bytes(), named.as_bytes())
            .expect("a number or `none` is a header value"),
    );
    let head = tiny_http::Response::new(
        tiny_http::StatusCode(resp.status),
        headers,
        io::empty(),
        Some(0),
        None,
    );
    (head, parked)
}

/// The URL as it may appear in the log: a token in the path (logout), the id that collects an
/// npm web login's token, and the login page's session id are replaced, since a log line must
/// never be enough to act as someone.
fn loggable(url: &str) -> std::borrow::Cow<'_, str> {
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

/// What the binary wants done after a write request (see [`after_writes`]).
static AFTER_WRITE: OnceLock<fn()> = OnceLock::new();

/// Sets a function to run after every `PUT` and `DELETE` has been answered. Writes (publish
/// above all) are where the big, short-lived buffers are; the binary uses this to hand the
/// freed memory back to the system (the library itself forbids `unsafe`). Only the first call
/// counts.
pub fn after_writes(f: fn()) {
    let _ = AFTER_WRITE.set(f);
}

/// Who made a request, as the access log names them (never a token): the caller's user name,
/// or `-`.
fn log_user(ctx: &Ctx) -> String {
    ctx.who.name().unwrap_or("-").to_string()
}

/// Runs one request to completion: route, handle, respond, log, count.
fn handle(app: &App, handoff: &Handoff, db: &mut rusqlite::Connection, mut rq: tiny_http::Request) {
    if rq
        .headers()
        .iter()
        .any(|h| h.field.equiv(listener::WARM_UP))
    {
        // The front proving that a new connection is served (see listener::pool): no request.
        let (head, _) = to_tiny(
            Response {
                status: 204,
                headers: Vec::new(),
                body: Body::Empty,
            },
            handoff,
        );
        let _ = rq.respond(head);
        return;
    }
    let start = Instant::now();
    let m = method(rq.method());
    let url = rq.url().to_string();
    let shown = loggable(&url);
    let headers = rq
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_string(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let (route, resp, user) = {
        // Only the front can set this field (it drops a client's own): see listener::head.
        let remote = rq
            .headers()
            .iter()
            .find(|h| h.field.equiv(crate::listener::PEER_HEADER))
            .and_then(|h| h.value.as_str().trim().parse().ok());
        let mut req = Request::new(m, &url, headers, rq.as_reader());
        req.remote = remote;
        let mut ctx = Ctx {
            app,
            db,
            who: crate::auth::Identity::Nobody,
        };
        let (route, result) =
            match catch_unwind(AssertUnwindSafe(|| routes::dispatch(&mut ctx, &mut req))) {
                Ok(x) => x,
                Err(_) => (None, Err(Error::Internal("handler panicked".into()))),
            };
        let resp = result.unwrap_or_else(|e| {
            if e.status() >= 500 {
                crate::error!("{} {shown}: {}", rq.method(), e.message());
            }
            Response::error(&e)
        });
        (route, resp, log_user(&ctx))
    };
    let (status, len) = (resp.status, resp.body_len());
    let method_text = rq.method().to_string();
    let took = start.elapsed();
    app.metrics.request(route, m, status, took);
    // Logged before the body goes out, so a client holding an answer can rely on its line being
    // in the log already; the time is therefore the time to the first byte.
    crate::info!(
        "{method_text} {shown} {status} {len}B {:.1}ms {user}",
        took.as_secs_f64() * 1000.0
    );
    let (head, parked) = to_tiny(resp, handoff);
    if let Err(e) = rq.respond(head) {
        // The front is gone, so nobody will take the body.
        if let Some(id) = parked {
            handoff.take(id);
        }
        crate::debug!("{method_text} {shown}: the front went away: {e}");
    }
    if matches!(m, Method::Put | Method::Delete) {
        if let Some(f) = AFTER_WRITE.get() {
            f();
        }
    }
}

/// What ends [`run`]: a stop signal, or a failure nmr cannot serve on after.
pub enum Event {
    /// SIGTERM or SIGINT: stop gracefully.
    Stop(&'static str),
    /// The listener failed for good.
    Fatal(String),
}

/// How long workers get to finish after the connections are gone (a handler may still be
/// waiting on the upstream or the storage for a client that was cut off).
const WORKER_GRACE: Duration = Duration::from_secs(5);

/// Serves until SIGTERM or SIGINT (then stops gracefully and returns `Ok`) or until the
/// listener fails for good (returns the error, so the process exits non-zero).
pub fn run(app: App) -> Result<(), String> {
    let addr = format!("{}:{}", app.config.server.host, app.config.server.port);
    let (events_tx, events) = mpsc::channel();
    // Before anything is announced: from then on a SIGTERM means a graceful stop.
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let tx = events_tx.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for s in signals.forever() {
                let name = if s == SIGTERM { "SIGTERM" } else { "SIGINT" };
                if tx.send(Event::Stop(name)).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    let public = listener::bind(&addr)?;
    let dir = BackendDir::create()?;
    let unix = UnixListener::bind(dir.socket())
        .map_err(|e| format!("cannot listen on {}: {e}", dir.socket().display()))?;
    let server = Arc::new(
        tiny_http::Server::from_listener(unix, None)
            .map_err(|e| format!("cannot start the request workers: {e}"))?,
    );
    let workers = app.config.server.workers;
    let app = Arc::new(app);
    let handoff = Arc::new(Handoff::default());
    let stopping = Arc::new(AtomicBool::new(false));
    let (done_tx, done) = mpsc::channel();
    for i in 0..workers {
        let (app, server, stopping) = (app.clone(), server.clone(), stopping.clone());
        let handoff = handoff.clone();
        let (events, done) = (events_tx.clone(), done_tx.clone());
        let mut db = app.connect().map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || {
                loop {
                    match server.recv() {
                        Ok(rq) => handle(&app, &handoff, &mut db, rq),
                        Err(_) if stopping.load(SeqCst) => break,
                        Err(e) => {
                            // tiny_http stops accepting for good after an accept error.
                            let _ = events.send(Event::Fatal(format!(
                                "the request workers' listener failed: {e}"
                            )));
                            break;
                        }
                    }
                }
                // The database connection closes here, before the worker reports.
                drop(db);
                let _ = done.send(());
            })
            .map_err(|e| format!("cannot start worker thread: {e}"))?;
    }
    let mut front = Front::start(public, app.clone(), handoff, &dir, events_tx)?;
    crate::info!(
        "nmr {} listening on http://{} ({workers} workers)",
        env!("CARGO_PKG_VERSION"),
        front.addr()
    );
    let signal = match events.recv() {
        Ok(Event::Stop(signal)) => signal,
        Ok(Event::Fatal(e)) => {
            return Err(format!("{e}; exiting so the service manager restarts nmr"))
        }
        Err(_) => return Err("every event source ended".into()),
    };
    let grace = app.config.server.shutdown_timeout;
    crate::info!(
        "{signal}: stopping; no new connections, {} s for requests in flight (server.shutdown_timeout)",
        grace.as_secs()
    );
    let cut = front.stop(grace);
    if cut > 0 {
        crate::warn!("closed {cut} connections still busy after server.shutdown_timeout");
    }
    stopping.store(true, SeqCst);
    for _ in 0..workers {
        server.unblock();
    }
    let deadline = Instant::now() + WORKER_GRACE;
    let mut ended = 0;
    while ended < workers {
        let left = deadline.saturating_duration_since(Instant::now());
        if done.recv_timeout(left).is_err() {
            crate::warn!(
                "{} workers still busy after {} s; exiting without them",
                workers - ended,
                WORKER_GRACE.as_secs()
            );
            break;
        }
        ended += 1;
    }
    drop(server);
    drop(dir);
    crate::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{loggable, WORKER_GRACE};

    #[test]
    fn the_systemd_unit_waits_longer_than_a_graceful_stop_takes() {
        let unit = include_str!("../systemd/nmr.service");
        assert!(unit.lines().any(|l| l == "KillSignal=SIGTERM"));
        let stop: u64 = unit
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .expect("the unit sets TimeoutStopSec")
            .parse()
            .unwrap();
        let grace: u64 = crate::config::KEYS
            .iter()
            .find(|k| k.path == "server.shutdown_timeout")
            .unwrap()
            .default
            .parse()
            .unwrap();
        assert!(
            stop > grace + WORKER_GRACE.as_secs(),
            "TimeoutStopSec={stop} leaves no room for server.shutdown_timeout={grace}"
        );
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
