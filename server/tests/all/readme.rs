//! The README's five-minute tour runs as written against a live server (with the digits
//! accuracy predictor fitted, as the demo leaves it).

use crate::common::{ServerProcess, repo};
use serde_json::{Value, json};

/// The shell block between `<!-- tour -->` and `<!-- /tour -->`.
fn tour() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("<!-- tour -->")
        .expect("README has a tour block");
    let end = readme
        .find("<!-- /tour -->")
        .expect("README's tour block ends");
    readme[start..end]
        .lines()
        .filter(|l| !l.starts_with("<!--") && !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_readme_tour_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(&["--data-dir", data.to_str().unwrap()]);
    let token = std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_string();
    let client = flash_client::Client::new(&server.base, &token, Default::default());
    let post = |path: &str, body: Value| -> Value {
        client
            .post(path, &body)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let digits: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("examples/data/digits-accuracy.json")).unwrap(),
    )
    .unwrap();
    for record in digits["records"].as_array().unwrap() {
        let arch = post("/v1/architectures", record["spec"].clone());
        post(
            "/v1/accuracies",
            json!({"architecture_id": arch["id"], "dataset": "digits", "accuracy": record["accuracy"]}),
        );
    }
    post("/v1/accuracy-models", json!({"dataset": "digits"}));

    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &tour()])
        .current_dir(dir.path())
        .env("FLASH_URL", &server.base)
        .env("FLASH_TOKEN", &token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "\"size\":\"64000000000\"",
        "47581e91a438e3ae846533527f8cfd4a",
        "\"accuracy\":{",
        "\"field\":\"cells[0].depth\"",
    ] {
        assert!(stdout.contains(expected), "missing {expected} in {stdout}");
    }
    assert!(
        std::fs::metadata(dir.path().join("model.onnx"))
            .unwrap()
            .len()
            > 100_000
    );
}
