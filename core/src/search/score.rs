//! Full predictions for the networks the search keeps, their limits, and the fronts of the
//! result.

use super::dominance::pareto;
use super::objective::{log_cost, log_trade_off};
use super::plan::{METRICS, Plan, PlannedCost};
use super::{Cost, DeviceModels, Objective, Scored, SearchProblem, Violation};
use crate::features::{Counts, Feature, FeatureVector};
use crate::fit::{CostMetric, HardwareModel, Interval};
use crate::space::ArchSpec;

/// Each cost a device has a model for, device by device in `METRICS` order: the order of a
/// scored network's `costs` (`predict`), which the functions reading them follow, so that they
/// index the costs instead of looking their device's name up (a string comparison per cost
/// and per network scored was a tenth of a large result's time).
fn modelled(
    problem: &SearchProblem,
) -> impl Iterator<Item = (usize, &DeviceModels, CostMetric, &HardwareModel)> {
    problem.devices.iter().enumerate().flat_map(|(i, d)| {
        METRICS
            .into_iter()
            .filter_map(move |m| d.model(m).map(|model| (i, d, m, model)))
    })
}

/// Where the cost of device `device` (its index) and `metric` lies in a scored network's
/// costs; none where the device has no model for it.
fn place(problem: &SearchProblem, device: usize, metric: CostMetric) -> Option<usize> {
    modelled(problem).position(|(i, _, m, _)| (i, m) == (device, metric))
}

/// Each device's cost of each metric with `s`'s prediction where the device has a model: the
/// devices in order, `METRICS` in order, read in step with `s.costs` (see `modelled`).
fn each_cost<'a>(
    problem: &'a SearchProblem,
    s: &'a Scored,
) -> impl Iterator<Item = (&'a DeviceModels, CostMetric, Option<&'a Cost>)> {
    let mut costs = s.costs.iter();
    problem
        .devices
        .iter()
        .flat_map(|d| METRICS.into_iter().map(move |m| (d, m)))
        .map(move |(d, m)| {
            let cost = d.model(m).and_then(|_| costs.next());
            debug_assert!(cost.is_none_or(|c| c.device == d.device && c.metric == m));
            (d, m, cost)
        })
}

/// Sets every cost's 95% prediction interval (where its model has one) on the networks a
/// result returns. The interval is a fixed factor of the prediction, so each model's factors
/// are worked out once here rather than for every network scored.
pub(super) fn add_intervals<'a>(
    problem: &SearchProblem,
    networks: impl Iterator<Item = &'a mut Scored>,
) {
    let factors: Vec<Option<(f64, f64)>> = modelled(problem)
        .map(|(.., model)| {
            model
                .interval
                .map(|i| i.factors(crate::fit::INTERVAL_LEVEL))
        })
        .collect();
    for network in networks {
        for (c, factors) in network.costs.iter_mut().zip(&factors) {
            if let Some((lower, upper)) = factors {
                (c.lower, c.upper) = (Some(c.value * lower), Some(c.value * upper));
            }
        }
    }
}

/// Every prediction for one spec, and the objective (`-inf` when undefined).
pub(super) fn score(problem: &SearchProblem, spec: &ArchSpec) -> Scored {
    let (counts, degree) = Counts::and_degree(spec);
    score_features(problem, spec.clone(), &counts.features(1.0), degree)
}

/// [`score`] of a spec whose features `x` and NN-Degree are known.
pub(super) fn score_features(
    problem: &SearchProblem,
    spec: ArchSpec,
    x: &FeatureVector,
    nn_degree: f64,
) -> Scored {
    let id = spec.id();
    let mut scored = unscored(spec, x, nn_degree, id);
    predict(problem, x, &mut scored);
    scored
}

/// A network of features `x` and NN-Degree `nn_degree` with nothing predicted yet.
pub(super) fn unscored(spec: ArchSpec, x: &FeatureVector, nn_degree: f64, id: String) -> Scored {
    let nothing = Interval {
        value: f64::NAN,
        lower: f64::NAN,
        upper: f64::NAN,
    };
    Scored {
        id,
        spec,
        accuracy: nothing,
        nn_degree,
        // Exact: both are integers well below 2^53.
        params: (x.get(Feature::WeightBytes) / 4.0).round() as u64,
        macs: x.get(Feature::Macs).round() as u64,
        costs: Vec::new(),
        objective: f64::NAN,
    }
}

