//! Hostile and random payloads on every body route, driven in-process: never a 5xx, always a
//! problem body that names the field, and a refused request writes nothing. Case counts are
//! bounded so the suite stays fast; `PROPTEST_CASES` raises them for a longer run.

use std::time::{Duration, Instant};

use axum::http::Method;
use flash_core::ArchSpec;
use flash_core::measurement::{DeviceDescriptor, Protocol};
use flash_core::onnx;
use flash_server::store::NewArchitecture;
use flash_server::store::NewJobs;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use prost::Message;
use serde_json::{Value, json};

use crate::common::http::{Reply, call, check_refusal, post_text, snapshot};
use crate::common::{EXAMPLE_SPEC, TestStore, Tokens, app, sqlite_store};

/// Cases per property (more with `PROPTEST_CASES`).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An app on a fresh SQLite store with an architecture, a device and a running job on it.
struct Fixture {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    t: TestStore,
    tokens: Tokens,
    arch: String,
    job: String,
}

impl Fixture {
    fn new() -> Fixture {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (t, tokens, arch, job) = rt.block_on(async {
            let t = sqlite_store().await;
            let tokens = Tokens::create(&t.store).await;
            let (a, _) = t
                .store
                .put_architecture(NewArchitecture::from_spec(
                    ArchSpec::from_json(EXAMPLE_SPEC).unwrap(),
                ))
                .await
                .unwrap();
            t.store
                .put_device(
                    "dev",
                    &DeviceDescriptor {
                        profile: "x86-host".into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            t.store
                .create_jobs(NewJobs {
                    architecture_ids: vec![a.id.clone()],
                    device: "dev".into(),
                    protocol: Protocol::default(),
                    max_attempts: 3,
                })
                .await
                .unwrap();
            let job = t.store.claim_job("dev", 600_000).await.unwrap().unwrap();
            assert_eq!(job.attempt, 1);
            (t, tokens, a.id, job.id)
        });
        let app = app(t.store.clone());
        Fixture {
            rt,
            app,
            t,
            tokens,
            arch,
            job,
        }
    }

    /// Sends a request and checks it: no 5xx, a problem body naming a field, and when refused,
    /// no change to any table or job.
    fn check(&self, what: &str, send: impl AsyncFnOnce(&axum::Router) -> Reply) -> Reply {
        self.rt.block_on(async {
            let before = snapshot(&self.t.store).await;
            let r = send(&self.app).await;
            check_refusal(&r, what);
            if !r.status.is_success() {
                assert_eq!(
                    before,
                    snapshot(&self.t.store).await,
                    "{what}: a refused request wrote"
                );
            }
            r
        })
    }

    fn post(&self, uri: &str, text: String) -> Reply {
        let token = self.tokens.admin.clone();
        self.check(&format!("POST {uri} {}", clip(&text)), async |app| {
            post_text(app, uri, &token, text).await
        })
    }
}

fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Raw JSON values that no valid field holds, as text: out of range, wrong type, not JSON
/// numbers at all, deep nesting, long strings.
fn hostile_token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e400".to_string()),
        Just("-1e400".to_string()),
        Just("NaN".to_string()),
        Just("\"NaN\"".to_string()),
        Just("Infinity".to_string()),
        Just("\"Infinity\"".to_string()),
        Just("-Infinity".to_string()),
        Just("\"-Infinity\"".to_string()),
        Just("-1".to_string()),
        Just("-0.001".to_string()),
        Just("1.5".to_string()),
        Just("18446744073709551616".to_string()),
        Just("9223372036854775808".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("1e308".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just(format!("\"{}\"", "x".repeat(200_000))),
        Just(format!("{}1{}", "[".repeat(200), "]".repeat(200))),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        "\"[^\"\\\\]{0,40}\"",
    ]
}

/// Random JSON trees: scalars of every kind, nested arrays and objects.
fn json_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,30}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("space".to_string()),
                    Just("cells".to_string()),
                    Just("attempt".to_string()),
                    Just("result".to_string()),
                    Just("accuracy".to_string()),
                    Just("device".to_string()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `template` with the value at `path` replaced by raw `token` text.
fn replace_at(template: &Value, path: &[&str], token: &str) -> String {
    const MARK: &str = "\u{1}MARK\u{1}";
    let mut v = template.clone();
    let mut at = &mut v;
    for key in path {
        at = match key.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*key],
        };
    }
    *at = Value::from(MARK);
    v.to_string()
        .replace(&serde_json::to_string(MARK).unwrap(), token)
}

fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value)) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |v| {
            test(v);
            Ok::<(), TestCaseError>(())
        })
        .unwrap();
}

const BODY_ROUTES: [&str; 8] = [
    "/v1/architectures",
    "/v1/measurements",
    "/v1/accuracies",
    "/v1/jobs",
    "/v1/jobs/claim",
    "/v1/jobs/{job}/heartbeat",
    "/v1/jobs/{job}/complete",
    "/v1/jobs/{job}/fail",
];

#[test]
fn random_json_trees_on_every_body_route_are_refused_cleanly() {
    let f = Fixture::new();
    let started = Instant::now();
    run(
        cases(96),
        (0..BODY_ROUTES.len(), json_tree()),
        |(route, tree)| {
            let uri = BODY_ROUTES[route].replace("{job}", &f.job);
            f.post(&uri, tree.to_string());
        },
    );
    run(cases(32), json_tree(), |tree| {
        let token = f.tokens.admin.clone();
        f.check("PUT /v1/devices/fuzz", async |app| {
            call(
                app,
                Method::PUT,
                "/v1/devices/fuzz",
                Some(&token),
                Some("application/json"),
                tree.to_string(),
            )
            .await
        });
    });
    eprintln!("random trees: {:?}", started.elapsed());
}

#[test]
fn hostile_values_in_specs_are_refused_with_the_field_named() {
    let f = Fixture::new();
    let spec: Value = serde_json::from_str(EXAMPLE_SPEC).unwrap();
    let paths: Vec<Vec<&str>> = vec![
        vec!["space"],
        vec!["input_shape"],
        vec!["input_shape", "0"],
        vec!["input_shape", "2"],
        vec!["num_classes"],
        vec!["cells"],
        vec!["cells", "0"],
        vec!["cells", "0", "width"],
        vec!["cells", "1", "depth"],
        vec!["cells", "2", "tc"],
        vec!["extra"],
    ];
    run(
        cases(128),
        (0..paths.len(), hostile_token()),
        |(which, token)| {
            let body = replace_at(&spec, &paths[which], &token);
            let r = f.post("/v1/architectures", body);
            // Structurally broken values are never a stored architecture.
            if token.starts_with('"') || token.starts_with('[') || token.contains("Infinity") {
                assert!(
                    !r.status.is_success(),
                    "{}: accepted {token}",
                    paths[which].join(".")
                );
            }
        },
    );
    // The whole body: not an object, nested too deep, enormous.
    for body in [
        "[]".to_string(),
        "\"spec\"".to_string(),
        "1e400".to_string(),
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        "{\"a\":".repeat(5_000),
        String::new(),
    ] {
        let r = f.post("/v1/architectures", body);
        assert!(r.status.is_client_error());
    }
}

/// The measurement result's fields, as paths under `result`.
const RESULT_PATHS: [&[&str]; 12] = [
    &["latency", "n"],
    &["latency", "mean_ms"],
    &["latency", "std_ms"],
    &["latency", "min_ms"],
    &["latency", "p50_ms"],
    &["latency", "p90_ms"],
    &["latency", "p99_ms"],
    &["latency", "p50_ci_low_ms"],
    &["latency", "p50_ci_high_ms"],
    &["latency", "warmup_runs"],
    &["latency"],
    &["energy"],
];

