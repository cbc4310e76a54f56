//! Prometheus metrics: requests by route and status, latency histograms, queue depth. Recorded
//! through the `metrics` facade into this application's own Prometheus recorder (not the
//! process-wide one), so that several applications in one process (tests, replicas) keep
//! separate counts.

use std::time::Duration;

use metrics::{Recorder, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

const REQUESTS: &str = "flash_http_requests_total";
const DURATION: &str = "flash_http_request_duration_seconds";
const JOBS: &str = "flash_jobs";

/// Upper bounds of the latency histogram's buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

pub struct HttpMetrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), &BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe_counter!(REQUESTS, "HTTP requests by method, route and status.");
            describe_histogram!(DURATION, metrics::Unit::Seconds, "HTTP request latency.");
            describe_gauge!(JOBS, "Jobs in the queue by state.");
        });
        HttpMetrics { recorder, handle }
    }
}

impl HttpMetrics {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.with(|| {
            let (method, route) = (method.to_string(), route.to_string());
            counter!(REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
                .increment(1);
            metrics::histogram!(DURATION, "method" => method, "route" => route)
                .record(elapsed.as_secs_f64());
        });
    }

    /// The text exposition format; `queue` is (queued, running) jobs when the store answered.
    pub fn render(&self, queue: Option<(i64, i64)>) -> String {
        if let Some((queued, running)) = queue {
            self.with(|| {
                gauge!(JOBS, "state" => "queued").set(queued as f64);
                gauge!(JOBS, "state" => "running").set(running as f64);
            });
        }
        self.handle.render()
    }

    fn with(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(&self.recorder as &dyn Recorder, f);
    }
}
