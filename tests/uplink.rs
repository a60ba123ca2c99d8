//! The upstream registry (uplink), with a second nmr as the upstream (and tiny fakes on
//! 127.0.0.1 where nmr cannot misbehave on purpose):
//! - proxy: npm and pnpm install through nmr; with the upstream stopped, clean-cache installs of the same
//!   tree still work (stale packuments carry a `Warning`), uncached packages and tarballs fail
//!   with 502 naming upstream and package, and a down upstream is not asked on every request;
//! - revalidation after `uplink.maxage` (304 keeps the copy, a new upstream version shows up);
//! - a tarball whose bytes do not match its integrity is refused and not cached;
//! - concurrent requests for one uncached tarball make one upstream fetch;
//! - local names and scopes (and `uplink.private_scopes`) never go upstream; publishing over
//!   an upstream name or scope is refused;
//! - redirect mode answers 302; offline mode serves only the cache;
//! - timeouts give 504; audits and the token go to the upstream only as they should;
//! - configuration errors name the keys, and `nmr config` masks the token.

use crate::support::auth::nmr;
use crate::support::http_server::{TestResponse, TestServer};
use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Barrier, Mutex};

const CORGI: &str = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

/// A registry proxying `upstream`, with extra flags.
fn proxy(upstream: &str, extra: &[&str]) -> Registry {
    let url = format!("uplink.url={upstream}");
    let mut args = vec!["--set", "uplink.mode=proxy", "--set", &url];
    args.extend_from_slice(extra);
    Registry::start_with(&args, &[])
}

/// Access-log lines for `method path` (path with query, exactly as requested).
fn hits(log: &str, method: &str, path: &str) -> usize {
    let needle = format!(" {method} {path} ");
    log.lines().filter(|l| l.contains(&needle)).count()
}

fn db(reg: &Registry) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        reg.dir.path().join("data/nmr.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap()
}

/// `None` if the proxy knows no such upstream file, else its blob key (`None` until stored).
fn stored_blob(reg: &Registry, name: &str, file: &str) -> Option<Option<String>> {
    db(reg)
        .query_row(
            "SELECT blob_key FROM uplink_files WHERE name = ?1 AND filename = ?2",
            [name, file],
            |r| r.get(0),
        )
        .ok()
}