/// Latency figures that are numbers but impossible: negative, absurd, out of order.
fn inconsistent_latency() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            -1e12f64..-1e-9,
            1.0000001e9f64..1e300,
            Just(0.0),
            0.1f64..100.0
        ],
        0.1f64..100.0,
        prop_oneof![Just(0u64), 1_000_000_001u64..u64::MAX, 1u64..100],
        any::<bool>(),
    )
        .prop_map(|(p50, p90, n, ordered)| {
            let (low, high) = if ordered { (p50, p90) } else { (p90, p50) };
            json!({
                "n": n, "mean_ms": p50, "std_ms": 1.0, "min_ms": low, "p50_ms": p50,
                "p90_ms": high.min(p90), "p99_ms": low, "p50_ci_low_ms": low,
                "p50_ci_high_ms": high
            })
        })
}

#[test]
fn hostile_measurements_are_refused_and_nothing_is_stored() {
    let f = Fixture::new();
    let upload = json!({
        "architecture_id": f.arch,
        "device": "dev",
        "source": "test",
        "result": crate::common::result(2.0),
    });
    run(
        cases(128),
        (0..RESULT_PATHS.len(), hostile_token()),
        |(which, token)| {
            let mut path = vec!["result"];
            path.extend(RESULT_PATHS[which]);
            let r = f.post("/v1/measurements", replace_at(&upload, &path, &token));
            // Only a number of milliseconds in range can pass (and `null` for the optional
            // energy, any count for the warm-up runs).
            let plausible = token
                .parse::<f64>()
                .is_ok_and(|v| v.is_finite() && (0.0..=1e9).contains(&v));
            if !plausible && !matches!(path.last(), Some(&"energy" | &"warmup_runs")) {
                assert!(
                    !r.status.is_success(),
                    "{path:?} = {} accepted",
                    clip(&token)
                );
            }
        },
    );
    run(cases(64), inconsistent_latency(), |latency| {
        let mut body = upload.clone();
        body["result"]["latency"] = latency.clone();
        let r = f.post("/v1/measurements", body.to_string());
        let l = |k: &str| latency[k].as_f64().unwrap();
        let valid = (1..=1_000_000_000).contains(&latency["n"].as_u64().unwrap())
            && l("p50_ms") > 0.0
            && l("p50_ms") <= 1e9
            && l("min_ms") >= 0.0
            && l("min_ms") <= l("p50_ms")
            && l("p50_ms") <= l("p90_ms")
            && l("p90_ms") <= l("p99_ms");
        if !valid {
            assert!(!r.status.is_success(), "accepted {latency}");
        }
    });
    for (field, token) in [
        ("source", "\"\""),
        ("source", "\"a\\u0000b\""),
        ("device", "\"no-such-device\""),
        ("architecture_id", "\"nope\""),
        ("architecture_id", "7"),
    ] {
        let r = f.post("/v1/measurements", replace_at(&upload, &[field], token));
        assert!(r.status.is_client_error(), "{field}={token}");
    }
}

#[test]
fn hostile_accuracies_are_refused_with_the_field_named() {
    let f = Fixture::new();
    let upload = json!({
        "architecture_id": f.arch, "dataset": "digits", "accuracy": 0.5,
        "epochs": 10, "notes": "test",
    });
    let accuracy = prop_oneof![
        hostile_token(),
        (1.0000001f64..1e300).prop_map(|v| v.to_string()),
        (-1e300f64..-1e-12).prop_map(|v| v.to_string()),
        Just("100".to_string()),
        Just("95.5".to_string()),
    ];
    run(cases(128), accuracy, |token| {
        let r = f.post("/v1/accuracies", replace_at(&upload, &["accuracy"], &token));
        let fraction = token.parse::<f64>().is_ok_and(|v| (0.0..=1.0).contains(&v));
        assert!(
            fraction || !r.status.is_success(),
            "accuracy {} accepted",
            clip(&token)
        );
    });
    run(
        cases(64),
        (
            prop_oneof![Just("epochs"), Just("notes"), Just("dataset")],
            hostile_token(),
        ),
        |(field, token)| {
            f.post("/v1/accuracies", replace_at(&upload, &[field], &token));
        },
    );
}

