//! How far a latency model carries from one network family to another, on this machine's CPU:
//! every network is measured under the agent's paired protocol against one reference (the
//! default space's), so normalized latencies of all families share a scale. Families:
//! - `flash-densenet`: 25 architectures stratified over NN-Degree to fit on, 25 uniform others;
//! - `flash-resnet` and `flash-mobilenet`: 25 architectures each, stratified over NN-Degree;
//! - the zoo: torchvision's CNNs as the importer reads them (core/tests/fixtures/zoo, graphs
//!   only), exported with random weights by core's exporter (latency does not depend on the
//!   values).
//!
//! Printed: within-family figures (the densenet fit on its held-out networks; the other
//! families' own nested cross-validation) and cross-family ones (each family's fit on every other
//! family's networks, and the three spaces pooled on the zoo), as shares within +-10% and +-5%,
//! with each zoo network's prediction, measurement and how many of its features the densenet fit
//! never saw.
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

/// A family's data: what a fit on it is judged on by the others, and its own fit.
struct Family {
    name: String,
    /// The networks the family's fit is judged on by the other families' fits.
    data: Vec<(FeatureVector, f64)>,
    fit: Result<HardwareFit, String>,
    /// How the family's own fit does on it: held-out networks, or nested cross-validation.
    within: Option<(String, CostErrors)>,
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
    let others: Vec<(&str, Vec<ArchSpec>)> = ["flash-resnet", "flash-mobilenet"]
        .into_iter()
        .map(|name| (name, space(name).sample_stratified(n_fit, 1)))
        .collect();
    let zoo = zoo();
    println!(
        "cross-family latency on this CPU: {threads} thread(s), at most {budget} s timed per model, every network paired with {}",
        reference_spec.id()
    );
    println!(
        "flash-densenet: {} to fit, {} held out; {}; zoo: {} networks",
        fit_specs.len(),
        held.len(),
        others
            .iter()
            .map(|(name, specs)| format!("{name}: {}", specs.len()))
            .collect::<Vec<_>>()
            .join("; "),
        zoo.len()
    );
    let fit_results = bench.measure(&fit_specs, "densenet fit");
    let held_results = bench.measure(&held, "densenet held-out");
    let other_results: Vec<Vec<MeasurementResult>> = others
        .iter()
        .map(|(name, specs)| bench.measure(specs, name))
        .collect();
    let zoo_models: Vec<(String, Vec<u8>, Reference)> = zoo
        .iter()
        .map(|(name, _, model)| (name.clone(), model.clone(), reference()))
        .collect();
    let zoo_results = bench.measure_models(&zoo_models, "zoo");
    let history: Vec<&MeasurementResult> = fit_results
        .iter()
        .chain(&held_results)
        .chain(other_results.iter().flatten())
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
    let fit = |data: &[(FeatureVector, f64)]| {
        fit_hardware(CostMetric::Latency, data, &[]).map_err(|e| e.to_string())
    };
    let own = |fit: &Result<HardwareFit, String>| {
        fit.as_ref()
            .ok()
            .map(|f| ("nested cross-validation".to_string(), f.loo.clone()))
    };
    let densenet_fit = of_specs(&fit_specs, &fit_results);
    let densenet_held = of_specs(&held, &held_results);
    let on_densenet = fit(&densenet_fit);
    let mut families = vec![Family {
        name: "flash-densenet".into(),
        within: on_densenet.as_ref().ok().map(|f| {
            let held_out = judge(&f.model, &densenet_held);
            ("held-out networks".to_string(), held_out)
        }),
        data: densenet_held,
        fit: on_densenet,
    }];
    let mut pooled = densenet_fit.clone();
    for ((name, specs), results) in others.iter().zip(&other_results) {
        let data = of_specs(specs, results);
        pooled.extend_from_slice(&data);
        let fit = fit(&data);
        families.push(Family {
            name: name.to_string(),
            within: own(&fit),
            data,
            fit,
        });
    }
    let zoo_data: Vec<(FeatureVector, f64)> = zoo
        .iter()
        .zip(&zoo_results)
        .map(|((_, x, _), m)| (*x, m.normalized_latency_ms(Some(r))))
        .collect();
    let on_zoo = fit(&zoo_data);
    families.push(Family {
        name: "zoo".into(),
        within: own(&on_zoo),
        data: zoo_data.clone(),
        fit: on_zoo,
    });

    println!("\ndevice reference latency {r:.4} ms");
    println!("within family:");
    for f in &families {
        match (&f.fit, &f.within) {
            (Ok(fit), Some((how, errors))) => {
                line(&format!("{} ({how})", f.name), errors);
                println!("      features: {:?}", fit.feature_set);
            }
            (Err(e), _) => println!("  {}: no fit of its own ({e})", f.name),
            _ => {}
        }
    }
    println!("across families (fitted on -> judged on; densenet judged on its held-out set):");
    for from in &families {
        let Ok(fit) = &from.fit else { continue };
        for to in families.iter().filter(|t| t.name != from.name) {
            line(
                &format!("{} -> {}", from.name, to.name),
                &judge(&fit.model, &to.data),
            );
        }
    }
    match fit(&pooled) {
        Ok(p) => line(
            "the three spaces pooled -> zoo",
            &judge(&p.model, &zoo_data),
        ),
        Err(e) => println!("  the three spaces pooled: no fit ({e})"),
    }
    if let Ok(on_densenet) = &families[0].fit {
        println!("\nper zoo network (densenet fit):");
        for ((name, x, _), (_, measured)) in zoo.iter().zip(&zoo_data) {
            let predicted = on_densenet.model.predict(x);
            println!(
                "  {name:<22} predicted {predicted:>10.3} ms   measured {measured:>10.3} ms   error {:>+7.1}%   features outside the fit: {}",
                100.0 * (predicted / measured - 1.0),
                on_densenet.model.extrapolations(x).len()
            );
        }
    }
    println!(
        "the whole run took {:.0} s",
        bench.started.elapsed().as_secs_f64()
    );
}
