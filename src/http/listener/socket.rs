//! One client's socket as a connection thread uses it: plain TCP or TLS over it, every read
//! bounded by the idle timeout and, while one is set, by a deadline (a request head, the TLS
//! handshake, a body at the minimum upload rate), every write by `server.write_timeout`.

use rustls::ServerConnection;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long reads may wait.
struct Wait {
    idle: Duration,
    deadline: Option<Instant>,
    /// The timeout currently set on the socket, to skip needless system calls.
    set: Option<Duration>,
}

impl Wait {
    fn arm(&mut self, sock: &TcpStream) -> io::Result<()> {
        let wait = match self.deadline {
            None => self.idle,
            Some(d) => d
                .checked_duration_since(Instant::now())
                .filter(|w| !w.is_zero())
                .ok_or(io::ErrorKind::TimedOut)?
                .min(self.idle),
        };
        if self.set != Some(wait) {
            sock.set_read_timeout(Some(wait))?;
            self.set = Some(wait);
        }
        Ok(())
    }
}

/// The TCP socket under TLS, with each read armed anew: rustls reads several records for one
/// handshake or one large read, and the deadline holds for all of them together.
struct Armed<'a> {
    sock: &'a TcpStream,
    wait: &'a mut Wait,
}

/// One read of the socket within `wait`. A socket with a receive timeout is never restarted
/// after a signal: Linux fails its `recv` with `EINTR` when a handler ran (nmr has handlers for
/// SIGTERM, SIGINT and SIGHUP) or after the process was stopped and continued, so the read is
/// tried again, re-armed, instead of ending the connection without an answer.
fn read_armed(sock: &TcpStream, wait: &mut Wait, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        wait.arm(sock)?;
        let mut s = sock;
        match s.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl Read for Armed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_armed(self.sock, self.wait, buf)
    }
}

impl Write for Armed<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self.sock;
        s.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A client connection's byte stream.
pub struct Socket {
    sock: TcpStream,
    tls: Option<Box<ServerConnection>>,
    wait: Wait,
}

impl Socket {
    /// Wraps an accepted socket; `tls` is the server side of a TLS session not yet shaken
    /// hands (the handshake runs on the first read).
    pub fn new(sock: TcpStream, tls: Option<ServerConnection>, idle: Duration) -> Socket {
        Socket {
            sock,
            tls: tls.map(Box::new),
            wait: Wait {
                idle,
                deadline: None,
                set: None,
            },
        }
    }

    /// Reads after `deadline` fail with `TimedOut`; `None` leaves only the idle timeout.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.wait.deadline = deadline;
    }

    /// The TCP socket, for `sendfile` and shutdown; `None` under TLS, where every byte must go
    /// through the session.
    pub fn plain(&self) -> Option<&TcpStream> {
        self.tls.is_none().then_some(&self.sock)
    }

    /// Whether the client has sent bytes not read yet.
    pub fn has_unread_bytes(&self) -> bool {
        super::has_unread_bytes(&self.sock)
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Sends TLS close_notify, so a client can tell a complete answer from a cut connection.
    pub fn close_notify(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
            let mut out = Armed {
                sock: &self.sock,
                wait: &mut self.wait,
            };
            while tls.wants_write() {
                if tls.write_tls(&mut out).is_err() {
                    break;
                }
            }
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.tls {
            None => read_armed(&self.sock, &mut self.wait, buf),
            Some(tls) => {
                let mut io = Armed {
                    sock: &self.sock,
                    wait: &mut self.wait,
                };
                match rustls::Stream::new(&mut **tls, &mut io).read(buf) {
                    // A client that closes without close_notify has ended its requests all
                    // the same; for nmr that is an ordinary end of the connection.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                    other => other,
                }
            }
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.tls {
            None => (&self.sock).write(buf),
            Some(tls) => {
                let mut io = Armed {
                    sock: &self.sock,
                    wait: &mut self.wait,
                };
                rustls::Stream::new(&mut **tls, &mut io).write(buf)
            }
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match &mut self.tls {
            None => (&self.sock).write_vectored(bufs),
            Some(_) => {
                let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
                self.write(first)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.tls {
            None => Ok(()),
            Some(tls) => {
                let mut io = Armed {
                    sock: &self.sock,
                    wait: &mut self.wait,
                };
                rustls::Stream::new(&mut **tls, &mut io).flush()
            }
        }
    }
}
