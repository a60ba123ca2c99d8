//! The connection front against hostile clients, over raw sockets:
//! - heads over 32 KiB or 100 fields get 431; smuggling shapes (CL with TE, odd codings,
//!   conflicting lengths, a space before the colon, folded lines) get 400, and nothing after
//!   them on the connection is served;
//! - chunked bodies with extensions and trailers, and `Expect: 100-continue`, still publish;
//! - a gzip bomb is 413;
//! - idle, slow-header and slow-body clients are cut off after `server.read_timeout`; a client
//!   that stops reading holds no worker, and is cut off after `server.write_timeout`;
//! - connections over `server.max_connections` get 503, and the cap is lowered to what the
//!   open-files limit can carry;
//! - 500 slow connections held open do not stop `npm install`;
//! - requests on a kept-alive connection answer without Nagle delays, and bursts of new
//!   connections are all answered;
//! - a write that will be refused (no token, a bad one, a caller who may not write) is answered
//!   before its body is read; a refused small body is drained and the connection goes on;
//! - one address cannot hold more than `server.max_connections_per_address` (429), and an
//!   upload that trickles below `server.min_upload_rate` is cut off (408); uploads past
//!   `server.spool_budget` get 503 and give back what they took.

use crate::support::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Sends `bytes` on a new connection and reads until the server closes it.
fn exchange(port: u16, bytes: &[u8]) -> String {
    let mut s = connect(port);
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until the server closes the connection, and returns what came.
fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn within(took: Duration, min: Duration, max: Duration, what: &str) {
    assert!(
        took >= min && took <= max,
        "{what} took {took:?}, expected {min:?}..{max:?}"
    );
}

fn answers(text: &str) -> usize {
    text.matches("HTTP/1.1 ").count()
}

#[test]
fn heads_over_the_size_or_field_limit_are_431() {
    let reg = Registry::start();
    let long = format!(
        "GET /-/ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let text = exchange(reg.port, long.as_bytes());
    assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
    assert!(text.contains("32768 bytes"), "{text}");
    wait_for("the refusal in the log, with the client's address", || {
        let log = reg.log();
        log.lines()
            .any(|l| l.contains("127.0.0.1:") && l.contains(" refused 431: "))
            .then_some(())
    });
    let many: String = (0..101).map(|i| format!("X-{i}: 1\r\n")).collect();
    let text = exchange(
        reg.port,
        format!("GET /-/ping HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    );
    assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
    let fine: String = (0..90).map(|i| format!("X-{i}: 1\r\n")).collect();
    let text = exchange(
        reg.port,
        format!("GET /-/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{fine}\r\n").as_bytes(),
    );
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
}

#[test]
fn smuggling_shapes_are_400_and_nothing_after_them_is_served() {
    let reg = Registry::start();
    raw_publish(&reg, "plainpkg", "1.0.0");
    let before = reg.snapshot();
    let smuggled = "GET /plainpkg HTTP/1.1\r\nHost: x\r\n\r\n";
    for head in [
        "POST /-/npm/v1/security/advisories/bulk HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /-/npm/v1/security/advisories/bulk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "PUT /plainpkg HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "PUT /plainpkg HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "PUT /plainpkg HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        "PUT /plainpkg HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n",
        "PUT /plainpkg HTTP/1.1\r\nHost: x\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n",
        "GET /-/ping HTTP/1.1\nHost: x\n\n",
    ] {
        let text = exchange(reg.port, format!("{head}{smuggled}").as_bytes());
        assert!(text.starts_with("HTTP/1.1 400 "), "{head:?}: {text}");
        assert_eq!(answers(&text), 1, "{head:?} led to a second answer: {text}");
        assert!(text.contains("Connection: close"), "{text}");
    }
    assert_eq!(reg.snapshot(), before);
    assert_eq!(reg.get("/-/ping").status, 200);
}

#[test]
fn chunked_bodies_with_extensions_trailers_and_100_continue_publish() {
    let reg = Registry::start();
    let tgz = fake_tgz("chunky");
    let body = publish_body("chunky", "1.0.0", &tgz, "latest").to_string();
    let r = reg.request(
        "PUT",
        "/chunky",
        &[
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked(body.as_bytes(), 700, ";ext=1", "X-Checksum: whatever\r\n"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(reg.get("/chunky/-/chunky-1.0.0.tgz").body, tgz);

    // The client sends the body only after 100 Continue.
    let tgz = fake_tgz("expectant");
    let body = publish_body("expectant", "1.0.0", &tgz, "latest").to_string();
    let mut s = connect(reg.port);
    write!(
        s,
        "PUT /expectant HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body.as_bytes()).unwrap();
    let r = read_response(&mut s, false).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn a_gzip_bomb_is_413() {
    let reg = Registry::start_with(&["--set", "settings.max_body_size=1mb"], &[]);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..32 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    for (method, path) in [
        ("PUT", "/bomb"),
        ("POST", "/-/npm/v1/security/advisories/bulk"),
    ] {
        let r = reg.request(
            method,
            path,
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
            ],
            &bomb,
        );
        assert_eq!(r.status, 413, "{path}: {}", r.text());
        assert!(r.error().contains("max_body_size"), "{}", r.text());
    }
    assert_eq!(reg.get("/-/ping").status, 200);
}

#[test]
fn idle_and_slow_clients_are_cut_off_after_the_read_timeout() {
    let reg = Registry::start_with(&["--set", "server.read_timeout=1"], &[]);
    let (second, bound) = (Duration::from_millis(900), Duration::from_secs(15));

    // Connected, never a byte: closed without an answer.
    let start = Instant::now();
    let mut idle = connect(reg.port);
    assert!(until_closed(&mut idle).is_empty());
    within(start.elapsed(), second, bound, "an idle connection");

    // Slow loris: a header line every 300 ms, never the blank line.
    let mut slow = connect(reg.port);
    let mut w = slow.try_clone().unwrap();
    let start = Instant::now();
    let loris = std::thread::spawn(move || {
        let _ = w.write_all(b"GET /-/ping HTTP/1.1\r\nHost: x\r\n");
        for i in 0..100 {
            // The pace of this client, not a wait for the server.
            std::thread::sleep(Duration::from_millis(300));
            if write!(w, "X-{i}: y\r\n").is_err() {
                break;
            }
        }
    });
    assert_eq!(
        reg.get("/-/ping").status,
        200,
        "others are served meanwhile"
    );
    let r = read_response(&mut slow, false).expect("an answer");
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(until_closed(&mut slow).is_empty());
    within(start.elapsed(), second, bound, "a slow head");
    loris.join().unwrap();

    // A body that stops halfway.
    let mut s = connect(reg.port);
    let start = Instant::now();
    s.write_all(b"PUT /slowpkg HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"name\":")
        .unwrap();
    let r = read_response(&mut s, false).expect("an answer");
    assert_eq!(r.status, 408, "{}", r.text());
    within(start.elapsed(), second, bound, "a stalled body");

    // Kept alive after an answer, then silent: closed.
    let mut s = connect(reg.port);
    s.write_all(b"GET /-/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 200);
    let start = Instant::now();
    assert!(until_closed(&mut s).is_empty());
    within(
        start.elapsed(),
        second,
        bound,
        "an idle kept-alive connection",
    );
    assert_eq!(reg.get("/-/slowpkg").status, 404, "nothing was published");
}

/// Client connections open now, from the metrics (the metrics request's own included).
fn open_connections(reg: &Registry) -> Option<i64> {
    let text = reg.get("/-/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix("nmr_connections_open "))
        .and_then(|v| v.parse::<i64>().ok())
}

#[test]
fn a_client_that_stops_reading_holds_no_worker_and_is_cut_off() {
    // One worker: had the stalled download kept it, nothing else would be answered. The write
    // timeout is long enough that the ping below certainly comes while the download stalls.
    let reg = Registry::start_with(&["--workers", "1", "--set", "server.write_timeout=3"], &[]);
    // Larger than what the socket buffers between nmr and the client can hold.
    let big: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    let r = reg.put_json("/bigpkg", &publish_body("bigpkg", "1.0.0", &big, "latest"));
    assert_eq!(r.status, 201, "{}", r.text());
    let mut stalled = connect(reg.port);
    stalled
        .write_all(b"GET /bigpkg/-/bigpkg-1.0.0.tgz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The download has started; from here on nothing is read.
    let mut first = [0u8; 12];
    stalled.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert_eq!(reg.get("/-/ping").status, 200);
    assert!(
        open_connections(&reg).unwrap() >= 2,
        "the ping was answered while the download was still open"
    );
    // After server.write_timeout without progress, the stalled connection is cut: it ends
    // before the whole tarball arrives.
    wait_for("the stalled connection to be cut", || {
        open_connections(&reg).filter(|n| *n <= 1)
    });
    let got = until_closed(&mut stalled);
    assert!(got.len() < big.len(), "all {} bytes arrived", got.len());
}

#[test]
fn connections_over_the_cap_get_503() {
    let reg = Registry::start_with(&["--set", "server.max_connections=3"], &[]);
    let held: Vec<TcpStream> = (0..3).map(|_| connect(reg.port)).collect();
    let text = exchange(reg.port, b"");
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    assert!(text.contains("server.max_connections"), "{text}");
    drop(held);
    let status = wait_for("a free connection slot", || {
        let mut s = connect(reg.port);
        s.write_all(b"GET /-/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let r = read_response(&mut s, false)?;
        (r.status == 200).then_some(r.status)
    });
    assert_eq!(status, 200);
}

#[test]
fn a_low_open_files_limit_caps_connections_below_it() {
    // Out of descriptors, opening a tarball or the database would fail mid-request; nmr holds
    // no more connections than its limit can carry.
    let mut reg = Registry::start_under(TempDir::new("nofile"), Some("ulimit -n 160"), &[], &[]);
    assert!(
        reg.log().contains("serving at most"),
        "the lowered cap is announced: {}",
        reg.log()
    );
    let held: Vec<TcpStream> = (0..40).map(|_| connect(reg.port)).collect();
    // Each held connection sends a request, so each needs the workers too.
    for mut s in held.iter() {
        let _ = s.write_all(b"GET /-/ping HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    let answers: Vec<u16> = held
        .iter()
        .map(|s| {
            let mut s = s.try_clone().unwrap();
            read_response(&mut s, false).map_or(0, |r| r.status)
        })
        .collect();
    assert!(answers.contains(&200), "{answers:?}");
    assert!(answers.contains(&503), "{answers:?}");
    assert!(
        answers.iter().all(|s| *s == 200 || *s == 503),
        "{answers:?}"
    );
    drop(held);
    assert!(reg.exited().is_none(), "{}", reg.log());
    let status = wait_for("a free connection slot", || {
        let mut s = connect(reg.port);
        s.write_all(b"GET /-/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        Some(read_response(&mut s, false)?.status).filter(|s| *s == 200)
    });
    assert_eq!(status, 200);
    assert!(!reg.log().contains("failed"), "{}", reg.log());
}

#[test]
fn five_hundred_slow_connections_do_not_stop_npm_install() {
    // 500 connections need more descriptors than a default soft limit of 1024 carries.
    let reg = Registry::start_under(
        TempDir::new("slow"),
        Some("ulimit -n 8192"),
        &["--set", "server.max_connections_per_address=1024"],
        &[],
    );
    assert!(
        !reg.log().contains("serving at most"),
        "raise the open-files limit for this test: {}",
        reg.log()
    );
    let work = TempDir::new("slow-work");
    let c = Client::new(&reg);
    let pkg = serde_json::json!({"name": "@acme/steady", "version": "1.0.0", "main": "index.js", "license": "MIT"});
    c.ok("npm", &["publish"], &make_package(work.path(), pkg));

    // Half send an endless head, half a head and a body that never ends: the second kind held
    // every worker before the front received bodies itself.
    let slow: Vec<TcpStream> = (0..500)
        .map(|i| {
            let mut s = connect(reg.port);
            let start: &[u8] = if i % 2 == 0 {
                b"GET /@acme%2fsteady HTTP/1.1\r\nHost: x\r\n"
            } else {
                b"PUT /@acme%2fsteady HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"a\":"
            };
            s.write_all(start).unwrap();
            s
        })
        .collect();
    let open = || open_connections(&reg);
    wait_for("500 connections to be open", || {
        open().filter(|n| *n >= 500)
    });

    npm_installs(&reg, work.path(), "@acme/steady", "1.0.0");
    assert!(
        open().unwrap() >= 500,
        "the slow connections were still open"
    );
    drop(slow);
}

#[test]
fn kept_alive_requests_answer_without_nagle_delays() {
    let reg = Registry::start();
    raw_publish(&reg, "quick", "1.0.0");
    let mut s = connect(reg.port);
    let mut times = Vec::new();
    for _ in 0..60 {
        let start = Instant::now();
        s.write_all(b"GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut s, false).unwrap().status, 200);
        times.push(start.elapsed());
    }
    times.sort();
    // Nagle's algorithm with delayed ACKs adds about 40 ms to a response sent in two writes.
    assert!(
        times[times.len() / 2] < Duration::from_millis(30),
        "median {:?}",
        times[times.len() / 2]
    );
}

#[test]
fn bursts_of_kept_alive_clients_are_all_served_by_two_handler_slots() {
    // Every connection waits for a slot only while its handler runs: 32 kept-alive clients
    // arriving at once against 2 slots are all answered, round after round, none stranded.
    let reg = Registry::start_with(&["--workers", "2"], &[]);
    for round in 0..3 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(32));
        let clients: Vec<_> = (0..32)
            .map(|_| {
                let (mut s, barrier) = (connect(reg.port), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    s.write_all(b"GET /-/ping HTTP/1.1\r\nHost: x\r\n\r\n")
                        .unwrap();
                    let status = read_response(&mut s, false).map(|r| r.status);
                    (s, status)
                })
            })
            .collect();
        let answered: Vec<(TcpStream, Option<u16>)> =
            clients.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(
            answered.iter().all(|(_, status)| *status == Some(200)),
            "round {round}"
        );
    }
}

#[test]
fn a_refused_write_is_answered_before_its_body_is_read() {
    use crate::support::auth::{add_user, as_user, token};
    let reg = Registry::start_with(&[], &[("NMR_AUTH__TYPE", "local")]);
    add_user(&reg, "alice", "alice password");
    add_user(&reg, "bob", "bob password");
    let (alice, bob) = (token(&reg, "alice", &[]), token(&reg, "bob", &[]));
    let body = publish_body(
        "@acme/owned",
        "1.0.0",
        &fake_tgz("@acme/owned@1.0.0"),
        "latest",
    );
    let r = as_user(
        &reg,
        &alice,
        "PUT",
        "/@acme%2fowned",
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let before = reg.snapshot();
    let bob_auth = format!("Bearer {bob}");
    for (path, auth, status) in [
        ("/@acme%2fowned", None, 401),
        ("/@acme%2fowned", Some("Bearer not-a-token"), 401),
        ("/@acme%2fowned", Some(bob_auth.as_str()), 403),
        ("/@acme%2fowned/-rev/1-x", Some(bob_auth.as_str()), 403),
        (
            "/-/package/@acme%2fowned/dist-tags/next",
            Some(bob_auth.as_str()),
            403,
        ),
        ("/@acme%2fbrandnew", None, 401),
    ] {
        // 200 MB announced, not one byte of it sent: the answer must come all the same.
        let mut s = connect(reg.port);
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "PUT {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n"
        )
        .unwrap();
        let r = read_response(&mut s, false).expect("an answer with the body unsent");
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(
            r.header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close")),
            "{path}: the unread body ends the connection"
        );
    }
    // A small refused body is read and dropped: the connection serves the next request.
    let small = br#""1.0.0""#;
    let mut s = connect(reg.port);
    write!(
        s,
        "PUT /-/package/@acme%2fowned/dist-tags/next HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        small.len()
    )
    .unwrap();
    s.write_all(small).unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 401);
    s.write_all(b"GET /-/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 200);
    assert_eq!(reg.snapshot(), before, "nothing stored");
}

#[test]
fn one_address_holds_at_most_its_share_of_connections() {
    let reg = Registry::start_with(&["--set", "server.max_connections_per_address=3"], &[]);
    let held: Vec<TcpStream> = (0..3).map(|_| connect(reg.port)).collect();
    let text = exchange(reg.port, b"GET /-/ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(text.starts_with("HTTP/1.1 429 "), "{text}");
    assert!(
        text.contains("server.max_connections_per_address"),
        "{text}"
    );
    drop(held);
    let status = wait_for("a free slot for this address", || {
        let mut s = connect(reg.port);
        s.write_all(b"GET /-/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        Some(read_response(&mut s, false)?.status).filter(|s| *s == 200)
    });
    assert_eq!(status, 200);
}

#[test]
fn an_upload_slower_than_the_minimum_rate_is_cut_off() {
    // A byte every 100 ms never trips the idle timeout, but averages 10 B/s against 1 KB/s.
    let reg = Registry::start_with(
        &[
            "--set",
            "server.read_timeout=1",
            "--set",
            "server.min_upload_rate=1k",
        ],
        &[],
    );
    let mut s = connect(reg.port);
    s.write_all(b"PUT /trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    let mut w = s.try_clone().unwrap();
    let start = Instant::now();
    let trickle = std::thread::spawn(move || {
        for _ in 0..300 {
            // The pace of this client, not a wait for the server.
            std::thread::sleep(Duration::from_millis(100));
            if w.write_all(b"x").is_err() {
                break;
            }
        }
    });
    let r = read_response(&mut s, false).expect("an answer");
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(r.error().contains("server.min_upload_rate"), "{}", r.text());
    within(
        start.elapsed(),
        Duration::from_millis(900),
        Duration::from_secs(15),
        "a trickling upload",
    );
    drop(s);
    trickle.join().unwrap();
    assert_eq!(reg.get("/trickle").status, 404, "nothing was published");
}

#[test]
fn uploads_past_the_spool_budget_are_503_and_store_nothing() {
    // Bodies over 256 KiB are spooled to disk; all of them together get server.spool_budget.
    let reg = Registry::start_with(&["--set", "server.spool_budget=600k"], &[]);
    let before = reg.snapshot();
    let bytes = |n: usize| (0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>();
    let r = reg.put_json(
        "/spooled",
        &publish_body("spooled", "1.0.0", &bytes(1 << 20), "latest"),
    );
    expect_error(&r, 503, &["server.spool_budget"]);
    assert_eq!(reg.snapshot(), before, "nothing stored");
    // The refused upload gave back what it had taken: one of 400 KB fits again.
    let r = reg.put_json(
        "/spooled",
        &publish_body("spooled", "1.0.0", &bytes(300_000), "latest"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

/// The state letter of each of nmr's threads named `name` (`S` sleeping, `T` stopped, ...).
fn thread_states(pid: u32, name: &str) -> Vec<char> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            stat.rsplit_once(") ")?.1.chars().next()
        })
        .collect()
}

fn kill(signal: &str, pid: u32) {
    let ok = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {signal} {pid}");
}

#[test]
fn a_connection_waiting_for_its_next_request_survives_a_stop_and_continue() {
    // Linux fails a recv on a socket with a receive timeout with EINTR, never restarted, once
    // the process has been stopped and continued (as a debugger, `kill -STOP` or a frozen
    // container does). nmr took that for a closed connection and dropped the client.
    let reg = Registry::start();
    let mut s = connect(reg.port);
    s.write_all(b"GET /-/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 200);
    let pid = reg.pid();
    // The connection's thread is back in its read, waiting for the next request.
    wait_for("the connection thread to wait for a request", || {
        let states = thread_states(pid, "conn");
        (states == ['S']).then_some(())
    });
    kill("-STOP", pid);
    wait_for("nmr to stop", || {
        thread_states(pid, "conn").contains(&'T').then_some(())
    });
    kill("-CONT", pid);
    s.write_all(b"GET /-/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, false).expect("an answer on the same connection");
    assert_eq!(r.status, 200, "{}", reg.log());
}
