//! Prometheus metrics in text format: request counts and latencies per route and status,
//! sync operations, logins, password hashes, and the database pool. Every label takes a
//! bounded set of values (routes as declared, the standard methods and `OTHER`), so no
//! request can grow the exposition.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's metrics.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<String, u64>>,
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    hashes_running: AtomicU64,
    hashes_peak: AtomicU64,
}

/// The method label of a request: the standard methods as they are, anything else `OTHER`.
pub fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("OTHER")
}

/// One password hash running; dropping it ends it (see [`Metrics::hash_started`]).
pub struct HashRunning(Arc<Metrics>);

impl Drop for HashRunning {
    fn drop(&mut self) {
        self.0.hashes_running.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(&self, name: &str, n: u64) {
        *lock(&self.counters).entry(name.to_owned()).or_default() += n;
    }

    /// Adds one to a counter.
    pub fn inc(&self, name: &str) {
        self.add(name, 1);
    }

    /// A password hash starts: counts it as running until the guard drops, and keeps the
    /// most ever running at once (`icc_password_hashes_peak`).
    pub fn hash_started(self: &Arc<Self>) -> HashRunning {
        let now = self.hashes_running.fetch_add(1, Ordering::SeqCst) + 1;
        self.hashes_peak.fetch_max(now, Ordering::SeqCst);
        self.inc("icc_password_hashes_total");
        HashRunning(Arc::clone(self))
    }

    /// Records one request. `route` must come from a bounded set (the router's declared
    /// routes); the method is folded by [`method_label`].
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        *lock(&self.requests)
            .entry((method_label(method).to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let mut l = lock(&self.latency);
        let h = l.entry(route.to_owned()).or_default();
        let s = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += s;
    }

    /// The text exposition, with the pool's `size` and `idle` connections.
    pub fn render(&self, pool_size: u32, pool_idle: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE icc_http_requests_total counter");
        for ((m, r, s), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "icc_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{s}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# TYPE icc_http_request_duration_seconds histogram");
        for (r, h) in lock(&self.latency).iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "icc_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "icc_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "icc_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "icc_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        for (name, n) in lock(&self.counters).iter() {
            let _ = writeln!(out, "# TYPE {name} counter\n{name} {n}");
        }
        let _ = writeln!(
            out,
            "# TYPE icc_password_hashes_running gauge\nicc_password_hashes_running {}",
            self.hashes_running.load(Ordering::SeqCst)
        );
        let _ = writeln!(
            out,
            "# TYPE icc_password_hashes_peak gauge\nicc_password_hashes_peak {}",
            self.hashes_peak.load(Ordering::SeqCst)
        );
        let _ = writeln!(out, "# TYPE icc_db_pool_connections gauge");
        let _ = writeln!(out, "icc_db_pool_connections{{state=\"open\"}} {pool_size}");
        let _ = writeln!(out, "icc_db_pool_connections{{state=\"idle\"}} {pool_idle}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        let m = Metrics::default();
        for method in ["GET", "BREW", "PROPFIND", "get", "X-ANYTHING-1"] {
            m.request(method, "/health", 405, Duration::from_millis(1));
        }
        let text = m.render(0, 0);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("icc_http_requests_total{"))
            .collect();
        assert_eq!(
            lines,
            [
                "icc_http_requests_total{method=\"GET\",route=\"/health\",status=\"405\"} 1",
                "icc_http_requests_total{method=\"OTHER\",route=\"/health\",status=\"405\"} 4",
            ]
        );
    }

    #[test]
    fn the_hash_peak_is_the_most_at_once() {
        let m = Arc::new(Metrics::default());
        let a = m.hash_started();
        let b = m.hash_started();
        drop(a);
        let c = m.hash_started();
        drop((b, c));
        let text = m.render(0, 0);
        assert!(text.contains("icc_password_hashes_peak 2\n"), "{text}");
        assert!(text.contains("icc_password_hashes_running 0\n"), "{text}");
        assert!(text.contains("icc_password_hashes_total 3\n"), "{text}");
    }
}
