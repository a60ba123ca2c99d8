//! The head of one request: parsed by `httparse` once it is whole, bounded in size and field
//! count, with nmr's own rules on top — exactly one way to find where the body ends, no
//! control characters, one Host — so that nothing in it can be read two ways.

use super::wire::Wire;
use crate::error::Error;
use crate::http::Method;
use std::io::{self, BufRead, Read};

/// Largest request head (request line and header fields, with their line ends) accepted.
pub const MAX_HEAD: usize = 32 * 1024;
/// Most header fields accepted in one request.
pub const MAX_FIELDS: usize = 100;

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
    pub method: Method,
    /// The method as sent, for the log.
    pub method_name: String,
    /// The request target as sent (path and query, still percent-encoded).
    pub target: String,
    /// The header fields handlers see: all but the hop-by-hop ones the listener deals with
    /// itself (framing, `Connection`, `Expect`).
    pub fields: Vec<(String, String)>,
    pub framing: Framing,
    /// The connection ends after this request: the client asked, or speaks HTTP/1.0 (whose
    /// keep-alive extension nmr does not speak).
    pub close: bool,
    /// The client waits for `100 Continue` before it sends the body.
    pub expect_continue: bool,
}

/// Why no request came of reading a head (or a body).
#[derive(Debug)]
pub enum Failure {
    /// The connection closed, broke or timed out: nothing worth answering.
    Gone,
    /// The request was refused; this is the answer.
    Refused(Error),
}

pub fn bad(msg: impl Into<String>) -> Failure {
    Failure::Refused(Error::BadRequest(msg.into()))
}

pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Visible ASCII, space and tab: control characters in a value are how header injection
/// starts, and non-ASCII bytes mean different things to different readers.
pub fn is_field_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// A line end without its CR: `httparse` accepts it, HTTP/1.1 does not, and a proxy in front
/// of nmr might split the head differently on it.
fn has_bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, b)| *b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

/// What parsing the bytes held so far gave.
enum Parsed {
    Whole(usize, Result<Head, Failure>),
    Partial,
}

fn parse(bytes: &[u8]) -> Parsed {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut fields);
    let n = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Whole(
                0,
                Err(Failure::Refused(Error::HeadersTooLarge(format!(
                    "the request has more than {MAX_FIELDS} header fields"
                )))),
            )
        }
        Err(httparse::Error::Version) => {
            return Parsed::Whole(
                0,
                Err(bad(
                    "unsupported or malformed protocol version; nmr speaks HTTP/1.1",
                )),
            )
        }
        Err(e) => return Parsed::Whole(0, Err(bad(format!("malformed request head: {e}")))),
    };
    if has_bare_lf(&bytes[..n]) {
        return Parsed::Whole(n, Err(bad("request lines must end in CRLF")));
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Parsed::Whole(n, Err(bad("malformed request line")));
    };
    let mut raw = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let Ok(value) = std::str::from_utf8(h.value) else {
            return Parsed::Whole(
                n,
                Err(bad(format!(
                    "header {} has a control or non-ASCII character",
                    h.name
                ))),
            );
        };
        raw.push((h.name, value));
    }
    Parsed::Whole(n, check(method, target, version == 0, &raw))
}

/// Reads and checks one request head; the first byte is already held (see `conn`). A client
/// that stops sending mid-head gets 408 (the caller sets the deadline).
pub fn read<R: Read>(w: &mut Wire<R>) -> Result<Head, Failure> {
    loop {
        if let Parsed::Whole(n, head) = parse(w.held()) {
            w.consume(n);
            return head;
        }
        if w.held().len() >= MAX_HEAD {
            return Err(Failure::Refused(Error::HeadersTooLarge(format!(
                "the request line and headers are larger than {MAX_HEAD} bytes"
            ))));
        }
        match w.fill_more(MAX_HEAD) {
            Ok(0) => return Err(Failure::Gone),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                return Err(Failure::Refused(Error::Timeout(
                    "the request headers did not arrive within server.read_timeout".into(),
                )))
            }
            Err(_) => return Err(Failure::Gone),
        }
    }
}

fn method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "PUT" => Method::Put,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        _ => Method::Other,
    }
}

