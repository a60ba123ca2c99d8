//! The one writer of response heads, and the bodies after them. A head is composed here and
//! nowhere else, and a header name or value with a control character is refused (the caller
//! answers 500 instead), so nothing a client sent can end a header line early. Bodies go out in
//! as few system calls as they allow: with the head in one `writev` from memory, a small file
//! read in with its head, a large one by `sendfile` (plain TCP) or in large pieces (TLS).

use super::socket::Socket;
use crate::http::{Body, Response};
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};

/// Files up to this size are read into memory and go out with the head in one write.
const SMALL_FILE: u64 = 64 * 1024;
/// Pieces a large file is sent in when `sendfile` cannot be used (TLS): few system calls.
const FILE_PIECE: usize = 256 * 1024;

/// Statuses that never carry a body (and no `Content-Length` either).
pub fn bodiless(status: u16) -> bool {
    matches!(status, 100..=199 | 204 | 304)
}

/// The reason phrase clients show next to a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

/// `tchar` of RFC 9110: what field names are made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The head of `resp`: status line, `Server`, its fields, the body's length (but on statuses
/// that have none) and `Connection: close` if `close`. Refuses a field that is not safe to write.
pub fn head(resp: &Response, close: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(256);
    let status = resp.status;
    write!(
        out,
        "HTTP/1.1 {status} {}\r\nServer: nmr/{}\r\n",
        reason(status),
        env!("CARGO_PKG_VERSION")
    )
    .expect("writing to memory");
    for (name, value) in &resp.headers {
        if !is_token(name) {
            return Err(format!("header name {name:?} is not a token"));
        }
        if !crate::http::header_safe(value) {
            return Err(format!("header {name} has a control character: {value:?}"));
        }
        for part in [name.as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
            out.extend_from_slice(part);
        }
    }
    if !bodiless(status) {
        write!(out, "Content-Length: {}\r\n", resp.body.size()).expect("writing to memory");
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

/// Writes a checked head and the body to the client (no body for a `HEAD` request or a
/// bodiless status). An error means the client can no longer be answered properly: the
/// connection must end.
pub fn send(out: &mut Socket, head: Vec<u8>, body: Body, head_request: bool) -> io::Result<()> {
    let body = if head_request { Body::Empty } else { body };
    match body {
        Body::Empty => out.write_all(&head)?,
        Body::Bytes(b) => write_both(out, &head, &b)?,
        Body::Shared(b) => write_both(out, &head, &b)?,
        Body::File(f, n) => send_file(out, head, f, n)?,
        Body::Stream(r, n) => {
            out.write_all(&head)?;
            check_length(io::copy(&mut r.take(n), out)?, n)?;
        }
    }
    out.flush()
}

/// Sends a file body after `head`. A small file is read and goes out with the head in one
/// write; a larger one with `sendfile` on plain TCP, else in large pieces read through memory.
fn send_file(out: &mut Socket, head: Vec<u8>, mut f: File, n: u64) -> io::Result<()> {
    if n <= SMALL_FILE {
        // Sized up front: read_to_end would probe with small reads and grow step by step.
        let mut bytes = head;
        let at = bytes.len();
        bytes.resize(at + n as usize, 0);
        f.read_exact(&mut bytes[at..])?;
        return out.write_all(&bytes);
    }
    let mut sent = 0u64;
    match out.plain() {
        Some(sock) => {
            // MSG_MORE: the head waits to go out in the same packets as the file's first bytes.
            let mut head = &head[..];
            while !head.is_empty() {
                match rustix::net::send(sock, head, rustix::net::SendFlags::MORE) {
                    Ok(k) => head = &head[k..],
                    Err(e) if e == rustix::io::Errno::INTR => {}
                    Err(e) => return Err(e.into()),
                }
            }
            // std's io::copy never uses sendfile from a file to a socket (a file changed while
            // it is sent would show through); nmr's blobs are written once under their hash.
            while sent < n {
                let count = usize::try_from(n - sent).unwrap_or(usize::MAX).min(1 << 30);
                let mut at = sent;
                match rustix::fs::sendfile(sock, &f, Some(&mut at), count) {
                    Ok(0) => break,
                    Ok(k) => sent += k as u64,
                    Err(e) if e == rustix::io::Errno::INTR => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        None => {
            out.write_all(&head)?;
            let mut buf = vec![0; FILE_PIECE];
            while sent < n {
                let want = usize::try_from(n - sent)
                    .unwrap_or(FILE_PIECE)
                    .min(FILE_PIECE);
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
fn check_length(sent: u64, announced: u64) -> io::Result<()> {
    if sent == announced {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the body ended before its {announced} bytes"),
        ))
    }
}

/// Writes the head and the body with as few system calls as the socket allows (one, usually).
fn write_both(out: &mut Socket, head: &[u8], body: &[u8]) -> io::Result<()> {
    if out.is_tls() {
        // rustls seals what it is given into records: one buffer makes fewer, fuller ones.
        let mut all = Vec::with_capacity(head.len() + body.len());
        all.extend_from_slice(head);
        all.extend_from_slice(body);
        return out.write_all(&all);
    }
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
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    /// What a client receives when `resp` is sent on a loopback connection.
    fn received(resp: Response, head_request: bool, close: bool) -> Vec<u8> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            (&client).read_to_end(&mut got).unwrap();
            got
        });
        let h = head(&resp, close).unwrap();
        let mut sock = Socket::new(server, None, Duration::from_secs(5));
        send(&mut sock, h, resp.body, head_request).unwrap();
        drop(sock);
        reader.join().unwrap()
    }

    fn resp(status: u16, body: Body) -> Response {
        Response {
            status,
            headers: vec![("X-A", "1".into())],
            body,
        }
    }

    fn server_line() -> String {
        format!("Server: nmr/{}\r\n", env!("CARGO_PKG_VERSION"))
    }

    #[test]
    fn the_client_gets_the_length_and_the_body_once() {
        let s = server_line();
        let got = received(resp(200, Body::Bytes(b"hello".to_vec())), false, false);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            format!("HTTP/1.1 200 OK\r\n{s}X-A: 1\r\nContent-Length: 5\r\n\r\nhello")
        );
        let got = received(resp(200, Body::Bytes(b"hello".to_vec())), true, true);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            format!(
                "HTTP/1.1 200 OK\r\n{s}X-A: 1\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
            ),
            "HEAD: the length, no body"
        );
        let got = received(resp(304, Body::Empty), false, false);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            format!("HTTP/1.1 304 Not Modified\r\n{s}X-A: 1\r\n\r\n"),
            "no length on a 304"
        );
    }

    #[test]
    fn the_head_writer_refuses_every_control_character() {
        for b in (0u8..0x20).chain([0x7f]) {
            if b == b'\t' {
                continue;
            }
            let c = char::from(b);
            let r = Response {
                status: 303,
                headers: vec![("Location", format!("/a{c}Set-Cookie: x=1"))],
                body: Body::Empty,
            };
            assert!(head(&r, false).is_err(), "byte {b:#04x} was written");
        }
        let r = Response {
            status: 200,
            headers: vec![("Bad Name", "v".into())],
            body: Body::Empty,
        };
        assert!(head(&r, false).is_err());
        let tab = Response {
            status: 200,
            headers: vec![("X", "a\tb".into())],
            body: Body::Empty,
        };
        assert!(head(&tab, false).is_ok());
    }

    #[test]
    fn small_and_large_files_arrive_whole() {
        let dir = std::env::temp_dir().join(format!("nmr-reply-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = server_line();
        for size in [10_000usize, 2 * FILE_PIECE + 123] {
            let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let path = dir.join(format!("f{size}"));
            std::fs::write(&path, &bytes).unwrap();
            let f = File::open(&path).unwrap();
            let got = received(resp(200, Body::File(f, size as u64)), false, false);
            let head = format!("HTTP/1.1 200 OK\r\n{s}X-A: 1\r\nContent-Length: {size}\r\n\r\n");
            assert_eq!(&got[..head.len()], head.as_bytes());
            assert!(got[head.len()..] == bytes[..], "{size} bytes");
        }
        // A file shorter than its announced length is an error, so the connection closes.
        let path = dir.join("short");
        std::fs::write(&path, vec![1u8; 100_000]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let drain = std::thread::spawn(move || {
            let mut got = Vec::new();
            let _ = (&client).read_to_end(&mut got);
        });
        let (server, _) = listener.accept().unwrap();
        let r = resp(200, Body::File(File::open(&path).unwrap(), 200_000));
        let h = head(&r, false).unwrap();
        let mut sock = Socket::new(server, None, Duration::from_secs(5));
        assert!(send(&mut sock, h, r.body, false).is_err());
        drop(sock);
        drain.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
