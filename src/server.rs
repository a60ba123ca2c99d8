//! The HTTP server: a tiny_http listener and a fixed pool of worker threads, each with its own
//! database connection, pulling requests and running them through the routing table.

use crate::app::{App, Ctx};
use crate::error::Error;
use crate::http::{Body, Method, Request, Response};
use crate::routes;
use std::io::{Cursor, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Lets tiny_http read a cached body without copying it.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

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

fn to_tiny(resp: Response) -> tiny_http::Response<Box<dyn Read + Send>> {
    let (reader, len): (Box<dyn Read + Send>, usize) = match resp.body {
        Body::Empty => (Box::new(std::io::empty()), 0),
        Body::Bytes(b) => {
            let n = b.len();
            (Box::new(Cursor::new(b)), n)
        }
        Body::Shared(b) => {
            let n = b.len();
            (Box::new(Cursor::new(SharedBytes(b))), n)
        }
        Body::Stream(r, n) => (r, n as usize),
    };
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
    // Without a threshold, tiny_http sends bodies of 32 KB and more chunked, without
    // Content-Length; clients show progress and detect truncation better with the length.
    tiny_http::Response::new(
        tiny_http::StatusCode(resp.status),
        headers,
        reader,
        Some(len),
        None,
    )
    .with_chunked_threshold(usize::MAX)
}

/// Declared body sizes beyond this are never drained (see [`refuse_unread`]).
const DRAIN_MAX: u64 = 1 << 30;

/// Answers a request that declares an absurd body length without touching the body.
///
/// tiny_http drains an unread `Content-Length` body when the request is dropped, allocating one
/// buffer of the whole remaining length: a client claiming a petabyte would abort the process.
/// So the answer goes out through `upgrade` (which hands over the connection) and the
/// connection is deliberately leaked: tiny_http cannot send a length there, so the client reads
/// the error until it gives up and closes. Honest oversize uploads stay below `DRAIN_MAX` and get
/// an ordinary 413.
fn refuse_unread(rq: tiny_http::Request, e: &Error) {
    let headers =
        vec![
            tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
                .expect("static header"),
        ];
    let resp = tiny_http::Response::new(
        tiny_http::StatusCode(e.status()),
        headers,
        std::io::empty(),
        Some(0),
        None,
    );
    let mut conn = rq.upgrade("nmr-refused", resp);
    let _ = conn.write_all(&e.body());
    let _ = conn.flush();
    std::mem::forget(conn);
}

/// The URL as it may appear in the log: a token in the path (logout) is replaced, since a log
/// line must never be enough to act as someone.
fn loggable(url: &str) -> std::borrow::Cow<'_, str> {
    match url.find("/-/user/token/") {
        Some(i) => format!("{}/-/user/token/<redacted>", &url[..i]).into(),
        None => url.into(),
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

/// Runs one request to completion: route, handle, respond, log.
fn handle(app: &App, db: &mut rusqlite::Connection, mut rq: tiny_http::Request) {
    let start = Instant::now();
    let m = method(rq.method());
    let url = rq.url().to_string();
    let shown = loggable(&url);
    let limit = app.config.settings.max_body_size;
    let declared = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv("Content-Length"))
        .and_then(|h| h.value.as_str().trim().parse::<u64>().ok());
    let too_large = || {
        Error::TooLarge(format!("request body is larger than the registry's limit of {limit} bytes (settings.max_body_size)"))
    };
    if declared.is_some_and(|n| n > limit.max(DRAIN_MAX)) {
        crate::warn!(
            "{} {shown} 413: declared {} bytes; connection left to the client to close",
            rq.method(),
            declared.unwrap_or(0)
        );
        refuse_unread(rq, &too_large());
        return;
    }
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
    let resp = {
        let remote = rq.remote_addr().map(|a| a.ip());
        let mut req = Request::new(m, &url, headers, rq.as_reader());
        req.remote = remote;
        let mut ctx = Ctx {
            app,
            db,
            who: crate::auth::Identity::Nobody,
        };
        let run = || match declared {
            // Refused before routing, so no handler has to remember the limit.
            Some(n) if n > limit => Err(too_large()),
            _ => routes::dispatch(&mut ctx, &mut req),
        };
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                if e.status() >= 500 {
                    crate::error!("{} {shown}: {}", rq.method(), e.message());
                }
                Response::error(&e)
            }
            Err(_) => Response::error(&Error::Internal("handler panicked".into())),
        }
    };
    let (status, len) = (resp.status, resp.body_len());
    let method_text = rq.method().to_string();
    if let Err(e) = rq.respond(to_tiny(resp)) {
        crate::debug!("{method_text} {shown}: client went away: {e}");
    }
    crate::info!(
        "{method_text} {shown} {status} {len}B {:.1}ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
    if matches!(m, Method::Put | Method::Delete) {
        if let Some(f) = AFTER_WRITE.get() {
            f();
        }
    }
}

/// Binds the listening socket with `TCP_NODELAY`, which Linux copies to every accepted
/// connection. tiny_http never sets it, and without it a client that delays its ACKs waits
/// about 40 ms for the tail of some responses.
fn listener(addr: &str) -> Result<std::net::TcpListener, String> {
    use std::os::fd::OwnedFd;
    let l =
        std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    // std sets socket options only through TcpStream; the fd is the same socket either way.
    let as_stream = std::net::TcpStream::from(OwnedFd::from(l));
    as_stream
        .set_nodelay(true)
        .map_err(|e| format!("cannot set TCP_NODELAY on {addr}: {e}"))?;
    Ok(std::net::TcpListener::from(OwnedFd::from(as_stream)))
}

/// Binds the listener and serves until the process is stopped. Returns only on start-up errors.
pub fn run(app: App) -> Result<(), String> {
    let addr = format!("{}:{}", app.config.server.host, app.config.server.port);
    let server = tiny_http::Server::from_listener(listener(&addr)?, None)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .map_or_else(|| addr.clone(), |a| a.to_string());
    let workers = app.config.server.workers;
    let app = Arc::new(app);
    let server = Arc::new(server);
    let mut threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let (app, server) = (app.clone(), server.clone());
        let mut db = app.connect().map_err(|e| e.to_string())?;
        let t = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || loop {
                match server.recv() {
                    Ok(rq) => handle(&app, &mut db, rq),
                    Err(e) => {
                        // tiny_http stops accepting for good after an accept error; exiting lets
                        // the service manager start a fresh process.
                        crate::error!(
                            "listener failed: {e}; exiting so the service manager restarts nmr"
                        );
                        std::process::exit(1);
                    }
                }
            })
            .map_err(|e| format!("cannot start worker thread: {e}"))?;
        threads.push(t);
    }
    crate::info!(
        "nmr {} listening on http://{bound} ({workers} workers)",
        env!("CARGO_PKG_VERSION")
    );
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::loggable;

    #[test]
    fn tokens_in_paths_are_not_logged() {
        assert_eq!(loggable("/-/user/token/s3cr3t"), "/-/user/token/<redacted>");
        assert_eq!(loggable("/plainpkg"), "/plainpkg");
    }
}
