//! Prometheus metrics in the text exposition format, kept with atomics and one small map.
//!
//! Every label value comes from a fixed list (the API's routes and methods, the statuses it answers),
//! never from the request itself, so no request can add a time series: the map is bounded by
//! `ROUTES.len() + 2` routes (with `unmatched` and `/console`) × [`METHOD_LABELS`] × the statuses the server answers.

use axum::http::{Method, StatusCode};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the append latency histogram.
const LATENCY_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// The methods the API serves (HEAD is answered for every GET route; PUT and DELETE by
/// `/subscriptions/{name}`); any other is counted as `other`.
pub const METHOD_LABELS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "DELETE", "other"];
/// The route label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";
/// The route label of every web console request (its pages are not API routes).
pub const CONSOLE_ROUTE: &str = "/console";

/// The server's counters, rendered by `GET /metrics`.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    /// Events written by appends.
    pub events_appended: AtomicU64,
    /// Appends answered as retries.
    pub appends_idempotent: AtomicU64,
    /// Open subscription streams.
    pub sse_clients: AtomicU64,
    /// Open connections.
    pub connections_open: AtomicU64,
    /// Connections closed because a request head, or the next request, did not arrive in time.
    pub connections_timed_out: AtomicU64,
    /// Request heads hyper refused before any route saw them (unparsable, too long, too many fields).
    pub heads_refused: AtomicU64,
    /// Requests answered 503 by load shedding, before any route saw them.
    pub requests_shed: AtomicU64,
    append_latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    append_latency_count: AtomicU64,
    append_latency_micros_sum: AtomicU64,
}

impl Metrics {
    /// Counts one answered request by route template (`route`: one of `ROUTES`, else `unmatched`),
    /// method (else `other`) and status.
    pub fn request(&self, method: &Method, route: &'static str, status: StatusCode) {
        let method = match *method {
            Method::GET => METHOD_LABELS[0],
            Method::HEAD => METHOD_LABELS[1],
            Method::POST => METHOD_LABELS[2],
            Method::PUT => METHOD_LABELS[3],
            Method::DELETE => METHOD_LABELS[4],
            _ => METHOD_LABELS[5],
        };
        let mut map = self.requests.lock().expect("the metrics lock is never poisoned: nothing panics under it");
        *map.entry((route, method, status.as_u16())).or_insert(0) += 1;
    }

    /// Records how long one successful append took, end to end (durable).
    pub fn append_latency(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (bound, counter) in LATENCY_BUCKETS.iter().zip(&self.append_latency_buckets) {
            if seconds <= *bound {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.append_latency_count.fetch_add(1, Ordering::Relaxed);
        self.append_latency_micros_sum.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// The exposition text; `head_position` is the log's last position, if any.
    pub fn render(&self, head_position: Option<u64>) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP redress_http_requests_total Answered HTTP requests.");
        let _ = writeln!(out, "# TYPE redress_http_requests_total counter");
        let requests = self.requests.lock().expect("the metrics lock is never poisoned: nothing panics under it");
        for ((route, method, status), n) in requests.iter() {
            let _ = writeln!(
                out,
                "redress_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        drop(requests);
        let counters = [
            ("redress_events_appended_total", "Events written by appends.", &self.events_appended),
            (
                "redress_appends_idempotent_total",
                "Appends answered as retries, writing nothing.",
                &self.appends_idempotent,
            ),
            (
                "redress_http_connections_timed_out_total",
                "Connections closed because a request head, or the next request, did not arrive in time.",
                &self.connections_timed_out,
            ),
            (
                "redress_http_heads_refused_total",
                "Request heads refused before routing: unparsable, request line or headers too long.",
                &self.heads_refused,
            ),
            (
                "redress_http_requests_shed_total",
                "Requests answered 503 at the limit of requests in flight, before routing.",
                &self.requests_shed,
            ),
        ];
        let gauges = [
            ("redress_http_connections_open", "Open connections.", &self.connections_open),
            ("redress_sse_clients", "Open subscription streams.", &self.sse_clients),
        ];
        let kinds = counters.iter().map(|c| ("counter", c)).chain(gauges.iter().map(|g| ("gauge", g)));
        for (kind, (name, help, value)) in kinds {
            let value = value.load(Ordering::Relaxed);
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        let _ = writeln!(out, "# HELP redress_log_head_position Position of the last durable event (-1: empty).\n# TYPE redress_log_head_position gauge");
        let _ = writeln!(out, "redress_log_head_position {}", head_position.map_or(-1, |p| p as i64));
        let _ = writeln!(out, "# HELP redress_append_duration_seconds Durable append latency.\n# TYPE redress_append_duration_seconds histogram");
        for (bound, counter) in LATENCY_BUCKETS.iter().zip(&self.append_latency_buckets) {
            let _ = writeln!(
                out,
                "redress_append_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let count = self.append_latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "redress_append_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.append_latency_micros_sum.load(Ordering::Relaxed) as f64 / 1e6;
        let _ =
            writeln!(out, "redress_append_duration_seconds_sum {sum}\nredress_append_duration_seconds_count {count}");
        out
    }
}