fn check(name: &str, target: &str, http10: bool, raw: &[(&str, &str)]) -> Result<Head, Failure> {
    if target.is_empty() || !is_field_value(target) || target.contains(' ') {
        return Err(bad(format!("malformed request target {target:?}")));
    }
    let mut fields = Vec::with_capacity(raw.len());
    let (mut lengths, mut codings, mut hosts) = (Vec::new(), Vec::new(), 0);
    let (mut close, mut expect_continue) = (http10, false);
    for &(name, value) in raw {
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
                // Upgrade and the other options are dropped: nmr speaks HTTP/1.1 only.
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
                Ok(n) => Framing::Length(n),
                // Longer than any limit: the route's limit refuses it before a byte is read.
                Err(_) => Framing::Length(u64::MAX),
            }
        }
        (true, true) => Framing::Empty,
    };
    Ok(Head {
        method: method(name),
        method_name: name.to_string(),
        target: target.to_string(),
        fields,
        framing,
        close,
        expect_continue,
    })
}

impl Head {
    /// Whether this is a `HEAD` request, answered without a body.
    pub fn is_head(&self) -> bool {
        self.method == Method::Head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Head, Failure> {
        let mut w = Wire::new(text.as_bytes());
        read(&mut w)
    }

    fn status(text: &str) -> u16 {
        match parse_text(text) {
            Err(Failure::Refused(e)) => e.status(),
            other => panic!("{text:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn a_plain_request_keeps_its_fields_and_loses_the_hop_by_hop_ones() {
        let h = parse_text("\r\nPUT /x?a=1 HTTP/1.1\r\nHost:  a\r\nContent-Length: 5\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c\r\nExpect: 100-Continue\r\n\r\nhello").unwrap();
        assert_eq!(
            (h.framing, h.close, h.expect_continue),
            (Framing::Length(5), false, true)
        );
        assert_eq!((h.method, h.target.as_str()), (Method::Put, "/x?a=1"));
        assert_eq!(
            h.fields,
            vec![
                ("Host".into(), "a".into()),
                ("Upgrade".into(), "h2c".into())
            ]
        );
        let h =
            parse_text("PUT / HTTP/1.1\r\nconnection: Close\r\ntransfer-encoding: Chunked\r\n\r\n")
                .unwrap();
        assert_eq!((h.framing, h.close), (Framing::Chunked, true));
        let h = parse_text("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!((h.framing, h.close), (Framing::Empty, true));
        let h = parse_text("MKCOL / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!((h.method, h.method_name.as_str()), (Method::Other, "MKCOL"));
    }

    #[test]
    fn the_body_bytes_after_the_head_stay_held() {
        let mut w = Wire::new(&b"PUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"[..]);
        read(&mut w).unwrap();
        let mut body = String::new();
        w.read_to_string(&mut body).unwrap();
        assert_eq!(body, "hello");
    }

    #[test]
    fn ambiguous_framing_and_malformed_heads_are_400() {
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
            "POST / HTTP/1.1\r\nHost: a\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            "GET / HTTP/1.1\r\nX: caf\u{e9}\r\n\r\n",
            "GET / HTTP/1.1\r\nnocolon\r\n\r\n",
            "GET /  HTTP/1.1\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "PUT / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n",
        ] {
            assert_eq!(status(text), 400, "{text:?}");
        }
        let same = parse_text("PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(same.unwrap().framing, Framing::Length(3));
        let huge = parse_text("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert_eq!(huge.unwrap().framing, Framing::Length(u64::MAX));
    }

    #[test]
    fn big_heads_are_431() {
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(status(&long), 431);
        let many: String = (0..=MAX_FIELDS).map(|i| format!("X{i}: 1\r\n")).collect();
        assert_eq!(status(&format!("GET / HTTP/1.1\r\n{many}\r\n")), 431);
    }

    #[test]
    fn a_closed_connection_is_gone_and_a_stalled_head_is_408() {
        assert!(matches!(parse_text("GET / HT"), Err(Failure::Gone)));
        struct Stalls<'a>(&'a [u8]);
        impl Read for Stalls<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                self.0.read(buf)
            }
        }
        let mut slow = Wire::new(Stalls(b"GET / HTTP/1.1\r\nHost: a"));
        slow.fill_more(MAX_HEAD).unwrap();
        assert!(matches!(
            read(&mut slow),
            Err(Failure::Refused(Error::Timeout(_)))
        ));
    }
}
