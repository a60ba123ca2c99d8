//! Receiving a request body in full before a handler slot is taken, so that no handler ever
//! waits on a slow client: a `Content-Length` body byte for byte, a chunked one decoded (chunk
//! sizes by `httparse`). Bodies stay in memory up to 256 KiB and go to an unlinked file in the
//! spool directory beyond that, within a budget shared by all connections. The caller is told
//! of every step, to hold the client to the minimum upload rate.

use super::head::{bad, is_timeout, Failure, Framing};
use super::spool::Spool;
use super::wire::Wire;
use crate::error::Error;
use crate::http::BodyLimit;
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::sync::Arc;

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
    /// The spool this body's file counts against, and how much.
    spooled: Option<(Arc<Spool>, u64)>,
    /// Read position, once the handler reads.
    read: u64,
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some((spool, n)) = &self.spooled {
            spool.release(*n);
        }
    }
}

/// A failed read of the client: a stall is answered, anything else ends the connection.
fn client_failed(e: &io::Error) -> Failure {
    if is_timeout(e) {
        Failure::Refused(Error::Timeout(
            "the request body stalled or arrived slower than server.min_upload_rate".into(),
        ))
    } else {
        Failure::Gone
    }
}

impl Body {
    pub fn empty() -> Body {
        Body {
            len: 0,
            memory: Vec::new(),
            file: None,
            spooled: None,
            read: 0,
        }
    }

    /// The body's length in bytes.
    pub fn size(&self) -> u64 {
        self.len
    }

