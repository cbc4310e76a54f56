//! Fitting hardware models and accuracy predictors through the API, and predicting with them.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Tokens, app, stores};

async fn post(app: &axum::Router, uri: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::post(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Registers device `name` with `profile` (a new device: 201).
async fn register_device(app: &axum::Router, token: &str, name: &str, profile: &str) {
    let req = Request::put(format!("/v1/devices/{name}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(json!({"profile": profile}).to_string()))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn fits_are_stored_versioned_and_used_for_predictions() {
    for t in stores().await {
        let tokens = Tokens::create(&t.store).await;
        let app = app(t.store.clone());
        let w = &tokens.write;
        let (s, sample) = post(
            &app,
            "/v1/spaces/flash-densenet/samples",
            w,
            json!({"n": 30, "seed": 5, "stratified": true}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let archs = sample["items"].as_array().unwrap().clone();
        let (s, _) = post(&app, "/v1/devices/bench-1", w, json!({})).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        register_device(&app, w, "bench-1", "x86-host").await;

        // Latencies made by a known law (MACs and bytes): the fit must recover it.
        for a in &archs {
            let m = &a["metrics"];
            let latency = 2e-9 * m["macs"].as_f64().unwrap()
                + 1e-9 * m["activation_bytes"].as_f64().unwrap()
                + 0.3;
            let mut result = serde_json::to_value(crate::common::result(latency)).unwrap();
            result["energy"] = json!({"mj_per_inference": latency * 5.0, "method": "estimated"});
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
        assert_eq!(s, StatusCode::CREATED, "{}: {fit}", t.backend);
        assert_eq!(fit["version"], 1);
        assert_eq!(fit["fit"]["n"], 30);
        assert!(
            fit["fit"]["loo"]["mape"].as_f64().unwrap() < 0.01,
            "{}",
            fit["fit"]["loo"]
        );
        assert!(fit["fit"]["baseline_macs"]["mape"].is_number());
        assert_eq!(fit["samples"].as_array().unwrap().len(), 30);
        assert!(
            fit["fit"]["model"]["coefficients"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c.as_f64().unwrap() >= 0.0)
        );
        let (_, again) = post(
            &app,
            "/v1/hardware-models",
            w,
            json!({"device": "bench-1", "metric": "latency"}),
        )
        .await;
        assert_eq!(again["version"], 2);
        assert_eq!(
            again["fit"]["model"], fit["fit"]["model"],
            "refitting the same data gives the same model"
        );
        let (s, energy) = post(
            &app,
            "/v1/hardware-models",
            w,
            json!({"device": "bench-1", "metric": "energy"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(energy["value_source"], "estimated");

        let two: Vec<Value> = archs[..2].iter().map(|a| a["id"].clone()).collect();
        let (s, problem) = post(
            &app,
            "/v1/hardware-models",
            w,
            json!({"device": "bench-1", "metric": "latency", "fit_on": two}),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("not enough samples")
        );

        // Accuracies made by a known law in NN-Degree.
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
        assert!(acc["fit"]["errors"]["loo_rmse"].as_f64().unwrap() < 1e-6);
        assert!(acc["fit"]["reason"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(acc["fit"]["baseline_params"]["errors"]["loo_rmse"].is_number());
        let (s, _) = post(
            &app,
            "/v1/accuracy-models",
            w,
            json!({"dataset": "nothing"}),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

        let spec = json!({"space": "flash-densenet", "cells": [{"width": 32, "depth": 8, "tc": 16}, {"width": 64, "depth": 8, "tc": 32}, {"width": 128, "depth": 8, "tc": 64}]});
        let (s, pred) = post(
            &app,
            "/v1/predictions",
            &tokens.read,
            json!({"architectures": [archs[0]["id"], spec], "device": "bench-1", "dataset": "law"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{pred}");
        assert_eq!(pred["fits"]["latency_model"], again["id"]);
        assert_eq!(pred["fits"]["accuracy_model"], acc["id"]);
        let first = &pred["items"][0];
        let measured = fit["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["architecture_id"] == archs[0]["id"])
            .unwrap()["actual"]
            .as_f64()
            .unwrap();
        assert!((first["latency_ms"].as_f64().unwrap() / measured - 1.0).abs() < 0.01);
        // Every hardware prediction carries the fit's 95% interval around the same value.
        for item in pred["items"].as_array().unwrap() {
            let l = &item["latency"];
            let (lower, value, upper) = (
                l["lower"].as_f64().unwrap(),
                l["value"].as_f64().unwrap(),
                l["upper"].as_f64().unwrap(),
            );
            assert_eq!(value, item["latency_ms"].as_f64().unwrap());
            assert!(lower <= value && value <= upper && lower > 0.0, "{l}");
            assert!(item["energy"]["upper"].as_f64().is_some(), "{item}");
        }
        let a = &first["accuracy"];
        assert!(
            a["lower"].as_f64().unwrap() <= a["value"].as_f64().unwrap()
                && a["value"].as_f64().unwrap() <= a["upper"].as_f64().unwrap()
        );
        // A sample the fits were made on is no extrapolation.
        assert!(first.get("warnings").is_none(), "{first}");
        // ResNet-18 on ImageNet-sized input, imported from its graph, lies outside fits made on
        // CIFAR-sized cells (its NN-Degree, its weights): the prediction says so, feature by
        // feature.
        let req = Request::post("/v1/architectures")
            .header("authorization", format!("Bearer {w}"))
            .header("content-type", "application/onnx")
            .body(Body::from(
                include_bytes!("../../../core/tests/fixtures/zoo/resnet18.onnx").to_vec(),
            ))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let resnet: Value = serde_json::from_slice(&bytes).unwrap();
        let (s, pred) = post(
            &app,
            "/v1/predictions",
            &tokens.read,
            json!({"architectures": [resnet["id"]], "device": "bench-1", "dataset": "law"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{pred}");
        let warnings: Vec<&str> = pred["items"][0]["warnings"]
            .as_array()
            .unwrap_or_else(|| panic!("no warnings: {pred}"))
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("latency: ") && w.contains("is outside the fitted range")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("accuracy: nn_degree")),
            "{warnings:?}"
        );
        // So does every cost of a search's winner.
        let (s, found) = post(
            &app,
            "/v1/searches",
            w,
            json!({"dataset": "law", "devices": [{"device": "bench-1", "max_latency_ms": 2.0 * measured}]}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{found}");
        for c in found["result"]["best"]["costs"].as_array().unwrap() {
            let (lower, value, upper) = (
                c["lower"].as_f64().unwrap(),
                c["value"].as_f64().unwrap(),
                c["upper"].as_f64().unwrap(),
            );
            assert!(lower <= value && value <= upper, "{c}");
        }
        // With a confidence, the limit applies to the upper bound, and the result says so.
        let limit = 1.2 * measured;
        let (s, sure) = post(
            &app,
            "/v1/searches",
            w,
            json!({"dataset": "law", "confidence": 0.95, "devices": [{"device": "bench-1", "max_latency_ms": limit}]}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{sure}");
        assert_eq!(sure["request"]["confidence"], 0.95);
        assert_eq!(sure["result"]["confidence"], 0.95);
        let check = &sure["result"]["budget_checks"][0];
        let (predicted, bound) = (
            check["predicted"].as_f64().unwrap(),
            check["bound"].as_f64().unwrap(),
        );
        assert_eq!(check["limit"].as_f64().unwrap(), limit);
        assert!(bound <= limit, "{check}");
        assert!(
            (bound / predicted - check["margin_factor"].as_f64().unwrap()).abs() < 1e-9,
            "{check}"
        );
        assert!(sure["result"]["accuracy_given_up"].is_number(), "{sure}");
        // A confidence outside (0, 1) names the field and stores nothing.
        let before = get_json(&app, "/v1/searches?limit=1000", w).await["items"]
            .as_array()
            .unwrap()
            .len();
        for bad in [json!(1.5), json!(0.0), json!(-0.2), json!("high")] {
            let (s, problem) = post(
                &app,
                "/v1/searches",
                w,
                json!({"dataset": "law", "confidence": bad, "devices": [{"device": "bench-1", "max_latency_ms": limit}]}),
            )
            .await;
            assert!(s.is_client_error(), "{bad}: {s} {problem}");
            let named = problem["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["field"] == "confidence"));
            assert!(named, "{bad}: {problem}");
        }
        let after = get_json(&app, "/v1/searches?limit=1000", w).await["items"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(before, after, "a refused search stores nothing");
        // Points along the front are measured beside the winner; too many is refused whole.
        let verify = format!("/v1/searches/{}/verify", sure["id"].as_str().unwrap());
        let front = sure["result"]["fronts"][0]["points"]
            .as_array()
            .unwrap()
            .len();
        let (s, queued) = post(&app, &verify, w, json!({"front_points": 3})).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{queued}");
        let rows = queued["verification"].as_array().unwrap();
        assert!(
            rows.len() >= 3.min(front) && rows.len() <= 4,
            "winner and 3 front points: {queued}"
        );
        assert_eq!(rows[0]["architecture_id"], sure["result"]["best"]["id"]);
        let (s, problem) = post(&app, &verify, w, json!({"front_points": 21})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "front_points");
        let again = get_json(
            &app,
            &format!("/v1/searches/{}", sure["id"].as_str().unwrap()),
            w,
        )
        .await;
        assert_eq!(again["verification"], queued["verification"]);
        let (s, problem) = post(&app, "/v1/predictions", &tokens.read, json!({"architectures": [{"space": "flash-densenet", "cells": [{"width": 0, "depth": 3, "tc": 0}]}], "dataset": "law"})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            problem["errors"][0]["field"],
            "architectures[0].cells[0].width"
        );
        let (s, _) = post(
            &app,
            "/v1/predictions",
            &tokens.read,
            json!({"architectures": [archs[0]["id"]], "dataset": "unknown"}),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn a_batch_of_100000_specs_is_predicted_in_one_call() {
    let t = crate::common::sqlite_store().await;
    let tokens = Tokens::create(&t.store).await;
    let app = app(t.store.clone());
    // An accuracy model to predict with.
    let (_, sample) = post(
        &app,
        "/v1/spaces/flash-densenet/samples",
        &tokens.write,
        json!({"n": 12, "seed": 2}),
    )
    .await;
    for a in sample["items"].as_array().unwrap() {
        let acc = 0.5 + 0.001 * a["metrics"]["nn_degree"].as_f64().unwrap();
        post(
            &app,
            "/v1/accuracies",
            &tokens.write,
            json!({"architecture_id": a["id"], "dataset": "d", "accuracy": acc}),
        )
        .await;
    }
    let (s, _) = post(
        &app,
        "/v1/accuracy-models",
        &tokens.write,
        json!({"dataset": "d"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let specs: Vec<Value> = flash_core::Space::default_space()
        .sample_uniform(100_000, 9)
        .into_iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
    let body = json!({"architectures": specs, "dataset": "d"});
    let (s, pred) = post(&app, "/v1/predictions", &tokens.read, body).await;
    assert_eq!(s, StatusCode::OK, "{pred}");
    assert_eq!(pred["items"].as_array().unwrap().len(), 100_000);
}

#[tokio::test]
async fn analytic_devices_are_modelled_from_their_crossbar_profile() {
    let t = crate::common::sqlite_store().await;
    let tokens = Tokens::create(&t.store).await;
    let app = app(t.store.clone());
    let w = &tokens.write;
    register_device(&app, w, "imc-1", "imc-rram").await;
    let mut fits = Vec::new();
    for metric in ["latency", "energy", "area"] {
        let (s, fit) = post(
            &app,
            "/v1/hardware-models",
            w,
            json!({"device": "imc-1", "metric": metric}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{fit}");
        assert!(
            fit["value_source"]
                .as_str()
                .unwrap()
                .contains("analytic crossbar model")
        );
        assert_eq!(fit["fit"]["n"], 200);
        fits.push(fit);
    }
    // Energy is linear in MACs on a crossbar: the surrogate is nearly exact.
    assert!(
        fits[1]["fit"]["loo"]["mape"].as_f64().unwrap() < 5.0,
        "{}",
        fits[1]["fit"]["loo"]
    );

    let (_, sample) = post(
        &app,
        "/v1/spaces/flash-densenet/samples",
        w,
        json!({"n": 12, "seed": 4}),
    )
    .await;
    for a in sample["items"].as_array().unwrap() {
        let acc = 0.3 + 0.0003 * a["metrics"]["nn_degree"].as_f64().unwrap();
        post(
            &app,
            "/v1/accuracies",
            w,
            json!({"architecture_id": a["id"], "dataset": "law", "accuracy": acc}),
        )
        .await;
    }
    post(&app, "/v1/accuracy-models", w, json!({"dataset": "law"})).await;
    let (s, pred) = post(
        &app,
        "/v1/predictions",
        w,
        json!({"architectures": [sample["items"][0]["id"]], "device": "imc-1"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{pred}");
    assert!(pred["items"][0]["area_mm2"].as_f64().unwrap() > 0.0);
    assert_eq!(pred["fits"]["area_model"], fits[2]["id"]);

    let areas: Vec<f64> = fits[2]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["actual"].as_f64().unwrap())
        .collect();
    let budget = areas.iter().copied().fold(f64::INFINITY, f64::min) * 4.0;
    let (s, found) = post(
        &app,
        "/v1/searches",
        w,
        json!({"dataset": "law", "devices": [{"device": "imc-1", "max_area_mm2": budget}]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{found}");
    let check = &found["analytic"][0];
    assert_eq!(check["device"], "imc-1");
    assert_eq!(check["architecture_id"], found["result"]["best"]["id"]);
    assert_eq!(
        check["meets_limits"].as_bool().unwrap(),
        check["area_mm2"].as_f64().unwrap() <= budget
    );
    let (s, verified) = post(
        &app,
        &format!("/v1/searches/{}/verify", found["id"].as_str().unwrap()),
        w,
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert!(
        verified["verification"].as_array().unwrap().is_empty(),
        "no job for an analytic device"
    );
}

async fn get(app: &axum::Router, uri: &str, token: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::get(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    (
        status,
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

async fn get_json(app: &axum::Router, uri: &str, token: &str) -> Value {
    let (s, body) = get(app, uri, token).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn paired_measurements_are_normalized_by_the_devices_reference_latency() {
    use flash_server::store::{NewJobs, reference_network};
    for t in stores().await {
        let tokens = Tokens::create(&t.store).await;
        let app = app(t.store.clone());
        let w = &tokens.write;
        let (s, sample) = post(
            &app,
            "/v1/spaces/flash-densenet/samples",
            w,
            json!({"n": 12, "seed": 7, "stratified": true}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let archs = sample["items"].as_array().unwrap().clone();
        register_device(&app, w, "paired-1", "x86-host").await;
        // Queuing a paired job stores the reference networks; its claim hands the agent the
        // reference of the architecture's space. An unpaired job gets none.
        let reference = reference_network(None);
        let arch0 = archs[0]["id"].as_str().unwrap().to_string();
        t.store
            .create_jobs(NewJobs {
                architecture_ids: vec![arch0.clone()],
                device: "paired-1".into(),
                protocol: Default::default(),
                max_attempts: 1,
            })
            .await
            .unwrap();
        let claimed = t
            .store
            .claim_job("paired-1", 30_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claimed.reference.as_ref(), Some(reference));
        let stored = get_json(
            &app,
            &format!("/v1/architectures/{}", reference.architecture_id),
            w,
        )
        .await;
        assert_eq!(
            stored["spec"],
            serde_json::to_value(&reference.spec).unwrap()
        );
        let reference_id = reference.architecture_id.as_str();

        // Uploads: bad pairing is a 422 naming the field, and nothing is stored.
        let upload = |result: Value| json!({"architecture_id": arch0, "device": "paired-1", "source": "notebook", "result": result});
        let good = serde_json::to_value(crate::common::paired_result(2.2, 0.5, reference_id, 4.4))
            .unwrap();
        let mut no_reference = good.clone();
        no_reference.as_object_mut().unwrap().remove("reference");
        let mut zero_ratio = good.clone();
        zero_ratio["ratio"]["p50"] = json!(0.0);
        let mut unknown = good.clone();
        unknown["reference"]["architecture_id"] = json!("0123456789abcdef0123456789abcdef");
        for (body, field) in [
            (no_reference, "result.reference"),
            (zero_ratio, "result.ratio.p50"),
            (unknown, "result.reference.architecture_id"),
        ] {
            let (s, problem) = post(&app, "/v1/measurements", w, upload(body)).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
        // A ratio too large for a float is refused as well (JSON has no infinity).
        let text = upload(good.clone())
            .to_string()
            .replace("\"p50\":0.5", "\"p50\":1e999");
        let req = Request::post("/v1/measurements")
            .header("authorization", format!("Bearer {w}"))
            .header("content-type", "application/json")
            .body(Body::from(text))
            .unwrap();
        let status = app.clone().oneshot(req).await.unwrap().status();
        assert!(status.is_client_error(), "{status}");
        let listed = get_json(&app, "/v1/measurements?device=paired-1", w).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 0);

        // The host slows down by 20% for one measurement: its raw p50 and its reference's both
        // move; the ratio does not. Normalized = ratio x median of the reference p50s.
        let refs = [4.0, 4.0, 4.8, 4.0, 4.0];
        for (i, (a, r)) in archs.iter().zip(refs.iter().cycle()).enumerate() {
            let ratio = 0.1 + 0.05 * i as f64;
            let result = crate::common::paired_result(ratio * r, ratio, reference_id, *r);
            let (s, m) = post(
                &app,
                "/v1/measurements",
                w,
                json!({"architecture_id": a["id"], "device": "paired-1", "source": "notebook", "result": result}),
            )
            .await;
            assert_eq!(s, StatusCode::CREATED, "{m}");
        }
        let listed = get_json(&app, "/v1/measurements?device=paired-1&limit=1000", w).await;
        for (i, m) in listed["items"].as_array().unwrap().iter().enumerate() {
            let ratio = 0.1 + 0.05 * i as f64;
            assert_eq!(m["reference_latency_ms"], 4.0, "{m}");
            let normalized = m["normalized_latency_ms"].as_f64().unwrap();
            assert!((normalized - 4.0 * ratio).abs() < 1e-9, "{m}");
        }
        let devices = get_json(&app, "/v1/devices/paired-1/references", w).await;
        assert_eq!(devices["items"][0]["architecture_id"], reference_id);
        assert_eq!(devices["items"][0]["latency_ms"], 4.0);
        assert_eq!(devices["items"][0]["window"], 12);
        let history = get_json(&app, "/v1/devices/paired-1/reference-latencies?limit=5", w).await;
        let points = history["items"].as_array().unwrap();
        assert_eq!(points.len(), 5);
        assert_eq!(points[2]["p50_ms"].as_f64().unwrap(), refs[2]);
        assert!(history["next_cursor"].is_string());
        let (s, svg) = get(&app, "/v1/devices/paired-1/speed.svg", w).await;
        assert_eq!(s, StatusCode::OK);
        let svg = String::from_utf8(svg).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("Speed of paired-1"),
            "{svg}"
        );
        assert!(svg.contains("reference latency 4 ms"), "{svg}");

        // The latency fit is made on the normalized values, not on the raw ones.
        let (s, fit) = post(
            &app,
            "/v1/hardware-models",
            w,
            json!({"device": "paired-1", "metric": "latency"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{fit}");
        let actual: Vec<f64> = fit["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["actual"].as_f64().unwrap())
            .collect();
        let expected: Vec<f64> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["normalized_latency_ms"].as_f64().unwrap())
            .collect();
        let mut sorted = (actual.clone(), expected.clone());
        sorted.0.sort_by(f64::total_cmp);
        sorted.1.sort_by(f64::total_cmp);
        assert_eq!(sorted.0, sorted.1, "{}", t.backend);
    }
}

/// A ResNet or MobileNet space goes through the same loop as the DenseNet ones: sample, measure
/// (by a known law), fit, predict and search; a spec with another family's field is refused by
/// name.
#[tokio::test]
async fn the_resnet_and_mobilenet_spaces_are_fitted_predicted_and_searched() {
    let t = &stores().await[0];
    let tokens = Tokens::create(&t.store).await;
    let app = app(t.store.clone());
    let w = &tokens.write;
    for space in ["flash-resnet", "flash-mobilenet"] {
        let device = format!("{space}-cpu");
        register_device(&app, w, &device, "x86-host").await;
        let (s, sample) = post(
            &app,
            &format!("/v1/spaces/{space}/samples"),
            w,
            json!({"n": 25, "seed": 2, "strategy": "stratified"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{sample}");
        let archs = sample["items"].as_array().unwrap().clone();
        assert_eq!(archs.len(), 25);
        let mut latencies = Vec::new();
        for a in &archs {
            assert_eq!(a["in_space"], true, "{a}");
            let m = &a["metrics"];
            let latency =
                3e-9 * m["macs"].as_f64().unwrap() + 0.02 * m["kernels"].as_f64().unwrap();
            latencies.push(latency);
            let result = serde_json::to_value(crate::common::result(latency)).unwrap();
            let body = json!({"architecture_id": a["id"], "device": device, "source": "test-law", "result": result});
            let (s, body) = post(&app, "/v1/measurements", w, body).await;
            assert_eq!(s, StatusCode::CREATED, "{body}");
            let accuracy = 0.5 + 0.04 * m["nn_degree"].as_f64().unwrap().ln();
            let body = json!({"architecture_id": a["id"], "dataset": space, "accuracy": accuracy.min(0.99)});
            assert_eq!(
                post(&app, "/v1/accuracies", w, body).await.0,
                StatusCode::CREATED
            );
        }
        let (s, fit) = post(
            &app,
            "/v1/hardware-models",
            w,
            json!({"device": device, "metric": "latency"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{fit}");
        assert!(
            fit["fit"]["loo"]["mape"].as_f64().unwrap() < 1.0,
            "{}",
            fit["fit"]["loo"]
        );
        let (s, acc) = post(
            &app,
            "/v1/accuracy-models",
            w,
            json!({"dataset": space, "space": space}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{acc}");
        latencies.sort_by(f64::total_cmp);
        let limit = latencies[12];
        let (s, found) = post(
            &app,
            "/v1/searches",
            w,
            json!({"space": space, "dataset": space, "devices": [{"device": device, "max_latency_ms": limit}]}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{found}");
        let result = &found["result"];
        assert_eq!(result["exact"], true);
        let best = &result["best"];
        assert_eq!(best["spec"]["space"], space);
        let latency = best["costs"][0]["value"].as_f64().unwrap();
        assert!(latency <= limit * (1.0 + 1e-9), "{latency} > {limit}");
        // The winner's prediction through the predictions endpoint agrees with the search's.
        let (s, pred) = post(
            &app,
            "/v1/predictions",
            &tokens.read,
            json!({"architectures": [best["spec"]], "device": device, "dataset": space}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{pred}");
        let predicted = pred["items"][0]["latency_ms"].as_f64().unwrap();
        assert!(
            (predicted / latency - 1.0).abs() < 1e-9,
            "{predicted} vs {latency}"
        );
    }
    // The ImageNet grid's largest networks are billions of parameters: stored and scored, but
    // neither exported nor queued for measurement.
    let cell = json!({"width": 2048, "depth": 8, "block": "basic", "multiplier": 2});
    let giant = json!({"space": "flash-resnet-imagenet", "cells": [cell, cell, cell, cell]});
    let (s, giant) = post(&app, "/v1/architectures", w, giant).await;
    assert_eq!(s, StatusCode::CREATED, "{giant}");
    assert!(giant["metrics"]["params"].as_u64().unwrap() > 1 << 30);
    let id = giant["id"].as_str().unwrap();
    let (s, body) = get(&app, &format!("/v1/architectures/{id}/onnx"), w).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["errors"][0]["field"], "id", "{problem}");
    let job = json!({"architecture_ids": [id], "device": "flash-resnet-cpu"});
    let (s, problem) = post(&app, "/v1/jobs", w, job).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"], "architecture_ids[0]",
        "{problem}"
    );
    let wrong = json!({"space": "flash-resnet", "cells": [{"width": 16, "depth": 2, "tc": 8, "block": "basic", "multiplier": 1}]});
    let (s, problem) = post(&app, "/v1/architectures", w, wrong).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "cells[0].tc"),
        "{problem}"
    );
}
