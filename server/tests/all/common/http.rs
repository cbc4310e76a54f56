//! One in-process HTTP call and the checks every refused request must pass: a problem body,
//! the field named for 400 and 422.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use flash_server::Store;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends one request with a bearer token and a raw body of `content_type`.
pub async fn call(
    app: &axum::Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = app
        .clone()
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
    }
}

/// A JSON body given as text, so that it may hold what `serde_json::Value` cannot (`1e400`).
pub async fn post_text(app: &axum::Router, uri: &str, token: &str, text: String) -> Reply {
    call(
        app,
        Method::POST,
        uri,
        Some(token),
        Some("application/json"),
        text,
    )
    .await
}

/// A refusal is a 4xx problem body; 400 and 422 name at least one field.
pub fn check_refusal(r: &Reply, what: &str) {
    let status = r.status.as_u16();
    assert!(status < 500, "{what}: {status} {}", r.body);
    if r.status.is_success() {
        return;
    }
    assert_eq!(r.content_type(), "application/problem+json", "{what}");
    assert_eq!(r.body["status"], status, "{what}: {}", r.body);
    assert!(r.body["detail"].is_string(), "{what}: {}", r.body);
    if matches!(status, 400 | 422) {
        let errors = r.body["errors"].as_array();
        assert!(
            errors.is_some_and(|e| !e.is_empty()
                && e.iter()
                    .all(|e| e["field"].as_str().is_some_and(|f| !f.is_empty()))),
            "{what}: no field named in {}",
            r.body
        );
    }
}

/// Tables whose row counts a refused request must leave as they were.
pub const TABLES: [&str; 10] = [
    "architecture",
    "device",
    "job",
    "measurement",
    "accuracy",
    "api_token",
    "hardware_model",
    "accuracy_model",
    "search",
    "search_verification",
];

/// Row counts of every table, plus each job's state and attempt.
pub async fn snapshot(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for table in TABLES {
        let (n,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(store.pool())
                .await
                .unwrap();
        out.push(format!("{table}={n}"));
    }
    let jobs: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT job_id, state, attempt FROM job ORDER BY job_seq")
            .fetch_all(store.pool())
            .await
            .unwrap();
    out.extend(jobs.into_iter().map(|(id, s, a)| format!("{id}:{s}:{a}")));
    out
}

/// Percent-encodes every byte but letters and digits, for query strings.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