    fn append(&mut self, bytes: &[u8], spool: &Arc<Spool>) -> Result<(), Failure> {
        if self.file.is_none() && self.memory.len() + bytes.len() > IN_MEMORY {
            spool
                .reserve(self.memory.len() as u64)
                .map_err(Failure::Refused)?;
            self.spooled = Some((spool.clone(), self.memory.len() as u64));
            let opened = (|| {
                let path = spool.dir().join(format!(
                    "body-{}",
                    crate::random::hex_token(8).map_err(io::Error::other)?
                ));
                // 0600 whatever the umask: a body may carry a tarball or a password.
                let mut f = File::options()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                // Unlinked at once: the file goes away with its handle, even after a crash.
                std::fs::remove_file(&path)?;
                f.write_all(&self.memory)?;
                Ok(f)
            })();
            let f = opened
                .map_err(|e| Failure::Refused(Error::io("cannot hold a request body", &e)))?;
            self.memory = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => {
                spool
                    .reserve(bytes.len() as u64)
                    .map_err(Failure::Refused)?;
                if let Some((_, n)) = &mut self.spooled {
                    *n += bytes.len() as u64;
                }
                f.write_all(bytes)
                    .map_err(|e| Failure::Refused(Error::io("cannot hold a request body", &e)))?;
            }
            None => self.memory.extend_from_slice(bytes),
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Reads exactly `n` more bytes of the body from the client.
    fn receive_exact<R: Read>(
        &mut self,
        from: &mut Wire<R>,
        mut n: u64,
        spool: &Arc<Spool>,
        pace: &mut impl FnMut(&mut R, u64),
    ) -> Result<(), Failure> {
        while n > 0 {
            let buf = from.fill_buf().map_err(|e| client_failed(&e))?;
            if buf.is_empty() {
                return Err(Failure::Gone);
            }
            let k = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            self.append(&buf[..k], spool)?;
            from.consume(k);
            n -= k as u64;
            pace(from.get_mut(), self.len);
        }
        Ok(())
    }

    /// Gets the body ready for the handler to read from its start.
    fn rewind(&mut self) -> io::Result<()> {
        self.read = 0;
        match &mut self.file {
            Some(f) => f.rewind(),
            None => Ok(()),
        }
    }
}

impl Read for Body {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.file {
            Some(f) => {
                let left = usize::try_from(self.len - self.read).unwrap_or(usize::MAX);
                let want = out.len().min(left);
                f.read(&mut out[..want])?
            }
            None => {
                let start = usize::try_from(self.read).unwrap_or(usize::MAX);
                (&self.memory[start.min(self.memory.len())..]).read(out)?
            }
        };
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads one CRLF-ended line of a chunked body (at most `budget` bytes with its end) that
/// `parse` accepts; consumes it and returns what `parse` made of it.
fn line<R: Read, T>(
    from: &mut Wire<R>,
    budget: usize,
    parse: impl Fn(&[u8]) -> Result<Option<(usize, T)>, Failure>,
) -> Result<T, Failure> {
    loop {
        if let Some((n, value)) = parse(from.held())? {
            from.consume(n);
            return Ok(value);
        }
        if from.held().len() >= budget {
            return Err(bad("a chunk-size or trailer line of the body is too long"));
        }
        match from.fill_more(budget) {
            Ok(0) => return Err(Failure::Gone),
            Ok(_) => {}
            Err(e) => return Err(client_failed(&e)),
        }
    }
}

/// A chunk-size line: hex digits first (`httparse` would read an empty line as size 0).
fn chunk_size(held: &[u8]) -> Result<Option<(usize, u64)>, Failure> {
    if held.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
        return Err(bad("bad chunk size in the request body"));
    }
    match httparse::parse_chunk_size(held) {
        Ok(httparse::Status::Complete(x)) => Ok(Some(x)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(bad("bad chunk size in the request body")),
    }
}

/// A CRLF-ended line; returns its length without the line end.
fn crlf_line(held: &[u8]) -> Result<Option<(usize, usize)>, Failure> {
    match held.iter().position(|b| *b == b'\n') {
        Some(i) if i > 0 && held[i - 1] == b'\r' => Ok(Some((i + 1, i - 1))),
        Some(_) => Err(bad("lines of a chunked body must end in CRLF")),
        None => Ok(None),
    }
}

/// Receives the whole body the head announced, at most `limit` bytes (a longer chunked body is
/// refused with 413 as soon as it passes the limit). `pace` is called with the socket and the
/// bytes received so far after every piece.
pub fn receive<R: Read>(
    framing: Framing,
    from: &mut Wire<R>,
    limit: BodyLimit,
    spool: &Arc<Spool>,
    mut pace: impl FnMut(&mut R, u64),
) -> Result<Body, Failure> {
    let too_large = || Failure::Refused(limit.exceeded());
    let mut body = Body::empty();
    match framing {
        Framing::Empty => {}
        Framing::Length(n) if n > limit.bytes => return Err(too_large()),
        Framing::Length(n) => body.receive_exact(from, n, spool, &mut pace)?,
        Framing::Chunked => loop {
            let n = line(from, MAX_CHUNK_LINE, chunk_size)?;
            if n == 0 {
                let mut budget = MAX_TRAILERS;
                loop {
                    let len = line(from, budget, crlf_line)?;
                    if len == 0 {
                        break;
                    }
                    budget = budget.saturating_sub(len + 2);
                    if budget == 0 {
                        return Err(bad("the trailer fields of the request body are too long"));
                    }
                }
                break;
            }
            if body.size().saturating_add(n) > limit.bytes {
                return Err(too_large());
            }
            body.receive_exact(from, n, spool, &mut pace)?;
            if line(from, 2, crlf_line)? != 0 {
                return Err(bad("a chunk of the request body is longer than its size"));
            }
        },
    }
    body.rewind()
        .map_err(|e| Failure::Refused(Error::io("cannot read a spooled request body", &e)))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(bytes: u64) -> BodyLimit {
        BodyLimit {
            bytes,
            setting: Some("test.limit"),
        }
    }

    fn spool(budget: u64) -> Arc<Spool> {
        Arc::new(Spool::create(budget, &std::env::temp_dir()).unwrap())
    }

    fn received(framing: Framing, input: &[u8]) -> Result<Vec<u8>, Failure> {
        let mut w = Wire::new(input);
        let mut body = receive(framing, &mut w, limit(1 << 20), &spool(1 << 30), |_, _| {})?;
        let mut out = Vec::new();
        body.read_to_end(&mut out).unwrap();
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
    fn the_spool_budget_is_shared_and_given_back() {
        let s = spool((IN_MEMORY * 3) as u64);
        let big = vec![7u8; IN_MEMORY * 2];
        let upload = || {
            let framing = Framing::Length(big.len() as u64);
            receive(
                framing,
                &mut Wire::new(&big[..]),
                limit(1 << 30),
                &s,
                |_, _| {},
            )
        };
        let first = upload().ok().unwrap();
        assert!(matches!(
            upload(),
            Err(Failure::Refused(Error::Unavailable(_)))
        ));
        drop(first);
        assert_eq!(s.used(), 0);
        assert_eq!(upload().ok().unwrap().size(), big.len() as u64);
    }

    #[test]
    fn broken_chunking_is_400_oversize_413_and_short_bodies_end_the_connection() {
        for bad in [
            &b"3\r\nabcd\r\n0\r\n\r\n"[..],
            b"zz\r\nab\r\n",
            b"\r\n",
            b"fffffffffffffffff\r\n",
            b"3\nabc\r\n0\r\n\r\n",
        ] {
            assert_eq!(status(Framing::Chunked, bad), Some(400), "{bad:?}");
        }
        assert_eq!(status(Framing::Chunked, b"100001\r\n"), Some(413));
        // Declared or counted, the 413 names the setting that raises the limit.
        for (framing, input) in [
            (Framing::Chunked, &b"100001\r\n"[..]),
            (Framing::Length(2 << 20), b""),
        ] {
            match received(framing, input) {
                Err(Failure::Refused(e)) => assert!(e.message().contains("(test.limit)"), "{e}"),
                _ => panic!("{framing:?} was not refused"),
            }
        }
        assert_eq!(status(Framing::Length(2 << 20), b"abc"), Some(413));
        assert_eq!(status(Framing::Chunked, b"3\r\nab"), None);
        assert_eq!(status(Framing::Length(5), b"abc"), None);
        assert_eq!(
            received(Framing::Length(3), b"abcdef").ok().unwrap(),
            b"abc"
        );
    }
}
