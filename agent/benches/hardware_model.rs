//! Hardware-model quality on this machine's CPU (SPEC.md section 9): measure architectures of the
//! default space with ONNX Runtime under the agent's protocol, fit the latency model on 25 of
//! them, and report how well it predicts the others: share within +-10% and +-5% of the
//! measured median latency, MAPE and Spearman, next to the MACs-only baseline. Prints figures;
//! asserts nothing.
//!
//! `cargo bench -p flash-agent --bench hardware_model` (ONNX Runtime from
//! scripts/fetch-onnxruntime.sh). Environment: `FLASH_BENCH_FIT` (25), `FLASH_BENCH_HELD_OUT`
//! (100), `FLASH_BENCH_BUDGET_S` (timed seconds per model, 2), `FLASH_BENCH_THREADS` (1),
//! `FLASH_BENCH_OUT` (a JSON file for every measurement).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use flash_agent::agent::measure_model;
use flash_agent::runtime::{self, Runtime};
use flash_core::features::FeatureVector;
use flash_core::fit::{CostErrors, CostMetric, FeatureSet, fit_hardware};
use flash_core::profile::Profile;
use flash_core::{ArchSpec, Space, onnx};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn line(name: &str, e: &CostErrors) {
    println!(
        "  {name:<28} within 10%: {:>5.1}%   within 5%: {:>5.1}%   MAPE {:>5.2}%   Spearman {:.3}   Kendall {:.3}",
        100.0 * e.within_10,
        100.0 * e.within_5,
        e.mape,
        e.spearman,
        e.kendall
    );
}

fn main() {
    let (n_fit, n_held, budget, threads): (usize, usize, f64, u32) = (
        env("FLASH_BENCH_FIT", 25),
        env("FLASH_BENCH_HELD_OUT", 100),
        env("FLASH_BENCH_BUDGET_S", 2.0),
        env("FLASH_BENCH_THREADS", 1),
    );
    let library = runtime::locate_library_here(false).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::load(&library).unwrap();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = Profile::parse(
        &std::fs::read_to_string(manifest.join("../profiles/x86-host.toml")).unwrap(),
    )
    .unwrap();
    let agent = profile.agent().unwrap();
    let mut protocol = agent.protocol.clone();
    protocol.threads = threads;
    protocol.time_budget_s = budget;

    let space = Space::default_space();
    // Fit on a sample spread over NN-Degree (as the service proposes); judge on uniform others.
    let fit_specs = space.sample_stratified(n_fit, 1);
    let held: Vec<ArchSpec> = space
        .sample_uniform(n_held + n_fit, 2)
        .into_iter()
        .filter(|s| !fit_specs.contains(s))
        .take(n_held)
        .collect();
    println!(
        "hardware model on this CPU: {} architectures to fit, {} held out; {threads} thread(s), {budget} s timed per model, CI target +-{:.0}%",
        fit_specs.len(),
        held.len(),
        100.0 * protocol.target_relative_ci
    );
    let sysfs = std::path::Path::new("/sys");
    let started = Instant::now();
    let measure = |specs: &[ArchSpec], label: &str| -> Vec<(FeatureVector, f64)> {
        specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let model = onnx::export_spec(spec);
                let result =
                    measure_model(rt, &model, &protocol, agent, sysfs, &AtomicBool::new(false))
                        .unwrap();
                let l = &result.latency;
                eprintln!(
                    "  {label} {}/{}: {} p50 {:.3} ms (CI +-{:.2}%, n {}) [{:.0} s]",
                    i + 1,
                    specs.len(),
                    spec.id(),
                    l.p50_ms,
                    100.0 * l.relative_ci(),
                    l.n,
                    started.elapsed().as_secs_f64()
                );
                (FeatureVector::of_spec(spec), l.p50_ms)
            })
            .collect()
    };
    let fit_samples = measure(&fit_specs, "fit");
    let held_samples = measure(&held, "held-out");

    let fit = fit_hardware(CostMetric::Latency, &fit_samples, &[]).unwrap();
    let macs = fit_hardware(CostMetric::Latency, &fit_samples, &[FeatureSet::Macs]).unwrap();
    let actual: Vec<f64> = held_samples.iter().map(|(_, y)| *y).collect();
    let predict = |m: &flash_core::fit::HardwareModel| -> Vec<f64> {
        held_samples.iter().map(|(x, _)| m.predict(x)).collect()
    };
    println!(
        "\nfitted on {} (features {:?}: {})",
        fit.n, fit.feature_set, fit.reason
    );
    println!("leave-one-out on the fitting set:");
    line("chosen model", &fit.loo);
    line("MACs + constant", &fit.baseline_macs);
    println!("on the {} held-out architectures:", held.len());
    line(
        "chosen model",
        &CostErrors::of(&predict(&fit.model), &actual),
    );
    line(
        "MACs + constant",
        &CostErrors::of(&predict(&macs.model), &actual),
    );
    println!("target (SPEC.md section 9): >= 97% within 10%, >= 85% within 5%");
    println!("measurement took {:.0} s", started.elapsed().as_secs_f64());
    if let Ok(out) = std::env::var("FLASH_BENCH_OUT") {
        let rows: Vec<serde_json::Value> = fit_specs
            .iter()
            .zip(&fit_samples)
            .map(|(s, (_, y))| serde_json::json!({"set": "fit", "id": s.id(), "spec": s, "p50_ms": y}))
            .chain(held.iter().zip(&held_samples).map(|(s, (_, y))| serde_json::json!({"set": "held_out", "id": s.id(), "spec": s, "p50_ms": y})))
            .collect();
        std::fs::write(&out, serde_json::to_string_pretty(&rows).unwrap()).unwrap();
        println!("measurements written to {out}");
    }
}
