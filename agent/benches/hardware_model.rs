//! Hardware-model quality on this machine's CPU (SPEC.md section 9): measure architectures of a
//! space with ONNX Runtime under the agent's paired protocol, fit the latency model on 25 of
//! them (stratified over NN-Degree), and report how well it predicts 100 others: share within
//! +-10% and +-5%, MAPE and Spearman of the normalized latency, next to the MACs-only baseline,
//! and the same fits on the raw medians of the same runs (the unpaired figures). Runs
//! flash-densenet and flash-densenet-digits. Prints figures; asserts nothing.
//!
//! `cargo bench -p flash-agent --bench hardware_model` (ONNX Runtime from
//! scripts/fetch-onnxruntime.sh). Environment: `FLASH_BENCH_FIT` (25), `FLASH_BENCH_HELD_OUT`
//! (100), `FLASH_BENCH_BUDGET_S` (most timed seconds per model, 1.5), `FLASH_BENCH_THREADS`
//! (1), `FLASH_BENCH_SPACES` (comma-separated, both by default), `FLASH_BENCH_OUT` (a JSON file
//! for every measurement).

mod support;

use flash_core::ArchSpec;
use flash_core::features::FeatureVector;
use flash_core::fit::{CostErrors, CostMetric, FeatureSet, HardwareModel, fit_hardware};
use flash_core::measurement::MeasurementResult;
use support::{Bench, device_reference_latency, env, space};

fn line(name: &str, e: &CostErrors) {
    println!(
        "    {name:<30} within 10%: {:>5.1}%   within 5%: {:>5.1}%   MAPE {:>5.2}%   Spearman {:.3}   Kendall {:.3}",
        100.0 * e.within_10,
        100.0 * e.within_5,
        e.mape,
        e.spearman,
        e.kendall
    );
}

/// Fits on the fit set's values and reports on the held-out ones, chosen model and MACs-only.
fn report(title: &str, fit: &[(FeatureVector, f64)], held: &[(FeatureVector, f64)]) {
    let chosen = fit_hardware(CostMetric::Latency, fit, &[]).unwrap();
    let macs = fit_hardware(CostMetric::Latency, fit, &[FeatureSet::Macs]).unwrap();
    let actual: Vec<f64> = held.iter().map(|(_, y)| *y).collect();
    let predict =
        |m: &HardwareModel| -> Vec<f64> { held.iter().map(|(x, _)| m.predict(x)).collect() };
    println!(
        "  {title}: chosen {:?} ({})",
        chosen.feature_set, chosen.reason
    );
    line("cross-validated (nested)", &chosen.loo);
    line(
        "held out, chosen model",
        &CostErrors::of(&predict(&chosen.model), &actual),
    );
    line(
        "held out, MACs + constant",
        &CostErrors::of(&predict(&macs.model), &actual),
    );
}

fn run_space(bench: &Bench, name: &str, n_fit: usize, n_held: usize) -> serde_json::Value {
    let space = space(name);
    // Fit on a sample spread over NN-Degree (as the service proposes); judge on uniform others.
    let fit_specs = space.sample_stratified(n_fit, 1);
    let held: Vec<ArchSpec> = space
        .sample_uniform(n_held + n_fit, 2)
        .into_iter()
        .filter(|s| !fit_specs.contains(s))
        .take(n_held)
        .collect();
    println!(
        "\n{name}: {} architectures to fit, {} held out, paired with reference {}",
        fit_specs.len(),
        held.len(),
        space.reference_spec().id()
    );
    let fit_results = bench.measure(&fit_specs, "fit");
    let held_results = bench.measure(&held, "held-out");
    let history: Vec<&MeasurementResult> = fit_results.iter().chain(&held_results).collect();
    let r = device_reference_latency(&history);
    let values = |specs: &[ArchSpec], results: &[MeasurementResult], normalized: bool| {
        specs
            .iter()
            .zip(results)
            .map(|(s, m)| {
                let y = if normalized {
                    m.normalized_latency_ms(Some(r))
                } else {
                    m.latency.p50_ms
                };
                (FeatureVector::of_spec(s), y)
            })
            .collect::<Vec<_>>()
    };
    println!(
        "  device reference latency: {r:.4} ms (median reference p50 of the latest measurements)"
    );
    report(
        "paired (normalized latency)",
        &values(&fit_specs, &fit_results, true),
        &values(&held, &held_results, true),
    );
    report(
        "unpaired (raw p50 of the same runs)",
        &values(&fit_specs, &fit_results, false),
        &values(&held, &held_results, false),
    );
    let rows: Vec<serde_json::Value> = fit_specs
        .iter()
        .zip(&fit_results)
        .map(|(s, m)| ("fit", s, m))
        .chain(
            held.iter()
                .zip(&held_results)
                .map(|(s, m)| ("held_out", s, m)),
        )
        .map(|(set, s, m)| {
            serde_json::json!({"set": set, "id": s.id(), "spec": s, "result": m,
                "normalized_latency_ms": m.normalized_latency_ms(Some(r))})
        })
        .collect();
    serde_json::json!({"space": name, "reference_latency_ms": r, "measurements": rows})
}

fn main() {
    let (n_fit, n_held, budget, threads): (usize, usize, f64, u32) = (
        env("FLASH_BENCH_FIT", 25),
        env("FLASH_BENCH_HELD_OUT", 100),
        env("FLASH_BENCH_BUDGET_S", 1.5),
        env("FLASH_BENCH_THREADS", 1),
    );
    let spaces: String = env(
        "FLASH_BENCH_SPACES",
        "flash-densenet,flash-densenet-digits".to_string(),
    );
    let bench = Bench::new(threads, budget);
    println!(
        "hardware model on this CPU, paired measurement: {threads} thread(s), at most {budget} s timed per model, ratio CI target +-{:.0}%",
        100.0 * bench.protocol.target_relative_ci
    );
    let out: Vec<serde_json::Value> = spaces
        .split(',')
        .map(|name| run_space(&bench, name.trim(), n_fit, n_held))
        .collect();
    println!("\ntarget (SPEC.md section 9, flash-densenet): >= 97% within 10%, >= 85% within 5%");
    println!(
        "the whole run took {:.0} s",
        bench.started.elapsed().as_secs_f64()
    );
    if let Ok(path) = std::env::var("FLASH_BENCH_OUT") {
        std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
        println!("measurements written to {path}");
    }
}
