//! A blocking HTTP client of `/v1` with typed methods. Transient failures (connection errors,
//! 429, 502-504) are retried with capped exponential backoff and jitter, honouring
//! `Retry-After`, for at most `RetryPolicy::give_up_after`; then the caller gets
//! `ClientError::Unavailable` and may try again later. Every other refusal comes back at once as
//! `ClientError::Refused` with the server's problem details.
//!
//! The typed calls, one per endpoint, are in `calls`.
//!
//! Retries resend the request: the agent's reports are idempotent per attempt, and so are the
//! server's creations of content-addressed records; a search created twice is two searches.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod calls;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::{ListPage, Problem};

/// Largest model accepted from the server.
const MAX_MODEL_BYTES: u64 = 1 << 30;
/// Longest `Retry-After` honoured as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Items per page when a method reads a whole list.
const PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or stayed overloaded; worth trying later.
    #[error("server unavailable: {0}")]
    Unavailable(String),
    /// The server refused the request (4xx other than 429, or a 5xx that is not transient);
    /// sending it again will not help.
    #[error("{status} {title}: {detail}")]
    Refused {
        status: u16,
        title: String,
        /// The problem's detail with each field error appended (`; field: message`).
        detail: String,
    },
    /// A 2xx reply that is not what the contract says.
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
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
    /// The longest delay before retry number `retry` (0-based): doubling from `first_delay`,
    /// capped at `max_delay`.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.first_delay
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max_delay)
    }

    /// The delay actually slept: uniform in [backoff / 2, backoff], so that many clients
    /// refused at the same moment do not come back at the same moment.
    pub fn jittered(&self, retry: u32) -> Duration {
        let full = self.backoff(retry);
        let unit = (RandomState::new().hash_one(Instant::now()) >> 11) as f64 / (1u64 << 53) as f64;
        full.mul_f64(0.5 + 0.5 * unit)
    }
}

/// How the server took a heartbeat or a report of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    Accepted,
    /// 409 (or 404: the job is gone): the lease was lost and the attempt is void.
    LeaseLost,
}

type Response = ureq::http::Response<ureq::Body>;

/// One request on the wire, as an observer sees it (every attempt, retries included).
#[derive(Debug, Clone)]
pub struct Exchange<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// None when the server could not be reached.
    pub status: Option<u16>,
    pub elapsed: Duration,
}

/// Called after every attempt: for load tests and client-side metrics.
pub type Observer = Arc<dyn Fn(&Exchange) + Send + Sync>;

enum Attempt {
    Done(Response),
    Retry(String, Option<Duration>),
}

#[derive(Clone)]
pub struct Client {
    http: ureq::Agent,
    base: String,
    auth: String,
    pub retry: RetryPolicy,
    observer: Option<Observer>,
}

impl Client {
    /// A client of the service at `base` (e.g. `http://127.0.0.1:8080`) with a bearer token.
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
            observer: None,
        }
    }

    /// The same client, reporting every attempt to `observer`.
    pub fn observed(mut self, observer: Observer) -> Client {
        self.observer = Some(observer);
        self
    }

    /// Sends one request, retrying transient failures; returns the first non-transient reply.
    fn send(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Response, ClientError> {
        let url = format!("{}{path}", self.base);
        let started = Instant::now();
        let mut retry = 0;
        loop {
            let sent = Instant::now();
            let reply = self.send_once(method, &url, body);
            if let Some(observe) = &self.observer {
                observe(&Exchange {
                    method,
                    path,
                    status: reply.as_ref().ok().map(|r| r.status().as_u16()),
                    elapsed: sent.elapsed(),
                });
            }
            let attempt = match reply {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if matches!(status, 429 | 502 | 503 | 504) {
                        Attempt::Retry(format!("{method} {path}: {status}"), retry_after(&resp))
                    } else {
                        Attempt::Done(resp)
                    }
                }
                Err(e) => Attempt::Retry(format!("{method} {path}: {e}"), None),
            };
            match attempt {
                Attempt::Done(resp) => return Ok(resp),
                Attempt::Retry(why, after) => {
                    let delay = after.unwrap_or_else(|| self.retry.jittered(retry));
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
        body: Option<&[u8]>,
    ) -> Result<Response, ureq::Error> {
        let json = "application/json";
        match (method, body) {
            ("PUT", Some(b)) => self
                .http
                .put(url)
                .header("authorization", &self.auth)
                .header("content-type", json)
                .send(b),
            ("POST", Some(b)) => self
                .http
                .post(url)
                .header("authorization", &self.auth)
                .header("content-type", json)
                .send(b),
            _ => self
                .http
                .get(url)
                .header("authorization", &self.auth)
                .call(),
        }
    }

    /// Sends `body` as JSON and reads a JSON reply; any non-2xx reply is `Refused`.
    fn exchange<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let resp = self.send_json(method, path, body)?;
        if !resp.status().is_success() {
            return Err(refused(resp));
        }
        read_json(resp)
    }

    fn send_json(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Response, ClientError> {
        let bytes = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Protocol(format!("the request does not serialise: {e}")))?;
        self.send(method, path, bytes.as_deref())
    }

    /// `GET path` as `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.exchange(method::GET, path, None::<&()>)
    }

    /// `POST path` with a JSON body, as `T`.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.exchange(method::POST, path, Some(body))
    }

    /// `PUT path` with a JSON body, as `T`.
    pub fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.exchange(method::PUT, path, Some(body))
    }

    /// Every item of the list at `path` (which may carry a query), following `next_cursor`.
    pub fn all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, ClientError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page: ListPage<T> = match &cursor {
                None => self.get(&format!("{path}{sep}limit={PAGE}"))?,
                Some(c) => self.get(&format!("{path}{sep}limit={PAGE}&cursor={c}"))?,
            };
            items.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(items),
            }
        }
    }
}

