//! examples/flash_tour.py runs against a live server and agent, so the documented notebook flow
//! cannot rot.

mod common;

use common::{ServerProcess, flash_cli, repo, start_agent};

#[test]
fn the_tour_script_runs_end_to_end() {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "run scripts/python-env.sh first (it creates .venv with requests)"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_dir = data.to_str().unwrap();
    let server = ServerProcess::start(&["--data-dir", data_dir]);
    let admin = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let agent_token = flash_cli(&[
        "token",
        "create",
        "--scope",
        "agent",
        "--name",
        "tour-agent",
        "--data-dir",
        data_dir,
    ]);
    let mut agent = start_agent(
        &server.base,
        agent_token.trim(),
        "tour-cpu",
        &dir.path().join("agent"),
    );
    let out = dir.path().join("out");
    let output = std::process::Command::new(&python)
        .arg(repo().join("examples/flash_tour.py"))
        .args([
            "--device",
            "tour-cpu",
            "--samples",
            "8",
            "--time-budget-s",
            "0.5",
        ])
        .arg("--out")
        .arg(&out)
        .env("FLASH_URL", &server.base)
        .env("FLASH_TOKEN", admin.trim())
        .output()
        .unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("winner"), "{stdout}");
    for svg in ["latency-fit.svg", "accuracy-fit.svg", "pareto.svg"] {
        let text = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(
            text.starts_with("<svg") || text.starts_with("<?xml"),
            "{svg}"
        );
    }
    assert!(std::fs::metadata(out.join("first.onnx")).unwrap().len() > 1000);
}
