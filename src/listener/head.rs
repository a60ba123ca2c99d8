//! The head of one request as the connection front reads it: bounded in size and field count,
//! with exactly one way to find where its body ends, and written out again in a canonical form
//! (with the body's length, since the front receives the whole body first), so tiny_http behind
//! the front never sees anything it could read differently from us.

use crate::error::Error;
use std::io::{self, BufRead, Read};

/// Largest request head (request line and header fields, with their line ends) accepted.
pub const MAX_HEAD: usize = 32 * 1024;
/// Most header fields accepted in one request.
pub const MAX_FIELDS: usize = 100;
/// Empty lines tolerated before a request line (some clients send a CRLF after a body).
const MAX_LEADING_BLANKS: usize = 4;

/// Where a request body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A checked request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    /// The request line as received (method, target and version were checked).
    pub request_line: String,
    /// Header fields to pass on: all but the hop-by-hop ones the front deals with itself
    /// (framing, `Connection`, `Expect`).
    pub fields: Vec<(String, String)>,
    pub framing: Framing,
    /// The connection ends after this request: the client asked, or speaks HTTP/1.0 (whose
    /// keep-alive extension nmr does not speak).
    pub close: bool,
    /// The client waits for `100 Continue` before it sends the body.
    pub expect_continue: bool,
}

/// Why no request came of reading a head.
#[derive(Debug)]
pub enum Failure {
    /// The connection closed, broke or timed out: nothing worth answering. A client that went
    /// quiet before the first byte of a request is an idle connection, not an error.
    Gone,
    /// The head was refused; this is the answer.
    Refused(Error),
}

fn bad(msg: impl Into<String>) -> Failure {
    Failure::Refused(Error::BadRequest(msg.into()))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// `tchar` of RFC 9110: what method names and field names are made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible ASCII, space and tab: tiny_http takes nothing else, and control characters in a
/// value are how header injection starts.
fn is_field_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Reads one line ending in CRLF, at most `budget` bytes including the line end. Returns the
/// line without its end.
fn read_line(r: &mut impl BufRead, budget: usize, started: bool) -> Result<String, Failure> {
    let mut line = Vec::new();
    match r.take(budget as u64).read_until(b'\n', &mut line) {
        Ok(_) => {}
        Err(e) if is_timeout(&e) && (started || !line.is_empty()) => {
            return Err(Failure::Refused(Error::Timeout(
                "the request headers did not arrive within server.read_timeout".into(),
            )))
        }
        Err(_) => return Err(Failure::Gone),
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() >= budget {
            Failure::Refused(Error::HeadersTooLarge(format!(
                "the request line and headers are larger than {MAX_HEAD} bytes"
            )))
        } else {
            Failure::Gone
        });
    }
    line.pop();
    if line.pop() != Some(b'\r') {
        return Err(bad("request lines must end in CRLF"));
    }
    String::from_utf8(line).map_err(|_| bad("the request head is not ASCII"))
}

/// Reads and checks one request head. `max_body` is `settings.max_body_size`: a longer
/// declared body is refused before any of it is read.
pub fn read(r: &mut impl BufRead, max_body: u64) -> Result<Head, Failure> {
    let mut budget = MAX_HEAD;
    let mut request_line = String::new();
    for blanks in 0..=MAX_LEADING_BLANKS {
        request_line = read_line(r, budget, blanks > 0)?;
        budget -= request_line.len() + 2;
        if !request_line.is_empty() {
            break;
        }
    }
    check_request_line(&request_line)?;
    let mut raw = Vec::new();
    loop {
        let line = read_line(r, budget, true)?;
        budget -= line.len() + 2;
        if line.is_empty() {
            break;
        }
        if raw.len() == MAX_FIELDS {
            return Err(Failure::Refused(Error::HeadersTooLarge(format!(
                "the request has more than {MAX_FIELDS} header fields"
            ))));
        }
        raw.push(line);
    }
    parse_fields(request_line, &raw, max_body)
}

fn check_request_line(line: &str) -> Result<(), Failure> {
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(bad(format!("malformed request line {line:?}")));
    };
    if !is_token(method) || target.is_empty() || !is_field_value(target) {
        return Err(bad(format!("malformed request line {line:?}")));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(bad(format!(
            "unsupported protocol {version:?}; nmr speaks HTTP/1.1"
        )));
    }
    Ok(())
}