#[test]
fn job_reports_with_garbage_attempts_change_nothing() {
    let f = Fixture::new();
    let attempt = prop_oneof![
        hostile_token(),
        any::<i64>()
            .prop_filter("not the live attempt", |a| *a != 1)
            .prop_map(|a| a.to_string()),
    ];
    run(cases(128), (0..3usize, attempt), |(route, token)| {
        let (action, body) = match route {
            0 => ("heartbeat", json!({"attempt": 0})),
            1 => (
                "complete",
                json!({"attempt": 0, "result": crate::common::result(2.0)}),
            ),
            _ => ("fail", json!({"attempt": 0, "error": "test"})),
        };
        let uri = format!("/v1/jobs/{}/{action}", f.job);
        let r = f.post(&uri, replace_at(&body, &["attempt"], &token));
        assert!(
            !r.status.is_success(),
            "{action} attempt={} accepted",
            clip(&token)
        );
    });
    // Reports for jobs that do not exist, with a valid body.
    for id in [
        "nope",
        "%27%3B%20DROP%20TABLE%20job%3B%20--",
        &"j".repeat(5_000),
    ] {
        let r = f.post(
            &format!("/v1/jobs/{id}/complete"),
            json!({"attempt": 1, "result": crate::common::result(2.0)}).to_string(),
        );
        assert_eq!(r.status.as_u16(), 404, "{id}");
    }
    // The job still runs at attempt 1 and takes its real report once.
    let r = f.post(
        &format!("/v1/jobs/{}/complete", f.job),
        json!({"attempt": 1, "result": crate::common::result(2.0)}).to_string(),
    );
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
}

fn seed_models() -> Vec<Vec<u8>> {
    let space = flash_core::Space::default_space();
    vec![
        onnx::export_spec(&ArchSpec::from_json(EXAMPLE_SPEC).unwrap()),
        onnx::export_spec(&space.sample_uniform(1, 7).pop().unwrap()),
    ]
}

fn post_onnx(f: &Fixture, bytes: Vec<u8>, what: &str) -> Reply {
    let token = f.tokens.write.clone();
    f.check(what, async |app| {
        call(
            app,
            Method::POST,
            "/v1/architectures",
            Some(&token),
            Some("application/onnx"),
            bytes,
        )
        .await
    })
}

#[test]
fn mutated_and_truncated_models_are_refused_not_failed() {
    let f = Fixture::new();
    let seeds = seed_models();
    let edits = (
        0..seeds.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
        any::<prop::sample::Index>(),
    );
    run(cases(64), edits, |(which, edits, cut)| {
        let mut bytes = seeds[which].clone();
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes[i] ^= 1 << (byte % 8),
                2 => bytes.insert(i, byte),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        let len = bytes.len();
        bytes.truncate(len - cut.index(len / 8 + 1).min(len));
        post_onnx(&f, bytes, "mutated model");
    });
    let model = &seeds[0];
    for len in (0..model.len()).step_by(model.len() / 40 + 1) {
        let r = post_onnx(&f, model[..len].to_vec(), &format!("truncated to {len}"));
        assert!(
            r.status.is_client_error(),
            "truncated to {len}: {}",
            r.status
        );
    }
}

#[test]
fn a_million_node_graph_is_refused_quickly() {
    let f = Fixture::new();
    let mut model = onnx::proto::ModelProto::decode(&seed_models()[0][..]).unwrap();
    let graph = model.graph.as_mut().unwrap();
    // One-letter names keep 10^6 nodes within the 16 MiB upload limit.
    graph.input[0].name = Some("x".into());
    let relu = onnx::proto::NodeProto {
        input: vec!["x".into()],
        output: vec!["y".into()],
        op_type: Some("Relu".into()),
        ..Default::default()
    };
    graph.node = vec![relu; 1_000_000];
    graph.initializer.clear();
    let bytes = model.encode_to_vec();
    assert!(bytes.len() < 16 << 20, "{} bytes", bytes.len());
    let started = Instant::now();
    let r = post_onnx(&f, bytes, "10^6 nodes");
    let took = started.elapsed();
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    eprintln!("10^6 nodes refused in {took:?}: {}", r.body["errors"][0]);
}
