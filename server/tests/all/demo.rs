//! `flash demo --exit` runs the whole loop (with a small sample and short measurements), and a
//! second run reuses what the store holds.

use crate::common::{agent_binary, repo};

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
        "ms normalized (raw p50",
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

/// `flash space sample ... | head -1`: the reader closes the pipe early; the CLI stops quietly
/// with success instead of panicking on the write.
#[test]
fn the_cli_stops_quietly_when_its_reader_goes_away() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_flash"))
        .args([
            "space",
            "sample",
            "flash-densenet",
            "-n",
            "200000",
            "--seed",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // Dropping our end closes the pipe while the CLI still has lines to write.
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
