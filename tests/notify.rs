//! Webhooks (`[[notify]]`), against a receiver in the test (a small local HTTP server):
//! - npm 11's publish, dist-tag add, deprecate and unpublish each deliver exactly one signed
//!   event with the documented payload (the signature checked with openssl, as the README does);
//! - package patterns, event filters and formats select what each receiver gets, the actor is
//!   the user's name, and `nmr config` masks the secret and header values;
//! - a receiver that refuses connections, then answers 503, then 200 gets every event, in order,
//!   none twice;
//! - `kill -9` between the write and the delivery: delivered after the restart;
//! - a receiver that never answers delays neither a publish nor a graceful stop;
//! - 4xx answers and redirects are final (and redirects not followed), logged, listed by
//!   `nmr notify log --failed`, and `nmr notify retry` sends one again.

use crate::support::auth::{add_user, as_user, nmr, token};
use crate::support::http_server::{TestRequest, TestResponse, TestServer};
use crate::support::*;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "It's a Secret to Everybody";

/// A webhook receiver: records every request with the status it answered.
struct Receiver {
    server: TestServer,
    seen: Arc<Mutex<Vec<(TestRequest, u16)>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    /// Answers `status` (changed with [`Receiver::answer`]); `/moved` answers a redirect.
    fn start(status: u16) -> Receiver {
        Self::start_on(0, status, 0)
    }