fn parse_fields(request_line: String, raw: &[String], max_body: u64) -> Result<Head, Failure> {
    let http10 = request_line.ends_with("HTTP/1.0");
    let mut fields = Vec::new();
    let (mut lengths, mut codings, mut hosts) = (Vec::new(), Vec::new(), 0);
    let (mut close, mut expect_continue) = (http10, false);
    for line in raw {
        if line.starts_with([' ', '\t']) {
            return Err(bad("folded header lines are not accepted"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("header line without a colon: {line:?}")))?;
        // A space before the colon is how requests are smuggled past proxies (RFC 9112 5.1).
        if !is_token(name) {
            return Err(bad(format!("malformed header name {name:?}")));
        }
        let value = value.trim_matches([' ', '\t']);
        if !is_field_value(value) {
            return Err(bad(format!(
                "header {name} has a control or non-ASCII character"
            )));
        }
        match name.to_ascii_lowercase().as_str() {
            "content-length" => lengths.push(value),
            "transfer-encoding" => codings.extend(value.split(',').map(str::trim)),
            "connection" => {
                // Upgrade and the other options are dropped: tiny_http would hand an upgraded
                // request the raw socket, with no body framing at all.
                close |= value
                    .split(',')
                    .any(|o| o.trim().eq_ignore_ascii_case("close"));
            }
            "expect" if value.eq_ignore_ascii_case("100-continue") => expect_continue = !http10,
            "expect" => return Err(bad(format!("unsupported expectation {value:?}"))),
            lower => {
                if lower == "host" {
                    hosts += 1;
                }
                fields.push((name.to_string(), value.to_string()));
            }
        }
    }
    if hosts > 1 {
        return Err(bad("more than one Host header"));
    }
    let framing = match (codings.is_empty(), lengths.is_empty()) {
        (false, false) => return Err(bad("request has both Content-Length and Transfer-Encoding")),
        (false, true) => {
            if http10 {
                return Err(bad("Transfer-Encoding is not defined for HTTP/1.0"));
            }
            // tiny_http would decode any coding as chunked; only plain chunked is what it says.
            if codings.len() != 1 || !codings[0].eq_ignore_ascii_case("chunked") {
                return Err(bad(format!(
                    "unsupported Transfer-Encoding {:?}; send chunked or a Content-Length",
                    codings.join(", ")
                )));
            }
            Framing::Chunked
        }
        (true, false) => {
            if lengths.iter().any(|l| *l != lengths[0])
                || lengths[0].is_empty()
                || !lengths[0].bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad(format!("bad Content-Length {:?}", lengths.join(", "))));
            }
            match lengths[0].parse::<u64>() {
                Ok(0) => Framing::Empty,
                Ok(n) if n <= max_body => Framing::Length(n),
                _ => {
                    return Err(Failure::Refused(Error::TooLarge(format!(
                        "request body is larger than the registry's limit of {max_body} bytes (settings.max_body_size)"
                    ))))
                }
            }
        }
        (true, true) => Framing::Empty,
    };
    Ok(Head {
        request_line,
        fields,
        framing,
        close,
        expect_continue,
    })
}

/// The field that carries the client's address from the front to the workers, which see only
/// the front's Unix socket (tokens limited to address ranges need the real address).
pub const PEER_HEADER: &str = "X-Nmr-Peer";

impl Head {
    /// Whether this is a `HEAD` request, answered without a body.
    pub fn is_head(&self) -> bool {
        self.request_line.starts_with("HEAD ")
    }