/// Sets the accuracy, the costs and the objective of `s` under `problem`, from its NN-Degree
/// and params and its features `x`.
pub(super) fn predict(problem: &SearchProblem, x: &FeatureVector, s: &mut Scored) {
    s.accuracy = problem.accuracy.predict(s.nn_degree, s.params as f64);
    s.costs = modelled(problem)
        .map(|(_, d, metric, model)| Cost {
            device: d.device.clone(),
            metric,
            value: model.predict(x),
            lower: None,
            upper: None,
        })
        .collect();
    let value = |c: Option<&Cost>| c.map_or(f64::NAN, |c| c.value);
    s.objective = match &problem.objective {
        Objective::MaxAccuracy => s.accuracy.value,
        Objective::TradeOff { a, b, c, d } => {
            let exponent = |m: CostMetric| match m {
                CostMetric::Latency => *b,
                CostMetric::Energy => *c,
                CostMetric::Area => *d,
            };
            let log_costs = each_cost(problem, s)
                .filter(|&(_, m, _)| exponent(m) != 0.0)
                .map(|(_, m, c)| (exponent(m), log_cost(value(c), true)));
            let v = log_trade_off(*a, s.accuracy.value, log_costs);
            // Reported as the score itself, compared in logs.
            v.exp()
        }
        Objective::MinCost { device, metric, .. } => value(
            each_cost(problem, s)
                .find(|(d, m, c)| m == metric && c.is_some() && d.device == *device)
                .and_then(|(.., c)| c),
        ),
    };
}

/// Every limit `s` violates (relative tolerance 1e-9 for rounding).
pub(super) fn violations(problem: &SearchProblem, s: &Scored) -> Vec<Violation> {
    let mut out = Vec::new();
    // The name is written only for a violation: most networks checked have none.
    let mut check = |what: &dyn Fn() -> String, value: f64, limit: f64| {
        if value > limit * (1.0 + 1e-9) {
            out.push(Violation {
                what: what(),
                value,
                limit,
            });
        }
    };
    for (dev, m, c) in each_cost(problem, s) {
        if let (Some(limit), Some(c)) = (dev.limit(m), c) {
            check(
                &|| format!("{}.{}", dev.device, <&str>::from(m)),
                c.value,
                limit,
            );
        }
    }
    if let Some(l) = problem.max_params {
        check(&|| "params".into(), s.params as f64, l as f64);
    }
    if let Some(l) = problem.max_macs {
        check(&|| "macs".into(), s.macs as f64, l as f64);
    }
    if let Objective::MinCost { min_accuracy, .. } = problem.objective
        && s.accuracy.value < accuracy_floor(min_accuracy)
    {
        out.push(Violation {
            what: "accuracy".into(),
            value: s.accuracy.value,
            limit: min_accuracy,
        });
    }
    out
}

/// The least accuracy that meets a floor of `min_accuracy`: the floor, up to rounding. The
/// search sums a network's quantities in another order than `score`, so a network whose
/// accuracy is the floor (a user who asks for "as accurate as X" gives X's own accuracy)
/// could fall short of it by the last bit in one and not in the other.
pub(super) fn accuracy_floor(min_accuracy: f64) -> f64 {
    min_accuracy - 1e-12 * min_accuracy.abs().max(1.0)
}

/// How far a violation is, relative to its limit.
pub(super) fn miss_size(v: &[Violation]) -> f64 {
    v.iter()
        .map(|v| (v.value - v.limit).abs() / v.limit.abs().max(1e-12))
        .fold(0.0, f64::max)
}

/// Better objective value first (maximised objectives are larger, MinCost smaller).
pub(super) fn better(problem: &SearchProblem, a: f64, b: f64) -> bool {
    match problem.objective {
        Objective::MinCost { .. } => a < b,
        _ => a > b,
    }
}

/// A front of a list of scored networks: its costs as `device.metric` and its points' places
/// in the list, by the first cost.
pub(super) type FrontPlaces = (Vec<String>, Vec<usize>);

