//! The HTTP side of the uplink: one ureq agent bounded by `uplink.timeout`, the token sent to
//! the upstream's own origin only, the fence (nothing is fetched, and no redirect followed,
//! outside the upstream's origin and `uplink.tarball_hosts`), and the upstream's health. After
//! a failure nobody contacts the upstream for a while (1 s, doubling up to a minute); then one
//! request probes it.

use crate::config::{Secret, Uplink as Settings};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Redirects followed for one GET, each checked against the fence.
const MAX_REDIRECTS: usize = 5;

/// An answer from the upstream below 500 (those count as failures).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    /// Decoded (gzip removed); empty for 304.
    pub body: Vec<u8>,
}

/// Why the upstream gave no answer.
#[derive(Debug)]
pub enum Failure {
    /// Refused, reset, unresolvable, TLS failure, or a 5xx answer. The upstream is marked down.
    Down(String),
    /// Nothing within `uplink.timeout`. The upstream is marked down.
    Timeout(Duration),
    /// Marked down by an earlier failure, so not contacted.
    BackingOff { last: String, retry_in: Duration },
    /// The body was over the limit; the upstream itself is fine.
    TooLarge(u64),
    /// The URL, or a redirect, leads outside the upstream's origin and `uplink.tarball_hosts`;
    /// nothing was fetched from there. Holds the origin it led to.
    Fenced(String),
}

impl Failure {
    /// The reason, worded to follow "the upstream registry ... ".
    pub fn reason(&self) -> String {
        match self {
            Failure::Down(why) => why.clone(),
            Failure::Timeout(t) => format!(
                "it did not answer within {} s (uplink.timeout)",
                t.as_secs()
            ),
            Failure::BackingOff { last, retry_in } => format!(
                "it failed recently ({last}); nmr tries it again in {} s",
                retry_in.as_secs().max(1)
            ),
            Failure::TooLarge(n) => format!("its answer is larger than {n} bytes"),
            Failure::Fenced(origin) => format!(
                "it points to {origin}, which is neither its own origin nor listed in uplink.tarball_hosts, so nmr does not fetch from there"
            ),
        }
    }
}

#[derive(Default)]
struct HealthState {
    failures: u32,
    retry_at: Option<Instant>,
    last: String,
}

/// Whether the upstream may be contacted now.
#[derive(Default)]
struct Health {
    state: Mutex<HealthState>,
}

fn backoff(failures: u32) -> Duration {
    BACKOFF_FIRST
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(BACKOFF_MAX)
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets a request through, or says how long the upstream is left alone. Once the wait is
    /// over, the first caller becomes the probe and the others keep waiting for its outcome.
    fn admit(&self, now: Instant) -> Result<(), Failure> {
        let mut s = self.lock();
        match s.retry_at {
            None => Ok(()),
            Some(t) if now >= t => {
                s.retry_at = Some(now + backoff(s.failures));
                Ok(())
            }
            Some(t) => Err(Failure::BackingOff {
                last: s.last.clone(),
                retry_in: t - now,
            }),
        }
    }

    fn succeeded(&self) {
        let mut s = self.lock();
        s.failures = 0;
        s.retry_at = None;
    }

    /// Marks the upstream down; returns how long it is left alone.
    fn failed(&self, now: Instant, why: &str) -> Duration {
        let mut s = self.lock();
        s.failures = s.failures.saturating_add(1);
        let wait = backoff(s.failures);
        s.retry_at = Some(now + wait);
        s.last = why.to_string();
        wait
    }
}

/// `scheme://host[:port]` of a URL, lower-cased and without a default port, for comparing
/// origins. User information stays in, so `https://upstream@elsewhere` never passes for
/// `https://upstream`.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    let scheme = scheme.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    let host = match scheme.as_str() {
        "http" => host.strip_suffix(":80").unwrap_or(&host),
        "https" => host.strip_suffix(":443").unwrap_or(&host),
        _ => return None,
    };
    Some(format!("{scheme}://{host}"))
}

/// A URL as it may appear in the log: no query or fragment (they may carry signatures or
/// tokens) and no user information.
pub fn loggable(url: &str) -> String {
    let bare = url.split(['?', '#']).next().unwrap_or("");
    let cleaned = match bare.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => bare.to_string(),
    };
    cleaned.chars().filter(|c| !c.is_control()).collect()
}

