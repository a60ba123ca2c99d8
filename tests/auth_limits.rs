//! Issue #15, the limits of local accounts:
//! - failed password checks (legacy login, web login, `npm token create`) are throttled per
//!   account and per address: after five, 429 with `Retry-After`, even for the right
//!   password; a success before that resets the count;
//! - password hashing runs on its own bounded pool, outside the handler slots: a ping is
//!   answered at once while 30 bad logins are being checked;
//! - one address cannot fill the table of npm web logins waiting for a browser;
//! - token lifetimes that are out of range are refused with 400 (never wrapped around or
//!   ignored);
//! - in github mode, a token GitHub refused is refused again for a while without asking.

use crate::support::auth::*;
use crate::support::github::FakeGitHub;
use crate::support::*;
use serde_json::json;
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn failed_passwords_are_throttled_and_a_success_resets_the_count() {
    let reg = local(&[]);
    add_user(&reg, "alice", "alice password");
    add_user(&reg, "bob", "bob password");
    let alice = token(&reg, "alice", &[]);

    // Four failures, a success, four more: the success started the count again.
    for round in 0..2 {
        for _ in 0..4 {
            let r = couch_login(&reg, "alice", "guess");
            assert_eq!(r.status, 401, "round {round}: {}", r.text());
        }
        if round == 0 {
            assert_eq!(couch_login(&reg, "alice", "alice password").status, 201);
        }
    }
    // The fifth failure in a row: from now on alice's tries wait, whatever they carry. Each of
    // these is refused before hashing, well within the first 30 seconds of waiting.
    assert_eq!(couch_login(&reg, "alice", "guess").status, 401);
    let r = couch_login(&reg, "alice", "guess");
    expect_error(&r, 429, &["too many failed logins", "try again"]);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((20..=30).contains(&wait), "{r:?}");
    let r = couch_login(&reg, "alice", "alice password");
    expect_error(&r, 429, &["too many failed logins"]);
    let body = json!({"password": "alice password"}).to_string();
    let r = as_user(&reg, &alice, "POST", "/-/npm/v1/tokens", body.as_bytes());
    expect_error(&r, 429, &["too many failed logins"]);
    let r = reg.request(
        "POST",
        "/-/web/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "text/html"),
            ("Origin", &reg.url()),
        ],
        b"user=alice&password=alice+password&next=%2F",
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some(), "{r:?}");
    assert!(r.text().contains("Too many failed logins"), "{}", r.text());
    assert!(r.header("set-cookie").is_none());

    // Another account from the same address is not held up by alice's.
    assert_eq!(couch_login(&reg, "bob", "bob password").status, 201);
    let log = reg.settled_log();
    assert!(!log.contains("alice password"), "no password in the log");
}

#[test]
fn a_ping_is_answered_while_thirty_bad_logins_are_checked() {
    // One handler slot: a login that hashed in it would keep the ping waiting.
    let reg = Registry::start_with(&["--workers", "1"], &[("NMR_AUTH__TYPE", "local")]);
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    for i in 0..30 {
        let (tx, port) = (tx.clone(), reg.port);
        std::thread::spawn(move || {
            let body = json!({"name": format!("nobody{i}"), "password": "guess"}).to_string();
            let req = format!(
                "PUT /-/user/org.couchdb.user:nobody{i} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            // The registry is stopped once the ping is in: later logins find it gone (0).
            let status = std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .and_then(|mut s| {
                    s.write_all(req.as_bytes()).ok()?;
                    read_response(&mut s, false)
                })
                .map_or(0, |r| r.status);
            let _ = tx.send((status, start.elapsed()));
        });
    }
    // A 401 means a password was hashed: the others are being hashed or queued now.
    let mut answered = Vec::new();
    let hashed = loop {
        let (status, at) = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("a login answer");
        answered.push(status);
        if status == 401 {
            break at;
        }
        assert_eq!(status, 503, "a login is hashed or turned away at once");
    };
    let asked = Instant::now();
    let ping = reg.get("/-/ping");
    let took = asked.elapsed();
    assert_eq!(ping.status, 200, "{}", ping.text());
    assert!(
        took < hashed / 2,
        "the ping took {took:?}, while one password hash took {hashed:?}"
    );
    answered.extend(rx.try_iter().map(|(s, _)| s));
    assert!(
        answered.len() < 30,
        "logins were still being checked when the ping was answered"
    );
    assert!(
        answered.iter().all(|s| [401, 503].contains(s)),
        "{answered:?}"
    );
}

#[test]
fn one_address_cannot_fill_the_npm_web_login_table() {
    let reg = local(&[]);
    let start = |reg: &Registry| reg.request("POST", "/-/v1/login", &[], b"{}");
    for _ in 0..10 {
        let r = start(&reg);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = start(&reg);
    expect_error(&r, 429, &["npm logins waiting"]);
}

#[test]
fn token_lifetimes_out_of_range_are_refused() {
    let reg = local(&[]);
    add_user(&reg, "alice", "alice password");
    let rw = token(&reg, "alice", &[]);
    for expires in [
        json!(-1),
        json!(1.5),
        json!("7"),
        json!(3651),
        json!(u64::MAX),
    ] {
        let body = json!({"password": "alice password", "expires": expires}).to_string();
        let r = as_user(&reg, &rw, "POST", "/-/npm/v1/tokens", body.as_bytes());
        expect_error(&r, 400, &["expires", "days"]);
    }
    let body = json!({"password": "alice password", "expires": 30}).to_string();
    let r = as_user(&reg, &rw, "POST", "/-/npm/v1/tokens", body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let listed = as_user(&reg, &rw, "GET", "/-/npm/v1/tokens", b"").json();
    assert_eq!(
        listed["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| !t["expires"].is_null())
            .count(),
        1,
        "only the 30-day token expires: {listed}"
    );

    for days in ["3651", "99999999999999999"] {
        let (code, out, err) = nmr(
            &reg,
            &["token", "create", "alice", "--expires-days", days],
            "",
        );
        assert_ne!(code, 0, "{out}{err}");
        assert!(err.contains("0 to 3650"), "{err}");
    }
    let (code, out, err) = nmr(&reg, &["token", "list", "alice"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "no token was made: {out}");
}

#[test]
fn a_token_github_refused_is_not_asked_about_again_for_a_while() {
    let gh = FakeGitHub::start();
    gh.user("tok-alice", "alice");
    let reg = Registry::start_with(
        &[],
        &[
            ("NMR_AUTH__TYPE", "github"),
            ("NMR_AUTH__GITHUB__API_URL", gh.url.as_str()),
        ],
    );
    for _ in 0..3 {
        let r = reg.get_as("/-/whoami", "made-up-token");
        expect_error(&r, 401, &["GitHub does not accept this token"]);
    }
    let asked = |token: &str| {
        gh.seen()
            .iter()
            .filter(|s| s.path == "/user" && s.token.as_deref() == Some(token))
            .count()
    };
    assert_eq!(asked("made-up-token"), 1, "GitHub was asked once");
    assert_eq!(
        reg.get_as("/-/whoami", "tok-alice").json()["username"],
        "alice",
        "a token GitHub accepts is not held up"
    );
    assert_eq!(asked("tok-alice"), 1);
    assert!(
        !reg.settled_log().contains("made-up-token"),
        "no token in the log"
    );
}
