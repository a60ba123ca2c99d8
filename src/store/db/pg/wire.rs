//! Message framing of the PostgreSQL frontend/backend protocol, version 3: writing the
//! client's messages into a buffer, and reading and splitting the server's. Nothing here keeps
//! state or decides what a message means for the session; that is `mod.rs`.

use std::io::{self, Read};

/// Protocol 3.0 in the startup message.
const PROTOCOL_3: i32 = 196_608;
/// The magic "protocol version" of an SSLRequest.
const SSL_REQUEST_CODE: i32 = 80_877_103;

/// The most a client message may hold. PostgreSQL refuses anything over 1 GiB anyway, and
/// staying below it keeps every length inside an `i32`.
pub const MAX_MESSAGE: usize = (1 << 30) - 1024;

/// Appends one message: its tag, its length (which counts itself), then what `body` writes.
/// Callers keep bodies under [`MAX_MESSAGE`].
fn message(out: &mut Vec<u8>, tag: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    untagged(out, body);
}

/// A message without a tag byte: only the startup-phase requests look like this.
fn untagged(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out);
    let len = i32::try_from(out.len() - at).expect("client messages are bounded by MAX_MESSAGE");
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// A NUL-terminated string. A NUL inside would end it early and shift every field after it,
/// so callers reject such strings first (see `check_text` in `mod.rs`).
fn cstr(out: &mut Vec<u8>, s: &str) {
    debug_assert!(!s.contains('\0'));
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn i16_(out: &mut Vec<u8>, v: i16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn i32_(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn ssl_request(out: &mut Vec<u8>) {
    untagged(out, |o| i32_(o, SSL_REQUEST_CODE));
}

pub fn startup(out: &mut Vec<u8>, params: &[(&str, &str)]) {
    untagged(out, |o| {
        i32_(o, PROTOCOL_3);
        for (k, v) in params {
            cstr(o, k);
            cstr(o, v);
        }
        o.push(0);
    });
}

/// PasswordMessage: the cleartext or md5 answer.
pub fn password(out: &mut Vec<u8>, password: &str) {
    message(out, b'p', |o| cstr(o, password));
}

pub fn sasl_initial_response(out: &mut Vec<u8>, mechanism: &str, data: &[u8]) {
    message(out, b'p', |o| {
        cstr(o, mechanism);
        i32_(o, data.len() as i32);
        o.extend_from_slice(data);
    });
}

pub fn sasl_response(out: &mut Vec<u8>, data: &[u8]) {
    message(out, b'p', |o| o.extend_from_slice(data));
}

pub fn parse(out: &mut Vec<u8>, statement: &str, sql: &str, param_types: &[u32]) {
    message(out, b'P', |o| {
        cstr(o, statement);
        cstr(o, sql);
        i16_(o, param_types.len() as i16);
        for t in param_types {
            out_u32(o, *t);
        }
    });
}

fn out_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// One Bind parameter as it goes on the wire: its format code (0 text, 1 binary) and its bytes
/// (`None` for NULL).
pub struct Param<'a> {
    pub format: i16,
    pub value: Option<std::borrow::Cow<'a, [u8]>>,
}

/// Bind to the unnamed portal, asking for every result column in text format.
pub fn bind(out: &mut Vec<u8>, statement: &str, params: &[Param<'_>]) {
    message(out, b'B', |o| {
        cstr(o, "");
        cstr(o, statement);
        i16_(o, params.len() as i16);
        for p in params {
            i16_(o, p.format);
        }
        i16_(o, params.len() as i16);
        for p in params {
            match &p.value {
                None => i32_(o, -1),
                Some(v) => {
                    i32_(o, v.len() as i32);
                    o.extend_from_slice(v);
                }
            }
        }
        // One result format code applies to every column: 0, text.
        i16_(o, 1);
        i16_(o, 0);
    });
}

/// Describe the unnamed portal: its RowDescription carries the result's column types.
pub fn describe_portal(out: &mut Vec<u8>) {
    message(out, b'D', |o| {
        o.push(b'P');
        cstr(o, "");
    });
}

/// Execute the unnamed portal to its end (no row limit).
pub fn execute(out: &mut Vec<u8>) {
    message(out, b'E', |o| {
        cstr(o, "");
        i32_(o, 0);
    });
}

pub fn close_statement(out: &mut Vec<u8>, statement: &str) {
    message(out, b'C', |o| {
        o.push(b'S');
        cstr(o, statement);
    });
}

pub fn sync(out: &mut Vec<u8>) {
    message(out, b'S', |_| {});
}

pub fn query(out: &mut Vec<u8>, sql: &str) {
    message(out, b'Q', |o| cstr(o, sql));
}

pub fn copy_fail(out: &mut Vec<u8>, why: &str) {
    message(out, b'f', |o| cstr(o, why));
}

pub fn terminate(out: &mut Vec<u8>) {
    message(out, b'X', |_| {});
}

/// Reads one backend message: returns its tag and leaves its body in `body`.
pub fn read_message(r: &mut impl Read, body: &mut Vec<u8>) -> io::Result<u8> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head)?;
    let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    let len = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_sub(4))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a message from the server has the invalid length {len}"),
            )
        })?;
    body.clear();
    // Through `take`, the buffer grows as bytes arrive, so a corrupt length cannot make us
    // allocate gigabytes up front.
    let got = r.take(len as u64).read_to_end(body)?;
    if got < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(head[0])
}

