//! How far a latency model carries from one network family to another, on this machine's CPU:
//! every network is measured under the agent's paired protocol against one reference (the
//! default space's), so normalized latencies of all families share a scale. Families:
//! - `flash-densenet`: 25 architectures stratified over NN-Degree to fit on, 25 uniform others;
//! - the zoo: torchvision's CNNs as the importer reads them (core/tests/fixtures/zoo, graphs
//!   only), exported with random weights by core's exporter (latency does not depend on the
//!   values).
//!
//! Printed: within-family figures (the densenet fit on its held-out networks; the zoo's own
//! nested cross-validation) and cross-family ones (the densenet fit on the zoo and the zoo fit
//! on the densenet held-out set), as shares within +-10% and +-5%, with each zoo network's
//! prediction, measurement and how many of its features the densenet fit never saw.
//! Asserts nothing.
//!
//! `cargo bench -p flash-agent --bench cross_family` (ONNX Runtime from
//! scripts/fetch-onnxruntime.sh). Environment: `FLASH_BENCH_FIT` (25), `FLASH_BENCH_BUDGET_S`
//! (most timed seconds per model, 1.5), `FLASH_BENCH_THREADS` (1), `FLASH_BENCH_ZOO`
//! (comma-separated names; every fixture by default).

mod support;

use std::path::PathBuf;

use flash_agent::agent::Reference;
use flash_core::features::FeatureVector;
use flash_core::fit::{CostErrors, CostMetric, HardwareFit, HardwareModel, fit_hardware};
use flash_core::measurement::MeasurementResult;
use flash_core::{ArchSpec, metrics, onnx};
use support::{Bench, device_reference_latency, env, space};

fn line(name: &str, e: &CostErrors) {
    println!(
        "  {name:<44} within 10%: {:>5.1}%   within 5%: {:>5.1}%   MAPE {:>6.2}%   Spearman {:.3}",
        100.0 * e.within_10,
        100.0 * e.within_5,
        e.mape,
        e.spearman,
    );
}

fn judge(model: &HardwareModel, data: &[(FeatureVector, f64)]) -> CostErrors {
    let predicted: Vec<f64> = data.iter().map(|(x, _)| model.predict(x)).collect();
    let actual: Vec<f64> = data.iter().map(|(_, y)| *y).collect();
    CostErrors::of(&predicted, &actual)
}

fn zoo() -> Vec<(String, FeatureVector, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/zoo");
    let wanted: String = env("FLASH_BENCH_ZOO", String::new());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".onnx").map(str::to_string)
        })
        .filter(|n| wanted.is_empty() || wanted.split(',').any(|w| w.trim() == n))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let graph = std::fs::read(dir.join(format!("{name}.onnx")))
                .map_err(|e| e.to_string())
                .and_then(|bytes| onnx::import(&bytes).map_err(|e| e.to_string()))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let x = FeatureVector::from_metrics(&metrics::compute(&graph));
            let model = onnx::export(&graph, onnx::DEFAULT_SEED);
            (name, x, model)
        })
        .collect()
}

fn main() {
    let (n_fit, budget, threads): (usize, f64, u32) = (
        env("FLASH_BENCH_FIT", 25),
        env("FLASH_BENCH_BUDGET_S", 1.5),
        env("FLASH_BENCH_THREADS", 1),
    );
    let bench = Bench::new(threads, budget);
    let densenet = space("flash-densenet");
    let reference_spec = densenet.reference_spec();
    let reference = || Reference::of_spec(&reference_spec);
    let fit_specs = densenet.sample_stratified(n_fit, 1);
    let held: Vec<ArchSpec> = densenet
        .sample_uniform(2 * n_fit, 2)
        .into_iter()
        .filter(|s| !fit_specs.contains(s))
        .take(n_fit)
        .collect();
    let zoo = zoo();
    println!(
        "cross-family latency on this CPU: {threads} thread(s), at most {budget} s timed per model, every network paired with {}",
        reference_spec.id()
    );
    println!(
        "flash-densenet: {} to fit, {} held out; zoo: {} networks",
        fit_specs.len(),
        held.len(),
        zoo.len()
    );
    let fit_results = bench.measure(&fit_specs, "densenet fit");
    let held_results = bench.measure(&held, "densenet held-out");
    let zoo_models: Vec<(String, Vec<u8>, Reference)> = zoo
        .iter()
        .map(|(name, _, model)| (name.clone(), model.clone(), reference()))
        .collect();
    let zoo_results = bench.measure_models(&zoo_models, "zoo");
    let history: Vec<&MeasurementResult> = fit_results
        .iter()
        .chain(&held_results)
        .chain(&zoo_results)
        .collect();
    let r = device_reference_latency(&history);
    let of_specs = |specs: &[ArchSpec], results: &[MeasurementResult]| {
        specs
            .iter()
            .zip(results)
            .map(|(s, m)| (FeatureVector::of_spec(s), m.normalized_latency_ms(Some(r))))
            .collect::<Vec<_>>()
    };
    let densenet_fit = of_specs(&fit_specs, &fit_results);
    let densenet_held = of_specs(&held, &held_results);
    let zoo_data: Vec<(FeatureVector, f64)> = zoo
        .iter()
        .zip(&zoo_results)
        .map(|((_, x, _), m)| (*x, m.normalized_latency_ms(Some(r))))
        .collect();

    let on_densenet: HardwareFit = fit_hardware(CostMetric::Latency, &densenet_fit, &[]).unwrap();
    println!(
        "\ndevice reference latency {r:.4} ms; densenet fit: {:?}",
        on_densenet.feature_set
    );
    println!("within family:");
    line(
        "densenet fit -> densenet held out",
        &judge(&on_densenet.model, &densenet_held),
    );
    match fit_hardware(CostMetric::Latency, &zoo_data, &[]) {
        Ok(on_zoo) => {
            line("zoo, nested cross-validation", &on_zoo.loo);
            println!("across families:");
            line("densenet fit -> zoo", &judge(&on_densenet.model, &zoo_data));
            line(
                "zoo fit -> densenet held out",
                &judge(&on_zoo.model, &densenet_held),
            );
        }
        Err(e) => {
            println!("  zoo: no fit of its own ({e})");
            println!("across families:");
            line("densenet fit -> zoo", &judge(&on_densenet.model, &zoo_data));
        }
    }
    println!("\nper zoo network (densenet fit):");
    for ((name, x, _), (_, measured)) in zoo.iter().zip(&zoo_data) {
        let predicted = on_densenet.model.predict(x);
        println!(
            "  {name:<22} predicted {predicted:>10.3} ms   measured {measured:>10.3} ms   error {:>+7.1}%   features outside the fit: {}",
            100.0 * (predicted / measured - 1.0),
            on_densenet.model.extrapolations(x).len()
        );
    }
    println!(
        "the whole run took {:.0} s",
        bench.started.elapsed().as_secs_f64()
    );
}
