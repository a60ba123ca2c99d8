//! HTTP: the listener that serves every connection ([`listener`]), the routing table
//! ([`routes`]), the life of the serving process ([`server`]); and here the request and
//! response types handlers see: header access, body reading with a size cap, content
//! negotiation (abbreviated packuments, gzip) and conditional GETs.

pub mod listener;
pub mod routes;
pub mod server;

use crate::error::{Error, Result};
use std::io::Read;
use std::net::IpAddr;
use std::sync::Arc;

/// HTTP methods the registry routes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Other,
}

impl Method {
    /// The method's name, as in a request line (`OTHER` for the ones nmr does not route).
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Other => "OTHER",
        }
    }
}

/// The Accept value npm, pnpm and yarn send when they want the abbreviated ("corgi") packument.
pub const CORGI: &str = "application/vnd.npm.install-v1+json";

/// One incoming request. The body is read on demand so limits apply before any byte is buffered.
pub struct Request<'a> {
    pub method: Method,
    /// The raw path, still percent-encoded, without the query.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    headers: Vec<(String, String)>,
    body: &'a mut dyn Read,
    /// The client's address, for tokens limited to address ranges and for throttling: the
    /// peer's, or the one a trusted proxy forwarded (see [`Request::set_peer`]).
    pub remote: Option<IpAddr>,
    /// The request came over TLS: links in answers use `https`.
    pub tls: bool,
    /// A trusted proxy says the client reached it over HTTPS (`X-Forwarded-Proto: https`).
    pub proxied_https: bool,
}

