//! The counters behind `GET /-/metrics`, and their rendering in the Prometheus text format:
//! requests by route and status, request latency, publishes, client connections and what the
//! connection front refused, hits, downloads and evictions of the upstream cache; plus, read
//! when scraped, the stored packages and bytes (published and cached), the upstream registry's
//! failures and the webhook deliveries.

use crate::error::Result;
use crate::http::Method;
use crate::store::meta;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A request's route (its index in the routing table, `None` when none matched), method and
/// status.
type RequestKey = (Option<usize>, Method, u16);

/// Everything counted since the process started.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<RequestKey, u64>>,
    /// Requests per latency bucket; the last one is over the largest bound.
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_micros: AtomicU64,
    publishes: AtomicU64,
    connections_open: AtomicI64,
    connections: AtomicU64,
    connections_rejected: AtomicU64,
    /// Requests the connection front answered itself, by status.
    refused: Mutex<BTreeMap<u16, u64>>,
    uplink_hits: AtomicU64,
    uplink_misses: AtomicU64,
    uplink_evictions: AtomicU64,
}

fn load(n: &AtomicU64) -> i64 {
    i64::try_from(n.load(Relaxed)).unwrap_or(i64::MAX)
}

fn count<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default() += 1;
}

impl Metrics {
    /// Records one handled request.
    pub fn request(&self, route: Option<usize>, method: Method, status: u16, took: Duration) {
        count(&self.requests, (route, method, status));
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency[bucket].fetch_add(1, Relaxed);
        self.latency_micros
            .fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// Records versions published.
    pub fn published(&self, versions: usize) {
        self.publishes.fetch_add(versions as u64, Relaxed);
    }

    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    /// A connection turned away at the `server.max_connections` cap.
    pub fn connection_rejected(&self) {
        self.connections_rejected.fetch_add(1, Relaxed);
    }

    /// A tarball served from the upstream cache.
    pub fn uplink_hit(&self) {
        self.uplink_hits.fetch_add(1, Relaxed);
    }

    /// A tarball downloaded from the upstream into the cache.
    pub fn uplink_miss(&self) {
        self.uplink_misses.fetch_add(1, Relaxed);
    }

    /// Cached upstream tarballs evicted to stay within `uplink.cache_max_size`.
    pub fn uplink_evicted(&self, n: usize) {
        self.uplink_evictions.fetch_add(n as u64, Relaxed);
    }

    /// A request refused before a handler ran (a bad head, a stalled or oversized body).
    pub fn request_refused(&self, status: u16) {
        count(&self.refused, status);
    }

    /// The counters in the Prometheus text format, then the gauges read from the database.
    /// The counters in Prometheus' text format; `route_name` turns a route's index into the
    /// pattern it is listed under.
    pub fn render(
        &self,
        db: &crate::store::db::Connection,
        upstream_errors: u64,
        notifier: &crate::notify::Notifier,
        route_name: fn(usize) -> String,
    ) -> Result<String> {
        let (packages, tarballs, bytes) = meta::totals(db)?;
        let (cached_tarballs, cached_bytes) = meta::uplink_totals(db)?;
        let queued = meta::outbox_queued(db)?;
        let mut out = String::new();
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut out,
            "nmr_http_requests_total",
            "counter",
            "HTTP requests handled, by route pattern, method and status.",
        );
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for ((route, method, status), n) in requests {
            let route = route.map_or_else(|| "unmatched".to_string(), route_name);
            let _ = writeln!(
                out,
                "nmr_http_requests_total{{route=\"{route}\",method=\"{}\",status=\"{status}\"}} {n}",
                method.name()
            );
        }
        family(
            &mut out,
            "nmr_http_request_duration_seconds",
            "histogram",
            "Time from receiving a request to having sent its response.",
        );
        out.push_str(&self.histogram());
        family(&mut out, "nmr_http_requests_refused_total", "counter", "Requests the connection front answered itself (bad or oversized heads, timeouts), by status.");
        let refused = self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (status, n) in refused {
            let _ = writeln!(
                out,
                "nmr_http_requests_refused_total{{status=\"{status}\"}} {n}"
            );
        }
        let scalars: [(&str, &str, &str, i64); 16] = [
            (
                "nmr_connections_open",
                "gauge",
                "Client connections open now.",
                self.connections_open.load(Relaxed),
            ),
            (
                "nmr_connections_total",
                "counter",
                "Client connections accepted.",
                load(&self.connections),
            ),
            (
                "nmr_connections_rejected_total",
                "counter",
                "Client connections turned away at server.max_connections.",
                load(&self.connections_rejected),
            ),
            (
                "nmr_publishes_total",
                "counter",
                "Package versions published.",
                load(&self.publishes),
            ),
            (
                "nmr_upstream_errors_total",
                "counter",
                "Failed requests to the upstream registry (unreachable, timed out or 5xx).",
                i64::try_from(upstream_errors).unwrap_or(i64::MAX),
            ),
            (
                "nmr_notify_queued",
                "gauge",
                "Webhook events waiting for delivery (all processes sharing the database).",
                queued,
            ),
            (
                "nmr_notify_delivered_total",
                "counter",
                "Webhook events this process delivered.",
                i64::try_from(notifier.delivered()).unwrap_or(i64::MAX),
            ),
            (
                "nmr_notify_failed_total",
                "counter",
                "Webhook events this process gave up on (a final answer, or too many attempts).",
                i64::try_from(notifier.failed()).unwrap_or(i64::MAX),
            ),
            (
                "nmr_packages",
                "gauge",
                "Packages published to this registry.",
                packages,
            ),
            (
                "nmr_tarballs",
                "gauge",
                "Files (tarballs) stored for published versions.",
                tarballs,
            ),
            (
                "nmr_stored_bytes",
                "gauge",
                "Bytes of the files stored for published versions.",
                bytes,
            ),
            (
                "nmr_uplink_cache_hits_total",
                "counter",
                "Tarball requests answered from the upstream cache.",
                load(&self.uplink_hits),
            ),
            (
                "nmr_uplink_cache_misses_total",
                "counter",
                "Tarballs downloaded from the upstream into the cache.",
                load(&self.uplink_misses),
            ),
            (
                "nmr_uplink_cache_evictions_total",
                "counter",
                "Cached upstream tarballs evicted to stay within uplink.cache_max_size.",
                load(&self.uplink_evictions),
            ),
            (
                "nmr_uplink_cache_tarballs",
                "gauge",
                "Upstream tarballs in the cache.",
                cached_tarballs,
            ),
            (
                "nmr_uplink_cache_bytes",
                "gauge",
                "Bytes of the upstream tarballs in the cache.",
                cached_bytes,
            ),
        ];
        for (name, kind, help, value) in scalars {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        Ok(out)
    }

    fn histogram(&self) -> String {
        let mut out = String::new();
        let mut cumulative = 0;
        for (i, bound) in BUCKETS
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".into()])
            .enumerate()
        {
            cumulative += self.latency[i].load(Relaxed);
            let _ = writeln!(
                out,
                "nmr_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let sum = self.latency_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "nmr_http_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "nmr_http_request_duration_seconds_count {cumulative}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_counts_every_request() {
        let m = Metrics::default();
        m.request(Some(0), Method::Get, 200, Duration::from_micros(500));
        m.request(Some(0), Method::Get, 200, Duration::from_millis(30));
        m.request(None, Method::Put, 404, Duration::from_secs(20));
        let h = m.histogram();
        assert!(h.contains("_bucket{le=\"0.001\"} 1\n"), "{h}");
        assert!(h.contains("_bucket{le=\"0.05\"} 2\n"), "{h}");
        assert!(h.contains("_bucket{le=\"10\"} 2\n"), "{h}");
        assert!(h.contains("_bucket{le=\"+Inf\"} 3\n"), "{h}");
        assert!(h.contains("_count 3\n"), "{h}");
    }
}
