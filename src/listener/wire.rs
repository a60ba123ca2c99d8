//! The bytes a client has sent and nmr has not used yet: a buffer in front of the socket that,
//! unlike `BufReader`, can read more while keeping what it holds, so that a request head (or a
//! chunk-size line) is parsed only once it is whole, and the body bytes that came with it stay
//! for the body.

use std::io::{self, BufRead, Read};

/// Initial buffer: most requests (head and a small body) fit.
const START: usize = 16 * 1024;

pub struct Wire<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: Read> Wire<R> {
    pub fn new(inner: R) -> Wire<R> {
        Wire {
            inner,
            buf: vec![0; START],
            start: 0,
            end: 0,
        }
    }

    /// The bytes received and not yet consumed.
    pub fn held(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads more from the socket after what is held, growing the buffer so that up to
    /// `limit` bytes can be held. Returns how many bytes came (0: the client closed, or the
    /// buffer already holds `limit`).
    pub fn fill_more(&mut self, limit: usize) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).min(limit.max(START));
            if grown <= self.end {
                return Ok(0);
            }
            self.buf.resize(grown, 0);
        }
        let n = self.inner.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Gives back memory a large head or chunk line made the buffer grow to.
    pub fn shrink(&mut self) {
        if self.buf.len() > START && self.end - self.start <= START {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.buf.truncate(START);
            self.buf.shrink_to_fit();
        }
    }
}

impl<R: Read> Read for Wire<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end && out.len() >= self.buf.len() {
            // Large reads skip the buffer.
            return self.inner.read(out);
        }
        let n = self.fill_buf()?.read(out)?;
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Wire<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.start = 0;
            self.end = self.inner.read(&mut self.buf)?;
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, as a network does.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn more_is_read_after_what_is_held_and_the_rest_stays() {
        let mut w = Wire::new(Trickle(b"abcdefgh", 3));
        assert_eq!(w.fill_more(100).unwrap(), 3);
        assert_eq!(w.fill_more(100).unwrap(), 3);
        assert_eq!(w.held(), b"abcdef");
        w.consume(4);
        let mut rest = Vec::new();
        w.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"efgh");
    }

    #[test]
    fn the_buffer_grows_up_to_the_limit_only() {
        let big = vec![b'x'; START * 3];
        let mut w = Wire::new(&big[..]);
        let limit = START * 2;
        while w.fill_more(limit).unwrap() > 0 {}
        assert_eq!(w.held().len(), limit);
        w.consume(limit);
        w.shrink();
        assert_eq!(w.buf.len(), START);
    }
}
