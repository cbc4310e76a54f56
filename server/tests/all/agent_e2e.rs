//! A real server and a real agent on this machine measure sampled architectures with ONNX
//! Runtime; the agent is SIGKILLed in the middle of a job and started again, and every job still
//! ends with exactly one measurement.

use std::time::Duration;

use crate::common::live::{Api, read_admin_token, wait_for};
use crate::common::{ServerProcess, flash_cli, start_agent};

#[test]
fn killed_agent_mid_job_still_yields_one_measurement_per_job() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_dir = data.to_str().unwrap();
    let server = ServerProcess::start(&["--data-dir", data_dir, "--lease-seconds", "3"]);
    let admin = read_admin_token(&data);
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
    let api = Api::new(&server.base, &admin);

    let state = dir.path().join("agent-state");
    let mut agent = start_agent(&server.base, agent_token.trim(), "e2e-cpu", &state);
    api.wait_device("e2e-cpu");
    let device = api.get("/v1/devices/e2e-cpu");
    assert_eq!(device["online"], true);
    assert!(
        device["descriptor"]["runtime"]["version"]
            .as_str()
            .unwrap()
            .starts_with("1.31")
    );

    // A timed budget of 2 s per model keeps the test short; the protocol still warms up first.
    api.queue_jobs("e2e-cpu", 5, 11, 2.0);

    // Kill the agent while it holds a job, then start it again.
    wait_for("a running job", Duration::from_secs(60), || {
        !api.items("/v1/jobs?state=running").is_empty()
    });
    let killed_job = api.get("/v1/jobs?state=running")["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    agent.kill().unwrap();
    agent.wait().unwrap();
    let mut agent = start_agent(&server.base, agent_token.trim(), "e2e-cpu", &state);

    wait_for("every job to finish", Duration::from_secs(240), || {
        api.items("/v1/jobs?device=e2e-cpu")
            .iter()
            .all(|j| j["state"] == "succeeded" || j["state"] == "failed")
    });
    agent.kill().unwrap();
    agent.wait().unwrap();

    let jobs = api.items("/v1/jobs?device=e2e-cpu");
    assert!(jobs.iter().all(|j| j["state"] == "succeeded"), "{jobs:#?}");
    let killed = jobs
        .iter()
        .find(|j| j["id"] == killed_job.as_str())
        .unwrap();
    assert!(
        killed["attempt"].as_i64().unwrap() >= 2,
        "the killed attempt's lease expired and the job ran again"
    );
    let measurements = api.items("/v1/measurements?device=e2e-cpu");
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
