//! `flash demo --exit` runs the whole loop (with a small sample and short measurements), and a
//! second run reuses what the store holds.

mod common;

use common::{agent_binary, repo};

fn run_demo(data_dir: &std::path::Path) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_flash"))
        .args([
            "demo",
            "--exit",
            "--listen",
            "127.0.0.1:0",
            "--samples",
            "6",
            "--time-budget-s",
            "0.5",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--agent-binary")
        .arg(agent_binary())
        .current_dir(repo())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_demo_runs_the_loop_and_reuses_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_demo(dir.path());
    for expected in [
        "[8/8]",
        "searched 64000000000 configurations",
        "exact: true",
        "measured p50",
        "estimated",
    ] {
        assert!(
            first.contains(expected),
            "missing {expected:?} in:\n{first}"
        );
    }
    let second = run_demo(dir.path());
    assert!(
        second.contains("already measured (reused from the store)"),
        "{second}"
    );
}
