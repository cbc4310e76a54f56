//! Prometheus metrics: requests by route and status, latency histograms, queue depth.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
}

impl HttpMetrics {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        *self
            .requests
            .lock()
            .expect("metrics")
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        let mut latency = self.latency.lock().expect("metrics");
        let h = latency
            .entry((method.to_string(), route.to_string()))
            .or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// The text exposition format; `queue` is (queued, running) jobs when the store answered.
    pub fn render(&self, queue: Option<(i64, i64)>) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP flash_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE flash_http_requests_total counter\n");
        for ((method, route, status), n) in self.requests.lock().expect("metrics").iter() {
            let _ = writeln!(
                out,
                "flash_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP flash_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE flash_http_request_duration_seconds histogram\n");
        for ((method, route), h) in self.latency.lock().expect("metrics").iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "flash_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "flash_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "flash_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "flash_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        if let Some((queued, running)) = queue {
            out.push_str(
                "# HELP flash_jobs Jobs in the queue by state.\n# TYPE flash_jobs gauge\n",
            );
            let _ = writeln!(out, "flash_jobs{{state=\"queued\"}} {queued}");
            let _ = writeln!(out, "flash_jobs{{state=\"running\"}} {running}");
        }
        out
    }
}
