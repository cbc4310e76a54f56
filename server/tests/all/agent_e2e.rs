//! A real server and a real agent on this machine measure sampled architectures with ONNX
//! Runtime; the agent is SIGKILLed in the middle of a job and started again, and every job still
//! ends with exactly one measurement.

use std::time::{Duration, Instant};

use crate::common::{ServerProcess, flash_cli, start_agent};
use flash_client::{Client, RetryPolicy};
use serde_json::{Value, json};

/// The service's client, panicking on any refusal (a test step that must work).
struct Api(Client);

impl Api {
    fn get(&self, path: &str) -> Value {
        self.0
            .get(path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.0
            .post(path, &body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    fn wait_for(&self, what: &str, timeout: Duration, mut done: impl FnMut(&Api) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(start.elapsed() < timeout, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn killed_agent_mid_job_still_yields_one_measurement_per_job() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_dir = data.to_str().unwrap();
    let server = ServerProcess::start(&["--data-dir", data_dir, "--lease-seconds", "3"]);
    let admin = std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_string();
    let agent_token = flash_cli(&[
        "token",
        "create",
        "--scope",
        "agent",
        "--name",
        "e2e-agent",
        "--data-dir",
        data_dir,
    ]);
    let api = Api(Client::new(&server.base, &admin, RetryPolicy::default()));

    let state = dir.path().join("agent-state");
    let mut agent = start_agent(&server.base, agent_token.trim(), "e2e-cpu", &state);
    api.wait_for("the agent to register", Duration::from_secs(60), |api| {
        api.get("/v1/devices")["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "e2e-cpu")
    });
    let device = api.get("/v1/devices/e2e-cpu");
    assert_eq!(device["online"], true);
    assert!(
        device["descriptor"]["runtime"]["version"]
            .as_str()
            .unwrap()
            .starts_with("1.31")
    );

    let sample = api.post(
        "/v1/spaces/flash-densenet-digits/samples",
        json!({"n": 5, "seed": 11}),
    );
    let ids: Vec<Value> = sample["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    // A timed budget of 2 s per model keeps the test short; the protocol still warms up first.
    let jobs = api.post(
        "/v1/jobs",
        json!({"architecture_ids": ids, "device": "e2e-cpu", "protocol": {"time_budget_s": 2.0}}),
    );
    assert_eq!(jobs["created"], 5);

    // Kill the agent while it holds a job, then start it again.
    api.wait_for("a running job", Duration::from_secs(60), |api| {
        api.get("/v1/jobs?state=running")["items"]
            .as_array()
            .is_some_and(|j| !j.is_empty())
    });
    let killed_job = api.get("/v1/jobs?state=running")["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    agent.kill().unwrap();
    agent.wait().unwrap();
    let mut agent = start_agent(&server.base, agent_token.trim(), "e2e-cpu", &state);

    api.wait_for("every job to finish", Duration::from_secs(240), |api| {
        let jobs = api.get("/v1/jobs?device=e2e-cpu");
        jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["state"] == "succeeded" || j["state"] == "failed")
    });
    agent.kill().unwrap();
    agent.wait().unwrap();

    let jobs = api.get("/v1/jobs?device=e2e-cpu")["items"]
        .as_array()
        .unwrap()
        .clone();
    assert!(jobs.iter().all(|j| j["state"] == "succeeded"), "{jobs:#?}");
    let killed = jobs
        .iter()
        .find(|j| j["id"] == killed_job.as_str())
        .unwrap();
    assert!(
        killed["attempt"].as_i64().unwrap() >= 2,
        "the killed attempt's lease expired and the job ran again"
    );
    let measurements = api.get("/v1/measurements?device=e2e-cpu")["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(measurements.len(), 5, "exactly one measurement per job");
    for job in &jobs {
        let of_job: Vec<_> = measurements
            .iter()
            .filter(|m| m["job_id"] == job["id"])
            .collect();
        assert_eq!(of_job.len(), 1);
        let m = of_job[0];
        assert_eq!(m["source"], "agent");
        let latency = &m["result"]["latency"];
        assert!(latency["p50_ms"].as_f64().unwrap() > 0.0 && latency["n"].as_u64().unwrap() >= 1);
        assert_eq!(
            m["result"]["energy"]["method"], "estimated",
            "no energy sensor on this machine"
        );
        assert_eq!(
            m["result"]["environment"]["provider"],
            "CPUExecutionProvider"
        );
    }
}
