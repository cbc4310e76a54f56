//! Benchmark of the exact co-design search on the full default space (6.4e10 configurations).
//!
//! The hardware models are fitted by NNLS on 25 stratified architectures whose "measurements"
//! come from a fixed synthetic cost formula with +-3% noise (no device is involved), so the
//! models have realistic shapes and prediction intervals. The accuracy models are fitted on the
//! real digits accuracies of `examples/data` in every form a fit can choose (the six candidates
//! and the params-only baseline), as the demo's predictor is used on this space. Problems:
//! every form, one, two and three devices, the three objective kinds, and without and with a
//! confidence of 0.95; one problem on each ResNet and MobileNet space; and the demo's kind of
//! problem (`demo-1dev-max-accuracy-conf`: its space and predictor, a latency limit at the
//! median of the space, its confidence), and the demo's own problem as the service built it
//! from what the demo measured and fitted on a 2-core AMD EPYC
//! (`demo-measured-1dev-max-accuracy-conf`, examples/data). The problems take turns, a search
//! of each per round, so that the machine's slow spells weigh on all of them alike (see
//! `timed`). Prints the median search time of each problem and the pruning figures, then a
//! table of medians against the targets (10 ms up to two devices, 30 ms with three); the
//! rounds on stderr.
//! `--runs N` sets the rounds, the runs per problem (21); `--only NAME` times only that
//! problem (for example `2dev-trade-off-recip-params-conf`; a minimum-cost problem's floor
//! comes from one search of its maximum-accuracy problem); `--write-problem FILE` also writes
//! the problems without a confidence and our optima as JSON for scripts/shgo_compare.py.

use flash_core::ArchSpec;
use flash_core::features::{Feature, FeatureVector};
use flash_core::fit::{
    AccuracyForm, AccuracyModel, AccuracyRecord, CostMetric, DegreeTerm, HardwareModel,
    fit_accuracy, fit_hardware,
};
use flash_core::rng::SplitMix64;
use flash_core::search::{DeviceModels, Objective, SearchProblem, SearchResult, search};
use flash_core::space::{Family, Space};

