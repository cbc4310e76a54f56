//! `flash demo`: the FLASH loop end to end on this machine, through the API as a user would drive
//! it. It starts the service on the embedded store and a local agent, then: stores the committed
//! digits accuracy data and samples architectures of the chosen space (by default the
//! digits-shaped space the accuracy predictor is fitted on, and then also of the default
//! CIFAR-shaped space, for comparison); measures them with ONNX Runtime on this CPU; fits latency
//! and (estimated) energy models and the accuracy predictor; searches the chosen space exactly
//! under a latency budget derived from the measurements; re-measures the winner; prints a report;
//! and leaves the dashboard up.
//! A second run reuses what the store already holds (nothing is measured twice).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use flash_client::{
    AccuracyModelRequest, AccuracyUpload, Client, DeviceConstraint, HardwareModelRequest,
    JobRequest, JobState, RetryPolicy, SampleRequest, SearchRequest, VerifyRequest,
};
use flash_core::fit::CostMetric;
use flash_core::measurement::Protocol;
use flash_core::search::Objective;
use flash_core::{ArchSpec, Space};
use serde::Deserialize;

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
    /// The space measured, fitted and searched.
    pub space: &'static Space,
    /// Protocol overrides of every measurement job (time budget, threads).
    pub protocol: Protocol,
}