fn packument_cached(reg: &Registry, name: &str) -> bool {
    db(reg)
        .query_row(
            "SELECT COUNT(*) FROM uplink_packages WHERE name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        == 1
}

/// Files the proxy stored for upstream tarballs.
fn uplink_blobs(reg: &Registry) -> Vec<String> {
    reg.snapshot()
        .into_keys()
        .filter(|k| k.starts_with("file _uplink/"))
        .collect()
}

/// Asserts an error status and that its `error` text mentions every one of `parts`.
fn versions(doc: &Value) -> Vec<String> {
    doc["versions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn npm_publish(c: &Client, work: &Path, manifest: Value) {
    c.ok("npm", &["publish"], &make_package(work, manifest));
}

#[test]
fn uplink_proxy_installs_and_keeps_serving_when_the_upstream_is_gone() {
    let up = Registry::start();
    let work = TempDir::new("work");
    let cu = Client::new(&up);
    npm_publish(
        &cu,
        work.path(),
        json!({"name": "uplinkdep", "version": "1.0.0", "main": "index.js", "license": "MIT"}),
    );
    npm_publish(
        &cu,
        work.path(),
        json!({"name": "@up/lib", "version": "1.0.0", "main": "index.js", "license": "MIT",
               "dependencies": {"uplinkdep": "^1.0.0"}}),
    );
    // Listed in the packument but never installed, so never cached.
    raw_publish(&up, "@up/lib", "1.1.0");
    raw_publish(&up, "notfetched", "1.0.0");
    let up_url = up.url();

    let px = proxy(&up_url, &["--set", "uplink.maxage=1"]);
    let c = Client::new(&px);
    let app = make_app(work.path(), "app", json!({"@up/lib": "1.0.0"}));
    c.ok("npm", &["install"], &app);
    let installed = std::fs::read_to_string(app.join("node_modules/@up/lib/index.js")).unwrap();
    assert!(installed.contains("@up/lib@1.0.0"), "{installed}");
    assert!(app.join("node_modules/uplinkdep/index.js").is_file());
    let lock: Value =
        serde_json::from_slice(&std::fs::read(app.join("package-lock.json")).unwrap()).unwrap();
    assert_eq!(
        lock["packages"]["node_modules/@up/lib"]["resolved"],
        format!("{}/@up/lib/-/lib-1.0.0.tgz", px.url()),
        "clients keep talking to nmr"
    );
    assert!(stored_blob(&px, "@up/lib", "lib-1.0.0.tgz")
        .unwrap()
        .is_some());
    assert!(stored_blob(&px, "uplinkdep", "uplinkdep-1.0.0.tgz")
        .unwrap()
        .is_some());
    assert_eq!(uplink_blobs(&px).len(), 2);
    assert_eq!(
        hits(
            &up.settled_log(),
            "POST",
            "/-/npm/v1/security/advisories/bulk"
        ),
        1,
        "the install's audit went upstream"
    );
    // pnpm resolves from abbreviated packuments.
    let papp = make_app(work.path(), "papp", json!({"@up/lib": "1.0.0"}));
    c.pnpm_install(&papp, &work.path().join("pnpm-store"));
    assert!(papp.join("node_modules/@up/lib/index.js").is_file());

    let _up_dir = up.stop();

    // Once maxage has passed, the upstream cannot confirm the copy: served stale, flagged.
    let stale = wait_for("a stale packument", || {
        let r = px.get("/@up%2flib");
        r.header("warning").is_some().then_some(r)
    });
    assert_eq!(stale.status, 200);
    assert_eq!(stale.header("warning"), Some("110 - \"Response is Stale\""));
    let doc = stale.json();
    assert_eq!(versions(&doc), ["1.0.0", "1.1.0"]);
    assert_eq!(
        doc["versions"]["1.0.0"]["dist"]["tarball"],
        format!("{}/@up/lib/-/lib-1.0.0.tgz", px.url())
    );
    assert!(px
        .settled_log()
        .contains("serving the cached packument of @up/lib stale"));

    // Clean caches: resolving from (stale) packuments, and from the lockfile.
    let c2 = Client::new(&px);
    let app2 = make_app(work.path(), "app2", json!({"@up/lib": "1.0.0"}));
    c2.ok("npm", &["install"], &app2);
    assert!(app2.join("node_modules/uplinkdep/index.js").is_file());
    let c3 = Client::new(&px);
    let app3 = make_app(work.path(), "app3", json!({"@up/lib": "1.0.0"}));
    std::fs::copy(
        app.join("package-lock.json"),
        app3.join("package-lock.json"),
    )
    .unwrap();
    c3.ok("npm", &["ci"], &app3);
    assert!(app3.join("node_modules/@up/lib/index.js").is_file());

    // What was never cached cannot be had, and the error says from where and what.
    let out = c2.run(
        "npm",
        &["install", "notfetched", "--fetch-retries=0"],
        &app2,
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("502") && text.contains("notfetched") && text.contains(&up_url),
        "{text}"
    );
    expect_error(&px.get("/notfetched"), 502, &["notfetched", &up_url]);
    assert!(!packument_cached(&px, "notfetched"));

    let r = px.get("/@up/lib/-/lib-1.1.0.tgz");
    expect_error(&r, 502, &["@up/lib/-/lib-1.1.0.tgz", &up_url]);
    assert_eq!(stored_blob(&px, "@up/lib", "lib-1.1.0.tgz"), Some(None));
    assert_eq!(uplink_blobs(&px).len(), 2, "nothing new stored");

    // Backing off: a burst of requests does not become a burst of connection attempts.
    let failures = |log: &str| log.matches("not contacting").count();
    let before = failures(&px.settled_log());
    for _ in 0..10 {
        assert_eq!(px.get("/notfetched").status, 502);
    }
    let after = failures(&px.settled_log());
    assert!(
        after - before <= 1,
        "{} attempts for 10 requests",
        after - before
    );
}

#[test]
fn uplink_revalidates_after_maxage_and_shows_new_upstream_versions() {
    let up = Registry::start();
    raw_publish(&up, "fresh", "1.0.0");
    let px = proxy(&up.url(), &["--set", "uplink.maxage=1"]);

    let first = px.get("/fresh");
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(versions(&first.json()), ["1.0.0"]);
    assert!(first.header("warning").is_none());

    // After maxage the copy is revalidated; the upstream's 304 keeps it.
    wait_for("a revalidation answered 304", || {
        assert_eq!(px.get("/fresh").status, 200);
        up.log().contains("GET /fresh 304").then_some(())
    });

    let tgz = raw_publish(&up, "fresh", "1.1.0");
    let doc = wait_for("the new version through the proxy", || {
        let doc = px.get("/fresh").json();
        (versions(&doc).len() == 2).then_some(doc)
    });
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0");
    assert_eq!(
        doc["versions"]["1.1.0"]["dist"]["tarball"],
        format!("{}/fresh/-/fresh-1.1.0.tgz", px.url())
    );
    let got = px.get("/fresh/-/fresh-1.1.0.tgz");
    assert_eq!((got.status, &got.body), (200, &tgz));

    // The abbreviated form, ETags and the other read endpoints work for proxied names too.
    let abbr = px.request("GET", "/fresh", &[("Accept", CORGI)], b"");
    assert_eq!(
        abbr.header("content-type"),
        Some("application/vnd.npm.install-v1+json")
    );
    let a = abbr.json();
    assert!(a.get("readme").is_none() && a["versions"]["1.1.0"].get("description").is_none());
    crate::protocol::assert_abbreviated(&a);
    assert_eq!(
        a["versions"]["1.1.0"]["dist"],
        doc["versions"]["1.1.0"]["dist"]
    );
    let etag = abbr.header("etag").unwrap().to_string();
    let again = px.request(
        "GET",
        "/fresh",
        &[("Accept", CORGI), ("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(again.status, 304);
    assert_eq!(
        px.get("/-/package/fresh/dist-tags").json(),
        json!({"latest": "1.1.0"})
    );
    let v = px.get("/fresh/latest").json();
    assert_eq!(v["version"], "1.1.0");
    assert_eq!(
        v["dist"]["tarball"],
        doc["versions"]["1.1.0"]["dist"]["tarball"]
    );
    assert_eq!(px.get("/nosuchpkg").status, 404);
}

#[test]
fn uplink_refuses_a_tarball_that_does_not_match_its_integrity() {
    let up = Registry::start();
    raw_publish(&up, "corrupt", "1.0.0");
    let blob_dir = up.dir.path().join("data/storage/corrupt");
    let blob = std::fs::read_dir(&blob_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&blob, fake_tgz("tampered")).unwrap();

    let px = proxy(&up.url(), &[]);
    for attempt in 1..=2 {
        let r = px.get("/corrupt/-/corrupt-1.0.0.tgz");
        expect_error(&r, 502, &["corrupt-1.0.0.tgz", "integrity", &up.url()]);
        assert_eq!(stored_blob(&px, "corrupt", "corrupt-1.0.0.tgz"), Some(None));
        assert!(uplink_blobs(&px).is_empty());
        assert_eq!(
            hits(&up.settled_log(), "GET", "/corrupt/-/corrupt-1.0.0.tgz"),
            attempt,
            "a refused download is not cached, so it is fetched again"
        );
    }
}

#[test]
fn uplink_fetches_an_uncached_tarball_once_for_concurrent_requests() {
    let up = Registry::start();
    let tgz = raw_publish(&up, "busy", "1.0.0");
    let px = Arc::new(proxy(&up.url(), &["--workers", "8"]));
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (px, barrier) = (px.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                px.get("/busy/-/busy-1.0.0.tgz")
            })
        })
        .collect();
    for t in threads {
        let r = t.join().unwrap();
        assert_eq!((r.status, &r.body), (200, &tgz));
    }
    let log = up.settled_log();
    assert_eq!(hits(&log, "GET", "/busy/-/busy-1.0.0.tgz"), 1, "{log}");
    assert_eq!(hits(&log, "GET", "/busy"), 1, "{log}");
    assert_eq!(uplink_blobs(&px).len(), 1);
}

#[test]
fn uplink_never_mixes_local_names_or_scopes_with_the_upstream() {
    let up = Registry::start();
    for (name, version) in [
        ("shared", "1.0.0"),
        ("shared", "2.0.0"),
        ("@corp/a", "1.0.0"),
        ("@internal/x", "1.0.0"),
        ("@pub/ok", "1.0.0"),
    ] {
        raw_publish(&up, name, version);
    }
    let px = proxy(
        &up.url(),
        &["--set", "uplink.private_scopes=@internal,@other"],
    );
    let local = fake_tgz("the local shared");
    let r = px.put_json(
        "/shared",
        &publish_body("shared", "1.0.0", &local, "latest"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    raw_publish(&px, "@corp/b", "1.0.0");

    let doc = px.get("/shared").json();
    assert_eq!(versions(&doc), ["1.0.0"], "never merged with the upstream");
    assert_eq!(
        doc["versions"]["1.0.0"]["dist"]["integrity"],
        integrity(&local)
    );
    assert_eq!(px.get("/shared/-/shared-1.0.0.tgz").body, local);
    assert_eq!(px.get("/shared/-/shared-2.0.0.tgz").status, 404);
    assert_eq!(
        px.get("/-/package/shared/dist-tags").json(),
        json!({"latest": "1.0.0"})
    );
    for path in [
        "/@corp%2fa",
        "/@corp/a/-/a-1.0.0.tgz",
        "/-/package/@corp%2fa/dist-tags",
        "/@internal%2fx",
        "/@internal/x/-/x-1.0.0.tgz",
    ] {
        assert_eq!(px.get(path).status, 404, "{path}");
    }
    assert_eq!(
        px.get("/@pub%2fok").status,
        200,
        "other names do go upstream"
    );
    let log = up.settled_log();
    for never in ["/shared", "@corp", "@internal"] {
        assert!(
            !log.lines()
                .any(|l| l.contains(" GET ") && l.contains(never)),
            "{never} was asked upstream:\n{log}"
        );
    }

    // Publishing where the upstream serves is refused, and changes nothing.
    let before = px.snapshot();
    let r = px.put_json(
        "/@pub%2fok",
        &publish_body("@pub/ok", "9.0.0", &fake_tgz("hijack"), "latest"),
    );
    expect_error(&r, 409, &["@pub/ok", "upstream"]);
    let r = px.put_json(
        "/@Pub%2fOK",
        &publish_body("@Pub/OK", "9.0.0", &fake_tgz("hijack"), "latest"),
    );
    expect_error(&r, 409, &["@Pub/OK", "differs only in case", "@pub/ok"]);
    let r = px.put_json(
        "/@pub%2fnew",
        &publish_body("@pub/new", "1.0.0", &fake_tgz("new"), "latest"),
    );
    expect_error(&r, 409, &["@pub", "uplink.private_scopes"]);
    assert_eq!(px.snapshot(), before);
    // A private scope may be published to.
    raw_publish(&px, "@other/mine", "1.0.0");
}

#[test]
fn uplink_redirect_mode_sends_clients_to_the_same_path_upstream() {
    let up = Registry::start();
    let work = TempDir::new("work");
    npm_publish(
        &Client::new(&up),
        work.path(),
        json!({"name": "redir", "version": "1.0.0", "main": "index.js", "license": "MIT"}),
    );
    let px = Registry::start_with(
        &[
            "--set",
            "uplink.mode=redirect",
            "--set",
            &format!("uplink.url={}/", up.url()),
        ],
        &[],
    );
    raw_publish(&px, "localpkg", "1.0.0");
    for path in [
        "/redir",
        "/@x%2fy?write=true",
        "/redir/-/redir-1.0.0.tgz",
        "/-/package/redir/dist-tags",
        "/redir/1.0.0",
    ] {
        let r = px.get(path);
        assert_eq!(r.status, 302, "{path}");
        assert_eq!(
            r.header("location"),
            Some(format!("{}{path}", up.url()).as_str())
        );
    }
    assert_eq!(px.get("/localpkg").status, 200);

    let c = Client::new(&px);
    let app = make_app(work.path(), "app", json!({"redir": "^1.0.0"}));
    c.ok("npm", &["install"], &app);
    assert!(app.join("node_modules/redir/index.js").is_file());
    let lock = std::fs::read_to_string(app.join("package-lock.json")).unwrap();
    assert!(
        lock.contains(&format!("{}/redir/-/redir-1.0.0.tgz", up.url())),
        "{lock}"
    );
    assert!(px.snapshot().keys().all(|k| !k.starts_with("uplink")));
}

#[test]
fn uplink_offline_serves_only_the_cache_and_never_asks_the_upstream() {
    let up = Registry::start();
    let tgz = raw_publish(&up, "offl", "1.0.0");
    raw_publish(&up, "never", "1.0.0");
    let px = proxy(&up.url(), &["--set", "uplink.maxage=1"]);
    assert_eq!(px.get("/offl/-/offl-1.0.0.tgz").body, tgz);
    let dir = px.stop();

    let seen = up.settled_log().lines().count();
    let args = [
        "--set",
        "uplink.mode=proxy",
        "--set",
        &format!("uplink.url={}", up.url()),
        "--set",
        "uplink.maxage=1",
        "--offline",
    ];
    let px = Registry::start_in(dir, &args, &[]);
    let doc = px.get("/offl").json();
    assert_eq!(versions(&doc), ["1.0.0"]);
    assert_eq!(px.get("/offl/-/offl-1.0.0.tgz").body, tgz);
    expect_error(&px.get("/never"), 404, &["never", "offline"]);
    let audit = px.request(
        "POST",
        "/-/npm/v1/security/advisories/bulk",
        &[("Content-Type", "application/json")],
        br#"{"offl":["1.0.0"]}"#,
    );
    assert_eq!(
        audit.status, 404,
        "offline: nothing was audited, and nmr says so"
    );
    assert!(audit.error().contains("no security advisory data"));
    // The marker request itself is the only new line.
    assert_eq!(up.settled_log().lines().count(), seen + 1);
}

/// One request as a fake upstream saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    url: String,
    auth: Option<String>,
    body: Vec<u8>,
}

/// A tiny HTTP server on 127.0.0.1 that records requests and answers with `answer`.
struct Fake {
    server: TestServer,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn start(answer: impl Fn(&Seen) -> (u16, Vec<u8>) + Send + Sync + 'static) -> Fake {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = TestServer::start(move |rq| {
            let req = Seen {
                method: rq.method.clone(),
                url: rq.path.clone(),
                auth: rq.header("Authorization").map(str::to_string),
                body: rq.body.clone(),
            };
            let (status, bytes) = answer(&req);
            log.lock().unwrap().push(req);
            TestResponse::new(status, bytes)
        });
        Fake { server, seen }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

#[test]
fn uplink_audits_go_upstream_without_local_or_private_names() {
    let advisory = json!({"leftpad": [{"id": 1001, "title": "Prototype pollution", "severity": "high",
                                       "vulnerable_versions": "<2.0.0"}]});
    let answer = serde_json::to_vec(&advisory).unwrap();
    let fake = Fake::start(move |r| {
        if r.method == "POST" {
            (200, answer.clone())
        } else {
            (404, br#"{"error":"no"}"#.to_vec())
        }
    });
    let px = proxy(
        &fake.url(),
        &[
            "--set",
            "uplink.private_scopes=@internal",
            "--set",
            "uplink.token=s3cret",
        ],
    );
    raw_publish(&px, "localsecret", "1.0.0");
    let body = json!({"localsecret": ["1.0.0"], "@internal/x": ["1.0.0"], "leftpad": ["1.0.0"]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, body.to_string().as_bytes()).unwrap();
    let r = px.request(
        "POST",
        "/-/npm/v1/security/advisories/bulk",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        &gz.finish().unwrap(),
    );
    assert_eq!((r.status, r.json()), (200, advisory));
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].url, "/-/npm/v1/security/advisories/bulk");
    let sent: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(sent, json!({"leftpad": ["1.0.0"]}));
    assert_eq!(seen[0].auth.as_deref(), Some("Bearer s3cret"));

    // Only local names: nothing to ask.
    let r = px.request(
        "POST",
        "/-/npm/v1/security/advisories/bulk",
        &[("Content-Type", "application/json")],
        br#"{"localsecret":["1.0.0"]}"#,
    );
    assert_eq!(r.status, 404, "local names have no advisory data here");
    assert_eq!(fake.seen().len(), 1);
}

#[test]
fn uplink_sends_the_token_to_the_upstream_origin_only() {
    let cdn = Fake::start(|_| (200, fake_tgz("from the cdn")));
    let tgz = fake_tgz("from the cdn");
    let doc = json!({
        "name": "cdnpkg", "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {"name": "cdnpkg", "version": "1.0.0", "dist": {
            "tarball": format!("{}/cdnpkg/-/cdnpkg-1.0.0.tgz", cdn.url()),
            "integrity": integrity(&tgz), "shasum": sha1_hex(&tgz)}}}
    });
    let body = serde_json::to_vec(&doc).unwrap();
    let registry = Fake::start(move |_| (200, body.clone()));
    // The CDN is another origin: tarballs come from it only when it is listed.
    let hosts = format!("uplink.tarball_hosts={}", cdn.url());
    let px = proxy(
        &registry.url(),
        &["--set", "uplink.token=s3cret", "--set", &hosts],
    );
    let r = px.get("/cdnpkg/-/cdnpkg-1.0.0.tgz");
    assert_eq!((r.status, &r.body), (200, &tgz));
    let asked = registry.seen();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].url, "/cdnpkg");
    assert_eq!(asked[0].auth.as_deref(), Some("Bearer s3cret"));
    let fetched = cdn.seen();
    assert_eq!(fetched.len(), 1);
    assert_eq!(
        fetched[0].auth, None,
        "the token never leaves the upstream origin"
    );
}