    /// On `port`, answering 503 to the first `fail_first` requests.
    fn start_on(port: u16, status: u16, fail_first: usize) -> Receiver {
        let seen: Arc<Mutex<Vec<(TestRequest, u16)>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(status));
        let count = AtomicUsize::new(0);
        let (s, st) = (seen.clone(), status.clone());
        let server = TestServer::start_on(port, move |rq| {
            let n = count.fetch_add(1, SeqCst);
            let resp = if rq.path.ends_with("/moved") {
                TestResponse::new(302, "").with_header("Location", "/elsewhere")
            } else if n < fail_first {
                TestResponse::new(503, "not now")
            } else {
                TestResponse::new(st.load(SeqCst), "ok")
            };
            s.lock().unwrap().push((rq.clone(), resp.status));
            resp
        });
        Receiver {
            server,
            seen,
            status,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    fn answer(&self, status: u16) {
        self.status.store(status, SeqCst);
    }

    fn requests(&self) -> Vec<(TestRequest, u16)> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests answered 2xx, in arrival order.
    fn delivered(&self) -> Vec<TestRequest> {
        self.requests()
            .into_iter()
            .filter(|(_, s)| (200..300).contains(s))
            .map(|(r, _)| r)
            .collect()
    }

    /// Waits until `n` requests were answered 2xx and returns them.
    fn wait_delivered(&self, n: usize) -> Vec<TestRequest> {
        wait_for(&format!("{n} deliveries"), || {
            let d = self.delivered();
            (d.len() >= n).then_some(d)
        })
    }
}

fn body(r: &TestRequest) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// A config file with these `[[notify]]` tables, kept in its own directory.
struct Setup {
    dir: TempDir,
}

impl Setup {
    fn new(toml: &str) -> Setup {
        let dir = TempDir::new("notify-config");
        std::fs::write(dir.path().join("nmr.toml"), toml).unwrap();
        Setup { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("nmr.toml")
    }

    fn args(&self) -> Vec<String> {
        vec!["--config".into(), self.path().display().to_string()]
    }

    fn start(&self, extra: &[&str]) -> Registry {
        let mut args = self.args();
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Registry::start_with(&args, &[])
    }

    fn restart(&self, dir: TempDir) -> Registry {
        let args = self.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Registry::start_in(dir, &args, &[])
    }

    /// `nmr ARGS --config ...` in the registry's directory.
    fn nmr(&self, reg: &Registry, args: &[&str]) -> (i32, String) {
        let mut all: Vec<&str> = args.to_vec();
        let cfg = self.args();
        all.extend(cfg.iter().map(String::as_str));
        let (code, out, err) = nmr(reg, &all, "");
        (code, format!("{out}{err}"))
    }
}

/// The signature as the README has a receiver compute it: `openssl dgst -sha256 -hmac`.
fn openssl_signature(secret: &str, body: &[u8]) -> String {
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed (.ci/run installs it)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256={}", text.split_whitespace().last().unwrap())
}

fn dist_tag(reg: &Registry, name: &str, tag: &str, version: &str) {
    let r = reg.request(
        "PUT",
        &format!("/-/package/{}/dist-tags/{tag}", name.replace('/', "%2f")),
        &[("Content-Type", "application/json")],
        format!("\"{version}\"").as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn npm_writes_each_deliver_one_signed_event_with_the_documented_payload() {
    let rx = Receiver::start(200);
    let setup = Setup::new(&format!(
        "[[notify]]\nurl = {:?}\nsecret = {SECRET:?}\nheaders = {{ Authorization = \"Bearer hook-token\" }}\n",
        rx.url("/npm")
    ));
    let reg = setup.start(&[]);
    let c = Client::new(&reg);
    let work = TempDir::new("work");
    let widget = |v: &str| json!({"name": "@acme/widget", "version": v, "license": "MIT"});

    c.ok(
        "npm",
        &["publish"],
        &make_package(work.path(), widget("1.0.0")),
    );
    rx.wait_delivered(1);
    c.ok(
        "npm",
        &["dist-tag", "add", "@acme/widget@1.0.0", "stable"],
        work.path(),
    );
    rx.wait_delivered(2);
    c.ok(
        "npm",
        &["deprecate", "@acme/widget@1.0.0", "use 1.1"],
        work.path(),
    );
    rx.wait_delivered(3);
    c.ok(
        "npm",
        &["publish"],
        &make_package(work.path(), widget("1.1.0")),
    );
    rx.wait_delivered(4);
    c.ok("npm", &["unpublish", "@acme/widget@1.0.0"], work.path());
    rx.wait_delivered(5);
    // Events go out one at a time in the order they were queued: once a later write's event
    // is in, nothing earlier is still on its way.
    raw_publish(&reg, "zz-marker", "1.0.0");
    let got = rx.wait_delivered(6);
    assert_eq!(rx.requests().len(), 6, "only 2xx answers, no retries");

    let bodies: Vec<Value> = got.iter().map(body).collect();
    let summary: Vec<(&str, &str, &str, Option<&str>)> = bodies
        .iter()
        .map(|b| {
            (
                b["event"].as_str().unwrap(),
                b["package"].as_str().unwrap(),
                b["version"].as_str().unwrap_or("-"),
                b["tag"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("publish", "@acme/widget", "1.0.0", Some("latest")),
            ("dist-tag", "@acme/widget", "1.0.0", Some("stable")),
            ("deprecate", "@acme/widget", "1.0.0", None),
            ("publish", "@acme/widget", "1.1.0", Some("latest")),
            ("unpublish", "@acme/widget", "1.0.0", None),
            ("publish", "zz-marker", "1.0.0", Some("latest")),
        ]
    );
    let first = &bodies[0];
    assert_eq!(first["schema"], 1);
    assert_eq!(first["action"], "publish");
    assert_eq!(first["actor"], "anonymous", "auth type none knows nobody");
    assert_eq!(first["registry"], reg.url());
    assert_eq!(
        first["tarball"],
        format!("{}/@acme/widget/-/widget-1.0.0.tgz", reg.url())
    );
    assert!(crate_time_like(first["time"].as_str().unwrap()), "{first}");
    assert_eq!(bodies[2]["message"], "use 1.1");
    assert_eq!(
        bodies[4]["tarball"],
        Value::Null,
        "an unpublished tarball is gone"
    );

    let mut ids = Vec::new();
    for (r, b) in got.iter().zip(&bodies) {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/npm");
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.header("X-Nmr-Event"), b["event"].as_str());
        assert_eq!(r.header("X-Nmr-Delivery"), b["id"].as_str());
        assert_eq!(r.header("Authorization"), Some("Bearer hook-token"));
        assert_eq!(
            r.header("X-Nmr-Signature-256").unwrap(),
            openssl_signature(SECRET, &r.body),
            "{b}"
        );
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "every delivery has an id of its own");

    let metrics = reg.get("/-/metrics").text();
    for line in [
        "nmr_notify_delivered_total 6",
        "nmr_notify_failed_total 0",
        "nmr_notify_queued 0",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

fn crate_time_like(t: &str) -> bool {
    t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T'
}

#[test]
fn patterns_events_and_formats_select_what_each_receiver_gets() {
    let acme = Receiver::start(200);
    let chat = Receiver::start(204);
    let setup = Setup::new(&format!(
        r#"[auth]
type = "local"
read = "public"

[[notify]]
url = {:?}
events = ["publish"]
packages = ["@acme/*"]
secret = "s3cret-value"

[[notify]]
url = {:?}
packages = ["left-pad", "*-marker"]
format = "slack"
headers = {{ X-Api-Key = "header-secret" }}
"#,
        acme.url("/acme"),
        chat.url("/chat")
    ));
    let reg = setup.start(&[]);
    add_user(&reg, "alice", "correct horse battery");
    let tok = token(&reg, "alice", &[]);
    let publish = |name: &str, v: &str| {
        let tgz = fake_tgz(&format!("{name}@{v}"));
        let body = publish_body(name, v, &tgz, "latest").to_string();
        let r = as_user(
            &reg,
            &tok,
            "PUT",
            &format!("/{}", name.replace('/', "%2f")),
            body.as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    };
    publish("@acme/ui", "1.0.0");
    publish("left-pad", "1.0.0");
    publish("@other/ui", "1.0.0");
    let tag = |name: &str, t: &str, v: &str| {
        let path = format!("/-/package/{}/dist-tags/{t}", name.replace('/', "%2f"));
        let r = as_user(&reg, &tok, "PUT", &path, format!("\"{v}\"").as_bytes());
        assert_eq!(r.status, 201, "{}", r.text());
    };
    tag("@acme/ui", "stable", "1.0.0");
    tag("left-pad", "stable", "1.0.0");
    // Markers each receiver takes, queued after everything above.
    publish("@acme/zz-marker", "1.0.0");

    let a = acme.wait_delivered(2);
    let c = chat.wait_delivered(3);
    assert_eq!(acme.requests().len(), 2);
    assert_eq!(chat.requests().len(), 3);

    let a: Vec<Value> = a.iter().map(body).collect();
    assert_eq!(
        (
            a[0]["package"].as_str(),
            a[0]["event"].as_str(),
            a[0]["actor"].as_str()
        ),
        (Some("@acme/ui"), Some("publish"), Some("alice"))
    );
    assert_eq!(a[1]["package"], "@acme/zz-marker");

    let texts: Vec<String> = c
        .iter()
        .map(|r| {
            assert_eq!(r.header("X-Api-Key"), Some("header-secret"));
            assert!(
                r.header("X-Nmr-Signature-256").is_none(),
                "no secret, no signature"
            );
            let b = body(r);
            assert_eq!(b.as_object().unwrap().len(), 1, "{b}");
            b["text"].as_str().unwrap().to_string()
        })
        .collect();
    let page = format!("{}/-/web/package/left-pad", reg.url());
    assert_eq!(
        texts[..2],
        [
            format!("alice published <{page}|left-pad@1.0.0> (dist-tag latest)"),
            format!("alice set the dist-tag stable to <{page}|left-pad@1.0.0>"),
        ]
    );
    assert!(texts[2].contains("@acme/zz-marker@1.0.0"), "{}", texts[2]);

    let (code, shown) = setup.nmr(&reg, &["config"]);
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("[[notify]]")
            && shown.contains("secret = \"********\"")
            && shown.contains("\"X-Api-Key\" = \"********\""),
        "{shown}"
    );
    assert!(
        !shown.contains("s3cret-value") && !shown.contains("header-secret"),
        "{shown}"
    );
}

#[test]
fn a_receiver_down_then_up_gets_every_event_in_order_and_none_twice() {
    // A port nobody listens on: connections are refused until the receiver starts there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let setup = Setup::new(&format!(
        "[[notify]]\nurl = \"http://127.0.0.1:{port}/hook\"\nretry_base = \"100ms\"\ntimeout = \"5s\"\n"
    ));
    let reg = setup.start(&[]);
    raw_publish(&reg, "flaky", "1.0.0");
    raw_publish(&reg, "flaky", "1.0.1");
    dist_tag(&reg, "flaky", "beta", "1.0.0");
    raw_publish(&reg, "flaky", "1.0.2");
    raw_publish(&reg, "other", "1.0.0");
    wait_for("the first event refused twice", || {
        reg.log().contains("attempt 2,").then_some(())
    });
    let (_, log) = setup.nmr(&reg, &["notify", "log"]);
    assert!(log.contains("pending") && log.contains("flaky"), "{log}");

    // Up, but answering 503 to its first two requests.
    let rx = Receiver::start_on(port, 200, 2);
    rx.wait_delivered(5);
    raw_publish(&reg, "zz-marker", "1.0.0");
    let got = rx.wait_delivered(6);

    let flaky: Vec<(String, String)> = got
        .iter()
        .map(body)
        .filter(|b| b["package"] == "flaky")
        .map(|b| {
            (
                b["event"].as_str().unwrap().to_string(),
                b["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("publish", "1.0.0"),
        ("publish", "1.0.1"),
        ("dist-tag", "1.0.0"),
        ("publish", "1.0.2"),
    ]
    .iter()
    .map(|(e, v)| (e.to_string(), v.to_string()))
    .collect();
    assert_eq!(flaky, want, "one package's events arrive in order");
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| r.header("X-Nmr-Delivery").unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "no event delivered twice");
    assert_eq!(rx.requests().iter().filter(|(_, s)| *s == 503).count(), 2);
    assert!(reg.get("/-/metrics").text().contains("nmr_notify_queued 0"));
}

#[test]
fn an_event_queued_before_kill_9_is_delivered_after_the_restart() {
    let rx = Receiver::start(503);
    let setup = Setup::new(&format!(
        "[[notify]]\nurl = {:?}\nretry_base = \"100ms\"\ntimeout = \"1s\"\n",
        rx.url("/hook")
    ));
    let reg = setup.start(&[]);
    raw_publish(&reg, "survivor", "1.0.0");
    wait_for("a refused attempt", || {
        (!rx.requests().is_empty()).then_some(())
    });
    let dir = reg.stop();
    assert!(rx.delivered().is_empty());

    rx.answer(200);
    let reg = setup.restart(dir);
    let got = rx.wait_delivered(1);
    let b = body(&got[0]);
    assert_eq!(
        (
            b["event"].as_str(),
            b["package"].as_str(),
            b["version"].as_str()
        ),
        (Some("publish"), Some("survivor"), Some("1.0.0"))
    );
    // Another write after the restart is delivered too, and the survivor only once.
    raw_publish(&reg, "survivor", "1.0.1");
    let got = rx.wait_delivered(2);
    assert_eq!(body(&got[1])["version"], "1.0.1");
}

#[test]
fn a_receiver_that_never_answers_delays_neither_writes_nor_the_stop() {
    // Accepts connections (the test does) and never answers.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    hang.set_nonblocking(true).unwrap();
    let setup = Setup::new(&format!(
        "[[notify]]\nurl = \"http://{}/hook\"\ntimeout = \"5m\"\n",
        hang.local_addr().unwrap()
    ));
    let mut reg = setup.start(&[]);
    raw_publish(&reg, "patient", "1.0.0");
    let _held = wait_for("the deliverer to connect", || hang.accept().ok());
    let started = Instant::now();
    raw_publish(&reg, "patient", "1.0.1");
    dist_tag(&reg, "patient", "beta", "1.0.0");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "writes do not wait for the receiver"
    );
    let (_, log) = setup.nmr(&reg, &["notify", "log"]);
    assert_eq!(log.matches("pending").count(), 3, "{log}");

    reg.signal("TERM");
    let status = reg.wait_exit();
    assert!(status.success(), "{status:?}\n{}", reg.log());
}

#[test]
fn final_answers_are_logged_listed_and_can_be_retried() {
    let rx = Receiver::start(410);
    let setup = Setup::new(&format!(
        "[[notify]]\nurl = {:?}\n\n[[notify]]\nurl = {:?}\n",
        rx.url("/gone"),
        rx.url("/moved")
    ));
    let reg = setup.start(&[]);
    raw_publish(&reg, "refused", "1.0.0");
    let failed = wait_for("two failed events", || {
        let (code, out) = setup.nmr(&reg, &["notify", "log", "--failed"]);
        assert_eq!(code, 0, "{out}");
        (out.lines().count() == 3).then_some(out)
    });
    assert!(failed.contains("410") && failed.contains("302"), "{failed}");
    assert!(
        !rx.requests().iter().any(|(r, _)| r.path == "/elsewhere"),
        "redirects are not followed"
    );
    assert_eq!(rx.requests().len(), 2, "a final answer is not retried");
    let log = reg.log();
    assert_eq!(log.matches("failed for good").count(), 2, "{log}");
    assert!(
        !log.contains("/gone") && !log.contains("/moved") && log.contains("/********"),
        "a receiver's URL path may be its credential; the log shows its origin only: {log}"
    );
    assert!(reg
        .get("/-/metrics")
        .text()
        .contains("nmr_notify_failed_total 2"));

    let gone_id = failed
        .lines()
        .find(|l| l.contains("/gone"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    rx.answer(200);
    let (code, out) = setup.nmr(&reg, &["notify", "retry", &gone_id]);
    assert_eq!(code, 0, "{out}");
    let got = rx.wait_delivered(1);
    assert_eq!(got[0].path, "/gone");
    assert_eq!(body(&got[0])["package"], "refused");
    let (_, all) = setup.nmr(&reg, &["notify", "log"]);
    assert!(all.contains("delivered"), "{all}");

    let (code, out) = setup.nmr(&reg, &["notify", "retry", "999999"]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = setup.nmr(&reg, &["notify", "retry", "x"]);
    assert_eq!(code, 2, "{out}");
}