impl<'a> Request<'a> {
    /// Builds a request; header names are matched case-insensitively.
    pub fn new(
        method: Method,
        url: &str,
        headers: Vec<(String, String)>,
        body: &'a mut dyn Read,
    ) -> Request<'a> {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let headers = headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        Request {
            method,
            path: path.to_string(),
            query: query.to_string(),
            headers,
            body,
            remote: None,
            tls: false,
            proxied_https: false,
        }
    }

    /// The bearer token, if the request carries one.
    pub fn bearer(&self) -> Option<&str> {
        let v = self.header("authorization")?.trim();
        let (scheme, rest) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim())
            .filter(|t| !t.is_empty())
    }

    /// `(user, password)` from a Basic authorization header.
    pub fn basic(&self) -> Option<(String, String)> {
        use base64::Engine;
        let v = self.header("authorization")?.trim();
        let (scheme, rest) = v.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (u, p) = text.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }

    /// The first value of a header, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order: a header sent on several lines, or as a
    /// comma-separated list, is one list.
    pub fn header_list<'s>(&'s self, name: &'s str) -> impl DoubleEndedIterator<Item = &'s str> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .collect();
        values.into_iter()
    }

    /// Sets the client's address from the connection's peer. Only when the peer is one of
    /// `trusted` (`server.trusted_proxies`) are its `X-Forwarded-For` and `X-Forwarded-Proto`
    /// believed: the client is then the rightmost forwarded address that is not a trusted proxy
    /// itself (anything left of it was written by the client, who can write anything), and the
    /// scheme is the one the nearest proxy reports. From anyone else the headers mean nothing.
    pub fn set_peer(&mut self, peer: Option<IpAddr>, trusted: &[String]) {
        let believed = |ip: IpAddr| trusted.iter().any(|r| crate::cidr::contains(r, ip));
        self.remote = peer;
        self.proxied_https = false;
        if !peer.is_some_and(believed) {
            return;
        }
        let mut client = peer;
        for hop in self.header_list("x-forwarded-for").rev() {
            // A port may follow the address (`10.0.0.1:5678`, `[::1]:80`).
            let ip = hop
                .parse::<IpAddr>()
                .ok()
                .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()));
            let Some(ip) = ip else { break };
            client = Some(ip);
            if !believed(ip) {
                break;
            }
        }
        let https = self
            .header_list("x-forwarded-proto")
            .next_back()
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
        self.remote = client;
        self.proxied_https = https;
    }

    /// Whether the client asked for the abbreviated packument.
    pub fn wants_abbreviated(&self) -> bool {
        self.header("accept").is_some_and(|a| a.contains(CORGI))
    }

    /// Whether the client is a browser asking for a page: `text/html` is named and ranked above
    /// every JSON type. npm, pnpm and yarn send `application/json`, the corgi type or `*/*`, never
    /// `text/html`, so they keep getting documents.
    pub fn prefers_html(&self) -> bool {
        let Some(accept) = self.header("accept") else {
            return false;
        };
        let (mut html, mut json) = (0.0f32, 0.0f32);
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(str::trim))
                .map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
            match media.as_str() {
                "text/html" | "application/xhtml+xml" => html = html.max(q),
                "application/json" | "application/*" | CORGI => json = json.max(q),
                _ => {}
            }
        }
        html > 0.0 && html > json
    }

    /// The value of one cookie, if the request carries it.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.header("cookie")?.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name)
                .then(|| v.trim())
                .filter(|v| !v.is_empty())
        })
    }

    /// Whether the client accepts a gzip-encoded response.
    pub fn accepts_gzip(&self) -> bool {
        self.header("accept-encoding").is_some_and(|v| {
            v.split(',').any(|part| {
                let mut it = part.split(';');
                let coding = it.next().unwrap_or("").trim();
                let refused = it.any(|p| matches!(p.trim().strip_prefix("q="), Some(q) if q.trim().parse::<f32>().ok() == Some(0.0)));
                coding.eq_ignore_ascii_case("gzip") && !refused
            })
        })
    }

    /// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 prescribes for it).
    pub fn not_modified(&self, etag: &str) -> bool {
        let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
        self.header("if-none-match")
            .is_some_and(|v| v.trim() == "*" || v.split(',').any(|t| strip(t) == strip(etag)))
    }

    /// Reads the whole body, refusing with 413 anything over `limit` bytes: by `Content-Length`
    /// before reading a byte, and by counting for chunked bodies. Gzip bodies are inflated, with
    /// the same cap on the inflated size.
    pub fn read_body(&mut self, limit: impl Into<BodyLimit>) -> Result<Vec<u8>> {
        let limit = limit.into();
        let too_large = || limit.exceeded();
        let limit = limit.bytes;
        if self.header("transfer-encoding").is_some() && self.header("content-length").is_some() {
            return Err(Error::BadRequest(
                "request has both Content-Length and Transfer-Encoding".into(),
            ));
        }
        let mut declared = 0;
        if let Some(len) = self.header("content-length") {
            let len: u64 = len
                .trim()
                .parse()
                .map_err(|_| Error::BadRequest(format!("bad Content-Length {len:?}")))?;
            if len > limit {
                return Err(too_large());
            }
            declared = len;
        }
        // Sized once: growing by doubling would hold up to twice a publish body at its peak.
        let mut raw = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
        (&mut self.body)
            .take(limit + 1)
            .read_to_end(&mut raw)
            .map_err(|e| Error::BadRequest(format!("could not read the request body: {e}")))?;
        if raw.len() as u64 > limit {
            return Err(too_large());
        }
        match self
            .header("content-encoding")
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => Ok(raw),
            Some(v) if v.is_empty() || v == "identity" => Ok(raw),
            Some(v) if v == "gzip" => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&raw[..])
                    .take(limit + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| Error::BadRequest(format!("gzip request body is corrupt: {e}")))?;
                if out.len() as u64 > limit {
                    return Err(too_large());
                }
                Ok(out)
            }
            Some(v) => Err(Error::BadRequest(format!(
                "unsupported Content-Encoding {v:?}; send gzip or no encoding"
            ))),
        }
    }

    /// Reads the body and parses it as JSON.
    pub fn read_json(&mut self, limit: impl Into<BodyLimit>) -> Result<serde_json::Value> {
        let body = self.read_body(limit)?;
        serde_json::from_slice(&body)
            .map_err(|e| Error::BadRequest(format!("request body is not valid JSON: {e}")))
    }
}

/// Largest body of a request other than a publish: logins, tokens, tags, stars, web forms. Here,
/// beside the request type, so that handlers reading such bodies need not know the routing table.
pub const SMALL_BODY: u64 = 64 * 1024;
/// Largest `npm audit` body: the whole dependency tree of a project.
pub const AUDIT_BODY: u64 = 16 << 20;

/// The largest request body an endpoint takes, and the setting that raises it, if one does:
/// the one place the 413 for a too large body is worded, whether the length was declared or
/// a chunked body passed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit {
    pub bytes: u64,
    pub setting: Option<&'static str>,
}

/// A limit no setting raises.
impl From<u64> for BodyLimit {
    fn from(bytes: u64) -> BodyLimit {
        BodyLimit {
            bytes,
            setting: None,
        }
    }
}

impl BodyLimit {
    /// `settings.max_body_size`, the limit of package documents, which the 413 names.
    pub fn max_body_size(bytes: u64) -> BodyLimit {
        BodyLimit {
            bytes,
            setting: Some("settings.max_body_size"),
        }
    }