#[test]
fn uplink_timeouts_answer_504_and_refusals_502() {
    // Accepts connections (the kernel does) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let px = proxy(&silent_url, &["--set", "uplink.timeout=1"]);
    let started = std::time::Instant::now();
    expect_error(&px.get("/slowpkg"), 504, &["slowpkg", &silent_url]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(!packument_cached(&px, "slowpkg"));

    let refusing = Fake::start(|_| (401, br#"{"error":"bad token"}"#.to_vec()));
    let px = proxy(&refusing.url(), &[]);
    let r = px.get("/private-thing");
    expect_error(&r, 502, &["private-thing", "401", "uplink.token"]);
    assert!(
        !r.text().contains("bad token"),
        "the upstream's words are its own"
    );
}

#[test]
fn uplink_configuration_errors_name_the_keys_and_the_token_is_masked() {
    let dir = TempDir::new("uplink-cli");
    let out = nmr_command(dir.path())
        .args(["serve", "--set", "uplink.mode=proxy"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("uplink.mode") && err.contains("uplink.url"),
        "{err}"
    );
    assert!(!dir.path().join("data").exists());

    let out = nmr_command(dir.path())
        .args(["config", "--offline"])
        .env("NMR_UPLINK__TOKEN", "s3cret")
        .env("NMR_UPLINK__PRIVATE_SCOPES", "@acme,corp")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        text.contains("token = \"********\"  # environment variable NMR_UPLINK__TOKEN"),
        "{text}"
    );
    assert!(text.contains("offline = true  # flag --offline"), "{text}");
    assert!(
        text.contains("private_scopes = [\"@acme\", \"@corp\"]"),
        "{text}"
    );
}

#[test]
fn uplink_web_pages_show_upstream_packages_marked_as_such() {
    let up = Registry::start();
    raw_publish(&up, "@up/weblib", "0.9.0");
    let tgz = fake_tgz("weblib 1");
    let mut body = publish_body("@up/weblib", "1.0.0", &tgz, "latest");
    body["versions"]["1.0.0"]["readme"] = json!("# Web lib\n\nFrom *upstream*.");
    body["versions"]["1.0.0"]["dependencies"] = json!({"left-pad": "^1.3.0"});
    assert_eq!(up.put_json("/@up%2fweblib", &body).status, 201);
    // Deprecated as npm does it: the whole document sent back.
    let mut doc = up.get("/@up%2fweblib?write=true").json();
    doc["versions"]["0.9.0"]["deprecated"] = json!("too old");
    assert_eq!(up.put_json("/@up%2fweblib", &doc).status, 201);

    // maxage 0: every page asks the upstream again, so its going away shows at once.
    let px = proxy(&up.url(), &["--set", "uplink.maxage=0"]);
    raw_publish(&px, "mine", "1.0.0");
    let html = |path: &str| {
        let r = px.request("GET", path, &[("Accept", "text/html")], b"");
        (r.status, r.text())
    };
    let (status, page) = html("/-/web/package/@up/weblib");
    assert_eq!(status, 200, "{page}\n{}", px.log());
    for part in [
        "<title>@up/weblib · nmr</title>",
        "From the upstream registry.",
        &up.url(),
        "<h1>Web lib</h1>",
        "<em>upstream</em>",
        "<span class=\"version\">1.0.0</span><span class=\"tag\">latest</span>",
        "left-pad",
        "deprecated: too old",
        "npm i @up/weblib",
    ] {
        assert!(page.contains(part), "no {part:?} in:\n{page}");
    }
    assert!(!page.contains("could not be reached"), "{page}");
    assert!(
        packument_cached(&px, "@up/weblib"),
        "fetched as an install would"
    );
    let (status, old) = html("/-/web/package/@up/weblib/v/0.9.0");
    assert_eq!(status, 200);
    assert!(old.contains("Version 0.9.0 is deprecated."), "{old}");
    assert_eq!(html("/-/web/package/@up/weblib/v/7.0.0").0, 404);
    assert_eq!(html("/-/web/package/@up/nothing").0, 404);
    let (_, local) = html("/-/web/package/mine");
    assert!(!local.contains("From the upstream registry"), "{local}");

    drop(up.stop());
    let (status, stale) = html("/-/web/package/@up/weblib");
    assert_eq!(status, 200, "{stale}");
    assert!(stale.contains("From the upstream registry."));
    assert!(stale.contains("could not be reached"), "{stale}");
}

/// The value of one unlabelled metric.
fn metric(reg: &Registry, name: &str) -> i64 {
    let text = reg.get("/-/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn uplink_cache_commands_list_drop_and_prune_what_is_cached() {
    let up = Registry::start();
    let a1 = raw_publish(&up, "cached-a", "1.0.0");
    raw_publish(&up, "cached-a", "1.1.0");
    let b = raw_publish(&up, "@up/cached-b", "1.0.0");
    let px = proxy(&up.url(), &[]);
    for path in [
        "/cached-a/-/cached-a-1.0.0.tgz",
        "/cached-a/-/cached-a-1.1.0.tgz",
        "/@up/cached-b/-/cached-b-1.0.0.tgz",
    ] {
        assert_eq!(px.get(path).status, 200, "{path}");
    }
    assert_eq!(uplink_blobs(&px).len(), 3);

    let (code, out, err) = nmr(&px, &["cache", "list"], "");
    assert_eq!(code, 0, "{err}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("cached-a")[1], "2", "{out}");
    assert_eq!(
        row("@up/cached-b")[1..3],
        ["1".to_string(), b.len().to_string()]
    );
    assert!(out.contains("2 packages, 3 tarballs"), "{out}");

    // One version's tarball: the packument stays, the next download fetches it again.
    let (code, out, err) = nmr(&px, &["cache", "drop", "cached-a@1.0.0"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dropped cached-a@1.0.0"), "{out}");
    assert_eq!(
        stored_blob(&px, "cached-a", "cached-a-1.0.0.tgz"),
        Some(None)
    );
    assert_eq!(uplink_blobs(&px).len(), 2, "its blob is deleted");
    let before = hits(&up.settled_log(), "GET", "/cached-a/-/cached-a-1.0.0.tgz");
    assert_eq!(px.get("/cached-a/-/cached-a-1.0.0.tgz").body, a1);
    assert_eq!(
        hits(&up.settled_log(), "GET", "/cached-a/-/cached-a-1.0.0.tgz"),
        before + 1
    );

    // A whole package: packument and tarballs, fetched afresh on its next request.
    let (code, _, err) = nmr(&px, &["cache", "drop", "@up/cached-b"], "");
    assert_eq!(code, 0, "{err}");
    assert!(!packument_cached(&px, "@up/cached-b"));
    assert_eq!(stored_blob(&px, "@up/cached-b", "cached-b-1.0.0.tgz"), None);
    assert_eq!(px.get("/@up%2fcached-b").json()["name"], "@up/cached-b");
    assert!(packument_cached(&px, "@up/cached-b"));

    let (code, _, err) = nmr(&px, &["cache", "drop", "not-cached"], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("not-cached is not in the upstream cache"),
        "{err}"
    );
    let (code, _, err) = nmr(&px, &["cache", "prune"], "");
    assert_eq!(code, 2);
    assert!(err.contains("--unused-for"), "{err}");

    // Prune: a tarball last downloaded long ago goes, the recent ones stay. The database is
    // aged by hand rather than by waiting 90 days.
    let rw = rusqlite::Connection::open(px.dir.path().join("data/nmr.sqlite")).unwrap();
    rw.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    rw.execute(
        "UPDATE uplink_files SET used_at = '2020-01-01T00:00:00.000Z', stored_at = '2020-01-01T00:00:00.000Z'
         WHERE filename = 'cached-a-1.1.0.tgz'",
        [],
    )
    .unwrap();
    let (code, out, err) = nmr(&px, &["cache", "prune", "--unused-for", "90d"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pruned 1 cached tarballs"), "{out}");
    assert_eq!(
        stored_blob(&px, "cached-a", "cached-a-1.1.0.tgz"),
        Some(None)
    );
    assert!(stored_blob(&px, "cached-a", "cached-a-1.0.0.tgz")
        .unwrap()
        .is_some());
    assert_eq!(
        px.get("/cached-a/-/cached-a-1.1.0.tgz").status,
        200,
        "fetched again"
    );
}

#[test]
fn uplink_cache_max_size_evicts_the_least_recently_downloaded_tarballs() {
    let up = Registry::start();
    let z = raw_publish(&up, "lru-z", "1.0.0");
    let a = raw_publish(&up, "lru-a", "1.0.0");
    let c = raw_publish(&up, "lru-c", "1.0.0");
    // Room for two of the three.
    let max = format!("uplink.cache_max_size={}", z.len() + a.len() + c.len() - 1);
    let px = proxy(&up.url(), &["--set", &max]);
    assert_eq!(px.get("/lru-z/-/lru-z-1.0.0.tgz").body, z);
    assert_eq!(px.get("/lru-a/-/lru-a-1.0.0.tgz").body, a);
    // lru-z is downloaded again, from the cache: now lru-a is the least recently downloaded.
    assert_eq!(px.get("/lru-z/-/lru-z-1.0.0.tgz").body, z);
    assert_eq!(px.get("/lru-c/-/lru-c-1.0.0.tgz").body, c);

    assert_eq!(
        stored_blob(&px, "lru-a", "lru-a-1.0.0.tgz"),
        Some(None),
        "evicted"
    );
    assert!(stored_blob(&px, "lru-z", "lru-z-1.0.0.tgz")
        .unwrap()
        .is_some());
    assert!(stored_blob(&px, "lru-c", "lru-c-1.0.0.tgz")
        .unwrap()
        .is_some());
    assert_eq!(uplink_blobs(&px).len(), 2, "the evicted blob is deleted");
    assert_eq!(metric(&px, "nmr_uplink_cache_evictions_total"), 1);
    assert_eq!(metric(&px, "nmr_uplink_cache_hits_total"), 1);
    assert_eq!(metric(&px, "nmr_uplink_cache_misses_total"), 3);
    assert_eq!(metric(&px, "nmr_uplink_cache_tarballs"), 2);
    assert_eq!(
        metric(&px, "nmr_uplink_cache_bytes"),
        (z.len() + c.len()) as i64
    );
    // An evicted tarball is downloaded again when asked for.
    assert_eq!(px.get("/lru-a/-/lru-a-1.0.0.tgz").body, a);
}
