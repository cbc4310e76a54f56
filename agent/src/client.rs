//! The service's agent API over HTTP. Transient failures (connection errors, 429, 502-504)
//! are retried with capped exponential backoff, honouring `Retry-After`, for at most
//! `RetryPolicy::give_up_after`; then the caller keeps its state and tries again later.

use std::time::{Duration, Instant};

use flash_core::measurement::{DeviceDescriptor, MeasurementResult, Protocol, ReferenceNetwork};
use flash_core::space::ArchSpec;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Largest model accepted from the server.
const MAX_MODEL_BYTES: u64 = 1 << 30;
/// Longest `Retry-After` honoured as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or stayed overloaded; worth trying later.
    #[error("server unavailable: {0}")]
    Unavailable(String),
    /// The server refused the request (4xx other than 409 and 429, or 5xx that is not
    /// transient); trying again will not help.
    #[error("{status} {title}: {detail}")]
    Refused {
        status: u16,
        title: String,
        detail: String,
    },
    /// A 2xx reply that is not what the contract says.
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            give_up_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (0-based): doubling from `first_delay`, capped.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.first_delay
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max_delay)
    }
}

/// A job handed to this agent by `POST /v1/jobs/claim`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Job {
    pub id: String,
    pub architecture_id: String,
    pub device: String,
    /// The fencing token of every heartbeat and report.
    pub attempt: i64,
    #[serde(default)]
    pub lease_expires_at: Option<String>,
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// The architecture's spec when it has one: core exports the same model from it.
    #[serde(default)]
    pub spec: Option<ArchSpec>,
    /// The device's reference network to pair with (absent when the job is unpaired).
    #[serde(default)]
    pub reference: Option<ReferenceNetwork>,
}

fn default_lease_seconds() -> u64 {
    30
}

/// How the server took a heartbeat or a report of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    Accepted,
    /// 409 (or 404: the job is gone): the lease was lost and the attempt is void.
    LeaseLost,
}

#[derive(Deserialize, Default)]
struct Problem {
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    errors: Vec<FieldProblem>,
}

#[derive(Deserialize)]
struct FieldProblem {
    field: String,
    message: String,
}

enum Attempt {
    Done(ureq::http::Response<ureq::Body>),
    Retry(String, Option<Duration>),
}

#[derive(Clone)]
pub struct Client {
    http: ureq::Agent,
    base: String,
    auth: String,
    pub retry: RetryPolicy,
}