    /// The 413 for a body over this limit.
    pub fn exceeded(&self) -> Error {
        let raise = self.setting.map(|k| format!(" ({k})")).unwrap_or_default();
        Error::TooLarge(format!(
            "request body is larger than this endpoint's limit of {} bytes{raise}",
            self.bytes
        ))
    }
}

/// Whether `s` can go into a header value as it is: no control character but tab (CR or LF
/// would end the line, NUL and the rest confuse readers). The one rule: the listener's head
/// writer refuses what fails it, and code that builds a header from client input checks here
/// first, so that the client gets a proper answer rather than a 500.
pub fn header_safe(s: &str) -> bool {
    s.chars().all(|c| c == '\t' || !c.is_control())
}

/// The value of `key` in a query string or `application/x-www-form-urlencoded` body, decoded
/// (`+` is a space); a value that does not decode is empty. Not `form_urlencoded::parse`,
/// although it is compiled in our tree: it keeps a malformed escape as it is and replaces bytes
/// that are not UTF-8, so `%zz` would come through as a value instead of an empty one.
pub fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| crate::name::percent_decode(&v.replace('+', " ")).unwrap_or_default())
    })
}

/// A response body.
pub enum Body {
    /// No body (304; HEAD is handled by the listener).
    Empty,
    /// Bytes owned by this response.
    Bytes(Vec<u8>),
    /// Bytes shared with a cache, sent without copying them first.
    Shared(Arc<Vec<u8>>),
    /// A stream of known length (tarballs from S3).
    Stream(Box<dyn Read + Send>, u64),
    /// A file of known length (tarballs on local disk), which the front can send with
    /// `sendfile` rather than through a buffer.
    File(std::fs::File, u64),
}

impl Body {
    /// The body's length in bytes.
    pub fn size(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Shared(b) => b.len() as u64,
            Body::Stream(_, n) | Body::File(_, n) => *n,
        }
    }
}

