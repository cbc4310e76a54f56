//! Benchmark of the exact co-design search on the full default space (6.4e10 configurations).
//!
//! The hardware models are fitted by NNLS on 25 stratified architectures whose "measurements"
//! come from a fixed synthetic cost formula with +-3% noise (no device is involved), so the
//! models have realistic shapes; the accuracy models are fixed: a logarithmic NN-Degree form,
//! and the same with log(params). Prints the median search time per accuracy form, objective
//! kind and one or two devices, and the pruning figures. `--runs N` sets the runs per problem
//! (21), `--only NAME` times only that problem (`2dev-trade-off-params`; the others run once
//! for their floors),
//! and `--write-problem FILE` also writes the problems and our optima as JSON for
//! scripts/shgo_compare.py.

use std::time::Instant;

use flash_core::features::{Feature, FeatureVector};
use flash_core::fit::{
    AccuracyForm, AccuracyModel, CostMetric, DegreeTerm, HardwareModel, fit_hardware,
};
use flash_core::rng::SplitMix64;
use flash_core::search::{DeviceModels, Objective, SearchProblem, SearchResult, search};
use flash_core::space::Space;

/// Synthetic per-count costs of a device: (MACs, activation bytes, concat bytes, kernels, constant).
fn fitted(metric: CostMetric, truth: [f64; 5], seed: u64) -> HardwareModel {
    let space = Space::default_space();
    let mut rng = SplitMix64::new(seed);
    let samples: Vec<(FeatureVector, f64)> = space
        .sample_stratified(25, seed)
        .iter()
        .map(|s| {
            let x = FeatureVector::of_spec(s);
            let y = truth[0] * x.get(Feature::Macs)
                + truth[1] * x.get(Feature::ActivationBytes)
                + truth[2] * x.get(Feature::ConcatBytes)
                + truth[3] * x.get(Feature::Kernels)
                + truth[4];
            let noise = 1.0 + 0.03 * (2.0 * rng.unit_f32() as f64 - 1.0);
            (x, y * noise)
        })
        .collect();
    fit_hardware(metric, &samples, &[]).expect("fit").model
}

fn device(name: &str, scale: f64, seed: u64) -> DeviceModels {
    DeviceModels {
        device: name.into(),
        latency: Some(fitted(
            CostMetric::Latency,
            [2e-8 * scale, 2e-10, 1e-9, 0.004 / scale, 0.05],
            seed,
        )),
        energy: Some(fitted(
            CostMetric::Energy,
            [3e-7 * scale, 5e-9, 1e-8, 0.02, 0.5],
            seed + 1,
        )),
        area: None,
        max_latency: None,
        max_energy: None,
        max_area: None,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The accuracy models: a NN-Degree form, and one that adds log(params) (the form the digits
/// data selects), whose params reward makes the dominance pruning weaker.
fn accuracy_models() -> [(&'static str, AccuracyModel); 2] {
    [
        (
            "a + b ln g",
            AccuracyModel {
                form: AccuracyForm::new(Some(DegreeTerm::Log), false),
                coefficients: vec![0.45, 0.08],
                residual_std: 0.01,
                t_quantile: 2.07,
                inverse_gram: vec![4.0, -0.7, -0.7, 0.12],
            },
        ),
        (
            "a + b ln g + c ln params",
            AccuracyModel {
                form: AccuracyForm::new(Some(DegreeTerm::Log), true),
                coefficients: vec![0.3, 0.06, 0.012],
                residual_std: 0.01,
                t_quantile: 2.07,
                inverse_gram: vec![4.0, -0.5, -0.2, -0.5, 0.1, 0.01, -0.2, 0.01, 0.02],
            },
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let write = flag("--write-problem");
    let runs: usize = flag("--runs").map_or(21, |r| r.parse().expect("--runs N"));
    let only = flag("--only");
    let space = Space::default_space();
    let cpu = {
        let mut d = device("cpu", 1.0, 1);
        d.max_latency = Some(4.0);
        d
    };
    let gpu = {
        let mut d = device("gpu", 0.1, 7);
        d.max_latency = Some(1.5);
        d
    };
    println!(
        "space {} ({} configurations), one core, median of {runs} runs",
        space.name,
        space.size()
    );
    let mut written = Vec::new();
    for (form, accuracy) in accuracy_models() {
        println!("accuracy {form}");
        for devices in [vec![cpu.clone()], vec![cpu.clone(), gpu.clone()]] {
            // The minimum-cost floor: three points below the best accuracy within the limits.
            let mut floor = 0.0;
            for name in ["max-accuracy", "trade-off", "min-cost"] {
                let objective = match name {
                    "max-accuracy" => Objective::MaxAccuracy,
                    "trade-off" => Objective::TradeOff {
                        a: 4.0,
                        b: 1.0,
                        c: 1.0,
                        d: 0.0,
                    },
                    _ => Objective::MinCost {
                        device: "cpu".into(),
                        metric: CostMetric::Energy,
                        min_accuracy: floor,
                    },
                };
                let problem = SearchProblem {
                    accuracy: accuracy.clone(),
                    devices: devices.clone(),
                    max_params: None,
                    max_macs: None,
                    objective,
                    confidence: None,
                };
                let label = format!(
                    "{}dev-{name}{}",
                    devices.len(),
                    if accuracy.form.log_params {
                        "-params"
                    } else {
                        ""
                    }
                );
                let skip = only.as_ref().is_some_and(|o| *o != label);
                let mut times = Vec::new();
                let mut last: Option<SearchResult> = None;
                for _ in 0..if skip { 1 } else { runs } {
                    let t = Instant::now();
                    let r = search(space, &problem).expect("search");
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                    last = Some(r);
                }
                let r = last.expect("ran");
                let best = r.best.as_ref().expect("feasible");
                if name == "max-accuracy" {
                    floor = best.accuracy.value - 0.03;
                }
                if skip {
                    continue;
                }
                let med = median(times);
                println!(
                    "{} device(s), {name:12}: median {:7.3} ms  exact {}  objective {:.6}  acc {:.4}  \
                     cell candidates {:?} of {}  states {:?}  final {}  front sizes {:?}",
                    devices.len(),
                    med,
                    r.exact,
                    best.objective,
                    best.accuracy.value,
                    r.stats.cell_candidates,
                    r.stats.cell_choices,
                    r.stats.states,
                    r.stats.final_states,
                    r.fronts.iter().map(|f| f.points.len()).collect::<Vec<_>>(),
                );
                println!("    best {:?}", best.spec.cells);
                written.push(serde_json::json!({
                    "name": label,
                    "problem": problem,
                    "ours": {
                        "objective": best.objective,
                        "cells": best.spec.cells,
                        "median_ms": med,
                    },
                }));
            }
        }
    }
    if let Some(path) = write {
        let doc = serde_json::json!({
            "space": {
                "input_shape": space.input_shape,
                "num_classes": space.num_classes,
                "num_cells": space.num_cells,
                "widths": space.widths,
                "depths": space.depths,
                "tcs": space.tcs,
            },
            "problems": written,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("json")).expect("write");
        println!("wrote {path}");
    }
}
