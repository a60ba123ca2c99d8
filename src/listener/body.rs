//! Receiving a request body in full before tiny_http sees the request, so that no worker ever
//! waits on a slow client: a `Content-Length` body byte for byte, a chunked body decoded (it is
//! passed on with its length). Bodies stay in memory up to 256 KiB and go to an unlinked file
//! in the front's private directory beyond that.

use super::head::{read_body_line, Failure, Framing, MAX_FIELDS};
use crate::error::Error;
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, Write};
use std::path::Path;

/// Largest body kept in memory; larger ones are spooled to a file.
const IN_MEMORY: usize = 256 * 1024;
/// Longest chunk-size line accepted (the size, extensions and CRLF).
const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section accepted; trailers are read and dropped.
const MAX_TRAILERS: usize = 8 * 1024;

/// A received body.
pub struct Body {
    len: u64,
    memory: Vec<u8>,
    file: Option<File>,
}

fn bad(msg: &str) -> Failure {
    Failure::Refused(Error::BadRequest(msg.into()))
}

/// A failed read of the client: a stall is answered, anything else ends the connection.
fn client_failed(e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Failure::Refused(Error::Timeout(
            "the request body stalled for longer than server.read_timeout".into(),
        )),
        _ => Failure::Gone,
    }
}

impl Body {
    fn new() -> Body {
        Body {
            len: 0,
            memory: Vec::new(),
            file: None,
        }
    }

    /// The body's length in bytes.
    pub fn size(&self) -> u64 {
        self.len
    }

    fn append(&mut self, bytes: &[u8], dir: &Path) -> Result<(), Failure> {
        let stored = (|| {
            if self.file.is_none() && self.memory.len() + bytes.len() > IN_MEMORY {
                let path = dir.join(format!(
                    "body-{}",
                    crate::random::hex_token(8)
                        .map_err(|e| io::Error::other(e.message().to_string()))?
                ));
                let mut f = File::options()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                // Unlinked at once: the file goes away with its handle, even after a crash.
                std::fs::remove_file(&path)?;
                f.write_all(&self.memory)?;
                self.memory = Vec::new();
                self.file = Some(f);
            }
            match &mut self.file {
                Some(f) => f.write_all(bytes),
                None => {
                    self.memory.extend_from_slice(bytes);
                    Ok(())
                }
            }
        })();
        stored.map_err(|e| Failure::Refused(Error::io("cannot hold a request body", &e)))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Reads exactly `n` more bytes of the body from the client.
    fn take(&mut self, from: &mut impl BufRead, mut n: u64, dir: &Path) -> Result<(), Failure> {
        while n > 0 {
            let buf = from.fill_buf().map_err(|e| client_failed(&e))?;
            if buf.is_empty() {
                return Err(Failure::Gone);
            }
            let k = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            self.append(&buf[..k], dir)?;
            from.consume(k);
            n -= k as u64;
        }
        Ok(())
    }

    /// The body, if it is held in memory.
    pub fn in_memory(&self) -> Option<&[u8]> {
        self.file.is_none().then_some(&self.memory[..])
    }

    /// Writes the body to tiny_http.
    pub fn send(&mut self, to: &mut impl Write) -> io::Result<()> {
        match &mut self.file {
            Some(f) => {
                f.rewind()?;
                io::copy(&mut Read::take(f, self.len), to)?;
                Ok(())
            }
            None => to.write_all(&self.memory),
        }
    }
}

/// Receives the whole body the head announced, at most `limit` bytes (a longer chunked body is
/// refused with 413 as soon as it passes the limit). `dir` is where large bodies are spooled.
pub fn receive(
    framing: Framing,
    from: &mut impl BufRead,
    limit: u64,
    dir: &Path,
) -> Result<Body, Failure> {
    let mut body = Body::new();
    match framing {
        Framing::Empty => {}
        Framing::Length(n) => body.take(from, n, dir)?,
        Framing::Chunked => loop {
            let line = read_body_line(from, MAX_CHUNK_LINE)?;
            let size = line
                .split(';')
                .next()
                .unwrap_or("")
                .trim_matches([' ', '\t']);
            if size.is_empty() || size.len() > 15 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("bad chunk size in the request body"));
            }
            let n = u64::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
            if n == 0 {
                let mut budget = MAX_TRAILERS;
                for _ in 0..=MAX_FIELDS {
                    let trailer = read_body_line(from, budget)?;
                    if trailer.is_empty() {
                        return Ok(body);
                    }
                    budget = budget.saturating_sub(trailer.len() + 2);
                }
                return Err(bad("too many trailer fields in the request body"));
            }
            if body.size() + n > limit {
                return Err(Failure::Refused(Error::TooLarge(format!(
                    "request body is larger than the registry's limit of {limit} bytes (settings.max_body_size)"
                ))));
            }
            body.take(from, n, dir)?;
            if !read_body_line(from, 2)?.is_empty() {
                return Err(bad("a chunk of the request body is longer than its size"));
            }
        },
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(framing: Framing, input: &[u8]) -> Result<Vec<u8>, Failure> {
        let dir = std::env::temp_dir();
        let mut body = receive(framing, &mut &input[..], 1 << 20, &dir)?;
        let mut out = Vec::new();
        body.send(&mut out).unwrap();
        assert_eq!(out.len() as u64, body.size());
        Ok(out)
    }

    fn status(framing: Framing, input: &[u8]) -> Option<u16> {
        match received(framing, input) {
            Err(Failure::Refused(e)) => Some(e.status()),
            Err(Failure::Gone) => None,
            Ok(b) => panic!("accepted {:?}", String::from_utf8_lossy(&b)),
        }
    }

    #[test]
    fn chunked_bodies_are_decoded_and_extensions_and_trailers_dropped() {
        let out = received(
            Framing::Chunked,
            b"3;name=v\r\nabc\r\n00A \r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT",
        );
        assert_eq!(out.ok().unwrap(), b"abc0123456789");
    }

    #[test]
    fn large_bodies_go_to_a_file_and_come_back_whole() {
        let big: Vec<u8> = (0..IN_MEMORY * 3).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            received(Framing::Length(big.len() as u64), &big)
                .ok()
                .unwrap(),
            big
        );
        let mut chunked = Vec::new();
        for part in big.chunks(100_000) {
            chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            chunked.extend_from_slice(part);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(received(Framing::Chunked, &chunked).ok().unwrap(), big);
    }

    #[test]
    fn broken_chunking_is_400_oversize_413_and_short_bodies_end_the_connection() {
        for bad in [
            &b"3\r\nabcd\r\n0\r\n\r\n"[..],
            b"zz\r\nab\r\n",
            b"fffffffffffffffff\r\n",
            b"3\nabc\r\n0\r\n\r\n",
        ] {
            assert_eq!(status(Framing::Chunked, bad), Some(400), "{bad:?}");
        }
        assert_eq!(status(Framing::Chunked, b"100001\r\n"), Some(413));
        assert_eq!(status(Framing::Chunked, b"3\r\nab"), None);
        assert_eq!(status(Framing::Length(5), b"abc"), None);
        assert_eq!(
            received(Framing::Length(3), b"abcdef").ok().unwrap(),
            b"abc"
        );
    }
}