/// Where a redirect from `from` to `location` leads: an absolute URL, `//host/...`, an
/// absolute path, or a path relative to `from`'s.
fn resolve(from: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.contains("://") {
        return Some(location.to_string());
    }
    let (scheme, rest) = from.split_once("://")?;
    if let Some(net) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{net}"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    let path = path.split(['?', '#']).next().unwrap_or("");
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    Some(format!("{scheme}://{authority}{dir}{location}"))
}

/// Why a request could not be made, in words that carry no URL (ureq's own texts for a bad
/// URL quote it whole, query string included).
pub fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => "the URL is not valid".into(),
        ureq::Error::HostNotFound => "its host name does not resolve".into(),
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// The connection to the upstream registry.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    /// Origins requests may go to: the upstream's and `uplink.tarball_hosts`.
    fence: Vec<String>,
    token: Option<Secret>,
    timeout: Duration,
    health: Health,
    /// Failed exchanges (down, timed out, 5xx) since start, for the metrics.
    errors: AtomicU64,
}

impl Client {
    /// A client for `uplink.url` (empty when the uplink is off: then it is never called).
    pub fn new(s: &Settings) -> Client {
        let t = Some(s.timeout);
        // A per-read timeout bounds a stalled upstream without capping a large download that
        // keeps moving. Redirects are followed here, each checked against the fence, and never
        // carry the token.
        let agent = ureq::config::Config::builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_resolve(t)
            .timeout_connect(t)
            .timeout_per_read(t)
            .timeout_per_write(t)
            .user_agent(concat!("nmr/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        let base = s.url.clone().unwrap_or_default();
        let fence = origin(&base)
            .into_iter()
            .chain(s.tarball_hosts.iter().cloned())
            .collect();
        Client {
            agent,
            fence,
            base,
            token: s.token.clone(),
            timeout: s.timeout,
            health: Health::default(),
            errors: AtomicU64::new(0),
        }
    }

    /// How many exchanges with the upstream failed since start.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The upstream's base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn authorize<B>(&self, rb: ureq::RequestBuilder<B>, url: &str) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) if origin(url).is_some() && origin(url) == origin(&self.base) => {
                rb.header("Authorization", format!("Bearer {}", t.0))
            }
            _ => rb,
        }
    }

    /// Refuses a URL outside the fence, saying so in the log.
    fn fenced(&self, url: &str, redirected: bool) -> Result<(), Failure> {
        match origin(url) {
            Some(o) if self.fence.contains(&o) => Ok(()),
            o => {
                let shown = o.unwrap_or_else(|| "a URL that is not http(s)".into());
                crate::warn!(
                    "uplink: refused to {} {}: {shown} is neither {}'s origin nor in uplink.tarball_hosts",
                    if redirected { "follow a redirect to" } else { "fetch" },
                    loggable(url),
                    self.base
                );
                Err(Failure::Fenced(shown))
            }
        }
    }

    /// `GET url` with extra headers, reading at most `limit` body bytes. Redirects are followed
    /// only within the fence, and without the token.
    pub fn get(&self, url: &str, headers: &[(&str, &str)], limit: u64) -> Result<Answer, Failure> {
        self.fenced(url, false)?;
        self.call(url, || {
            let mut at = url.to_string();
            for hop in 0..=MAX_REDIRECTS {
                let mut rb = self.agent.get(&at);
                if hop == 0 {
                    rb = self.authorize(rb, &at);
                }
                for (k, v) in headers {
                    rb = rb.header(*k, *v);
                }
                let resp = rb.call().map_err(|e| self.failure(e))?;
                let status = resp.status().as_u16();
                if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                    return self.answer(resp, limit);
                }
                let next = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| resolve(&at, l))
                    .ok_or_else(|| {
                        Failure::Down(format!("it answered {status} without a usable Location"))
                    })?;
                self.fenced(&next, true)?;
                at = next;
            }
            Err(Failure::Down(format!(
                "it redirected more than {MAX_REDIRECTS} times"
            )))
        })
    }

    /// `POST url` with a JSON body, reading at most `limit` body bytes. Not redirected.
    pub fn post_json(&self, url: &str, body: &[u8], limit: u64) -> Result<Answer, Failure> {
        self.fenced(url, false)?;
        self.call(url, || {
            let rb = self
                .authorize(self.agent.post(url), url)
                .header("Content-Type", "application/json");
            let resp = rb.send(body).map_err(|e| self.failure(e))?;
            self.answer(resp, limit)
        })
    }

    fn call(
        &self,
        url: &str,
        exchange: impl FnOnce() -> Result<Answer, Failure>,
    ) -> Result<Answer, Failure> {
        self.health.admit(Instant::now())?;
        let result = exchange();
        match &result {
            Err(f @ (Failure::Down(_) | Failure::Timeout(_))) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let why = f.reason();
                let wait = self.health.failed(Instant::now(), &why);
                crate::warn!(
                    "uplink: {}: {why}; not contacting {} for {} s",
                    loggable(url),
                    self.base,
                    wait.as_secs()
                );
            }
            _ => self.health.succeeded(),
        }
        result
    }

    fn answer(
        &self,
        mut resp: ureq::http::Response<ureq::Body>,
        limit: u64,
    ) -> Result<Answer, Failure> {
        let status = resp.status().as_u16();
        if status >= 500 {
            return Err(Failure::Down(format!("it answered {status}")));
        }
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = if status == 304 {
            Vec::new()
        } else {
            resp.body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map_err(|e| self.failure(e))?
        };
        Ok(Answer { status, etag, body })
    }

    fn failure(&self, e: ureq::Error) -> Failure {
        match e {
            ureq::Error::Timeout(_) => Failure::Timeout(self.timeout),
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                Failure::Timeout(self.timeout)
            }
            ureq::Error::BodyExceedsLimit(n) => Failure::TooLarge(n),
            other => Failure::Down(describe(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_callers_away_until_one_probe_is_let_through() {
        let h = Health::default();
        let t0 = Instant::now();
        assert!(h.admit(t0).is_ok());
        assert_eq!(h.failed(t0, "connection refused"), Duration::from_secs(1));
        match h.admit(t0 + Duration::from_millis(500)) {
            Err(Failure::BackingOff { last, .. }) => assert_eq!(last, "connection refused"),
            other => panic!("{other:?}"),
        }
        let later = t0 + Duration::from_secs(1);
        assert!(
            h.admit(later).is_ok(),
            "the first caller after the wait probes"
        );
        assert!(h.admit(later).is_err(), "others wait for the probe");
        assert_eq!(h.failed(later, "still refused"), Duration::from_secs(2));
        h.succeeded();
        assert!(h.admit(later).is_ok());
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn origins_redirects_and_logged_urls() {
        assert_eq!(
            origin("HTTPS://Up.example.test:443/npm/x?y").as_deref(),
            Some("https://up.example.test")
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/x").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            origin("https://up.example.test@evil.test/").as_deref(),
            Some("https://up.example.test@evil.test")
        );
        assert_eq!(origin("ftp://up.example.test/"), None);
        let from = "https://up.example.test/npm/pkg/-/pkg-1.tgz?sig=1";
        assert_eq!(
            resolve(from, "https://cdn.example.test/a").as_deref(),
            Some("https://cdn.example.test/a")
        );
        assert_eq!(
            resolve(from, "//cdn.example.test/a").as_deref(),
            Some("https://cdn.example.test/a")
        );
        assert_eq!(
            resolve(from, "/b?c=d").as_deref(),
            Some("https://up.example.test/b?c=d")
        );
        assert_eq!(
            resolve(from, "other.tgz").as_deref(),
            Some("https://up.example.test/npm/pkg/-/other.tgz")
        );
        assert_eq!(
            loggable("https://user:pw@cdn.example.test/p.tgz?X-Sig=secret#f\n"),
            "https://cdn.example.test/p.tgz"
        );
    }

    #[test]
    fn the_token_goes_to_the_upstream_origin_only() {
        let c = Client::new(&Settings {
            mode: crate::config::UplinkMode::Proxy,
            url: Some("https://upstream.example.test/npm".into()),
            token: Some(Secret("s3cret".into())),
            timeout: Duration::from_secs(1),
            maxage: Duration::from_secs(1),
            offline: false,
            cache_max_size: None,
            private_scopes: vec![],
            tarball_hosts: vec![],
        });
        let auth = |url: &str| {
            c.authorize(c.agent.get(url), url)
                .headers_ref()
                .and_then(|h| h.get("authorization").cloned())
        };
        assert_eq!(
            auth("https://UPSTREAM.example.test/npm/pkg").unwrap(),
            "Bearer s3cret"
        );
        assert!(auth("https://cdn.example.test/pkg/-/pkg-1.0.0.tgz").is_none());
        assert!(auth("http://upstream.example.test/npm/pkg").is_none());
        assert!(auth("https://upstream.example.test:8443/npm/pkg").is_none());
    }
}
