//! Security properties: hostile strings are data on both stores, agent tokens bound to a device
//! act for it only, CORS stays off, every body route has a size limit, and no token secret
//! reaches the logs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use flash_core::ArchSpec;
use flash_core::measurement::{DeviceDescriptor, Protocol};
use flash_server::store::NewArchitecture;
use flash_server::store::NewJobs;
use flash_server::{ApiConfig, AppState, Store};
use serde_json::{Value, json};

use crate::common::http::{Reply, call, check_refusal, encode, snapshot};
use crate::common::{EXAMPLE_SPEC, Tokens, app, flash_cli, stores};

/// SQL metacharacters, LIKE wildcards, quotes, unicode, and control characters other than NUL.
fn hostile_strings() -> Vec<String> {
    [
        "'; DROP TABLE architecture; --",
        "\"; DROP TABLE device; --",
        "Robert'); DROP TABLE accuracy;--",
        "' OR '1'='1",
        "%",
        "_",
        "%%",
        "a%b_c",
        "\\",
        "\\%",
        "'",
        "''",
        "\"",
        "`",
        "$1",
        "?",
        ":name",
        "ünïcødé ✓ 漢字 🦀",
        "\u{202e}rtl",
        "tab\there",
        "line\nbreak",
        "\u{7f}",
        "\u{1b}[31m",
    ]
    .into_iter()
    .map(String::from)
    .chain([
        "x".repeat(128),
        "y".repeat(129),
        "</script><script>alert(1)</script>".to_string(),
    ])
    .collect()
}

async fn json(
    app: &axum::Router,
    method: Method,
    uri: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    match body {
        Some(b) => {
            call(
                app,
                method,
                uri,
                Some(token),
                Some("application/json"),
                b.to_string(),
            )
            .await
        }
        None => call(app, method, uri, Some(token), None, Vec::new()).await,
    }
}

