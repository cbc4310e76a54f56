//! Walks every route of the OpenAPI document with no token, with each scope it does not
//! allow, and with each scope it allows: 401, 403 and 2xx respectively.

use axum::body::Body;
use axum::http::{Method, Request};
use flash_core::ArchSpec;
use flash_core::measurement::{DeviceDescriptor, Protocol};
use flash_server::store::NewArchitecture;
use flash_server::store::NewJobs;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{EXAMPLE_SPEC, Tokens, app, sqlite_store};

const SCOPES: [&str; 4] = ["read", "write", "agent", "admin"];

/// A running job on a device of its own, so each call that reports on a job has a live lease.
async fn running_job(store: &flash_server::Store, n: usize) -> (String, i64) {
    let device = format!("matrix-{n}");
    store
        .put_device(
            &device,
            &DeviceDescriptor {
                profile: "x86-host".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let spec = flash_core::Space::default_space()
        .sample_uniform(n + 1, 99)
        .pop()
        .unwrap();
    let (arch, _) = store
        .put_architecture(NewArchitecture::from_spec(spec))
        .await
        .unwrap();
    store
        .create_jobs(NewJobs {
            architecture_ids: vec![arch.id],
            device: device.clone(),
            protocol: Protocol::default(),
            max_attempts: 3,
        })
        .await
        .unwrap();
    let job = store.claim_job(&device, 30_000).await.unwrap().unwrap();
    (job.id, job.attempt)
}

/// Measurements and accuracies of a few architectures (by a made-up law: this test is about
/// access, not fitting) and a fit of each kind; returns the fits' ids.
async fn fitted_models(
    app: &axum::Router,
    admin: &str,
    store: &flash_server::Store,
) -> (String, String, String) {
    let send = |uri: &'static str, body: Value| {
        let req = Request::post(uri)
            .header("authorization", format!("Bearer {admin}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await.unwrap();
            assert!(resp.status().is_success(), "{uri}: {}", resp.status());
            let bytes = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap()
                .to_bytes();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }
    };
    for (i, spec) in flash_core::Space::default_space()
        .sample_uniform(8, 42)
        .into_iter()
        .enumerate()
    {
        let (a, _) = store
            .put_architecture(NewArchitecture::from_spec(spec))
            .await
            .unwrap();
        let latency = 1.0 + a.metrics.macs as f64 * 1e-9 + i as f64 * 0.01;
        send("/v1/measurements", json!({"architecture_id": a.id, "device": "dev", "source": "matrix", "result": crate::common::result(latency)})).await;
        send("/v1/accuracies", json!({"architecture_id": a.id, "dataset": "digits", "accuracy": 0.5 + 0.01 * i as f64})).await;
    }
    let hw = send(
        "/v1/hardware-models",
        json!({"device": "dev", "metric": "latency"}),
    )
    .await;
    let acc = send("/v1/accuracy-models", json!({"dataset": "digits"})).await;
    let search = send(
        "/v1/searches",
        json!({"dataset": "digits", "devices": [{"device": "dev"}]}),
    )
    .await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    (id(&hw), id(&acc), id(&search))
}

#[tokio::test]
async fn every_route_enforces_its_documented_scopes() {
    let t = sqlite_store().await;
    let store = t.store.clone();
    let tokens = Tokens::create(&store).await;
    let app = app(store.clone());
    let (arch, _) = store
        .put_architecture(NewArchitecture::from_spec(
            ArchSpec::from_json(EXAMPLE_SPEC).unwrap(),
        ))
        .await
        .unwrap();
    store
        .put_device(
            "dev",
            &DeviceDescriptor {
                profile: "x86-host".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (job_id, _) = running_job(&store, 0).await;
    let (hardware_model, accuracy_model, search) = fitted_models(&app, &tokens.admin, &store).await;

    let doc = serde_json::to_value(flash_server::app::openapi_document()).unwrap();
    let mut checked = 0;
    let mut fixtures = 1;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let allowed: Vec<&str> = op["security"][0]["bearer"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} documents no scopes"))
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            for caller in std::iter::once(None).chain(SCOPES.iter().map(Some)) {
                let mut job = (job_id.clone(), 1);
                let is_report = path.ends_with("/heartbeat")
                    || path.ends_with("/complete")
                    || path.ends_with("/fail");
                if path.starts_with("/v1/jobs/{id}/") && is_report {
                    job = running_job(&store, fixtures).await;
                    fixtures += 1;
                }
                let uri = path
                    .replace(
                        "/v1/architectures/{id}",
                        &format!("/v1/architectures/{}", arch.id),
                    )
                    .replace("/v1/jobs/{id}", &format!("/v1/jobs/{}", job.0))
                    .replace("/v1/spaces/{name}", "/v1/spaces/flash-densenet")
                    .replace(
                        "/v1/hardware-models/{id}",
                        &format!("/v1/hardware-models/{hardware_model}"),
                    )
                    .replace(
                        "/v1/accuracy-models/{id}",
                        &format!("/v1/accuracy-models/{accuracy_model}"),
                    )
                    .replace("/v1/searches/{id}", &format!("/v1/searches/{search}"))
                    .replace("/v1/devices/{name}", "/v1/devices/dev");
                let body: Option<Value> = match (method.as_str(), path.as_str()) {
                    ("post", "/v1/architectures") => {
                        Some(serde_json::from_str(EXAMPLE_SPEC).unwrap())
                    }
                    ("post", "/v1/spaces/{name}/samples") => Some(json!({"n": 2, "seed": 3})),
                    ("put", "/v1/devices/{name}") => Some(json!({"profile": "x86-host"})),
                    ("post", "/v1/measurements") => Some(
                        json!({"architecture_id": arch.id, "device": "dev", "source": "matrix", "result": crate::common::result(2.0)}),
                    ),
                    ("post", "/v1/accuracies") => Some(
                        json!({"architecture_id": arch.id, "dataset": "digits", "accuracy": 0.9}),
                    ),
                    ("post", "/v1/jobs") => {
                        Some(json!({"architecture_ids": [arch.id], "device": "dev"}))
                    }
                    ("post", "/v1/jobs/claim") => Some(json!({"device": "dev"})),
                    ("post", "/v1/hardware-models") => {
                        Some(json!({"device": "dev", "metric": "latency"}))
                    }
                    ("post", "/v1/accuracy-models") => Some(json!({"dataset": "digits"})),
                    ("post", "/v1/searches") => {
                        Some(json!({"dataset": "digits", "devices": [{"device": "dev"}]}))
                    }
                    ("post", "/v1/predictions") => Some(
                        json!({"architectures": [arch.id], "device": "dev", "dataset": "digits"}),
                    ),
                    ("post", "/v1/jobs/{id}/heartbeat") => Some(json!({"attempt": job.1})),
                    ("post", "/v1/jobs/{id}/complete") => {
                        Some(json!({"attempt": job.1, "result": crate::common::result(2.0)}))
                    }
                    ("post", "/v1/jobs/{id}/fail") => {
                        Some(json!({"attempt": job.1, "error": "matrix"}))
                    }
                    ("post" | "put", _) => Some(json!({})),
                    _ => None,
                };
                let mut req = Request::builder()
                    .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
                    .uri(&uri);
                if let Some(scope) = caller {
                    req = req.header("authorization", format!("Bearer {}", tokens.of(scope)));
                }
                let req = match &body {
                    Some(b) => req
                        .header("content-type", "application/json")
                        .body(Body::from(b.to_string())),
                    None => req.body(Body::empty()),
                }
                .unwrap();
                let status = app.clone().oneshot(req).await.unwrap().status().as_u16();
                let expected = match caller {
                    None => "401",
                    Some(scope) if allowed.contains(scope) => "2xx",
                    Some(_) => "403",
                };
                let ok = match expected {
                    "2xx" => (200..300).contains(&status),
                    code => status.to_string() == code,
                };
                assert!(
                    ok,
                    "{} {uri} as {caller:?}: expected {expected}, got {status}",
                    method.to_uppercase()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 5 * 20, "only {checked} calls checked");
}
