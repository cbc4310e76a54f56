//! Sampling a space for a purpose: uniform, stratified, and informative once a model exists.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Tokens, app, stores};

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn post(app: &axum::Router, uri: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::post(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, req).await
}

/// Checks an informative answer: `n` distinct stored in-space architectures, each scored,
/// best first, by the given model.
fn check_informative(body: &Value, n: usize, model_id: &Value) -> Vec<f64> {
    assert_eq!(body["strategy"], "informative", "{body}");
    assert_eq!(&body["model_id"], model_id);
    let items = body["items"].as_array().unwrap();
    let scores = body["scores"].as_array().unwrap();
    assert_eq!(items.len(), n);
    assert_eq!(scores.len(), n);
    let ids: std::collections::HashSet<&str> =
        items.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), n, "distinct");
    let mut leverages = Vec::new();
    for (a, s) in items.iter().zip(scores) {
        assert_eq!(a["in_space"], true);
        assert_eq!(a["id"], s["architecture_id"]);
        assert!(s["why"].as_str().unwrap().contains("leverage"), "{s}");
        leverages.push(s["leverage"].as_f64().unwrap());
    }
    assert!(leverages.iter().all(|h| *h > 0.0));
    assert!(
        leverages.windows(2).all(|w| w[0] >= w[1]),
        "ordered: {leverages:?}"
    );
    leverages
}

#[tokio::test]
async fn informative_sampling_follows_the_newest_model_and_needs_one() {
    for t in stores().await {
        let tokens = Tokens::create(&t.store).await;
        let app = app(t.store.clone());
        let w = &tokens.write;
        let uri = "/v1/spaces/flash-densenet/samples";

        // Without a model: 422 naming the fit to make first.
        let (s, problem) = post(
            &app,
            uri,
            w,
            json!({"n": 5, "strategy": "informative", "device": "bench-1"}),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("/v1/hardware-models"),
            "{problem}"
        );
        let (s, problem) = post(
            &app,
            uri,
            w,
            json!({"n": 5, "strategy": "informative", "purpose": "train", "dataset": "law"}),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("/v1/accuracy-models")
        );
        let (s, _) = post(
            &app,
            uri,
            w,
            json!({"n": 5, "strategy": "uniform", "stratified": true}),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

        // The old flag still selects stratified sampling; the purpose defaults to measure.
        let (s, sample) = post(
            &app,
            uri,
            w,
            json!({"n": 30, "seed": 5, "stratified": true}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(sample["strategy"], "stratified");
        assert_eq!(sample["stratified"], true);
        assert_eq!(sample["purpose"], "measure");
        assert!(sample["scores"].is_null());
        let archs = sample["items"].as_array().unwrap().clone();

        let req = Request::put("/v1/devices/bench-1")
            .header("authorization", format!("Bearer {w}"))
            .header("content-type", "application/json")
            .body(Body::from(r#"{"profile":"x86-host"}"#))
            .unwrap();
        assert_eq!(send(&app, req).await.0, StatusCode::CREATED);
        for a in &archs {
            let m = &a["metrics"];
            let latency = 2e-9 * m["macs"].as_f64().unwrap()
                + 1e-9 * m["activation_bytes"].as_f64().unwrap()
                + 0.3;
            let result = serde_json::to_value(crate::common::result(latency)).unwrap();
            let (s, body) = post(&app, "/v1/measurements", w, json!({"architecture_id": a["id"], "device": "bench-1", "source": "test-law", "result": result})).await;
            assert_eq!(s, StatusCode::CREATED, "{body}");
        }
        let (s, fit) = post(
            &app,
            "/v1/hardware-models",
            w,
            json!({"device": "bench-1", "metric": "latency"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{fit}");
        let body = json!({"n": 6, "seed": 11, "strategy": "informative", "device": "bench-1"});
        let (s, informed) = post(&app, uri, w, body.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{}: {informed}", t.backend);
        assert_eq!(informed["purpose"], "measure");
        check_informative(&informed, 6, &fit["id"]);
        assert!(informed["pool"].as_u64().unwrap() >= 2000);
        let (_, again) = post(&app, uri, w, body).await;
        assert_eq!(
            again["items"], informed["items"],
            "deterministic for a seed"
        );

        for a in &archs {
            let acc = 0.3 + 0.0003 * a["metrics"]["nn_degree"].as_f64().unwrap();
            let (s, _) = post(
                &app,
                "/v1/accuracies",
                w,
                json!({"architecture_id": a["id"], "dataset": "law", "accuracy": acc}),
            )
            .await;
            assert_eq!(s, StatusCode::CREATED);
        }
        let (s, acc) = post(&app, "/v1/accuracy-models", w, json!({"dataset": "law"})).await;
        assert_eq!(s, StatusCode::CREATED, "{acc}");
        let (s, informed) = post(
            &app,
            uri,
            w,
            json!({"n": 4, "strategy": "informative", "purpose": "train", "dataset": "law"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{informed}");
        assert_eq!(informed["purpose"], "train");
        check_informative(&informed, 4, &acc["id"]);
        let stds: Vec<f64> = informed["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["predictive_std"].as_f64().unwrap())
            .collect();
        assert!(stds.windows(2).all(|w| w[0] >= w[1]), "{stds:?}");
    }
}
