//! The HTTP API driven in-process: problem bodies for client mistakes, 201/200 identity,
//! paging, the committed OpenAPI document, and the route-by-scope matrix.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{EXAMPLE_SPEC, Tokens, app, flash_cli, sqlite_store};

struct Reply {
    status: StatusCode,
    content_type: String,
    body: Value,
    raw: Vec<u8>,
}

async fn call(
    app: &axum::Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
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
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let raw = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Reply {
        status,
        content_type,
        body,
        raw,
    }
}

async fn json_call(
    app: &axum::Router,
    method: Method,
    uri: &str,
    token: &str,
    body: Value,
) -> Reply {
    call(
        app,
        method,
        uri,
        Some(token),
        Some("application/json"),
        body.to_string().into_bytes(),
    )
    .await
}

fn assert_problem(r: &Reply, status: u16, field: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(r.body["status"], status);
    assert!(
        r.body["title"].is_string() && r.body["detail"].is_string() && r.body["type"].is_string()
    );
    if let Some(field) = field {
        let fields: Vec<&str> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{field} not in {fields:?}");
    }
}

#[tokio::test]
async fn architectures_are_created_once_and_read_back() {
    let t = sqlite_store().await;
    let tokens = Tokens::create(&t.store).await;
    let app = app(t.store.clone());
    let spec: Value = serde_json::from_str(EXAMPLE_SPEC).unwrap();
    let first = json_call(
        &app,
        Method::POST,
        "/v1/architectures",
        &tokens.write,
        spec.clone(),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = json_call(&app, Method::POST, "/v1/architectures", &tokens.write, spec).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(first.body, second.body);
    let id = first.body["id"].as_str().unwrap();
    assert_eq!(first.body["in_space"], true);
    let got = call(
        &app,
        Method::GET,
        &format!("/v1/architectures/{id}"),
        Some(&tokens.read),
        None,
        vec![],
    )
    .await;
    assert_eq!(got.body, first.body);
    let onnx = call(
        &app,
        Method::GET,
        &format!("/v1/architectures/{id}/onnx"),
        Some(&tokens.agent),
        None,
        vec![],
    )
    .await;
    assert_eq!(onnx.status, StatusCode::OK);
    assert_eq!(onnx.content_type, "application/onnx");
    // The exported model imports back to the same metrics, and uploading it stores an import.
    let upload = call(
        &app,
        Method::POST,
        "/v1/architectures",
        Some(&tokens.write),
        Some("application/onnx"),
        onnx.raw.clone(),
    )
    .await;
    assert_eq!(upload.status, StatusCode::CREATED, "{}", upload.body);
    assert_eq!(upload.body["source"], "onnx");
    assert_eq!(
        upload.body["metrics"]["params"],
        first.body["metrics"]["params"]
    );
    assert_eq!(
        upload.body["metrics"]["nn_degree"],
        first.body["metrics"]["nn_degree"]
    );
    let upload_id = upload.body["id"].as_str().unwrap();
    let back = call(
        &app,
        Method::GET,
        &format!("/v1/architectures/{upload_id}/onnx"),
        Some(&tokens.read),
        None,
        vec![],
    )
    .await;
    assert_eq!(back.raw, onnx.raw, "an import is served as uploaded");
}

#[tokio::test]
async fn client_mistakes_get_problem_bodies_and_write_nothing() {
    let t = sqlite_store().await;
    let tokens = Tokens::create(&t.store).await;
    let app = app(t.store.clone());
    let w = &tokens.write;
    let r = call(
        &app,
        Method::POST,
        "/v1/architectures",
        Some(w),
        Some("application/json"),
        b"{\"space\":".to_vec(),
    )
    .await;
    assert_problem(&r, 400, None);
    let r = json_call(&app, Method::POST, "/v1/architectures", w, json!({"space": "flash-densenet", "cells": [{"width": 32, "depth": 8, "tc": 16}, {"width": 64, "depth": 2, "tc": 0}]})).await;
    assert_problem(&r, 422, Some("cells[1].depth"));
    let r = json_call(
        &app,
        Method::POST,
        "/v1/architectures",
        w,
        json!({"space": "nope", "cells": []}),
    )
    .await;
    assert_problem(&r, 422, Some("space"));
    let r = json_call(
        &app,
        Method::POST,
        "/v1/architectures",
        w,
        json!({"space": "flash-densenet", "cells": "many"}),
    )
    .await;
    assert_problem(&r, 422, Some("cells"));
    let r = call(
        &app,
        Method::POST,
        "/v1/architectures",
        Some(w),
        Some("text/plain"),
        b"hi".to_vec(),
    )
    .await;
    assert_problem(&r, 415, None);
    let r = call(
        &app,
        Method::POST,
        "/v1/architectures",
        Some(w),
        Some("application/onnx"),
        b"\x08\x07garbage".to_vec(),
    )
    .await;
    assert_problem(&r, 422, Some("body"));
    let big = vec![b' '; (1 << 20) + 10];
    let r = call(
        &app,
        Method::POST,
        "/v1/architectures",
        Some(w),
        Some("application/json"),
        big,
    )
    .await;
    assert_problem(&r, 413, None);
    let big = vec![0u8; (16 << 20) + 10];
    let r = call(
        &app,
        Method::POST,
        "/v1/architectures",
        Some(w),
        Some("application/onnx"),
        big,
    )
    .await;
    assert_problem(&r, 413, None);
    let r = call(
        &app,
        Method::GET,
        "/v1/architectures/0123",
        Some(w),
        None,
        vec![],
    )
    .await;
    assert_problem(&r, 404, None);
    let r = call(&app, Method::GET, "/v1/spaces/nope", Some(w), None, vec![]).await;
    assert_problem(&r, 404, None);
    let r = call(
        &app,
        Method::GET,
        "/v1/architectures?limit=0",
        Some(w),
        None,
        vec![],
    )
    .await;
    assert_problem(&r, 400, Some("limit"));
    let r = call(
        &app,
        Method::GET,
        "/v1/architectures?cursor=abc",
        Some(w),
        None,
        vec![],
    )
    .await;
    assert_problem(&r, 400, Some("cursor"));
    let r = call(
        &app,
        Method::GET,
        "/v1/architectures?in_space=maybe",
        Some(w),
        None,
        vec![],
    )
    .await;
    assert_problem(&r, 400, Some("query"));
    let r = json_call(
        &app,
        Method::POST,
        "/v1/spaces/flash-densenet/samples",
        w,
        json!({"n": 0}),
    )
    .await;
    assert_problem(&r, 422, Some("n"));
    let r = json_call(
        &app,
        Method::POST,
        "/v1/spaces/flash-densenet/samples",
        w,
        json!({"n": "five"}),
    )
    .await;
    assert_problem(&r, 422, Some("n"));
    let r = json_call(
        &app,
        Method::POST,
        "/v1/accuracies",
        w,
        json!({"architecture_id": "x", "dataset": "digits", "accuracy": 97.5}),
    )
    .await;
    assert_problem(&r, 422, Some("accuracy"));
    let r = json_call(
        &app,
        Method::POST,
        "/v1/accuracies",
        w,
        json!({"architecture_id": "x", "dataset": "digits", "accuracy": 0.9}),
    )
    .await;
    assert_problem(&r, 422, Some("architecture_id"));
    let r = json_call(
        &app,
        Method::PUT,
        "/v1/devices/bad%20name",
        w,
        json!({"profile": "x86-host"}),
    )
    .await;
    assert_problem(&r, 422, Some("name"));
    let mut result = serde_json::to_value(crate::common::result(2.0)).unwrap();
    result["latency"]["p50_ms"] = json!(-1.0);
    let r = json_call(
        &app,
        Method::POST,
        "/v1/measurements",
        w,
        json!({"architecture_id": "x", "device": "d", "source": "nb", "result": result}),
    )
    .await;
    assert_problem(&r, 422, Some("result.latency.p50_ms"));
    // Nothing was written by any of these.
    let list = call(
        &app,
        Method::GET,
        "/v1/architectures",
        Some(w),
        None,
        vec![],
    )
    .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
    let r = call(&app, Method::GET, "/v1/devices", Some(w), None, vec![]).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn samples_are_stored_and_paged() {
    let t = sqlite_store().await;
    let tokens = Tokens::create(&t.store).await;
    let app = app(t.store.clone());
    let r = json_call(
        &app,
        Method::POST,
        "/v1/spaces/flash-densenet/samples",
        &tokens.write,
        json!({"n": 25, "seed": 1, "stratified": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 25);
    let mut ids = Vec::new();
    let mut uri = "/v1/architectures?limit=10&in_space=true".to_string();
    loop {
        let page = call(&app, Method::GET, &uri, Some(&tokens.read), None, vec![]).await;
        ids.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/architectures?limit=10&in_space=true&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(ids.len(), 25);
    let space = call(
        &app,
        Method::GET,
        "/v1/spaces/flash-densenet",
        Some(&tokens.read),
        None,
        vec![],
    )
    .await;
    assert_eq!(space.body["size"], "64000000000");
    // `flash space show` prints what the API answers.
    let shown: Value =
        serde_json::from_str(&flash_cli(&["space", "show", "flash-densenet"])).unwrap();
    assert_eq!(shown, space.body);
}

#[tokio::test]
async fn health_metrics_and_request_ids() {
    let t = sqlite_store().await;
    let app = app(t.store.clone());
    let r = call(&app, Method::GET, "/healthz", None, None, vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&app, Method::GET, "/readyz", None, None, vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    let resp = app
        .clone()
        .oneshot(Request::get("/v1/spaces").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
    let resp = app
        .clone()
        .oneshot(
            Request::get("/v1/spaces")
                .header("x-request-id", "abc")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc");
    let r = call(&app, Method::GET, "/metrics", None, None, vec![]).await;
    let text = String::from_utf8(r.raw).unwrap();
    assert!(
        text.contains(
            "flash_http_requests_total{method=\"GET\",route=\"/v1/spaces\",status=\"401\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains("flash_jobs{state=\"queued\"} 0"));
    let docs = call(&app, Method::GET, "/docs/", None, None, vec![]).await;
    assert_eq!(docs.status, StatusCode::OK);
    let doc = call(&app, Method::GET, "/openapi.json", None, None, vec![]).await;
    assert!(doc.body["paths"]["/v1/architectures"].is_object());
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let generated = flash_server::app::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p flash-server --test all openapi` and commit it"
    );
}
