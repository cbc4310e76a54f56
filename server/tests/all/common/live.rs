//! A live server's API for tests that start real processes: the service's client for steps
//! that must work, and raw requests for what a server answers in the middle of a fault.

use std::time::{Duration, Instant};

use flash_client::{Client, RetryPolicy};
use serde_json::{Value, json};

/// The service's client for steps that must work, and raw requests for the replies of a
/// server under a fault.
pub struct Api {
    client: Client,
    http: ureq::Agent,
    base: String,
    auth: String,
}

impl Api {
    pub fn new(base: &str, admin: &str) -> Api {
        Api {
            client: Client::new(base, admin, RetryPolicy::default()),
            http: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
            base: base.to_string(),
            auth: format!("Bearer {admin}"),
        }
    }

    /// Status, content type and body (JSON when it parses, else a string) of one request, not
    /// retried: what the service answers in the middle of a fault.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String, Value) {
        let url = format!("{}{path}", self.base);
        let reply = match body {
            Some(body) => self
                .http
                .post(&url)
                .header("authorization", &self.auth)
                .header("content-type", "application/json")
                .send(body.to_string()),
            None if method == "GET" => self
                .http
                .get(&url)
                .header("authorization", &self.auth)
                .call(),
            None => panic!("unsupported {method}"),
        };
        let mut r = reply.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = r.body_mut().read_to_string().unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, content_type, value)
    }

    pub fn get(&self, path: &str) -> Value {
        self.client
            .get(path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn post(&self, path: &str, body: Value) -> Value {
        self.client
            .post(path, &body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub fn put(&self, path: &str, body: Value) -> Value {
        self.client
            .put(path, &body)
            .unwrap_or_else(|e| panic!("PUT {path}: {e}"))
    }

    pub fn items(&self, path: &str) -> Vec<Value> {
        self.get(path)["items"].as_array().unwrap().clone()
    }

    /// Waits until `device` has registered.
    pub fn wait_device(&self, device: &str) {
        wait_for("the agent to register", Duration::from_secs(60), || {
            self.items("/v1/devices")
                .iter()
                .any(|d| d["name"] == device)
        });
    }

    /// Queues `n` sampled digits models on `device` with a short timed protocol; returns the
    /// new jobs' ids.
    pub fn queue_jobs(&self, device: &str, n: usize, seed: u64, budget_s: f64) -> Vec<String> {
        let sample = self.post(
            "/v1/spaces/flash-densenet-digits/samples",
            json!({"n": n, "seed": seed}),
        );
        let ids: Vec<Value> = sample["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].clone())
            .collect();
        let jobs = self.post(
            "/v1/jobs",
            json!({"architecture_ids": ids, "device": device, "protocol": {"time_budget_s": budget_s}}),
        );
        assert_eq!(jobs["created"], n);
        self.items(&format!("/v1/jobs?device={device}"))
            .iter()
            .filter(|j| ids.contains(&j["architecture_id"]))
            .map(|j| j["id"].as_str().unwrap().to_string())
            .collect()
    }
}

pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The admin token a server wrote into its data directory.
pub fn read_admin_token(data: &std::path::Path) -> String {
    std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_string()
}