    /// The head as tiny_http gets it: the checked fields, the client's address in
    /// [`PEER_HEADER`] (a client's own `X-Nmr-` fields are dropped, so only the front sets them)
    /// and the length of the body the front received, with CRLF line ends.
    pub fn encode(&self, body_len: u64, peer: Option<std::net::IpAddr>) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        // Always HTTP/1.1, so tiny_http keeps the front's connection open whatever the client
        // speaks; the front answers an HTTP/1.0 client and closes its connection itself.
        let line = &self.request_line;
        out.push_str(line.strip_suffix("HTTP/1.0").unwrap_or(line));
        if line.ends_with("HTTP/1.0") {
            out.push_str("HTTP/1.1");
        }
        out.push_str("\r\n");
        if let Some(ip) = peer {
            out.push_str(&format!("{PEER_HEADER}: {ip}\r\n"));
        }
        for (name, value) in &self.fields {
            // `X-Nmr-` fields are the front's to send (the peer, the pool's warm-up).
            if name
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case("x-nmr-"))
            {
                continue;
            }
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        if self.framing != Framing::Empty {
            out.push_str(&format!("Content-Length: {body_len}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// Reads a chunk-size or trailer line of a body, CRLF ended, at most `budget` bytes long.
pub fn read_body_line(r: &mut impl BufRead, budget: usize) -> Result<String, Failure> {
    match read_line(r, budget, true) {
        Err(Failure::Refused(Error::HeadersTooLarge(_))) => {
            Err(bad("a chunk-size or trailer line of the body is too long"))
        }
        Err(Failure::Refused(Error::Timeout(_))) => Err(Failure::Refused(Error::Timeout(
            "the request body stalled for longer than server.read_timeout".into(),
        ))),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Head, Failure> {
        read(&mut text.as_bytes(), 1000)
    }

    fn status(text: &str) -> u16 {
        match parse(text) {
            Err(Failure::Refused(e)) => e.status(),
            other => panic!("{text:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn only_the_front_sends_x_nmr_fields() {
        let h =
            parse("GET / HTTP/1.1\r\nHost: a\r\nX-Nmr-Peer: 10.0.0.1\r\nx-nmr-warm-up: 1\r\n\r\n")
                .unwrap();
        let text = String::from_utf8(h.encode(0, Some("127.0.0.1".parse().unwrap()))).unwrap();
        assert!(
            text.contains("X-Nmr-Peer: 127.0.0.1\r\n") && !text.contains("10.0.0.1"),
            "{text}"
        );
        assert!(!text.to_ascii_lowercase().contains("warm-up"), "{text}");
    }

    #[test]
    fn a_plain_request_is_passed_on_in_canonical_form() {
        let h = parse("\r\nPUT /x HTTP/1.1\r\nHost:  a\r\nContent-Length: 5\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c\r\nExpect: 100-Continue\r\n\r\nhello").unwrap();
        assert_eq!(
            (h.framing, h.close, h.expect_continue),
            (Framing::Length(5), false, true)
        );
        assert_eq!(
            String::from_utf8(h.encode(5, None)).unwrap(),
            "PUT /x HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\n"
        );
        let h = parse("PUT / HTTP/1.1\r\nconnection: Close\r\ntransfer-encoding: Chunked\r\n\r\n")
            .unwrap();
        assert_eq!((h.framing, h.close), (Framing::Chunked, true));
        assert!(String::from_utf8(h.encode(7, None))
            .unwrap()
            .ends_with("\r\nContent-Length: 7\r\n\r\n"));
        let h = parse("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!((h.framing, h.close), (Framing::Empty, true));
        assert_eq!(h.encode(0, None), b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn ambiguous_framing_is_400() {
        for text in [
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length : 3\r\n\r\n",
            "POST / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
            "POST / HTTP/1.1\nHost: a\n\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            "GET / HTTP/1.1\r\nnocolon\r\n\r\n",
            "GET /  HTTP/1.1\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "PUT / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n",
        ] {
            assert_eq!(status(text), 400, "{text:?}");
        }
        let same = parse("PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(same.unwrap().framing, Framing::Length(3));
    }

    #[test]
    fn big_heads_are_431_and_big_bodies_413_before_reading() {
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(status(&long), 431);
        let many: String = (0..=MAX_FIELDS).map(|i| format!("X{i}: 1\r\n")).collect();
        assert_eq!(status(&format!("GET / HTTP/1.1\r\n{many}\r\n")), 431);
        assert_eq!(
            status("PUT / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n"),
            413
        );
        assert_eq!(
            status("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            413
        );
    }

    #[test]
    fn a_closed_or_idle_connection_is_gone_and_a_stalled_head_is_408() {
        assert!(matches!(parse(""), Err(Failure::Gone)));
        assert!(matches!(parse("GET / HT"), Err(Failure::Gone)));
        struct Stalls<'a>(&'a [u8]);
        impl Read for Stalls<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = self.0.read(buf)?;
                Ok(n)
            }
        }
        let mut idle = io::BufReader::new(Stalls(b""));
        assert!(matches!(read(&mut idle, 10), Err(Failure::Gone)));
        let mut slow = io::BufReader::new(Stalls(b"GET / HTTP/1.1\r\nHost: a"));
        assert!(matches!(
            read(&mut slow, 10),
            Err(Failure::Refused(Error::Timeout(_)))
        ));
    }
}