impl Client {
    pub fn new(base: &str, token: &str, retry: RetryPolicy) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(300)))
            .build();
        Client {
            http: ureq::Agent::new_with_config(config),
            base: base.trim_end_matches('/').to_string(),
            auth: format!("Bearer {token}"),
            retry,
        }
    }

    /// Sends one request, retrying transient failures; returns the first non-transient reply.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        let url = format!("{}{path}", self.base);
        let started = Instant::now();
        let mut retry = 0;
        loop {
            let attempt = match self.send_once(method, &url, body) {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if matches!(status, 429 | 502 | 503 | 504) {
                        let after = resp
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
                        Attempt::Retry(format!("{method} {path}: {status}"), after)
                    } else {
                        Attempt::Done(resp)
                    }
                }
                Err(e) => Attempt::Retry(format!("{method} {path}: {e}"), None),
            };
            match attempt {
                Attempt::Done(resp) => return Ok(resp),
                Attempt::Retry(why, after) => {
                    let delay = after.unwrap_or_else(|| self.retry.backoff(retry));
                    if started.elapsed() + delay > self.retry.give_up_after {
                        return Err(ClientError::Unavailable(why));
                    }
                    tracing::debug!(%why, delay_ms = delay.as_millis() as u64, "retrying");
                    std::thread::sleep(delay);
                    retry += 1;
                }
            }
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        match (method, body) {
            ("PUT", Some(b)) => self
                .http
                .put(url)
                .header("Authorization", &self.auth)
                .send_json(b),
            ("POST", Some(b)) => self
                .http
                .post(url)
                .header("Authorization", &self.auth)
                .send_json(b),
            _ => self
                .http
                .get(url)
                .header("Authorization", &self.auth)
                .call(),
        }
    }

    fn refused(mut resp: ureq::http::Response<ureq::Body>) -> ClientError {
        let status = resp.status().as_u16();
        let problem: Problem = resp.body_mut().read_json().unwrap_or_default();
        let mut detail = problem.detail;
        for e in problem.errors {
            detail.push_str(&format!("; {}: {}", e.field, e.message));
        }
        ClientError::Refused {
            status,
            title: problem.title,
            detail,
        }
    }

    fn json<T: DeserializeOwned>(
        mut resp: ureq::http::Response<ureq::Body>,
    ) -> Result<T, ClientError> {
        resp.body_mut()
            .read_json()
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    fn expect_ok(&self, path: &str, body: serde_json::Value) -> Result<(), ClientError> {
        let resp = self.send("POST", path, Some(&body))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(Self::refused(resp))
        }
    }

    /// `PUT /v1/devices/{name}`.
    pub fn register(&self, name: &str, descriptor: &DeviceDescriptor) -> Result<(), ClientError> {
        let body = serde_json::to_value(descriptor).expect("descriptor serialises");
        let resp = self.send("PUT", &format!("/v1/devices/{name}"), Some(&body))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(Self::refused(resp))
        }
    }

    /// `POST /v1/devices/{name}/heartbeat`.
    pub fn device_heartbeat(&self, name: &str) -> Result<(), ClientError> {
        self.expect_ok(&format!("/v1/devices/{name}/heartbeat"), json!({}))
    }

    /// `POST /v1/jobs/claim`: the next job, or none.
    pub fn claim(&self, device: &str) -> Result<Option<Job>, ClientError> {
        let resp = self.send("POST", "/v1/jobs/claim", Some(&json!({ "device": device })))?;
        match resp.status().as_u16() {
            204 => Ok(None),
            200 => Self::json(resp).map(Some),
            _ => Err(Self::refused(resp)),
        }
    }

    /// `GET /v1/architectures/{id}/onnx`.
    pub fn model(&self, architecture_id: &str) -> Result<Vec<u8>, ClientError> {
        let mut resp = self.send(
            "GET",
            &format!("/v1/architectures/{architecture_id}/onnx"),
            None,
        )?;
        if !resp.status().is_success() {
            return Err(Self::refused(resp));
        }
        resp.body_mut()
            .with_config()
            .limit(MAX_MODEL_BYTES)
            .read_to_vec()
            .map_err(|e| ClientError::Unavailable(format!("reading the model: {e}")))
    }

    fn fenced(&self, path: String, body: serde_json::Value) -> Result<Ack, ClientError> {
        let resp = self.send("POST", &path, Some(&body))?;
        match resp.status().as_u16() {
            200..=299 => Ok(Ack::Accepted),
            404 | 409 => Ok(Ack::LeaseLost),
            _ => Err(Self::refused(resp)),
        }
    }

    /// `POST /v1/jobs/{id}/heartbeat`.
    pub fn job_heartbeat(&self, id: &str, attempt: i64) -> Result<Ack, ClientError> {
        self.fenced(
            format!("/v1/jobs/{id}/heartbeat"),
            json!({ "attempt": attempt }),
        )
    }

    /// `POST /v1/jobs/{id}/complete`.
    pub fn complete(
        &self,
        id: &str,
        attempt: i64,
        result: &MeasurementResult,
    ) -> Result<Ack, ClientError> {
        self.fenced(
            format!("/v1/jobs/{id}/complete"),
            json!({ "attempt": attempt, "result": result }),
        )
    }

    /// `POST /v1/jobs/{id}/fail`.
    pub fn fail(&self, id: &str, attempt: i64, error: &str) -> Result<Ack, ClientError> {
        self.fenced(
            format!("/v1/jobs/{id}/fail"),
            json!({ "attempt": attempt, "error": error }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            give_up_after: Duration::from_secs(5),
        };
        let delays: Vec<u128> = (0..6).map(|i| p.backoff(i).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.backoff(1000), Duration::from_secs(1));
    }

    #[test]
    fn claimed_job_from_the_contract() {
        let job: Job = serde_json::from_str(
            r#"{"id": "j1", "architecture_id": "a1", "device": "pi", "attempt": 2,
                "lease_expires_at": "2026-01-01T00:00:30Z", "lease_seconds": 30,
                "protocol": {"threads": 2}, "spec": null}"#,
        )
        .unwrap();
        assert_eq!(job.attempt, 2);
        assert!(job.spec.is_none());
        assert_eq!(job.protocol.unwrap().threads, Some(2));
    }

    #[test]
    fn unreachable_server_gives_up_after_the_policy() {
        // a port that was just free: connections are refused
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::new(
            &format!("http://127.0.0.1:{port}"),
            "t",
            RetryPolicy {
                first_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(20),
                give_up_after: Duration::from_millis(100),
            },
        );
        let started = Instant::now();
        let err = client.claim("pi").unwrap_err();
        assert!(matches!(err, ClientError::Unavailable(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
