//! examples/flash_tour.py and examples/flash_tour.ipynb run against a live server and agent, so
//! the documented notebook flow cannot rot.

use crate::common::{ServerProcess, flash_cli, repo, start_agent};

#[test]
fn the_tour_script_runs_end_to_end() {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "run scripts/python-env.sh first (it creates .venv with requests and nbclient)"
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
    // The notebook, cell by cell in a Python kernel, against the same server and agent (once
    // the script has passed).
    let notebook = output.status.success().then(|| {
        std::process::Command::new(&python)
            .args([
                "-c",
                "import sys, nbformat, nbclient\n\
                 nb = nbformat.read(sys.argv[1], as_version=4)\n\
                 nbclient.NotebookClient(nb, timeout=600, kernel_name='python3',\n\
                     resources={'metadata': {'path': sys.argv[2]}}).execute()\n\
                 print(len([c for c in nb.cells if c.cell_type == 'code']), 'cells ran')",
            ])
            .arg(repo().join("examples/flash_tour.ipynb"))
            .arg(repo().join("examples"))
            .env("FLASH_URL", &server.base)
            .env("FLASH_TOKEN", admin.trim())
            .env("FLASH_DEVICE", "tour-cpu")
            .env("FLASH_TOUR_SAMPLES", "8")
            .env("FLASH_TOUR_TIME_BUDGET_S", "0.5")
            .output()
            .unwrap()
    });
    // The agent goes whatever happened, so a failure leaves nothing running.
    let _ = agent.kill();
    let _ = agent.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let notebook = notebook.expect("run after the script passed");
    assert!(
        notebook.status.success(),
        "the notebook failed:\n{}\n{}",
        String::from_utf8_lossy(&notebook.stdout),
        String::from_utf8_lossy(&notebook.stderr)
    );
    assert!(String::from_utf8_lossy(&notebook.stdout).contains("cells ran"));
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
