//! Two `flash serve` processes on one Postgres database behave as one service.

use crate::common::{EXAMPLE_SPEC, ServerProcess, TestDatabase, flash_cli};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

#[tokio::test]
async fn what_one_replica_writes_the_other_serves() {
    let db = TestDatabase::create().await;
    let token = flash_cli(&[
        "token",
        "create",
        "--scope",
        "admin",
        "--name",
        "e2e",
        "--database-url",
        &db.url,
    ]);
    let token = token.trim();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let a = ServerProcess::start(&["--database-url", &db.url, "--data-dir", data_dir]);
    let b = ServerProcess::start(&["--database-url", &db.url, "--data-dir", data_dir]);
    let http = agent();
    let auth = format!("Bearer {token}");

    let mut created = http
        .post(&format!("{}/v1/architectures", a.base))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .send(EXAMPLE_SPEC)
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.body_mut().read_json().unwrap();
    let id = created["id"].as_str().unwrap();
    let mut served = http
        .get(&format!("{}/v1/architectures/{id}", b.base))
        .header("authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(served.status(), 200);
    let served: serde_json::Value = served.body_mut().read_json().unwrap();
    assert_eq!(served, created);

    // Posting the same spec to the other replica finds it stored.
    let again = http
        .post(&format!("{}/v1/architectures", b.base))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .send(EXAMPLE_SPEC)
        .unwrap();
    assert_eq!(again.status(), 200);

    let registered = http
        .put(&format!("{}/v1/devices/pi-7", b.base))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .send(r#"{"profile":"raspberry-pi-3b"}"#)
        .unwrap();
    assert_eq!(registered.status(), 201);
    let mut device = http
        .get(&format!("{}/v1/devices/pi-7", a.base))
        .header("authorization", &auth)
        .call()
        .unwrap();
    let device: serde_json::Value = device.body_mut().read_json().unwrap();
    assert_eq!(device["online"], true);

    // Both shut down cleanly on SIGTERM.
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}