mod method {
    pub const GET: &str = "GET";
    pub const POST: &str = "POST";
    pub const PUT: &str = "PUT";
}

/// A `Retry-After` given in seconds, capped.
fn retry_after(resp: &Response) -> Option<Duration> {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
}

/// A refusal with the server's problem details (or the status alone when the body is none).
fn refused(mut resp: Response) -> ClientError {
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    match serde_json::from_str::<Problem>(&text) {
        Ok(problem) => {
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
        Err(_) => ClientError::Refused {
            status,
            title: resp
                .status()
                .canonical_reason()
                .unwrap_or_default()
                .to_string(),
            detail: text.chars().take(500).collect(),
        },
    }
}

fn read_json<T: DeserializeOwned>(mut resp: Response) -> Result<T, ClientError> {
    resp.body_mut()
        .with_config()
        .limit(MAX_MODEL_BYTES)
        .read_json()
        .map_err(|e| ClientError::Protocol(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ClaimedJob;

    fn policy(first_ms: u64, max_ms: u64, give_up_ms: u64) -> RetryPolicy {
        RetryPolicy {
            first_delay: Duration::from_millis(first_ms),
            max_delay: Duration::from_millis(max_ms),
            give_up_after: Duration::from_millis(give_up_ms),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = policy(100, 1000, 5000);
        let delays: Vec<u128> = (0..6).map(|i| p.backoff(i).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.backoff(1000), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_half_to_full_backoff_and_varies() {
        let p = policy(100, 1000, 5000);
        let delays: Vec<Duration> = (0..200).map(|_| p.jittered(3)).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(400) && *d <= Duration::from_millis(800)),
            "{delays:?}"
        );
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(
            distinct.len() > 100,
            "only {} distinct delays",
            distinct.len()
        );
    }

    #[test]
    fn claimed_job_from_the_contract() {
        let job: ClaimedJob = serde_json::from_str(
            r#"{"id": "j1", "architecture_id": "a1", "device": "pi", "attempt": 2,
                "lease_expires_at": "2026-01-01T00:00:30Z", "lease_seconds": 30,
                "protocol": {"threads": 2}, "spec": null, "reference": null}"#,
        )
        .unwrap();
        assert_eq!(job.attempt, 2);
        assert!(job.spec.is_none());
        assert_eq!(job.protocol.threads, Some(2));
    }

    #[test]
    fn unreachable_server_gives_up_after_the_policy() {
        // A port that was just free: connections are refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::new(
            &format!("http://127.0.0.1:{port}"),
            "t",
            policy(10, 20, 100),
        );
        let started = Instant::now();
        let err = client.claim("pi").unwrap_err();
        assert!(matches!(err, ClientError::Unavailable(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// Serves `replies` in order, one per connection, and returns the base URL.
    fn scripted_server(replies: Vec<&'static str>) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for reply in replies {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = stream.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                stream.write_all(reply.as_bytes()).unwrap();
            }
        });
        base
    }

    #[test]
    fn retry_after_is_honoured_before_the_backoff() {
        let base = scripted_server(vec![
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n[1,2,3]",
        ]);
        let client = Client::new(&base, "t", policy(10, 20, 5000));
        let started = Instant::now();
        let got: Vec<u32> = client.get("/anything").unwrap();
        assert_eq!(got, [1, 2, 3]);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    }

    #[test]
    fn a_refusal_carries_the_problem_and_is_not_retried() {
        let body = r#"{"type":"about:blank","title":"Unprocessable Entity","status":422,"detail":"invalid","errors":[{"field":"n","message":"must be in 1..=10000"}]}"#;
        let reply: &'static str = Box::leak(
            format!(
                "HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/problem+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        );
        let base = scripted_server(vec![reply]);
        let client = Client::new(&base, "t", policy(10, 20, 5000));
        let err = client.get::<serde_json::Value>("/v1/x").unwrap_err();
        assert_eq!(err.status(), Some(422));
        assert!(err.to_string().contains("n: must be in 1..=10000"), "{err}");
    }
}