/// The Pareto fronts of `scored`, accuracy against each front cost and against the pair.
pub(super) fn fronts(plan: &Plan, problem: &SearchProblem, scored: &[Scored]) -> Vec<FrontPlaces> {
    let name = |c: &PlannedCost| {
        format!(
            "{}.{}",
            problem.devices[c.device].device,
            <&str>::from(c.metric)
        )
    };
    let front = |keys: &[PlannedCost], against: Vec<String>| {
        // Rows: costs, then -accuracy, all minimised.
        let dims = keys.len() + 1;
        let places: Vec<Option<usize>> = keys
            .iter()
            .map(|k| place(problem, k.device, k.metric))
            .collect();
        let mut rows = Vec::with_capacity(scored.len() * dims);
        for s in scored {
            rows.extend(
                places
                    .iter()
                    .map(|p| p.map_or(f64::NAN, |p| s.costs[p].value)),
            );
            rows.push(-s.accuracy.value);
        }
        let keep = pareto(&rows, dims, (0..scored.len() as u32).collect());
        (against, keep.into_iter().map(|i| i as usize).collect())
    };
    let mut out: Vec<FrontPlaces> = plan
        .front_costs
        .iter()
        .map(|c| front(&[*c], vec![name(c)]))
        .collect();
    if let Some([a, b]) = &plan.pair {
        out.push(front(&[*a, *b], vec![name(a), name(b)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::search::oracle::{problem, random_spec, small_space};

    #[test]
    fn the_score_is_the_objective_of_the_predictions() {
        let mut r = SplitMix64::new(17);
        for case in 0..60 {
            let space = small_space(&mut r);
            let sample: Vec<ArchSpec> = (0..20).map(|_| random_spec(&mut r, &space)).collect();
            let p = problem(&mut r, &sample);
            for spec in &sample {
                let s = score(&p, spec);
                let cost = |dev: &str, m: CostMetric| {
                    s.costs
                        .iter()
                        .find(|c| c.device == dev && c.metric == m)
                        .unwrap()
                        .value
                };
                let expected = match &p.objective {
                    Objective::MaxAccuracy => s.accuracy.value,
                    Objective::MinCost { device, metric, .. } => cost(device, *metric),
                    // Undefined, and so the worst (0), where accuracy or a cost is not positive.
                    Objective::TradeOff { a, b, c, d } => {
                        let mut v = s.accuracy.value.max(0.0).powf(*a);
                        for dev in &p.devices {
                            for (m, e) in METRICS.iter().zip([b, c, d]) {
                                if *e != 0.0 {
                                    let cost = cost(&dev.device, *m);
                                    v = if cost > 0.0 { v / cost.powf(*e) } else { 0.0 };
                                }
                            }
                        }
                        v
                    }
                };
                assert!(
                    (s.objective - expected).abs() <= 1e-9 * expected.abs(),
                    "case {case}: {} vs {expected}",
                    s.objective
                );
            }
        }
    }

    #[test]
    fn violations_allow_rounding_and_misses_are_relative() {
        let mut r = SplitMix64::new(18);
        let space = small_space(&mut r);
        let sample: Vec<ArchSpec> = (0..20).map(|_| random_spec(&mut r, &space)).collect();
        let mut p = problem(&mut r, &sample);
        p.objective = Objective::MaxAccuracy;
        for d in &mut p.devices {
            (d.max_latency, d.max_energy, d.max_area) = (None, None, None);
        }
        let mut s = score(&p, &sample[0]);
        s.params = 1000;
        p.max_params = Some(1000);
        assert!(violations(&p, &s).is_empty());
        let latency = s.costs[0].value;
        p.devices[0].max_latency = Some(latency * (1.0 - 1e-10));
        assert!(violations(&p, &s).is_empty(), "within rounding");
        p.devices[0].max_latency = Some(latency / 2.0);
        p.max_params = Some(800);
        let v = violations(&p, &s);
        let what: Vec<&str> = v.iter().map(|v| v.what.as_str()).collect();
        assert_eq!(what, ["dev0.latency", "params"]);
        // Latency is twice its limit, params a quarter over theirs.
        assert!((miss_size(&v) - 1.0).abs() < 1e-12);
        assert!(better(&p, 2.0, 1.0));
        p.objective = Objective::MinCost {
            device: "dev0".into(),
            metric: CostMetric::Latency,
            min_accuracy: s.accuracy.value + 0.1,
        };
        assert!(better(&p, 1.0, 2.0));
        assert_eq!(violations(&p, &s).last().unwrap().what, "accuracy");
    }
}