/// An ErrorResponse or NoticeResponse: the fields nmr reports.
#[derive(Debug, Clone, Default)]
pub struct ServerError {
    pub severity: String,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
}

/// A result column as RowDescription gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
}

/// The authentication requests nmr tells apart.
#[derive(Debug, PartialEq)]
pub enum Auth<'a> {
    Ok,
    Cleartext,
    Md5([u8; 4]),
    Sasl(Vec<&'a str>),
    SaslContinue(&'a [u8]),
    SaslFinal(&'a [u8]),
    Other(i32),
}

/// A backend message, split into its fields.
#[derive(Debug)]
pub enum Message<'a> {
    Authentication(Auth<'a>),
    ParameterStatus,
    BackendKeyData,
    ReadyForQuery(u8),
    RowDescription(Vec<Column>),
    DataRow(Vec<Option<&'a [u8]>>),
    CommandComplete(&'a str),
    EmptyQueryResponse,
    ParseComplete,
    BindComplete,
    CloseComplete,
    NoData,
    ParameterDescription,
    PortalSuspended,
    ErrorResponse(ServerError),
    NoticeResponse,
    NotificationResponse,
    CopyInResponse,
    CopyOutResponse,
    CopyData,
    CopyDone,
    CopyBothResponse,
}

/// Reads fields off a message body; every read checks the length, so a short or corrupt
/// message is an error, never a panic.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("a message from the server ends early".to_string());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }
    fn i16(&mut self) -> Result<i16, String> {
        let b = self.bytes(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, String> {
        let b = self.bytes(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn cstr(&mut self) -> Result<&'a str, String> {
        let end = self
            .0
            .iter()
            .position(|b| *b == 0)
            .ok_or("a string in a message from the server is not terminated")?;
        let s = std::str::from_utf8(&self.0[..end])
            .map_err(|_| "a string in a message from the server is not UTF-8".to_string())?;
        self.0 = &self.0[end + 1..];
        Ok(s)
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

fn server_error(body: &[u8]) -> Result<ServerError, String> {
    let mut c = Cursor(body);
    let mut e = ServerError::default();
    let mut localized = String::new();
    loop {
        let field = c.u8()?;
        if field == 0 {
            break;
        }
        // Messages come in the server's lc_messages; but they are UTF-8 in a UTF8 session.
        let value = c.cstr()?.to_string();
        match field {
            b'S' => localized = value,
            // V: the severity never translated (PostgreSQL 9.6 and later).
            b'V' => e.severity = value,
            b'C' => e.code = value,
            b'M' => e.message = value,
            b'D' => e.detail = Some(value),
            _ => {}
        }
    }
    if e.severity.is_empty() {
        e.severity = localized;
    }
    Ok(e)
}

fn authentication(body: &[u8]) -> Result<Auth<'_>, String> {
    let mut c = Cursor(body);
    Ok(match c.i32()? {
        0 => Auth::Ok,
        3 => Auth::Cleartext,
        5 => {
            let s = c.bytes(4)?;
            Auth::Md5([s[0], s[1], s[2], s[3]])
        }
        10 => {
            let mut mechanisms = Vec::new();
            loop {
                let m = c.cstr()?;
                if m.is_empty() {
                    break;
                }
                mechanisms.push(m);
            }
            Auth::Sasl(mechanisms)
        }
        11 => Auth::SaslContinue(c.rest()),
        12 => Auth::SaslFinal(c.rest()),
        other => Auth::Other(other),
    })
}

/// Splits a message body by its tag.
pub fn parse_backend(tag: u8, body: &[u8]) -> Result<Message<'_>, String> {
    let mut c = Cursor(body);
    Ok(match tag {
        b'R' => Message::Authentication(authentication(body)?),
        b'S' => Message::ParameterStatus,
        b'K' => Message::BackendKeyData,
        b'Z' => Message::ReadyForQuery(c.u8()?),
        b'T' => {
            let n = c.i16()?;
            let mut columns = Vec::with_capacity(n.max(0) as usize);
            for _ in 0..n {
                let name = c.cstr()?.to_string();
                // table oid (4), column number (2), then the type oid.
                c.bytes(6)?;
                let type_oid = c.i32()? as u32;
                // type size (2), type modifier (4), format code (2).
                c.bytes(8)?;
                columns.push(Column { name, type_oid });
            }
            Message::RowDescription(columns)
        }
        b'D' => {
            let n = c.i16()?;
            let mut cells = Vec::with_capacity(n.max(0) as usize);
            for _ in 0..n {
                let len = c.i32()?;
                cells.push(match usize::try_from(len) {
                    Ok(len) => Some(c.bytes(len)?),
                    // -1: NULL.
                    Err(_) => None,
                });
            }
            Message::DataRow(cells)
        }
        b'C' => Message::CommandComplete(c.cstr()?),
        b'I' => Message::EmptyQueryResponse,
        b'1' => Message::ParseComplete,
        b'2' => Message::BindComplete,
        b'3' => Message::CloseComplete,
        b'n' => Message::NoData,
        b't' => Message::ParameterDescription,
        b's' => Message::PortalSuspended,
        b'E' => Message::ErrorResponse(server_error(body)?),
        b'N' => Message::NoticeResponse,
        b'A' => Message::NotificationResponse,
        b'G' => Message::CopyInResponse,
        b'H' => Message::CopyOutResponse,
        b'd' => Message::CopyData,
        b'c' => Message::CopyDone,
        b'W' => Message::CopyBothResponse,
        other => {
            return Err(format!(
                "the server sent a message of unknown type {:?}",
                other as char
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn startup_and_ssl_request_have_no_tag() {
        let mut out = Vec::new();
        ssl_request(&mut out);
        assert_eq!(out, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
        out.clear();
        startup(&mut out, &[("user", "nmr")]);
        assert_eq!(out, b"\0\0\0\x12\0\x03\0\0user\0nmr\0\0");
    }

    #[test]
    fn tagged_messages_count_their_length_but_not_their_tag() {
        let mut out = Vec::new();
        sync(&mut out);
        query(&mut out, "SELECT 1");
        assert_eq!(out, b"S\0\0\0\x04Q\0\0\0\x0dSELECT 1\0");
    }

    #[test]
    fn parse_and_bind_lay_out_types_formats_and_values() {
        let mut out = Vec::new();
        parse(&mut out, "s0", "SELECT $1", &[20]);
        assert_eq!(out, b"P\0\0\0\x17s0\0SELECT $1\0\0\x01\0\0\0\x14");
        out.clear();
        let params = [
            Param {
                format: 0,
                value: Some(Cow::Borrowed(b"42")),
            },
            Param {
                format: 1,
                value: None,
            },
        ];
        bind(&mut out, "s0", &params);
        let mut want = b"B\0\0\0\x1e\0s0\0".to_vec();
        want.extend_from_slice(b"\0\x02\0\0\0\x01"); // two formats: text, binary
        want.extend_from_slice(b"\0\x02\0\0\0\x0242\xff\xff\xff\xff"); // "42", NULL
        want.extend_from_slice(b"\0\x01\0\0"); // results: all text
        assert_eq!(out, want);
    }

    #[test]
    fn sasl_messages_carry_the_mechanism_and_a_length() {
        let mut out = Vec::new();
        sasl_initial_response(&mut out, "SCRAM-SHA-256", b"n,,n=,r=x");
        assert_eq!(out, b"p\0\0\0\x1fSCRAM-SHA-256\0\0\0\0\x09n,,n=,r=x");
    }

    #[test]
    fn backend_messages_are_read_and_split() {
        let mut raw: Vec<u8> = Vec::new();
        // RowDescription with one int8 column "n".
        raw.extend_from_slice(b"T\0\0\0\x1a\0\x01n\0");
        raw.extend_from_slice(&[
            0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 8, 255, 255, 255, 255, 0, 0,
        ]);
        // DataRow: "7" and NULL.
        raw.extend_from_slice(b"D\0\0\0\x0f\0\x02\0\0\0\x017\xff\xff\xff\xff");
        raw.extend_from_slice(b"C\0\0\0\x0dSELECT 1\0Z\0\0\0\x05I");
        let mut r = &raw[..];
        let mut body = Vec::new();
        let tag = read_message(&mut r, &mut body).unwrap();
        match parse_backend(tag, &body).unwrap() {
            Message::RowDescription(cols) => assert_eq!(
                cols,
                [Column {
                    name: "n".into(),
                    type_oid: 20
                }]
            ),
            other => panic!("{other:?}"),
        }
        let tag = read_message(&mut r, &mut body).unwrap();
        match parse_backend(tag, &body).unwrap() {
            Message::DataRow(cells) => assert_eq!(cells, [Some(&b"7"[..]), None]),
            other => panic!("{other:?}"),
        }
        let tag = read_message(&mut r, &mut body).unwrap();
        assert!(matches!(
            parse_backend(tag, &body).unwrap(),
            Message::CommandComplete("SELECT 1")
        ));
        let tag = read_message(&mut r, &mut body).unwrap();
        assert!(matches!(
            parse_backend(tag, &body).unwrap(),
            Message::ReadyForQuery(b'I')
        ));
        assert_eq!(
            read_message(&mut r, &mut body).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn error_fields_prefer_the_untranslated_severity() {
        let body = b"SFEHLER\0VERROR\0C23505\0Mduplicate key\0Dthe detail\0\0";
        match parse_backend(b'E', body).unwrap() {
            Message::ErrorResponse(e) => {
                assert_eq!(e.severity, "ERROR");
                assert_eq!(e.code, "23505");
                assert_eq!(e.message, "duplicate key");
                assert_eq!(e.detail.as_deref(), Some("the detail"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn authentication_requests_are_told_apart() {
        let sasl = b"\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0";
        assert_eq!(
            authentication(sasl).unwrap(),
            Auth::Sasl(vec!["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])
        );
        assert_eq!(
            authentication(b"\0\0\0\x05abcd").unwrap(),
            Auth::Md5(*b"abcd")
        );
        assert_eq!(authentication(b"\0\0\0\x07").unwrap(), Auth::Other(7));
    }

    #[test]
    fn short_or_corrupt_messages_are_errors() {
        assert!(parse_backend(b'D', b"\0\x01\0\0\0\x09ab").is_err());
        assert!(parse_backend(b'C', b"no terminator").is_err());
        assert!(parse_backend(b'?', b"").is_err());
        let mut body = Vec::new();
        let e = read_message(&mut &b"Z\0\0\0\x02"[..], &mut body).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
