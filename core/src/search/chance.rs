//! Chance-constrained limits: with a confidence p, each latency, energy and area limit applies
//! to the cost's one-sided upper prediction bound at p rather than to the prediction.
//!
//! A model's bound is its prediction times a factor u > 0 that depends on the model and p only
//! (the interval is relative: see `PredictionInterval::upper_factor`). So `predicted * u <=
//! limit` exactly when `predicted <= limit / u`: the search runs on the same problem with each
//! limit divided by its factor. The summed quantities, their dominance and the bounds that
//! prune are those of a problem without a confidence, only with other limits, so the pruning
//! argument holds as it is and the result is as exact.

use super::plan::METRICS;
use super::{BudgetCheck, Objective, Scored, SearchError, SearchProblem, SearchResult, Violation};
use crate::fit::CostMetric;

/// The upper-bound factor of each limited cost with a model (1 without a confidence).
pub(super) struct Margins {
    /// Device index, metric and factor.
    factors: Vec<(usize, CostMetric, f64)>,
}

impl Margins {
    /// The factors of `problem`'s limited costs; an error for a confidence outside (0, 1) or a
    /// limited cost whose model has no interval. (A limit without a model is left to the plan,
    /// which names it.)
    pub(super) fn of(problem: &SearchProblem) -> Result<Margins, SearchError> {
        let confidence = problem.confidence;
        if let Some(p) = confidence
            && !(p > 0.0 && p < 1.0)
        {
            return Err(SearchError::Invalid(format!(
                "confidence must be in (0, 1), got {p}"
            )));
        }
        let mut factors = Vec::new();
        for (i, d) in problem.devices.iter().enumerate() {
            for m in METRICS {
                let (Some(_), Some(model)) = (d.limit(m), d.model(m)) else {
                    continue;
                };
                let factor = match confidence {
                    None => 1.0,
                    Some(p) => {
                        let interval = model.interval.ok_or_else(|| {
                            SearchError::Invalid(format!(
                                "device {:?}: the {m} model has no prediction interval, which \
                                 a confidence needs (fit the model from measurements)",
                                d.device
                            ))
                        })?;
                        let u = interval.upper_factor(p);
                        if !(u > 0.0 && u.is_finite()) {
                            return Err(SearchError::Invalid(format!(
                                "device {:?}: the {m} model's prediction interval gives no \
                                 finite bound",
                                d.device
                            )));
                        }
                        u
                    }
                };
                factors.push((i, m, factor));
            }
        }
        Ok(Margins { factors })
    }

    /// Whether some limit is moved (with a confidence and at least one limited cost).
    pub(super) fn any(&self) -> bool {
        self.factors.iter().any(|f| f.2 != 1.0)
    }

    /// The problem the exact search is given: each limited cost's limit divided by its factor
    /// (see the module comment for why this keeps the search exact).
    pub(super) fn tightened(&self, problem: &SearchProblem) -> SearchProblem {
        let mut p = SearchProblem {
            confidence: None,
            ..problem.clone()
        };
        for &(i, m, u) in &self.factors {
            let d = &mut p.devices[i];
            let limit = match m {
                CostMetric::Latency => &mut d.max_latency,
                CostMetric::Energy => &mut d.max_energy,
                CostMetric::Area => &mut d.max_area,
            };
            *limit = limit.map(|l| l / u);
        }
        p
    }

    /// A closest miss's violations of tightened limits, restated as the bound against the
    /// limit (the same relative miss).
    pub(super) fn restate(&self, problem: &SearchProblem, violations: &mut [Violation]) {
        for &(i, m, u) in &self.factors {
            let d = &problem.devices[i];
            let what = format!("{}.{}", d.device, <&str>::from(m));
            for v in violations.iter_mut().filter(|v| v.what == what) {
                v.value *= u;
                v.limit = d.limit(m).expect("a factor is of a limited cost");
            }
        }
    }

