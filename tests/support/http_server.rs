//! A small HTTP/1.1 server for the tests' fakes (GitHub's API, an upstream registry): std
//! sockets, a thread per connection, heads parsed by `httparse`, bodies by `Content-Length`.
//! Keep-alive is honoured as HTTP/1.1 has it (ureq, nmr's client, pools connections); dropping
//! the server closes the listener and every open connection, so nothing waits on a dead fake.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A head larger than this is refused: no fake needs one, and a bound keeps a bug from eating
/// memory.
const MAX_HEAD: usize = 64 * 1024;

/// One request as the handler sees it.
#[derive(Clone, Debug)]
pub struct TestRequest {
    pub method: String,
    /// The request target as sent: path with query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl TestRequest {
    /// The first value of header `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the handler answers. `Content-Length` and `Connection` are the server's to write.
#[derive(Clone, Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> TestResponse {
        TestResponse {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> TestResponse {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

type Handler = dyn Fn(&TestRequest) -> TestResponse + Send + Sync;

/// A running server on 127.0.0.1; stops on drop.
pub struct TestServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    /// Open connections (clones of their sockets), shut down on drop to end their threads.
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Listens on a free port and answers every request with `handler`.
    pub fn start(
        handler: impl Fn(&TestRequest) -> TestResponse + Send + Sync + 'static,
    ) -> TestServer {
        Self::start_on(0, handler)
    }

    /// Listens on `port` of 127.0.0.1 (0: a free one): a receiver that comes up where a
    /// client was refused before.
    pub fn start_on(
        port: u16,
        handler: impl Fn(&TestRequest) -> TestResponse + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let addr = listener.local_addr().unwrap();
        let stopping = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let (stop, open) = (stopping.clone(), conns.clone());
        let accept = std::thread::spawn(move || {
            let ids = AtomicU64::new(0);
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let Ok(clone) = stream.try_clone() else {
                    continue;
                };
                let id = ids.fetch_add(1, Ordering::Relaxed);
                open.lock().unwrap().insert(id, clone);
                let (handler, open) = (handler.clone(), open.clone());
                std::thread::spawn(move || {
                    // An error only means the peer went away (or the server is stopping).
                    let _ = serve(stream, &*handler);
                    open.lock().unwrap().remove(&id);
                });
            }
        });
        TestServer {
            addr,
            stopping,
            conns,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // The accept loop blocks in accept(): a connection of our own wakes it to see the flag.
        // Should that fail, the thread is left behind rather than the test hung on it.
        if TcpStream::connect(self.addr).is_ok() {
            if let Some(t) = self.accept.take() {
                let _ = t.join();
            }
        }
        for (_, s) in self.conns.lock().unwrap().drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Answers requests on one connection until either side closes it.
fn serve(stream: TcpStream, handler: &Handler) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    loop {
        let Some(head) = read_head(&mut input)? else {
            return Ok(());
        };
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        let complete = matches!(parsed.parse(&head), Ok(httparse::Status::Complete(_)));
        if !complete {
            return refuse(&mut out, 400, "malformed request head");
        }
        let mut rq = TestRequest {
            method: parsed.method.unwrap_or_default().to_string(),
            path: parsed.path.unwrap_or_default().to_string(),
            headers: parsed
                .headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8_lossy(h.value).into_owned();
                    (h.name.to_string(), value)
                })
                .collect(),
            body: Vec::new(),
        };
        let http10 = parsed.version == Some(0);
        if rq.header("Transfer-Encoding").is_some() {
            return refuse(
                &mut out,
                501,
                "this test server reads Content-Length bodies only",
            );
        }
        let length = match rq.header("Content-Length").map(|v| v.trim().parse::<u64>()) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => return refuse(&mut out, 400, "bad Content-Length"),
        };
        (&mut input).take(length).read_to_end(&mut rq.body)?;
        if (rq.body.len() as u64) < length {
            return Ok(());
        }
        let connection = rq.header("Connection").unwrap_or("").to_ascii_lowercase();
        let close = if http10 {
            !connection.contains("keep-alive")
        } else {
            connection.contains("close")
        };
        let resp = handler(&rq);
        write_response(&mut out, &resp, rq.method == "HEAD", close)?;
        if close {
            return Ok(());
        }
    }
}

/// The bytes of one request head, through its blank line; `None` when the peer closes
/// between requests.
fn read_head(input: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let n = input.read_until(b'\n', &mut head)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
}

fn refuse(out: &mut TcpStream, status: u16, why: &str) -> std::io::Result<()> {
    write_response(out, &TestResponse::new(status, why), false, true)
}

fn write_response(
    out: &mut TcpStream,
    resp: &TestResponse,
    head_request: bool,
    close: bool,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        // Framing is the server's: a handler's own would contradict what it writes.
        let framing = ["content-length", "transfer-encoding", "connection"];
        if !framing.iter().any(|f| k.eq_ignore_ascii_case(f)) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    // These statuses never have a body (RFC 9110), so they carry no length either.
    let bodyless = matches!(resp.status, 100..=199 | 204 | 304);
    if !bodyless {
        head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if !bodyless && !head_request {
        bytes.extend_from_slice(&resp.body);
    }
    out.write_all(&bytes)?;
    out.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