/// The allocator the server runs with (see server/src/main.rs): the figures are the service's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Synthetic per-count costs of a device: (MACs, activation bytes, concat bytes, kernels, constant).
fn fitted(space: &Space, metric: CostMetric, truth: [f64; 5], seed: u64) -> HardwareModel {
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

fn device(space: &Space, name: &str, scale: f64, seed: u64) -> DeviceModels {
    DeviceModels {
        device: name.into(),
        latency: Some(fitted(
            space,
            CostMetric::Latency,
            [2e-8 * scale, 2e-10, 1e-9, 0.004 / scale, 0.05],
            seed,
        )),
        energy: Some(fitted(
            space,
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

/// The device of seed 1 with its latency limit at the median of its predictions over
/// `sample`.
fn limited_at_median(space: &Space, sample: &[ArchSpec]) -> DeviceModels {
    let mut cpu = device(space, "cpu", 1.0, 1);
    let latency = cpu.latency.as_ref().expect("latency model");
    cpu.max_latency = Some(median(
        sample.iter().map(|s| latency.predict_spec(s)).collect(),
    ));
    cpu
}

/// The maximum accuracy on one device, which has the limits: the problem of the spaces beside
/// the default one.
fn max_accuracy_on(
    device: DeviceModels,
    accuracy: AccuracyModel,
    confidence: Option<f64>,
) -> SearchProblem {
    SearchProblem {
        accuracy,
        devices: vec![device],
        max_params: None,
        max_macs: None,
        objective: Objective::MaxAccuracy,
        confidence,
    }
}

/// A problem of the bench: its label and its space.
struct Case<'a> {
    label: String,
    space: &'a Space,
    problem: SearchProblem,
}

/// The median time of `runs` searches of each case (milliseconds) and its last result. The
/// cases take turns, a search of each per round: a slow spell of the machine (from seconds
/// to minutes here) then slows every case's searches alike instead of all of one case's,
/// which made the slowest cases' medians a matter of when they ran. Each time is the
/// search's own `elapsed_ms`, the figure the service reports (from the call to the finished
/// result, without the caller dropping the previous one).
fn timed(cases: &[Case], runs: usize) -> Vec<(f64, SearchResult)> {
    let mut times = vec![Vec::with_capacity(runs); cases.len()];
    let mut last = Vec::with_capacity(cases.len());
    for round in 0..runs {
        eprint!("\rround {} of {runs}", round + 1);
        for (i, case) in cases.iter().enumerate() {
            let result = search(case.space, &case.problem).expect("search");
            times[i].push(result.elapsed_ms);
            if round + 1 == runs {
                last.push(result);
            }
        }
    }
    eprintln!();
    times.into_iter().map(median).zip(last).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The committed digits accuracy records (the demo's).
fn digits_records() -> Vec<AccuracyRecord> {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../examples/data/digits-accuracy.json"))
            .expect("digits data");
    doc["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            let spec = ArchSpec::from_value(&r["spec"]).expect("spec");
            AccuracyRecord::from_spec(&spec, r["accuracy"].as_f64().expect("accuracy"))
        })
        .collect()
}

/// Every form a fit can choose, fitted on the digits `records`, with a short name for labels.
fn accuracy_models(records: &[AccuracyRecord]) -> Vec<(String, AccuracyModel)> {
    AccuracyForm::CANDIDATES
        .iter()
        .chain([&AccuracyForm::PARAMS_ONLY])
        .map(|&form| {
            let degree = match form.degree {
                Some(DegreeTerm::Linear) => "lin",
                Some(DegreeTerm::Log) => "log",
                Some(DegreeTerm::Reciprocal) => "recip",
                None => "none",
            };
            let name = format!("{degree}{}", if form.log_params { "-params" } else { "" });
            let model = fit_accuracy(records, &[form]).expect("fit").model;
            (name, model)
        })
        .collect()
}

/// Per problem: its label, the number of devices and the median time.
type Figure = (String, usize, f64);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let write = flag("--write-problem");
    let runs: usize = flag("--runs").map_or(21, |r| r.parse().expect("--runs N"));
    if runs == 0 {
        eprintln!("--runs must be at least 1");
        std::process::exit(2);
    }
    let only = flag("--only");
    let space = Space::default_space();
    let limited = |name: &str, scale: f64, seed: u64, max_latency: f64| {
        let mut d = device(space, name, scale, seed);
        d.max_latency = Some(max_latency);
        d
    };
    let (cpu, gpu, npu) = (
        limited("cpu", 1.0, 1, 4.0),
        limited("gpu", 0.1, 7, 1.5),
        limited("npu", 0.3, 13, 2.5),
    );
    println!(
        "space {} ({} configurations), one core, median of {runs} runs",
        space.name,
        space.size()
    );
    let records = digits_records();
    let models = accuracy_models(&records);
    let mut cases: Vec<Case> = Vec::new();
    for (form, accuracy) in &models {
        for devices in [
            vec![cpu.clone()],
            vec![cpu.clone(), gpu.clone()],
            vec![cpu.clone(), gpu.clone(), npu.clone()],
        ] {
            for confidence in [None, Some(0.95)] {
                let problem = |objective| SearchProblem {
                    accuracy: accuracy.clone(),
                    devices: devices.clone(),
                    max_params: None,
                    max_macs: None,
                    objective,
                    confidence,
                };
                let label = |name: &str| {
                    format!(
                        "{}dev-{name}-{form}{}",
                        devices.len(),
                        if confidence.is_some() { "-conf" } else { "" }
                    )
                };
                // The minimum-cost floor: three points below the best accuracy within the
                // limits (one search of the maximum-accuracy problem, not timed).
                let floor = || {
                    let best = search(space, &problem(Objective::MaxAccuracy)).expect("search");
                    best.best.expect("feasible").accuracy.value - 0.03
                };
                for name in ["max-accuracy", "trade-off", "min-cost"] {
                    let label = label(name);
                    if only.as_ref().is_some_and(|o| *o != label) {
                        continue;
                    }
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
                            min_accuracy: floor(),
                        },
                    };
                    cases.push(Case {
                        label,
                        space,
                        problem: problem(objective),
                    });
                }
            }
        }
    }
    // One problem per other space: the log-params form (the demo's), one device, its latency
    // limit at the median over a uniform sample of the space.
    let (_, log_params) = models
        .iter()
        .find(|(name, _)| name == "log-params")
        .expect("the log-params form");
    for other in Space::all().iter().filter(|s| s.family != Family::Densenet) {
        let label = format!("{}-1dev-max-accuracy", other.name);
        if only.as_ref().is_some_and(|o| *o != label) {
            continue;
        }
        let cpu = limited_at_median(other, &other.sample_uniform(201, 3));
        cases.push(Case {
            label,
            space: other,
            problem: max_accuracy_on(cpu, log_params.clone(), None),
        });
    }
    // The demo's kind of problem: its space, the predictor its fit chooses on the digits
    // data, one device with the latency limit at the median over 25 stratified architectures
    // (the demo's budget: the median of those it measured) and its confidence. A limit near
    // the middle of the space leaves several times the states of the problems above.
    let digits = Space::by_name("flash-densenet-digits").expect("the digits space");
    let label = "demo-1dev-max-accuracy-conf".to_string();
    if only.as_ref().is_none_or(|o| *o == label) {
        let accuracy = fit_accuracy(&records, &AccuracyForm::CANDIDATES)
            .expect("fit")
            .model;
        let cpu = limited_at_median(digits, &digits.sample_stratified(25, 1));
        cases.push(Case {
            label,
            space: digits,
            problem: max_accuracy_on(cpu, accuracy, Some(0.95)),
        });
    }
    // The demo's own search on a machine of the kind these figures come from: the problem
    // the service built from what `flash demo` measured and fitted there, as it handed it to
    // the search (examples/data). Its latency model weighs each stage's MACs apart, and its
    // limit leaves about twice the states of the problem above.
    let label = "demo-measured-1dev-max-accuracy-conf".to_string();
    if only.as_ref().is_none_or(|o| *o == label) {
        let problem =
            serde_json::from_str(include_str!("../../examples/data/demo-search-problem.json"))
                .expect("the demo's problem");
        cases.push(Case {
            label,
            space: digits,
            problem,
        });
    }
    if cases.is_empty() {
        eprintln!("no problem is named {}", only.unwrap_or_default());
        std::process::exit(2);
    }
    let mut figures: Vec<Figure> = Vec::new();
    let mut written = Vec::new();
    for (case, (med, r)) in cases.iter().zip(timed(&cases, runs)) {
        report(case, med, &r);
        figures.push((case.label.clone(), case.problem.devices.len(), med));
        let best = r.best.as_ref().expect("feasible");
        if case.space.name == space.name && case.problem.confidence.is_none() {
            written.push(serde_json::json!({
                "name": case.label,
                "problem": case.problem,
                "ours": {
                    "objective": best.objective,
                    "cells": best.spec.cells,
                    "median_ms": med,
                },
            }));
        }
    }
    summary(&figures);
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

/// One problem's figures: its accuracy form, then the search's.
fn report(case: &Case, med: f64, r: &SearchResult) {
    let best = r.best.as_ref().expect("feasible");
    let label = &case.label;
    println!(
        "{label} ({}, accuracy {})",
        case.space.name, case.problem.accuracy.form
    );
    println!(
        "{label:36} median {med:8.3} ms  exact {}  objective {:.6}  acc {:.4}  \
         cell candidates {:?} of {}  states {:?}  final {}  front sizes {:?}",
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
    if r.confidence.is_some() {
        let checks: Vec<String> = r
            .budget_checks
            .iter()
            .map(|c| {
                format!(
                    "{}.{} {:.3} bound {:.3} limit {:.3}",
                    c.device, c.metric, c.predicted, c.bound, c.limit
                )
            })
            .collect();
        println!(
            "    {}; accuracy given up {:.4}",
            checks.join(", "),
            r.accuracy_given_up.unwrap_or(f64::NAN)
        );
    }
}

/// The medians against the targets: 10 ms up to two devices, 30 ms with three.
fn summary(figures: &[Figure]) {
    println!("\n{:34} {:>10}  target", "problem", "median ms");
    let mut met = 0;
    for (label, devices, med) in figures {
        let target = if *devices <= 2 { 10.0 } else { 30.0 };
        met += usize::from(*med < target);
        let mark = if *med < target { "" } else { "  over" };
        println!("{label:36} {med:10.3}  < {target}{mark}");
    }
    println!("{met} of {} problems under their target", figures.len());
}