/// One outgoing response.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Response {
    /// A JSON response from a value.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        let bytes = serde_json::to_vec(value).expect("JSON values serialise");
        Response {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: Body::Bytes(bytes),
        }
    }

    /// The response for an error: its status and `{"error": "..."}`, and `Retry-After` when
    /// the error says when to come back.
    pub fn error(e: &Error) -> Response {
        Response {
            status: e.status(),
            headers: vec![("Content-Type", "application/json".into())],
            body: Body::Bytes(e.body()),
        }
        .retry_after(e)
    }

    /// Adds `Retry-After` if the error carries one.
    pub fn retry_after(self, e: &Error) -> Response {
        match e.retry_after() {
            Some(secs) => self.with_header("Retry-After", secs.to_string()),
            None => self,
        }
    }

    /// 304 Not Modified carrying the entity tag.
    pub fn not_modified(etag: &str) -> Response {
        Response {
            status: 304,
            headers: vec![("ETag", etag.to_string())],
            body: Body::Empty,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Length of the body in bytes.
    pub fn body_len(&self) -> u64 {
        self.body.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(headers: &[(&str, &str)], body: &'a mut &'static [u8]) -> Request<'a> {
        let h = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Request::new(Method::Put, "/x?write=true", h, body)
    }

    #[test]
    fn splits_query_and_matches_headers_case_insensitively() {
        let mut b: &[u8] = b"";
        let r = req(
            &[(
                "Accept",
                "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*",
            )],
            &mut b,
        );
        assert_eq!(r.path, "/x");
        assert_eq!(r.query, "write=true");
        assert!(r.wants_abbreviated());
    }

    #[test]
    fn browsers_prefer_html_and_package_managers_never_do() {
        let accepts = |a: &str| {
            let mut b: &[u8] = b"";
            req(&[("Accept", a)], &mut b).prefers_html()
        };
        assert!(accepts(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
        ));
        assert!(!accepts("application/json"));
        assert!(!accepts(
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
        ));
        assert!(!accepts("*/*"));
        assert!(!accepts("application/json, text/html;q=0.5"));
        assert!(!accepts("text/html;q=0"));
        let mut b: &[u8] = b"";
        assert!(!req(&[], &mut b).prefers_html());
    }

    #[test]
    fn cookies_and_form_values_are_found_by_name() {
        let mut b: &[u8] = b"";
        let r = req(&[("Cookie", "a=1; nmr_session=tok; b=")], &mut b);
        assert_eq!(r.cookie("nmr_session"), Some("tok"));
        assert_eq!(r.cookie("b"), None);
        assert_eq!(r.cookie("c"), None);
        assert_eq!(form_value("q=a+b%2Fc&x", "q").as_deref(), Some("a b/c"));
        assert_eq!(form_value("q=a&x", "x").as_deref(), Some(""));
        assert_eq!(form_value("q=%zz", "q").as_deref(), Some(""));
        assert_eq!(form_value("q=1", "p"), None);
        // `+` becomes a space before decoding, so an encoded plus stays a plus.
        assert_eq!(form_value("q=c%2B%2B+x", "q").as_deref(), Some("c++ x"));
        // Bytes that are not UTF-8 make the value empty, not replaced with U+FFFD.
        assert_eq!(form_value("a=1&q=%ff&q=2", "q").as_deref(), Some(""));
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted = vec!["10.0.0.0/8".to_string()];
        let forwarded = [
            ("X-Forwarded-For", "6.6.6.6, 1.2.3.4"),
            ("X-Forwarded-For", "10.0.0.7:5678"),
            ("X-Forwarded-Proto", "https"),
        ];
        let mut b: &[u8] = b"";
        let mut r = req(&forwarded, &mut b);
        r.set_peer(Some(ip("192.0.2.1")), &trusted);
        assert_eq!(
            r.remote,
            Some(ip("192.0.2.1")),
            "an untrusted peer is the client"
        );
        assert!(!r.proxied_https);
        r.set_peer(Some(ip("10.0.0.1")), &trusted);
        assert_eq!(
            r.remote,
            Some(ip("1.2.3.4")),
            "the rightmost address no trusted proxy stands for"
        );
        assert!(r.proxied_https);
        let mut b: &[u8] = b"";
        let mut r = req(&[("X-Forwarded-For", "garbage, 10.0.0.9")], &mut b);
        r.set_peer(Some(ip("10.0.0.1")), &trusted);
        assert_eq!(
            r.remote,
            Some(ip("10.0.0.9")),
            "stops at what does not parse"
        );
        r.set_peer(Some(ip("10.0.0.1")), &[]);
        assert_eq!(
            r.remote,
            Some(ip("10.0.0.1")),
            "no proxy trusted by default"
        );
    }

    #[test]
    fn gzip_negotiation_honours_q_zero() {
        let mut b: &[u8] = b"";
        assert!(req(&[("Accept-Encoding", "gzip,deflate")], &mut b).accepts_gzip());
        let mut b: &[u8] = b"";
        assert!(!req(&[("Accept-Encoding", "gzip;q=0, deflate")], &mut b).accepts_gzip());
        let mut b: &[u8] = b"";
        assert!(!req(&[], &mut b).accepts_gzip());
    }

    #[test]
    fn etag_matching_is_weak_and_lists_work() {
        let mut b: &[u8] = b"";
        let r = req(&[("If-None-Match", "\"a\", W/\"b\"")], &mut b);
        assert!(r.not_modified("\"b\""));
        assert!(!r.not_modified("\"c\""));
    }

    #[test]
    fn body_limits_apply_by_length_and_by_count() {
        let mut b: &[u8] = b"0123456789";
        assert!(matches!(
            req(&[("Content-Length", "10")], &mut b).read_body(9),
            Err(Error::TooLarge(_))
        ));
        let mut b: &[u8] = b"0123456789";
        assert!(matches!(
            req(&[], &mut b).read_body(9),
            Err(Error::TooLarge(_))
        ));
        let mut b: &[u8] = b"0123456789";
        assert_eq!(req(&[], &mut b).read_body(10).unwrap(), b"0123456789");
        let mut b: &[u8] = b"x";
        assert!(matches!(
            req(
                &[("Content-Length", "1"), ("Transfer-Encoding", "chunked")],
                &mut b
            )
            .read_body(9),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn gzip_bodies_are_inflated_with_a_cap() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[b'a'; 10_000]).unwrap();
        let gz: &'static [u8] = Box::leak(enc.finish().unwrap().into_boxed_slice());
        let mut b = gz;
        assert_eq!(
            req(&[("Content-Encoding", "gzip")], &mut b)
                .read_body(10_000)
                .unwrap()
                .len(),
            10_000
        );
        let mut b = gz;
        assert!(matches!(
            req(&[("Content-Encoding", "gzip")], &mut b).read_body(9_999),
            Err(Error::TooLarge(_))
        ));
    }
}
