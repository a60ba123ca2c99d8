//! Observability: `GET /-/metrics` counts requests by route and status, latency, publishes,
//! stored bytes, front refusals and upstream failures; `GET /-/ping` is 503 when the database
//! cannot be read; the access log has method, path, status, bytes, time and user, never a token.

use crate::support::*;
use std::io::{Read, Write};

/// The value of the metric line that starts with `series ` (name and labels).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_count_requests_latency_publishes_refusals_and_bytes() {
    let reg = Registry::start();
    let tgz = raw_publish(&reg, "mpkg", "1.0.0");
    assert_eq!(reg.get("/mpkg").status, 200);
    assert_eq!(reg.get("/mpkg").status, 200);
    assert_eq!(reg.get("/nopkg").status, 404);
    let mut s = connect(reg.port);
    write!(s, "GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(40_000)).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");

    let m = reg.get("/-/metrics");
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = m.text();
    let series = |route: &str, method: &str, status: u16| {
        metric(
            &text,
            &format!("nmr_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"),
        )
    };
    assert_eq!(series("/{pkg}", "PUT", 201), Some(1.0), "{text}");
    assert_eq!(series("/{pkg}", "GET", 200), Some(2.0), "{text}");
    assert_eq!(series("/{pkg}", "GET", 404), Some(1.0), "{text}");
    assert_eq!(
        metric(&text, "nmr_http_requests_refused_total{status=\"431\"}"),
        Some(1.0)
    );
    assert_eq!(metric(&text, "nmr_publishes_total"), Some(1.0));
    assert_eq!(metric(&text, "nmr_packages"), Some(1.0));
    assert_eq!(metric(&text, "nmr_stored_bytes"), Some(tgz.len() as f64));
    assert_eq!(metric(&text, "nmr_upstream_errors_total"), Some(0.0));
    // Every request handled so far is in the histogram, in order of its buckets.
    let handled: f64 = text
        .lines()
        .filter(|l| l.starts_with("nmr_http_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        metric(&text, "nmr_http_request_duration_seconds_count"),
        Some(handled)
    );
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("nmr_http_request_duration_seconds_bucket"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(buckets.last(), Some(&handled));
    // The text format: comments, or `name{labels} value`.
    for line in text.lines() {
        assert!(
            line.starts_with("# HELP nmr_")
                || line.starts_with("# TYPE nmr_")
                || (line.starts_with("nmr_")
                    && line.rsplit(' ').next().unwrap().parse::<f64>().is_ok()),
            "{line:?}"
        );
    }
}

#[test]
fn upstream_failures_are_counted() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let reg = Registry::start_with(
        &[
            "--set",
            "uplink.mode=proxy",
            "--set",
            &format!("uplink.url={url}"),
        ],
        &[],
    );
    assert_eq!(reg.get("/from-upstream").status, 502);
    let text = reg.get("/-/metrics").text();
    assert_eq!(
        metric(&text, "nmr_upstream_errors_total"),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn ping_is_503_when_the_database_cannot_be_read() {
    let reg = Registry::start();
    assert_eq!(reg.get("/-/ping").status, 200);
    let db = reg.dir.path().join("data/nmr.sqlite");
    let moved = reg.dir.path().join("data/moved.sqlite");
    std::fs::rename(&db, &moved).unwrap();
    let r = reg.get("/-/ping");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        r.error().contains("cannot read its database"),
        "{}",
        r.text()
    );
    wait_for("the cause in the log", || {
        reg.log()
            .contains("ping: cannot read the database")
            .then_some(())
    });

    // Another database in its place is not the one nmr serves from.
    let other = reg.dir.path().join("data/other.sqlite");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('marker', 'another');")
        .unwrap();
    std::fs::rename(&other, &db).unwrap();
    assert_eq!(reg.get("/-/ping").status, 503);

    std::fs::rename(&moved, &db).unwrap();
    assert_eq!(reg.get("/-/ping").status, 200);
}

#[test]
fn the_access_log_has_method_path_status_bytes_time_and_user_but_no_token() {
    let reg = Registry::start();
    assert_eq!(reg.get("/nopkg").status, 404);
    reg.request("DELETE", "/-/user/token/s3cr3t-t0ken", &[], b"");
    let log = reg.settled_log();
    let line = log
        .lines()
        .find(|l| l.contains("GET /nopkg "))
        .unwrap_or_else(|| panic!("{log}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    // timestamp, level, method, path, status, bytes, time, user
    assert_eq!(fields[2..5], ["GET", "/nopkg", "404"], "{line}");
    assert!(
        fields[5].ends_with('B') && fields[5][..fields[5].len() - 1].parse::<u64>().is_ok(),
        "{line}"
    );
    assert!(fields[6].ends_with("ms"), "{line}");
    assert_eq!(fields[7], "-", "{line}");
    assert!(!log.contains("s3cr3t"), "{log}");
    assert!(log.contains("DELETE /-/user/token/<redacted> "), "{log}");
}