async fn device(store: &Store, name: &str) {
    store
        .put_device(
            name,
            &DeviceDescriptor {
                profile: "x86-host".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn hostile_strings_in_every_text_field_and_filter_are_only_data() {
    for t in stores().await {
        let store = t.store.clone();
        let tokens = Tokens::create(&store).await;
        let app = app(store.clone());
        let admin = tokens.admin.as_str();
        let (arch, _) = store
            .put_architecture(NewArchitecture::from_spec(
                ArchSpec::from_json(EXAMPLE_SPEC).unwrap(),
            ))
            .await
            .unwrap();
        device(&store, "dev").await;
        let mut stored_sources = Vec::new();
        let mut stored_datasets = Vec::new();
        let mut stored_profiles = Vec::new();
        let mut job_devices = Vec::new();
        for (i, s) in hostile_strings().iter().enumerate() {
            let what = format!("{}: {s:?}", t.backend);
            let handled = |r: &Reply, field: &str| {
                check_refusal(r, &format!("{what} in {field}"));
                assert!(r.status.is_success() || r.status.is_client_error());
            };
            // Device names are restricted to a safe alphabet; the free-text descriptor is not.
            let r = json(
                &app,
                Method::PUT,
                &format!("/v1/devices/{}", encode(s)),
                admin,
                Some(json!({"profile": "x86-host"})),
            )
            .await;
            handled(&r, "device name");
            let safe = s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            assert_eq!(r.status.is_success(), safe, "{what} as a device name");
            let r = json(
                &app,
                Method::PUT,
                &format!("/v1/devices/free-{i}"),
                admin,
                Some(json!({"profile": s, "cpu_model": s, "os": s})),
            )
            .await;
            handled(&r, "device descriptor");
            if r.status.is_success() {
                assert_eq!(r.body["descriptor"]["cpu_model"], s.as_str(), "{what}");
                assert_eq!(r.body["profile"], s.as_str(), "{what}");
                stored_profiles.push(s.clone());
            }
            let r = json(
                &app,
                Method::POST,
                "/v1/measurements",
                admin,
                Some(
                    json!({"architecture_id": arch.id, "device": "dev", "source": s,
                    "result": crate::common::result(1.0 + i as f64)}),
                ),
            )
            .await;
            handled(&r, "source");
            if r.status.is_success() {
                assert_eq!(r.body["source"], s.as_str(), "{what}");
                stored_sources.push(s.clone());
            }
            let r = json(
                &app,
                Method::POST,
                "/v1/accuracies",
                admin,
                Some(
                    json!({"architecture_id": arch.id, "dataset": s, "accuracy": 0.5,
                    "notes": s}),
                ),
            )
            .await;
            handled(&r, "dataset, notes");
            if r.status.is_success() {
                assert_eq!(r.body["notes"], s.as_str(), "{what}");
                stored_datasets.push(s.clone());
            }
            let mut spec: Value = serde_json::from_str(EXAMPLE_SPEC).unwrap();
            spec["space"] = json!(s);
            let r = json(&app, Method::POST, "/v1/architectures", admin, Some(spec)).await;
            handled(&r, "space");
            assert!(r.status.is_client_error());
            for field in ["device", "architecture_ids"] {
                let mut body = json!({"architecture_ids": [arch.id], "device": "dev"});
                body[field] = if field == "device" {
                    json!(s)
                } else {
                    json!([s])
                };
                let r = json(&app, Method::POST, "/v1/jobs", admin, Some(body)).await;
                handled(&r, field);
                // Only a device registered under this name above takes a job.
                let takes = field == "device" && safe;
                assert_eq!(r.status.is_success(), takes, "{what}: job for {field}");
                if takes {
                    job_devices.push(s.clone());
                }
            }
            let named = store
                .create_token(s, flash_server::store::Scope::Read)
                .await;
            assert!(named.is_ok(), "{what}: token name");
            // Filters: a hostile value matches exactly the rows that hold it, never more.
            let q = encode(s);
            for uri in [
                format!("/v1/architectures?space={q}"),
                format!("/v1/devices?profile={q}"),
                format!("/v1/jobs?device={q}"),
                format!("/v1/measurements?device={q}"),
                format!("/v1/measurements?architecture={q}"),
                format!("/v1/accuracies?architecture={q}"),
                format!("/v1/accuracies?dataset={q}"),
            ] {
                let r = json(&app, Method::GET, &uri, admin, None).await;
                handled(&r, &uri);
                if r.status.is_success() {
                    let items = r.body["items"].as_array().unwrap();
                    let stored = if uri.contains("dataset=") {
                        &stored_datasets
                    } else if uri.contains("profile=") {
                        &stored_profiles
                    } else if uri.starts_with("/v1/jobs") {
                        &job_devices
                    } else {
                        &Vec::new()
                    };
                    let expected = stored.iter().filter(|v| *v == s).count();
                    assert_eq!(items.len(), expected, "{what}: {uri}");
                }
            }
        }
        // Every table is still there, nothing else was touched, and the values read back.
        let counts = snapshot(&store).await;
        // The one stored, and the reference network of each space that queuing a paired job
        // stores beside it.
        let architectures = 1 + flash_core::Space::all().len();
        assert!(
            counts.contains(&format!("architecture={architectures}")),
            "{counts:?}"
        );
        assert!(
            counts.contains(&format!("job={}", job_devices.len())),
            "{counts:?}"
        );
        assert!(!stored_sources.is_empty() && !stored_datasets.is_empty());
        let r = json(
            &app,
            Method::GET,
            "/v1/measurements?limit=1000",
            admin,
            None,
        )
        .await;
        let sources: Vec<&str> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["source"].as_str().unwrap())
            .collect();
        assert_eq!(sources, stored_sources, "{}", t.backend);
        let names: Vec<String> = store
            .list_tokens()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        for s in hostile_strings() {
            assert!(names.contains(&s), "{}: token {s:?}", t.backend);
        }
    }
}

/// A job for `device` claimed with the lease of its first attempt.
async fn running_job(store: &Store, device: &str, spec_seed: u64) -> String {
    let spec = flash_core::Space::default_space()
        .sample_uniform(1, spec_seed)
        .pop()
        .unwrap();
    let (arch, _) = store
        .put_architecture(NewArchitecture::from_spec(spec))
        .await
        .unwrap();
    store
        .create_jobs(NewJobs {
            architecture_ids: vec![arch.id],
            device: device.into(),
            protocol: Protocol::default(),
            max_attempts: 3,
        })
        .await
        .unwrap();
    store.claim_job(device, 60_000).await.unwrap().unwrap().id
}

#[tokio::test]
async fn agent_tokens_bound_to_a_device_act_for_that_device_only() {
    for t in stores().await {
        let store = t.store.clone();
        let tokens = Tokens::create(&store).await;
        let bound = store.create_device_token("agent-a", "dev-a").await.unwrap();
        let app = app(store.clone());
        let status = |r: Reply| r.status.as_u16();
        // Registration and device heartbeats: its own device only.
        let descriptor = Some(json!({"profile": "x86-host"}));
        let put = |name: &str, token: &str| {
            let (app, uri, token, d) = (
                app.clone(),
                format!("/v1/devices/{name}"),
                token.to_string(),
                descriptor.clone(),
            );
            async move { json(&app, Method::PUT, &uri, &token, d).await }
        };
        assert_eq!(status(put("dev-a", &bound).await), 201, "{}", t.backend);
        assert_eq!(status(put("dev-b", &bound).await), 403);
        assert_eq!(status(put("dev-b", &tokens.agent).await), 201);
        for (name, expected) in [("dev-a", 200), ("dev-b", 403)] {
            let hb = format!("/v1/devices/{name}/heartbeat");
            let r = json(&app, Method::POST, &hb, &bound, None).await;
            assert_eq!(status(r), expected, "{hb}");
            let get = format!("/v1/devices/{name}");
            assert_eq!(
                status(json(&app, Method::GET, &get, &bound, None).await),
                expected
            );
        }
        // Jobs: the other device's job cannot be read, claimed or reported on.
        let job_b = running_job(&store, "dev-b", 1).await;
        let r = json(
            &app,
            Method::POST,
            "/v1/jobs/claim",
            &bound,
            Some(json!({"device": "dev-b"})),
        )
        .await;
        assert_eq!(status(r), 403);
        let reports = |id: &str, attempt: i64| {
            [
                ("heartbeat", json!({"attempt": attempt})),
                (
                    "complete",
                    json!({"attempt": attempt, "result": crate::common::result(2.0)}),
                ),
                ("fail", json!({"attempt": attempt, "error": "test"})),
            ]
            .map(|(action, body)| (format!("/v1/jobs/{id}/{action}"), body))
        };
        for (uri, body) in reports(&job_b, 1) {
            let r = json(&app, Method::POST, &uri, &bound, Some(body)).await;
            check_refusal(&r, &uri);
            assert_eq!(status(r), 403, "{uri}");
        }
        let get_b = format!("/v1/jobs/{job_b}");
        assert_eq!(
            status(json(&app, Method::GET, &get_b, &bound, None).await),
            403
        );
        assert_eq!(
            status(json(&app, Method::GET, &get_b, &tokens.agent, None).await),
            200
        );
        // Its own device's job: claimed, read, heartbeated, completed.
        let spec = flash_core::Space::default_space()
            .sample_uniform(1, 2)
            .pop()
            .unwrap();
        let (arch, _) = store
            .put_architecture(NewArchitecture::from_spec(spec))
            .await
            .unwrap();
        store
            .create_jobs(NewJobs {
                architecture_ids: vec![arch.id],
                device: "dev-a".into(),
                protocol: Protocol::default(),
                max_attempts: 3,
            })
            .await
            .unwrap();
        let r = json(
            &app,
            Method::POST,
            "/v1/jobs/claim",
            &bound,
            Some(json!({"device": "dev-a"})),
        )
        .await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        let job_a = r.body["id"].as_str().unwrap().to_string();
        let get_a = format!("/v1/jobs/{job_a}");
        assert_eq!(
            status(json(&app, Method::GET, &get_a, &bound, None).await),
            200
        );
        for (uri, body) in reports(&job_a, 1).into_iter().take(2) {
            let r = json(&app, Method::POST, &uri, &bound, Some(body)).await;
            assert_eq!(r.status.as_u16(), 200, "{uri}: {}", r.body);
        }
        // Still an agent: no writes of data, no lists.
        let spec: Value = serde_json::from_str(EXAMPLE_SPEC).unwrap();
        let r = json(&app, Method::POST, "/v1/architectures", &bound, Some(spec)).await;
        assert_eq!(status(r), 403);
        assert_eq!(
            status(json(&app, Method::GET, "/v1/jobs", &bound, None).await),
            403
        );
        // An unbound agent token still acts for any device.
        for (uri, body) in reports(&job_b, 1).into_iter().take(2) {
            let r = json(&app, Method::POST, &uri, &tokens.agent, Some(body)).await;
            assert_eq!(r.status.as_u16(), 200, "{uri}: {}", r.body);
        }
        let counts = snapshot(&store).await;
        assert!(counts.contains(&"measurement=2".to_string()), "{counts:?}");
        let listed = store.list_tokens().await.unwrap();
        let agent_a = listed.iter().find(|t| t.name == "agent-a").unwrap();
        assert_eq!(agent_a.device.as_deref(), Some("dev-a"));
    }
}

#[test]
fn the_cli_binds_agent_tokens_to_a_device() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let token = flash_cli(&[
        "token",
        "create",
        "--scope",
        "agent",
        "--name",
        "pi-4",
        "--device",
        "pi-4",
        "--data-dir",
        data,
    ]);
    assert!(token.trim().starts_with("flash_"));
    let listed = flash_cli(&["token", "list", "--data-dir", data]);
    let info: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(info["device"], "pi-4");
    for refused in [
        ["--scope", "read", "--name", "r", "--device", "pi-4"],
        ["--scope", "agent", "--name", "a", "--device", "not a name"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_flash"))
            .args(["token", "create"])
            .args(refused)
            .args(["--data-dir", data])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{refused:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}

#[tokio::test]
async fn cors_is_off() {
    let t = crate::common::sqlite_store().await;
    let tokens = Tokens::create(&t.store).await;
    let app = app(t.store.clone());
    for method in [Method::GET, Method::OPTIONS] {
        let req = axum::http::Request::builder()
            .method(method.clone())
            .uri("/v1/spaces")
            .header("origin", "https://elsewhere.example")
            .header("access-control-request-method", "GET")
            .header("authorization", format!("Bearer {}", tokens.read))
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
        for header in resp.headers().keys() {
            assert!(
                !header.as_str().starts_with("access-control-"),
                "{method}: {header}"
            );
        }
    }
}

#[tokio::test]
async fn every_body_route_refuses_a_body_over_its_limit() {
    let t = crate::common::sqlite_store().await;
    let tokens = Tokens::create(&t.store).await;
    let config = ApiConfig::default();
    let app = flash_server::app::router(AppState::new(t.store.clone(), config.clone()));
    let doc = serde_json::to_value(flash_server::app::openapi_document()).unwrap();
    let mut checked = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(content) = op["requestBody"]["content"].as_object() else {
                continue;
            };
            let uri = path
                .replace("{id}", "x")
                .replace("{name}", "flash-densenet");
            // Batch predictions have a limit of their own; everything else the JSON limit.
            let limit = if path == "/v1/predictions" {
                config.batch_body_limit
            } else {
                config.json_body_limit
            };
            for content_type in content.keys() {
                let limit = if content_type == "application/onnx" {
                    config.onnx_body_limit
                } else {
                    limit
                };
                let pad = "x".repeat(limit - 7);
                let body = format!("{{\"p\":\"{pad}\"}}");
                assert!(body.len() > limit);
                let r = call(
                    &app,
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &uri,
                    Some(&tokens.admin),
                    Some(content_type),
                    body,
                )
                .await;
                assert_eq!(
                    r.status.as_u16(),
                    413,
                    "{method} {uri} ({content_type}): {}",
                    r.body
                );
                assert_eq!(r.content_type(), "application/problem+json");
                checked.push(format!("{method} {path} {content_type}"));
            }
        }
    }
    assert!(checked.len() >= 12, "{checked:?}");
}

/// The `flash serve` process with its stdout and stderr in files.
struct LoggedServer {
    child: std::process::Child,
    base: String,
}

impl LoggedServer {
    fn start(data_dir: &Path, log: &Path) -> LoggedServer {
        let child = Command::new(env!("CARGO_BIN_EXE_flash"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "debug")
            .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        // Owned from here, so that the process is reaped on every path.
        let mut server = LoggedServer {
            child,
            base: String::new(),
        };
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(addr) = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find_map(|v| v["address"].as_str().map(String::from))
            {
                server.base = format!("http://{addr}");
                return server;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no address in {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn token_secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let log = dir.path().join("serve.log");
    let admin = flash_cli(&[
        "token",
        "create",
        "--scope",
        "admin",
        "--name",
        "ops",
        "--data-dir",
        data_arg,
    ])
    .trim()
    .to_string();
    let mut server = LoggedServer::start(&data, &log);
    let agent = flash_cli(&[
        "token",
        "create",
        "--scope",
        "agent",
        "--name",
        "a1",
        "--device",
        "d1",
        "--data-dir",
        data_arg,
    ])
    .trim()
    .to_string();
    // The same id with another secret: refused, and not logged either.
    let forged = format!("{}{}", &admin[..admin.len() - 64], "0".repeat(64));
    let http = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    );
    let send = |method: &str, path: &str, token: &str, body: Option<Value>| {
        let uri = format!("{}{path}", server.base);
        let auth = format!("Bearer {token}");
        match (method, body) {
            ("GET", _) => http.get(&uri).header("authorization", &auth).call(),
            ("PUT", Some(b)) => http.put(&uri).header("authorization", &auth).send_json(b),
            (_, b) => http
                .post(&uri)
                .header("authorization", &auth)
                .send_json(b.unwrap_or(json!({}))),
        }
        .unwrap()
        .status()
        .as_u16()
    };
    assert_eq!(send("GET", "/v1/devices", &admin, None), 200);
    let spec: Value = serde_json::from_str(EXAMPLE_SPEC).unwrap();
    assert_eq!(send("POST", "/v1/architectures", &admin, Some(spec)), 201);
    assert_eq!(send("GET", "/v1/devices", &forged, None), 401);
    let profile = Some(json!({"profile": "x86-host"}));
    assert_eq!(send("PUT", "/v1/devices/d1", &agent, profile.clone()), 201);
    assert_eq!(send("PUT", "/v1/devices/d2", &agent, profile), 403);
    assert_eq!(
        send(
            "POST",
            "/v1/jobs/claim",
            &agent,
            Some(json!({"device": "d1"}))
        ),
        204
    );
    assert_eq!(
        send("POST", "/v1/jobs/nope/complete", &agent, Some(json!({}))),
        422
    );
    flash_cli(&["token", "revoke", "--name", "a1", "--data-dir", data_arg]);
    common_terminate(&mut server);
    let written = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(log.with_extension("out")).unwrap();
    assert!(written.contains("listening") && written.contains("/v1/devices"));
    for token in [&admin, &agent, &forged] {
        let secret = &token[token.len() - 64..];
        assert!(!written.contains(secret), "a secret is in the logs");
    }
}

fn common_terminate(server: &mut LoggedServer) {
    let _ = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .stdout(Stdio::null())
        .status();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
}
