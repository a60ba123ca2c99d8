//! Issue #15, the upstream's fences (proxy mode):
//! - tarballs are fetched only from the upstream's own origin and `uplink.tarball_hosts`; a
//!   packument pointing elsewhere gets 502 and a log line, and nothing is asked there;
//! - redirects are followed only within the same fence, and never carry the token;
//! - errors sent to clients never repeat the upstream's body or a tarball URL's query string.

use crate::support::http_server::{TestRequest, TestResponse, TestServer};
use crate::support::*;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// A registry proxying `upstream`, with extra flags.
fn proxy(upstream: &str, extra: &[&str]) -> Registry {
    let url = format!("uplink.url={upstream}");
    let mut args = vec!["--set", "uplink.mode=proxy", "--set", &url];
    args.extend_from_slice(extra);
    Registry::start_with(&args, &[])
}

/// A server that records what it is asked and answers with `answer`.
struct Recorder {
    server: TestServer,
    seen: Arc<Mutex<Vec<TestRequest>>>,
}

impl Recorder {
    fn start(answer: impl Fn(&TestRequest) -> TestResponse + Send + Sync + 'static) -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = TestServer::start(move |rq| {
            log.lock().unwrap().push(rq.clone());
            answer(rq)
        });
        Recorder { server, seen }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    fn seen(&self) -> Vec<TestRequest> {
        self.seen.lock().unwrap().clone()
    }
}

/// A packument for `name@1.0.0` whose tarball is `tgz` at `tarball`.
fn packument(name: &str, tarball: &str, tgz: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "name": name, "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {"name": name, "version": "1.0.0", "dist": {
            "tarball": tarball, "integrity": integrity(tgz), "shasum": sha1_hex(tgz)}}}
    }))
    .unwrap()
}

#[test]
fn tarballs_come_only_from_the_upstream_origin_and_tarball_hosts() {
    let tgz = fake_tgz("from the cdn");
    let body = tgz.clone();
    let cdn = Recorder::start(move |_| TestResponse::new(200, body.clone()));
    let tarball = format!("{}/far/-/far-1.0.0.tgz?sig=SECRET-SIG", cdn.url());
    let doc = packument("far", &tarball, &tgz);
    let upstream = Recorder::start(move |_| TestResponse::new(200, doc.clone()));

    let px = proxy(&upstream.url(), &[]);
    let r = px.get("/far/-/far-1.0.0.tgz");
    expect_error(&r, 502, &["far", "uplink.tarball_hosts", &cdn.url()]);
    assert!(!r.text().contains("SECRET-SIG"), "{}", r.text());
    assert!(cdn.seen().is_empty(), "nothing was asked of another host");
    let log = px.settled_log();
    assert!(
        log.lines().any(|l| l.contains(" warn ")
            && l.contains("refused to fetch")
            && l.contains(&cdn.url())),
        "{log}"
    );
    assert!(!log.contains("SECRET-SIG"), "{log}");
    drop(px);

    // Listed in uplink.tarball_hosts, the same host is fine (with a default port left out).
    let hosts = format!("uplink.tarball_hosts={}/", cdn.url().to_uppercase());
    let px = proxy(&upstream.url(), &["--set", &hosts]);
    let r = px.get("/far/-/far-1.0.0.tgz");
    assert_eq!((r.status, &r.body), (200, &tgz), "{}", r.text());
}

#[test]
fn redirects_stay_within_the_fence_and_never_carry_the_token() {
    let tgz = fake_tgz("redirected");
    let body = tgz.clone();
    let mirror = Recorder::start(move |_| TestResponse::new(200, body.clone()));
    let elsewhere = Recorder::start(|_| TestResponse::new(200, "not asked"));
    let (mirror_url, elsewhere_url) = (mirror.url(), elsewhere.url());
    let upstream = Arc::new(Mutex::new(String::new()));
    let own = upstream.clone();
    let docs = tgz.clone();
    let registry = Recorder::start(move |rq| {
        let base = own.lock().unwrap().clone();
        match rq.path.as_str() {
            "/near" => TestResponse::new(
                200,
                packument("near", &format!("{base}/near/-/near-1.0.0.tgz"), &docs),
            ),
            "/away" => TestResponse::new(
                200,
                packument("away", &format!("{base}/away/-/away-1.0.0.tgz"), &docs),
            ),
            "/near/-/near-1.0.0.tgz" => TestResponse::new(302, "")
                .with_header("Location", &format!("{mirror_url}/blobs/near.tgz")),
            "/away/-/away-1.0.0.tgz" => TestResponse::new(302, "").with_header(
                "Location",
                &format!("{elsewhere_url}/blobs/away.tgz?token=SECRET-QUERY"),
            ),
            _ => TestResponse::new(404, "{}"),
        }
    });
    *upstream.lock().unwrap() = registry.url();
    let hosts = format!("uplink.tarball_hosts={}", mirror.url());
    let px = proxy(
        &registry.url(),
        &["--set", &hosts, "--set", "uplink.token=s3cret"],
    );

    let r = px.get("/near/-/near-1.0.0.tgz");
    assert_eq!((r.status, &r.body), (200, &tgz), "{}", r.text());
    let fetched = mirror.seen();
    assert_eq!(fetched.len(), 1);
    assert_eq!(
        fetched[0].header("authorization"),
        None,
        "no token on a redirect"
    );

    let r = px.get("/away/-/away-1.0.0.tgz");
    expect_error(&r, 502, &["away", "uplink.tarball_hosts"]);
    assert!(!r.text().contains("SECRET-QUERY"), "{}", r.text());
    assert!(
        elsewhere.seen().is_empty(),
        "a redirect out of the fence is not followed"
    );
    assert!(px.settled_log().contains("refused to follow a redirect to"));
    let asked = registry.seen();
    assert!(
        asked
            .iter()
            .all(|rq| rq.header("authorization") == Some("Bearer s3cret")),
        "the upstream itself gets the token: {asked:?}"
    );
}

#[test]
fn upstream_errors_never_repeat_its_body_or_a_tarball_query() {
    let tgz = fake_tgz("refused");
    let upstream = Arc::new(Mutex::new(String::new()));
    let own = upstream.clone();
    let registry = Recorder::start(move |rq| {
        let base = own.lock().unwrap().clone();
        let gossip = r#"{"error":"<script>UPSTREAM-BODY</script>"}"#;
        match rq.path.as_str() {
            "/teapot" => TestResponse::new(418, gossip),
            "/gated" => TestResponse::new(
                200,
                packument(
                    "gated",
                    &format!("{base}/gated/-/gated-1.0.0.tgz?X-Signature=SECRET-QUERY"),
                    &tgz,
                ),
            ),
            _ => TestResponse::new(403, gossip),
        }
    });
    *upstream.lock().unwrap() = registry.url();
    let px = proxy(&registry.url(), &[]);

    let r = px.get("/teapot");
    expect_error(&r, 502, &["teapot", "418"]);
    assert!(!r.text().contains("UPSTREAM-BODY"), "{}", r.text());

    let r = px.get("/gated/-/gated-1.0.0.tgz");
    expect_error(&r, 502, &["gated", "403"]);
    for secret in ["UPSTREAM-BODY", "SECRET-QUERY"] {
        assert!(!r.text().contains(secret), "{}", r.text());
    }
    assert!(!px.settled_log().contains("SECRET-QUERY"));
}
