//! An answer on its way from tiny_http to the client: its head read from the workers' socket
//! (bounded), its body found (parked in the [`Handoff`], or following the head for the few
//! answers tiny_http makes up itself), and both written to the client in as few system calls
//! as the body allows: one for a body in memory or a small file, `sendfile` for a large file.
//! The body is in hand before anything is written, so the connection to tiny_http is free
//! again while a slow client is still reading.

use super::handoff::{self, Handoff};
use crate::http::Body;
use std::fs::File;
use std::io::{self, BufRead, IoSlice, Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;

/// Largest answer head accepted from tiny_http (ours are well under 2 KiB).
const MAX_HEAD: usize = 64 * 1024;
/// Files up to this size are read into memory and go out with the head in one write.
const SMALL_FILE: u64 = 64 * 1024;
/// Without `sendfile`, larger files are read and sent in pieces of this size: few system calls
/// (std's `io::copy` would take two per 8 KiB; it never uses `sendfile` from a file to a socket,
/// since a file changed while it is sent would show through, which cannot happen to nmr's
/// tarballs: they are written once, under a name made from their hash).
const FILE_PIECE: u64 = 256 * 1024;

/// Sends up to `count` bytes of the file, from `offset`, to the socket without copying them
/// through user space (`sendfile(2)`); returns how many went. The library forbids `unsafe`, so
/// the binary provides it.
pub type SendFile = fn(&TcpStream, &File, u64, usize) -> io::Result<usize>;

static SENDFILE: OnceLock<SendFile> = OnceLock::new();

/// Sets the [`SendFile`] that large tarballs on local disk are sent with. Only the first call
/// counts.
pub fn use_sendfile(f: SendFile) {
    let _ = SENDFILE.set(f);
}

/// One answer, its head read and its body found.
pub struct Reply {
    status: u16,
    /// The status line and the fields to pass on, each with its CRLF; the length and the
    /// connection's fate are added when it is sent.
    head: Vec<u8>,
    body: Body,
    /// A worker answered (not tiny_http itself, which closes the connection after its own
    /// answers), so the connection to tiny_http can serve the next request.
    reusable: bool,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// What a worker's answer says in [`handoff::HEADER`] when it has no body.
pub const NO_BODY: &str = "none";

/// Reads the head of tiny_http's next answer and finds its body: parked by the worker, or,
/// in an answer tiny_http made up itself, following the head.
pub fn read(from: &mut impl BufRead, parked: &Handoff) -> io::Result<Reply> {
    let mut head = Vec::with_capacity(512);
    let mut line = Vec::with_capacity(128);
    let (mut status, mut length, mut handed) = (None, 0u64, None);
    loop {
        line.clear();
        let n = from
            .by_ref()
            .take(MAX_HEAD as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 || !line.ends_with(b"\n") || head.len() + n > MAX_HEAD {
            return Err(invalid(
                "the workers' answer head is cut short or too long".into(),
            ));
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| invalid("the workers' answer head is not text".into()))?;
        let text = text.trim_end_matches(['\r', '\n']);
        if status.is_none() {
            let code = text.split(' ').nth(1).and_then(|c| c.parse::<u16>().ok());
            status = Some(code.ok_or_else(|| invalid(format!("bad status line {text:?}")))?);
            head.extend_from_slice(text.as_bytes());
            head.extend_from_slice(b"\r\n");
            continue;
        }
        if text.is_empty() {
            break;
        }
        let (name, value) = text.split_once(':').unwrap_or((text, ""));
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value
                .parse()
                .map_err(|_| invalid(format!("bad Content-Length {value:?}")))?;
        } else if name.eq_ignore_ascii_case(handoff::HEADER) {
            handed = Some(value.to_string());
        } else if !name.eq_ignore_ascii_case("connection")
            && !name.eq_ignore_ascii_case("transfer-encoding")
        {
            head.extend_from_slice(text.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
    }
    let status = status.unwrap_or(500);
    let (body, reusable) = match handed.as_deref() {
        Some(NO_BODY) => (Body::Empty, true),
        Some(id) => {
            let id: u64 = id
                .parse()
                .map_err(|_| invalid(format!("bad {} {id:?}", handoff::HEADER)))?;
            let body = parked
                .take(id)
                .ok_or_else(|| invalid(format!("no parked body {id}")))?;
            (body, true)
        }
        None if bodiless(status) => (Body::Empty, false),
        None => {
            if length > MAX_HEAD as u64 {
                return Err(invalid(format!(
                    "tiny_http's own answer has {length} bytes"
                )));
            }
            let mut bytes = vec![0; length as usize];
            from.read_exact(&mut bytes)?;
            (Body::Bytes(bytes), false)
        }
    };
    Ok(Reply {
        status,
        head,
        body,
        reusable,
    })
}

/// Reads the answer to the warm-up request that proves a connection is served (see
/// `pool`): a worker's `204`.
pub fn warmed_up(from: &mut impl BufRead) -> io::Result<()> {
    let r = read(from, &Handoff::default())?;
    if r.status == 204 && r.reusable {
        Ok(())
    } else {
        Err(invalid(format!(
            "the warm-up request was answered {}",
            r.status
        )))
    }
}

/// Statuses that never carry a body (and no `Content-Length` either).
fn bodiless(status: u16) -> bool {
    matches!(status, 100..=199 | 204 | 304)
}

impl Reply {
    /// Whether the connection to tiny_http can carry the next request.
    pub fn reusable(&self) -> bool {
        self.reusable
    }

    /// Writes the answer to the client: its head with the body's length (and `Connection:
    /// close` if `close`), then the body unless the request was a `HEAD`. An error means the
    /// client can no longer be answered properly: the connection must end.
    pub fn send(self, client: &TcpStream, head_request: bool, close: bool) -> io::Result<()> {
        let mut head = self.head;
        if !bodiless(self.status) {
            head.extend_from_slice(format!("Content-Length: {}\r\n", self.body.size()).as_bytes());
        }
        if close {
            head.extend_from_slice(b"Connection: close\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let mut out = client;
        if head_request || bodiless(self.status) {
            return out.write_all(&head);
        }
        match self.body {
            Body::Empty => out.write_all(&head),
            Body::Bytes(b) => write_both(out, &head, &b),
            Body::Shared(b) => write_both(out, &head, &b),
            Body::File(f, n) => send_file(out, head, f, n),
            Body::Stream(r, n) => {
                out.write_all(&head)?;
                check_length(io::copy(&mut r.take(n), &mut out)?, n)
            }
        }
    }
}

/// Sends a file body after `head`. A small file is read and goes out with the head in one
/// write; a larger one with `sendfile` when the binary provides it (see [`use_sendfile`]), else
/// in large pieces read through memory.
fn send_file(mut out: &TcpStream, head: Vec<u8>, f: File, n: u64) -> io::Result<()> {
    if n <= SMALL_FILE {
        // Sized up front: read_to_end would probe with small reads and grow step by step.
        let mut bytes = head;
        let at = bytes.len();
        bytes.resize(at + n as usize, 0);
        let mut f = f;
        f.read_exact(&mut bytes[at..])?;
        return out.write_all(&bytes);
    }
    out.write_all(&head)?;
    let mut sent = 0u64;
    match SENDFILE.get() {
        Some(sendfile) => {
            while sent < n {
                let count = usize::try_from(n - sent).unwrap_or(usize::MAX).min(1 << 30);
                match sendfile(out, &f, sent, count) {
                    Ok(0) => break,
                    Ok(k) => sent += k as u64,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        None => {
            let mut f = f;
            let mut buf = vec![0; FILE_PIECE as usize];
            while sent < n {
                let want = (n - sent).min(FILE_PIECE) as usize;
                f.read_exact(&mut buf[..want])?;
                out.write_all(&buf[..want])?;
                sent += want as u64;
            }
        }
    }
    check_length(sent, n)
}

/// A body shorter than the length already announced leaves the client waiting for bytes that
/// never come: an error, so the connection is closed.
fn check_length(sent: impl TryInto<u64>, announced: u64) -> io::Result<()> {
    match sent.try_into() {
        Ok(n) if n == announced => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the body ended before its {announced} bytes"),
        )),
    }
}

/// Writes the head and the body with as few system calls as the socket allows (one, usually).
fn write_both(mut out: &TcpStream, head: &[u8], body: &[u8]) -> io::Result<()> {
    let mut bufs = [IoSlice::new(head), IoSlice::new(body)];
    let mut bufs = &mut bufs[..];
    while !bufs.is_empty() {
        match out.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str, parked: &Handoff) -> Reply {
        read(&mut raw.as_bytes(), parked).unwrap()
    }

    /// What a client receives when `reply` is sent on a loopback connection.
    fn received(reply: Reply, head_request: bool, close: bool) -> Vec<u8> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            (&client).read_to_end(&mut got).unwrap();
            got
        });
        reply.send(&server, head_request, close).unwrap();
        drop(server);
        reader.join().unwrap()
    }

    fn reply(status: u16, body: Body) -> Reply {
        Reply {
            status,
            head: format!("HTTP/1.1 {status} X\r\nServer: nmr\r\n").into_bytes(),
            body,
            reusable: true,
        }
    }

    #[test]
    fn the_client_gets_the_length_and_the_body_once() {
        let got = received(reply(200, Body::Bytes(b"hello".to_vec())), false, false);
        assert_eq!(
            got,
            b"HTTP/1.1 200 X\r\nServer: nmr\r\nContent-Length: 5\r\n\r\nhello"
        );
        let got = received(reply(200, Body::Bytes(b"hello".to_vec())), true, true);
        assert_eq!(
            got, b"HTTP/1.1 200 X\r\nServer: nmr\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
            "HEAD: the length, no body"
        );
        let got = received(reply(304, Body::Empty), false, false);
        assert_eq!(
            got, b"HTTP/1.1 304 X\r\nServer: nmr\r\n\r\n",
            "no length on a 304"
        );
    }

    #[test]
    fn small_and_large_files_arrive_whole() {
        // Unit tests never set sendfile: a large file takes the path through memory, in pieces.
        let dir = std::env::temp_dir().join(format!("nmr-reply-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for size in [10_000usize, 2 * FILE_PIECE as usize + 123] {
            let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let path = dir.join(format!("f{size}"));
            std::fs::write(&path, &bytes).unwrap();
            let f = File::open(&path).unwrap();
            let got = received(reply(200, Body::File(f, size as u64)), false, false);
            let head = format!("HTTP/1.1 200 X\r\nServer: nmr\r\nContent-Length: {size}\r\n\r\n");
            assert_eq!(&got[..head.len()], head.as_bytes());
            assert!(got[head.len()..] == bytes[..], "{size} bytes");
        }
        // A file shorter than its announced length is an error, so the connection closes.
        let path = dir.join("short");
        std::fs::write(&path, b"abc").unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let r = reply(200, Body::File(File::open(&path).unwrap(), 10));
        assert!(r.send(&server, false, false).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_parked_body_replaces_the_length_and_the_hand_off_field() {
        let parked = Handoff::default();
        let id = parked.park(Body::Bytes(b"hello".to_vec()));
        let r = parse(
            &format!(
                "HTTP/1.1 200 OK\r\nServer: nmr\r\nContent-Length: 0\r\nX-Nmr-Body: {id}\r\n\r\n"
            ),
            &parked,
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.head, b"HTTP/1.1 200 OK\r\nServer: nmr\r\n");
        assert!(matches!(r.body, Body::Bytes(ref b) if b == b"hello"));
        assert!(r.reusable);
        assert!(parked.take(id).is_none(), "taken once");
        let r = parse(
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\nX-Nmr-Body: none\r\n\r\n",
            &parked,
        );
        assert!(matches!(r.body, Body::Empty) && r.reusable);
    }

    #[test]
    fn an_answer_from_tiny_http_itself_ends_the_connection() {
        let parked = Handoff::default();
        let r = parse(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
            &parked,
        );
        assert!(matches!(r.body, Body::Bytes(ref b) if b == b"abc"));
        assert_eq!(r.head, b"HTTP/1.1 400 Bad Request\r\n");
        assert!(!r.reusable);
    }

    #[test]
    fn broken_heads_and_unknown_bodies_are_errors() {
        let parked = Handoff::default();
        for raw in [
            "",
            "HTTP/1.1 200 OK\r\nServer: nmr\r\n",
            "HTTP/1.1 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-Nmr-Body: 99\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-Nmr-Body: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 500 Oops\r\nContent-Length: 9\r\n\r\nshort",
        ] {
            assert!(read(&mut raw.as_bytes(), &parked).is_err(), "{raw:?}");
        }
        let long = format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(read(&mut long.as_bytes(), &parked).is_err());
    }
}
