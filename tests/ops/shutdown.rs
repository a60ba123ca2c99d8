//! SIGTERM: nmr stops accepting, closes idle connections at once, lets a request in flight
//! finish (within `server.shutdown_timeout`), closes the database cleanly (SQLite removes its
//! WAL file then) and exits 0; a request stalled past the timeout is cut off and leaves nothing.

use crate::support::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The start of a publish of `name@1.0.0` on a raw connection: the head and half the body.
/// Returns the connection and the rest of the body.
fn half_a_publish(reg: &Registry, name: &str) -> (TcpStream, Vec<u8>) {
    let body = publish_body(name, "1.0.0", &fake_tgz(name), "latest").to_string();
    let mut s = connect(reg.port);
    write!(
        s,
        "PUT /{name} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    s.write_all(first).unwrap();
    (s, rest.to_vec())
}

fn refused(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    let mut reg = Registry::start_with(
        &[
            "--set",
            "server.read_timeout=60",
            "--set",
            "server.shutdown_timeout=60",
        ],
        &[],
    );
    let spool_dir = format!("nmr-spool-{}-", reg.pid());
    let spool_dirs = || {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&spool_dir)
            })
            .count()
    };
    assert_eq!(spool_dirs(), 1);
    let mut idle = connect(reg.port);
    idle.write_all(b"GET /-/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut idle, false).unwrap().status, 200);
    let (mut busy, rest) = half_a_publish(&reg, "inflight");

    let start = Instant::now();
    reg.signal("TERM");
    wait_for("the listener to close", || refused(reg.port).then_some(()));
    let mut buf = [0u8; 16];
    assert_eq!(
        read_some(&mut idle, &mut buf).unwrap(),
        0,
        "the idle connection is closed"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "idle connections do not hold the shutdown: {:?}",
        start.elapsed()
    );
    assert!(
        reg.exited().is_none(),
        "nmr waits for the request in flight"
    );

    busy.write_all(&rest).unwrap();
    let r = read_response(&mut busy, false).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let status = reg.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", reg.log());
    let log = reg.log();
    assert!(log.contains("SIGTERM: stopping"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(
        !reg.dir.path().join("data/nmr.sqlite-wal").exists(),
        "the last connection closed cleanly and checkpointed the WAL"
    );
    assert_eq!(spool_dirs(), 0, "the private spool directory is removed");

    let reg = Registry::start_in(reg.into_dir(), &[], &[]);
    let doc = reg.get("/inflight").json();
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
}

#[test]
fn a_request_stalled_past_the_shutdown_timeout_is_cut_off() {
    let mut reg = Registry::start_with(
        &[
            "--set",
            "server.read_timeout=120",
            "--set",
            "server.shutdown_timeout=1",
        ],
        &[],
    );
    let (mut stalled, _) = half_a_publish(&reg, "stalled");
    reg.signal("TERM");
    let status = reg.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", reg.log());
    assert!(
        reg.log().contains("closed 1 connections still busy"),
        "{}",
        reg.log()
    );
    let mut rest = Vec::new();
    let _ = stalled.read_to_end(&mut rest);
    let reg = Registry::start_in(reg.into_dir(), &[], &[]);
    assert_eq!(
        reg.get("/stalled").status,
        404,
        "the cut-off publish left nothing"
    );
}
