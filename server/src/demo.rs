//! `flash demo`: the FLASH loop end to end on this machine, through the API as a user would drive
//! it. It starts the service on the embedded store and a local agent, then: stores the committed
//! digits accuracy data and samples architectures of the digits-shaped space (the space the
//! accuracy predictor is fitted on) and of the default CIFAR-shaped space; measures them with
//! ONNX Runtime on this CPU; fits latency and (estimated) energy models and the accuracy
//! predictor; searches the digits space exactly under a latency budget derived from the
//! measurements; re-measures the winner; prints a report; and leaves the dashboard up.
//! A second run reuses what the store already holds (nothing is measured twice).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use crate::store::Scope;

/// Settings of a demo run.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub base: String,
    pub data_dir: PathBuf,
    pub digits_data: PathBuf,
    pub profiles_dir: PathBuf,
    pub agent_binary: PathBuf,
    pub samples: usize,
    /// Protocol overrides of every measurement job (time budget, threads).
    pub protocol: Value,
}

const DEVICE: &str = "local-cpu";
const DIGITS_SPACE: &str = "flash-densenet-digits";
const CIFAR_SPACE: &str = "flash-densenet";

struct Client {
    http: ureq::Agent,
    base: String,
    auth: String,
}

impl Client {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut response = match (method, body) {
            ("GET", _) => self
                .http
                .get(&url)
                .header("authorization", &self.auth)
                .call(),
            (_, body) => self
                .http
                .post(&url)
                .header("authorization", &self.auth)
                .header("content-type", "application/json")
                .send(body.unwrap_or(json!({})).to_string()),
        }
        .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call("GET", path, None)
    }

    fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call("POST", path, Some(body))
    }

    /// Every item of a list, following `next_cursor`.
    fn all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                None => self.get(&format!("{path}{sep}limit=1000"))?,
                Some(c) => self.get(&format!("{path}{sep}limit=1000&cursor={c}"))?,
            };
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(items),
            }
        }
    }
}

fn step(n: usize, text: &str) {
    println!("\n[{n}/8] {text}");
}

/// A counter for a long step: rewritten in place on a terminal, one line per change otherwise.
struct Progress {
    label: String,
    total: usize,
    shown: Option<usize>,
    started: Instant,
}

impl Progress {
    fn new(label: &str, total: usize) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            shown: None,
            started: Instant::now(),
        }
    }

    fn update(&mut self, done: usize) {
        if self.shown == Some(done) {
            return;
        }
        self.shown = Some(done);
        let line = format!(
            "      {}: {done}/{}  ({:.0} s)",
            self.label,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        if std::io::stdout().is_terminal() {
            print!("\r{line}   ");
            if done >= self.total {
                println!();
            }
        } else {
            println!("{line}");
        }
        let _ = std::io::stdout().flush();
    }
}