const DEVICE: &str = "local-cpu";
const DIGITS_SPACE: &str = "flash-densenet-digits";
const CIFAR_SPACE: &str = "flash-densenet";
/// The search promises the budget at this confidence under the latency model's interval.
const CONFIDENCE: f64 = 0.95;

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
fn measure(
    client: &Client,
    label: &str,
    ids: &[String],
    protocol: &Protocol,
) -> anyhow::Result<()> {
    let measured: Vec<String> = client
        .measurements(DEVICE)?
        .into_iter()
        .map(|m| m.architecture_id)
        .collect();
    let todo: Vec<String> = ids
        .iter()
        .filter(|id| !measured.contains(id))
        .cloned()
        .collect();
    let started = Instant::now();
    let mut progress = Progress::new(label, ids.len());
    if todo.is_empty() {
        println!(
            "      {label}: all {} already measured (reused from the store)",
            ids.len()
        );
        return Ok(());
    }
    let already = ids.len() - todo.len();
    let jobs = client.queue_jobs(&JobRequest {
        architecture_ids: todo,
        device: DEVICE.into(),
        protocol: protocol.clone(),
        max_attempts: None,
    })?;
    loop {
        let mut done = 0;
        for job in &jobs.items {
            let job = client.job(&job.id)?;
            match job.state {
                JobState::Succeeded => done += 1,
                JobState::Failed => {
                    bail!("job {} failed: {}", job.id, job.error.unwrap_or_default())
                }
                _ => {}
            }
        }
        progress.update(already + done);
        if done == jobs.items.len() {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(900) {
            bail!("measurements did not finish in 15 minutes; see the agent log");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.digits$}"))
}

/// The committed digits accuracy data.
#[derive(Deserialize)]
struct DigitsData {
    records: Vec<DigitsRecord>,
}

#[derive(Deserialize)]
struct DigitsRecord {
    spec: ArchSpec,
    accuracy: f64,
    epochs: Option<i64>,
}

fn digits_records(path: &Path) -> anyhow::Result<Vec<DigitsRecord>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let data: DigitsData =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(data.records)
}

/// Runs the loop against a server already listening at `config.base` on `store`'s data.
pub fn run(config: &DemoConfig, admin_token: &str, agent_token: &str) -> anyhow::Result<()> {
    let client = Client::new(&config.base, admin_token, RetryPolicy::default());
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

fn sample(client: &Client, space: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let sample = client.sample(
        space,
        &SampleRequest {
            n,
            seed: 1,
            stratified: true,
            purpose: Default::default(),
            strategy: None,
            device: None,
            dataset: None,
        },
    )?;
    Ok(sample.items.into_iter().map(|a| a.id).collect())
}

fn run_loop(config: &DemoConfig, client: &Client) -> anyhow::Result<()> {
    let wait = Instant::now();
    loop {
        if let Ok(device) = client.device(DEVICE)
            && device.online
        {
            let d = &device.descriptor;
            println!(
                "      agent online: {} ({} cores), ONNX Runtime {}",
                d.cpu_model.as_deref().unwrap_or("?"),
                d.cores.map_or("?".into(), |c| c.to_string()),
                d.runtime.as_ref().map_or("?", |r| r.version.as_str())
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
    let existing = client.accuracies("digits")?;
    for record in &records {
        let arch = client.put_architecture(&record.spec)?;
        if !existing.iter().any(|a| a.architecture_id == arch.id) {
            client.record_accuracy(&AccuracyUpload {
                architecture_id: arch.id,
                dataset: "digits".into(),
                accuracy: record.accuracy,
                epochs: record.epochs,
                notes: Some("examples/data/digits-accuracy.json".into()),
            })?;
        }
    }
    println!(
        "      {} trained digits architectures with their test accuracies",
        records.len()
    );
    let space = config.space.name;
    // With the digits space, the CIFAR-shaped one too: the same cells at another size.
    let compared = (space == DIGITS_SPACE).then_some(CIFAR_SPACE);
    let space_sample = sample(client, space, config.samples)?;
    let compared_sample = match compared {
        Some(other) => sample(client, other, config.samples)?,
        None => Vec::new(),
    };
    println!(
        "      {} architectures of {space}{} (stratified over NN-Degree, seed 1)",
        space_sample.len(),
        compared.map_or(String::new(), |other| format!(
            " and {} of {other}",
            compared_sample.len()
        ))
    );

    step(
        3,
        "exporting to ONNX and measuring with ONNX Runtime (the agent downloads each model)",
    );
    measure(client, space, &space_sample, &config.protocol)?;
    if let Some(other) = compared {
        measure(client, other, &compared_sample, &config.protocol)?;
    }

    step(
        4,
        "fitting the latency and energy models and the accuracy predictor",
    );
    let hardware = |metric: CostMetric, fit_on: &[String]| {
        client.fit_hardware_model(&HardwareModelRequest {
            device: DEVICE.into(),
            metric,
            fit_on: Some(fit_on.to_vec()),
            feature_sets: Vec::new(),
        })
    };
    let latency = hardware(CostMetric::Latency, &space_sample)?;
    let compared_latency = match compared {
        Some(other) => Some((other, hardware(CostMetric::Latency, &compared_sample)?)),
        None => None,
    };
    let energy = hardware(CostMetric::Energy, &space_sample)?;
    let accuracy = client.fit_accuracy_model(&AccuracyModelRequest {
        dataset: "digits".into(),
        space: Some(DIGITS_SPACE.into()),
        forms: Vec::new(),
    })?;
    let fits = std::iter::once((space, &latency.fit))
        .chain(compared_latency.as_ref().map(|(other, m)| (*other, &m.fit)));
    for (name, fit) in fits {
        println!(
            "      latency, {name}: n={} features={}  LOO MAPE {:.1}%  within 10% {}  within 5% {}  Spearman {:.3}  (MACs only: MAPE {:.1}%, within 10% {})",
            fit.n,
            fit.feature_set,
            fit.loo.mape,
            pct(fit.loo.within_10),
            pct(fit.loo.within_5),
            fit.loo.spearman,
            fit.baseline_macs.mape,
            pct(fit.baseline_macs.within_10),
        );
    }
    // The fit's value source lists the measurements' energy methods: say what they were.
    let source = &energy.value_source;
    let provenance = if source.split(", ").all(|m| m == "estimated") {
        "values from the profile's power model: no sensor here"
    } else if source.contains("estimated") {
        "some values measured by a sensor, some from the profile's power model"
    } else {
        "values measured by the device's energy sensor"
    };
    println!(
        "      energy ({source}): LOO MAPE {:.1}% ({provenance})",
        energy.fit.loo.mape
    );
    let a = &accuracy.fit;
    println!(
        "      accuracy predictor: {}  n={}  LOO RMSE {:.4}  Spearman {:.3}  (params only: LOO RMSE {:.4})",
        a.candidates
            .iter()
            .find(|c| c.form == a.model.form)
            .map_or("?", |c| c.formula.as_str()),
        a.n,
        a.errors.loo_rmse,
        a.errors.spearman,
        a.baseline_params.errors.loo_rmse,
    );

    if space != DIGITS_SPACE {
        println!(
            "      (the predictor is fitted on {DIGITS_SPACE} architectures: on {space} its \
             accuracies extrapolate, and rank networks by NN-Degree and params only)"
        );
    }

    step(
        5,
        &format!("searching the whole {space} space exactly under a latency budget"),
    );
    let mut measured: Vec<f64> = latency.samples.iter().map(|s| s.actual).collect();
    measured.sort_by(f64::total_cmp);
    let budget = measured
        .get(measured.len() / 2)
        .copied()
        .ok_or_else(|| anyhow!("no latency samples"))?;
    println!("      budget: {budget:.3} ms (the median measured latency of the sample)");
    let search = client.search(&SearchRequest {
        space: space.into(),
        dataset: "digits".into(),
        accuracy_model: Some(accuracy.id.clone()),
        devices: vec![DeviceConstraint {
            device: DEVICE.into(),
            max_latency_ms: Some(budget),
            max_energy_mj: None,
            max_area_mm2: None,
            latency_model: Some(latency.id.clone()),
            energy_model: Some(energy.id.clone()),
        }],
        max_params: None,
        max_macs: None,
        objective: Objective::MaxAccuracy,
        confidence: Some(CONFIDENCE),
    })?;
    let result = &search.result;
    let Some(best) = &result.best else {
        bail!(
            "no architecture meets the budget: {}",
            serde_json::to_string(&result.closest_miss)?
        );
    };
    let predicted_latency = best
        .costs
        .iter()
        .find(|c| c.metric == CostMetric::Latency)
        .map(|c| c.value);
    println!(
        "      searched {} configurations in {:.2} ms (exact: {}); winner {}",
        result.configurations, result.elapsed_ms, result.exact, best.id
    );
    println!("      cells {}", serde_json::to_string(&best.spec.cells)?);
    // An accuracy is shown within [0, 1]; a model mean beyond it says the predictor
    // extrapolates.
    let accuracy = best.accuracy.value;
    let beyond = if (0.0..=1.0).contains(&accuracy) {
        String::new()
    } else {
        format!(
            " (the predictor's mean is {}: it extrapolates here)",
            pct(accuracy)
        )
    };
    println!(
        "      predicted accuracy {} [{}, {}]{beyond}, latency {} ms",
        pct(accuracy.clamp(0.0, 1.0)),
        pct(best.accuracy.lower),
        pct(best.accuracy.upper),
        num(predicted_latency, 3)
    );
    for check in &result.budget_checks {
        println!(
            "      {} budget at confidence {CONFIDENCE}: predicted {:.3}, upper bound {:.3} (x{:.3}) <= limit {:.3}",
            <&str>::from(check.metric),
            check.predicted,
            check.bound,
            check.margin_factor,
            check.limit
        );
    }
    if let Some(given_up) = result.accuracy_given_up {
        println!(
            "      the margin cost {:.2} points of predicted accuracy",
            100.0 * given_up
        );
    }

    step(6, "re-measuring the winner on this CPU");
    client.verify(
        &search.id,
        &VerifyRequest {
            top_k: Some(1),
            front_points: None,
            refine: false,
            max_rounds: None,
            protocol: config.protocol.clone(),
        },
    )?;
    let started = Instant::now();
    let verified = loop {
        let s = client.get_search(&search.id)?;
        let v = s.verification.into_iter().next();
        match v {
            Some(v) if v.job_state == "succeeded" => break v,
            Some(v) if v.job_state == "failed" => {
                bail!("re-measurement failed: job {}", v.job_id)
            }
            _ if started.elapsed() > Duration::from_secs(300) => {
                bail!("re-measurement did not finish in 5 minutes")
            }
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    };

    step(7, "report");
    println!(
        "      winner {}: predicted {} ms, measured {} ms normalized (raw p50 {} ms, p90 {} ms); budget {budget:.3} ms -> {}",
        verified.architecture_id,
        num(verified.predicted_latency_ms, 3),
        num(verified.measured_latency_ms, 3),
        num(verified.measured_p50_ms, 3),
        num(verified.measured_p90_ms, 3),
        match verified.meets_latency_limit {
            Some(true) => "meets the budget",
            Some(false) => "MISSES the budget",
            None => "not comparable",
        }
    );
    println!(
        "      energy: predicted {} mJ, {} {} mJ",
        num(verified.predicted_energy_mj, 3),
        verified.energy_method.as_deref().unwrap_or("?"),
        num(verified.measured_energy_mj, 3)
    );

    step(8, "the dashboard");
    println!(
        "      {}/  (paste the admin token from {})",
        config.base,
        config.data_dir.join("admin-token").display()
    );
    println!(
        "      plots: {}/v1/hardware-models/{}/plot.svg",
        config.base, latency.id
    );
    println!(
        "             {}/v1/searches/{}/pareto.svg",
        config.base, search.id
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