    /// Each limited cost of `best` against its limit.
    pub(super) fn checks(&self, problem: &SearchProblem, best: &Scored) -> Vec<BudgetCheck> {
        self.factors
            .iter()
            .filter_map(|&(i, m, u)| {
                let d = &problem.devices[i];
                let cost = best
                    .costs
                    .iter()
                    .find(|c| c.device == d.device && c.metric == m)?;
                Some(BudgetCheck {
                    device: d.device.clone(),
                    metric: m,
                    predicted: cost.value,
                    bound: cost.value * u,
                    limit: d.limit(m)?,
                    margin_factor: u,
                })
            })
            .collect()
    }
}

/// Predicted accuracy and objective `with` the margins gives up against the search `without`
/// them: both `None` unless both found a best.
pub(super) fn given_up(
    problem: &SearchProblem,
    with: &SearchResult,
    without: &SearchResult,
) -> (Option<f64>, Option<f64>) {
    match (&with.best, &without.best) {
        (Some(w), Some(o)) => {
            let objective = match problem.objective {
                Objective::MinCost { .. } => w.objective - o.objective,
                _ => o.objective - w.objective,
            };
            (Some(o.accuracy.value - w.accuracy.value), Some(objective))
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::search::oracle::{
        all_specs, bound_and_limit, feasible, problem, small_space, with_intervals,
    };
    use crate::search::score::{better, score};
    use crate::search::search;
    use crate::space::Space;

    #[test]
    fn winners_meet_their_limits_with_their_bounds_as_brute_force_finds() {
        let mut r = SplitMix64::new(44);
        let (mut met, mut infeasible, mut margins, mut gave_up) = (0, 0, 0, 0);
        for case in 0..100 {
            let space = small_space(&mut r);
            let specs = all_specs(&space);
            let mut p = problem(&mut r, &specs);
            // A params limit with a params-rewarding form is inexact (see `oracle`).
            p.max_params = None;
            with_intervals(&mut r, &mut p);
            let result = search(&space, &p).unwrap();
            assert_eq!(result.confidence, p.confidence);
            let brute: Vec<Scored> = specs.iter().map(|s| score(&p, s)).collect();
            let plain = SearchProblem {
                confidence: None,
                ..p.clone()
            };
            let [optimum, plain_optimum] = [&p, &plain].map(|q| {
                brute
                    .iter()
                    .filter(|s| feasible(q, s))
                    .map(|s| s.objective)
                    .reduce(|a, b| if better(&p, a, b) { a } else { b })
            });
            match (optimum, &result.best) {
                (None, None) => {
                    infeasible += 1;
                    let miss = result.closest_miss.as_ref().expect("a closest miss");
                    for c in &miss.architecture.costs {
                        let (bound, limit) = bound_and_limit(&p, &c.device, c.metric, c.value);
                        let what = format!("{}.{}", c.device, <&str>::from(c.metric));
                        if let Some(v) = miss.violations.iter().find(|v| v.what == what) {
                            assert!((v.value - bound).abs() <= 1e-9 * bound, "case {case}");
                            assert_eq!(v.limit, limit, "case {case}");
                        }
                    }
                    assert!(result.budget_checks.is_empty());
                }
                (Some(o), Some(b)) => {
                    met += 1;
                    assert!(
                        (o - b.objective).abs() <= 1e-9 * o.abs().max(1e-12),
                        "case {case}: {o} vs {}",
                        b.objective
                    );
                    let limited = p
                        .devices
                        .iter()
                        .flat_map(|d| METRICS.iter().filter(|m| d.limit(**m).is_some()))
                        .count();
                    assert_eq!(result.budget_checks.len(), limited, "case {case}");
                    for check in &result.budget_checks {
                        let (bound, limit) =
                            bound_and_limit(&p, &check.device, check.metric, check.predicted);
                        assert!((check.bound - bound).abs() <= 1e-12 * bound);
                        assert_eq!(check.limit, limit);
                        assert!(check.bound <= check.limit * (1.0 + 1e-9), "case {case}");
                        margins += usize::from(check.margin_factor > 1.0);
                    }
                    // What the margins cost: the brute-force optimum without them against
                    // the one with them (the objective is the accuracy for maximum accuracy).
                    let tol = 1e-9 * b.objective.abs().max(1e-12);
                    let given_up = plain_optimum.map(|plain| match p.objective {
                        Objective::MinCost { .. } => o - plain,
                        _ => plain - o,
                    });
                    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                        (Some(a), Some(b)) => (a - b).abs() <= tol,
                        (a, b) => a == b,
                    };
                    assert!(
                        close(result.objective_given_up, given_up),
                        "case {case}: {:?} vs {given_up:?}",
                        result.objective_given_up
                    );
                    if matches!(p.objective, Objective::MaxAccuracy) {
                        assert!(close(result.accuracy_given_up, given_up), "case {case}");
                    }
                    gave_up += usize::from(given_up.is_some_and(|g| g > tol));
                }
                (o, b) => panic!(
                    "case {case}: brute force {o:?}, search {:?}",
                    b.as_ref().map(|b| b.objective)
                ),
            }
        }
        assert!(
            met > 50 && infeasible > 4 && margins > 30 && gave_up > 5,
            "{met} {infeasible} {margins} {gave_up}"
        );
    }

    #[test]
    fn confidences_outside_the_unit_interval_and_missing_intervals_are_errors() {
        let mut r = SplitMix64::new(45);
        let space = Space::default_space();
        let mut p = problem(&mut r, &space.sample_uniform(200, 1));
        p.devices[0].max_latency = Some(1e9);
        for bad in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            p.confidence = Some(bad);
            match search(space, &p) {
                Err(SearchError::Invalid(m)) => assert!(m.contains("confidence"), "{m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        // The oracle's models have no interval.
        p.confidence = Some(0.95);
        match search(space, &p) {
            Err(SearchError::Invalid(m)) => {
                assert!(m.contains("\"dev0\"") && m.contains("latency"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_a_confidence_bounds_are_the_predictions_and_nothing_is_given_up() {
        let mut r = SplitMix64::new(46);
        let space = small_space(&mut r);
        let specs = all_specs(&space);
        let mut p = problem(&mut r, &specs);
        p.objective = Objective::MaxAccuracy;
        p.max_params = None;
        for d in &mut p.devices {
            (d.max_latency, d.max_energy, d.max_area) = (Some(1e9), None, None);
        }
        let result = search(&space, &p).unwrap();
        let best = result.best.as_ref().unwrap();
        assert_eq!(result.budget_checks.len(), p.devices.len());
        for check in &result.budget_checks {
            assert_eq!((check.bound, check.margin_factor), (check.predicted, 1.0));
            let cost = best
                .costs
                .iter()
                .find(|c| c.device == check.device && c.metric == check.metric)
                .unwrap();
            assert_eq!(check.predicted, cost.value);
        }
        assert_eq!(result.confidence, None);
        assert_eq!(result.accuracy_given_up, None);
        assert_eq!(result.objective_given_up, None);
        // No limited cost: a confidence needs no interval and gives nothing up.
        for d in &mut p.devices {
            d.max_latency = None;
        }
        p.confidence = Some(0.9);
        let result = search(&space, &p).unwrap();
        assert!(result.budget_checks.is_empty());
        assert_eq!(result.accuracy_given_up, Some(0.0));
    }

    #[test]
    fn stored_problems_and_results_without_the_new_fields_still_decode() {
        let mut r = SplitMix64::new(47);
        let space = small_space(&mut r);
        let p = problem(&mut r, &all_specs(&space));
        let result = search(&space, &p).unwrap();
        let strip = |v: serde_json::Value, keys: &[&str]| {
            let mut v = v;
            for k in keys {
                v.as_object_mut().unwrap().remove(*k);
            }
            v
        };
        let old = strip(serde_json::to_value(&p).unwrap(), &["confidence"]);
        assert_eq!(serde_json::from_value::<SearchProblem>(old).unwrap(), p);
        let new_fields = [
            "confidence",
            "budget_checks",
            "accuracy_given_up",
            "objective_given_up",
        ];
        let old = strip(serde_json::to_value(&result).unwrap(), &new_fields);
        let back: SearchResult = serde_json::from_value(old).unwrap();
        assert_eq!((back.best, back.budget_checks), (result.best, vec![]));
    }
}