/// Starts the local agent; it stops with the demo.
fn start_agent(config: &DemoConfig, token: &str) -> anyhow::Result<Child> {
    if !config.agent_binary.exists() {
        bail!(
            "the agent binary {} does not exist: build it with `cargo build --release -p flash-agent`",
            config.agent_binary.display()
        );
    }
    let log = std::fs::File::create(config.data_dir.join("agent.log"))?;
    Command::new(&config.agent_binary)
        .args([
            "--server",
            &config.base,
            "--token",
            token,
            "--device",
            DEVICE,
            "--profile",
            "x86-host",
        ])
        .args(["--poll-interval-s", "0.5"])
        .arg("--profiles-dir")
        .arg(&config.profiles_dir)
        .arg("--state-dir")
        .arg(config.data_dir.join("agent-state"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", config.agent_binary.display()))
}

/// Queues measurement jobs for the architectures not yet measured on the device, then waits
/// until none of them is queued or running.
fn measure(client: &Client, label: &str, ids: &[String], protocol: &Value) -> anyhow::Result<()> {
    let measured: Vec<String> = client
        .all(&format!("/v1/measurements?device={DEVICE}"))?
        .iter()
        .filter_map(|m| m["architecture_id"].as_str().map(String::from))
        .collect();
    let todo: Vec<&String> = ids.iter().filter(|id| !measured.contains(id)).collect();
    let started = Instant::now();
    let mut progress = Progress::new(label, ids.len());
    if todo.is_empty() {
        println!(
            "      {label}: all {} already measured (reused from the store)",
            ids.len()
        );
        return Ok(());
    }
    let jobs = client.post(
        "/v1/jobs",
        json!({"architecture_ids": todo, "device": DEVICE, "protocol": protocol}),
    )?;
    let job_ids: Vec<String> = jobs["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|j| j["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    loop {
        let mut done = 0;
        for id in &job_ids {
            let job = client.get(&format!("/v1/jobs/{id}"))?;
            match job["state"].as_str() {
                Some("succeeded") => done += 1,
                Some("failed") => bail!("job {id} failed: {}", job["error"]),
                _ => {}
            }
        }
        progress.update(ids.len() - todo.len() + done);
        if done == job_ids.len() {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(900) {
            bail!("measurements did not finish in 15 minutes; see the agent log");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn ids_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|a| a["id"].as_str().map(String::from))
        .collect()
}

fn fmt_pct(v: &Value) -> String {
    v.as_f64()
        .map_or("-".into(), |x| format!("{:.1}%", 100.0 * x))
}

fn fmt_num(v: &Value, digits: usize) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.digits$}"))
}

/// Reads the committed digits accuracy data: (spec, accuracy, epochs) records.
fn digits_records(path: &Path) -> anyhow::Result<Vec<(Value, f64, Option<i64>)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let data: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    data["records"]
        .as_array()
        .ok_or_else(|| anyhow!("{}: no records", path.display()))?
        .iter()
        .map(|r| {
            let accuracy = r["accuracy"]
                .as_f64()
                .ok_or_else(|| anyhow!("a record without accuracy"))?;
            Ok((r["spec"].clone(), accuracy, r["epochs"].as_i64()))
        })
        .collect()
}

/// Runs the loop against a server already listening at `config.base` on `store`'s data.
pub fn run(config: &DemoConfig, admin_token: &str, agent_token: &str) -> anyhow::Result<()> {
    let client = Client {
        http: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into(),
        base: config.base.clone(),
        auth: format!("Bearer {admin_token}"),
    };
    let started = Instant::now();

    step(1, "starting the local agent (ONNX Runtime on this CPU)");
    let mut agent = start_agent(config, agent_token)?;
    let result = run_loop(config, &client);
    let _ = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status();
    let _ = agent.wait();
    result?;
    println!("\nThe loop took {:.0} s.", started.elapsed().as_secs_f64());
    Ok(())
}

fn run_loop(config: &DemoConfig, client: &Client) -> anyhow::Result<()> {
    let wait = Instant::now();
    loop {
        if let Ok(device) = client.get(&format!("/v1/devices/{DEVICE}"))
            && device["online"] == true
        {
            let runtime = &device["descriptor"]["runtime"];
            println!(
                "      agent online: {} ({} cores), ONNX Runtime {}",
                device["descriptor"]["cpu_model"].as_str().unwrap_or("?"),
                device["descriptor"]["cores"],
                runtime["version"].as_str().unwrap_or("?")
            );
            break;
        }
        if wait.elapsed() > Duration::from_secs(60) {
            bail!(
                "the agent did not register within 60 s; see {}",
                config.data_dir.join("agent.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    step(
        2,
        "storing the committed digits accuracy data and sampling architectures",
    );
    let records = digits_records(&config.digits_data)?;
    let existing = client.all("/v1/accuracies?dataset=digits")?;
    let mut digits_ids = Vec::new();
    for (spec, accuracy, epochs) in &records {
        let arch = client.post("/v1/architectures", spec.clone())?;
        let id = arch["id"].as_str().unwrap_or_default().to_string();
        if !existing.iter().any(|a| a["architecture_id"] == id.as_str()) {
            client.post(
                "/v1/accuracies",
                json!({"architecture_id": id, "dataset": "digits", "accuracy": accuracy, "epochs": epochs,
                       "notes": "examples/data/digits-accuracy.json"}),
            )?;
        }
        digits_ids.push(id);
    }
    println!(
        "      {} trained digits architectures with their test accuracies",
        records.len()
    );
    let digits_sample = client.post(
        &format!("/v1/spaces/{DIGITS_SPACE}/samples"),
        json!({"n": config.samples, "seed": 1, "stratified": true}),
    )?;
    let digits_sample = ids_of(
        digits_sample["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    );
    let cifar_sample = client.post(
        &format!("/v1/spaces/{CIFAR_SPACE}/samples"),
        json!({"n": config.samples, "seed": 1, "stratified": true}),
    )?;
    let cifar_sample = ids_of(
        cifar_sample["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    );
    println!(
        "      {} architectures of {DIGITS_SPACE} and {} of {CIFAR_SPACE} (stratified over NN-Degree, seed 1)",
        digits_sample.len(),
        cifar_sample.len()
    );

    step(
        3,
        "exporting to ONNX and measuring with ONNX Runtime (the agent downloads each model)",
    );
    measure(client, DIGITS_SPACE, &digits_sample, &config.protocol)?;
    measure(client, CIFAR_SPACE, &cifar_sample, &config.protocol)?;

    step(
        4,
        "fitting the latency and energy models and the accuracy predictor",
    );
    let digits_latency = client.post(
        "/v1/hardware-models",
        json!({"device": DEVICE, "metric": "latency", "fit_on": digits_sample}),
    )?;
    let cifar_latency = client.post(
        "/v1/hardware-models",
        json!({"device": DEVICE, "metric": "latency", "fit_on": cifar_sample}),
    )?;
    let energy = client.post(
        "/v1/hardware-models",
        json!({"device": DEVICE, "metric": "energy", "fit_on": digits_sample}),
    )?;
    let accuracy = client.post(
        "/v1/accuracy-models",
        json!({"dataset": "digits", "space": DIGITS_SPACE}),
    )?;
    let latency = &digits_latency;
    for (name, fit) in [
        ("latency, digits space", &digits_latency),
        ("latency, CIFAR space", &cifar_latency),
    ] {
        let f = &fit["fit"];
        println!(
            "      {name}: n={} features={}  LOO MAPE {}%  within 10% {}  within 5% {}  Spearman {}  (MACs only: MAPE {}%, within 10% {})",
            f["n"],
            f["feature_set"],
            fmt_num(&f["loo"]["mape"], 1),
            fmt_pct(&f["loo"]["within_10"]),
            fmt_pct(&f["loo"]["within_5"]),
            fmt_num(&f["loo"]["spearman"], 3),
            fmt_num(&f["baseline_macs"]["mape"], 1),
            fmt_pct(&f["baseline_macs"]["within_10"]),
        );
    }
    // The fit's value source lists the measurements' energy methods: say what they were.
    let source = energy["value_source"].as_str().unwrap_or("?");
    let provenance = if source.split(", ").all(|m| m == "estimated") {
        "values from the profile's power model: no sensor here"
    } else if source.contains("estimated") {
        "some values measured by a sensor, some from the profile's power model"
    } else {
        "values measured by the device's energy sensor"
    };
    println!(
        "      energy ({source}): LOO MAPE {}% ({provenance})",
        fmt_num(&energy["fit"]["loo"]["mape"], 1)
    );
    let a = &accuracy["fit"];
    println!(
        "      accuracy predictor: {}  n={}  LOO RMSE {}  Spearman {}  (params only: LOO RMSE {})",
        a["candidates"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["form"] == a["model"]["form"]))
            .and_then(|c| c["formula"].as_str())
            .unwrap_or("?"),
        a["n"],
        fmt_num(&a["errors"]["loo_rmse"], 4),
        fmt_num(&a["errors"]["spearman"], 3),
        fmt_num(&a["baseline_params"]["errors"]["loo_rmse"], 4),
    );

    step(
        5,
        "searching the whole digits space exactly under a latency budget",
    );
    let mut measured: Vec<f64> = latency["samples"]
        .as_array()
        .map(|s| s.iter().filter_map(|x| x["actual"].as_f64()).collect())
        .unwrap_or_default();
    measured.sort_by(f64::total_cmp);
    let budget = measured
        .get(measured.len() / 2)
        .copied()
        .ok_or_else(|| anyhow!("no latency samples"))?;
    println!("      budget: {budget:.3} ms (the median measured latency of the sample)");
    let search = client.post(
        "/v1/searches",
        json!({"space": DIGITS_SPACE, "dataset": "digits", "accuracy_model": accuracy["id"],
               "devices": [{"device": DEVICE, "max_latency_ms": budget,
                            "latency_model": latency["id"], "energy_model": energy["id"]}]}),
    )?;
    let result = &search["result"];
    let best = &result["best"];
    if best.is_null() {
        bail!(
            "no architecture meets the budget: {}",
            result["closest_miss"]
        );
    }
    let predicted_latency = best["costs"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["metric"] == "latency"))
        .map(|c| c["value"].clone())
        .unwrap_or(Value::Null);
    println!(
        "      searched {} configurations in {} ms (exact: {}); winner {}",
        result["configurations"],
        fmt_num(&result["elapsed_ms"], 2),
        result["exact"],
        best["id"].as_str().unwrap_or("?")
    );
    println!("      cells {}", best["spec"]["cells"]);
    println!(
        "      predicted accuracy {} [{}, {}], latency {} ms",
        fmt_pct(&best["accuracy"]["value"]),
        fmt_pct(&best["accuracy"]["lower"]),
        fmt_pct(&best["accuracy"]["upper"]),
        fmt_num(&predicted_latency, 3)
    );

    step(6, "re-measuring the winner on this CPU");
    let search_id = search["id"].as_str().unwrap_or_default();
    client.post(
        &format!("/v1/searches/{search_id}/verify"),
        json!({"top_k": 1, "protocol": config.protocol}),
    )?;
    let started = Instant::now();
    let verified = loop {
        let s = client.get(&format!("/v1/searches/{search_id}"))?;
        let v = s["verification"][0].clone();
        match v["job_state"].as_str() {
            Some("succeeded") => break v,
            Some("failed") => bail!("re-measurement failed: {v}"),
            _ if started.elapsed() > Duration::from_secs(300) => {
                bail!("re-measurement did not finish in 5 minutes")
            }
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    };

    step(7, "report");
    println!(
        "      winner {}: predicted {} ms, measured {} ms normalized (raw p50 {} ms, p90 {} ms); budget {budget:.3} ms -> {}",
        verified["architecture_id"].as_str().unwrap_or("?"),
        fmt_num(&verified["predicted_latency_ms"], 3),
        fmt_num(&verified["measured_latency_ms"], 3),
        fmt_num(&verified["measured_p50_ms"], 3),
        fmt_num(&verified["measured_p90_ms"], 3),
        match verified["meets_latency_limit"].as_bool() {
            Some(true) => "meets the budget",
            Some(false) => "MISSES the budget",
            None => "not comparable",
        }
    );
    println!(
        "      energy: predicted {} mJ, {} {} mJ",
        fmt_num(&verified["predicted_energy_mj"], 3),
        verified["energy_method"].as_str().unwrap_or("?"),
        fmt_num(&verified["measured_energy_mj"], 3)
    );

    step(8, "the dashboard");
    println!(
        "      {}/  (paste the admin token from {})",
        config.base,
        config.data_dir.join("admin-token").display()
    );
    println!(
        "      plots: {}/v1/hardware-models/{}/plot.svg",
        config.base,
        latency["id"].as_str().unwrap_or("")
    );
    println!(
        "             {}/v1/searches/{search_id}/pareto.svg",
        config.base
    );
    Ok(())
}

/// A fresh agent token for this run (earlier demo tokens are revoked).
pub async fn agent_token(store: &crate::Store) -> anyhow::Result<String> {
    for t in store.list_tokens().await? {
        if t.name.starts_with("demo-agent") && t.revoked_at.is_none() {
            store.revoke_token(&t.name).await?;
        }
    }
    let mut random = [0u8; 4];
    getrandom::fill(&mut random)?;
    Ok(store
        .create_token(&format!("demo-agent-{}", hex::encode(random)), Scope::Agent)
        .await?)
}
