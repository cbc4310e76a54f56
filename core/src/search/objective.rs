//! The objective as a function of the stored quantities, and the bounds on it.

use super::ln_bounds::LnBounds;
use super::plan::{METRICS, Plan};
use super::score::accuracy_floor;
use super::{Objective, SearchProblem};
use crate::fit::{CostMetric, DegreeTerm};

/// FLASH's trade-off in logarithms, `a ln(accuracy) - sum e ln(cost)`, from each cost's exponent
/// and logarithm. The one formula behind the scores and every bound of the search: given lower
/// bounds of the logarithms and an upper bound of accuracy, it is an upper bound. An accuracy at
/// or below zero leaves the trade-off undefined, the worst value: `-inf`.
pub(super) fn log_trade_off(
    a: f64,
    accuracy: f64,
    log_costs: impl IntoIterator<Item = (f64, f64)>,
) -> f64 {
    if accuracy > 0.0 {
        let mut v = a * accuracy.ln();
        for (e, log_cost) in log_costs {
            v -= e * log_cost;
        }
        v
    } else {
        f64::NEG_INFINITY
    }
}

/// The logarithm of a cost for `log_trade_off`: at a network (`point`) the logarithm, as the low
/// end of a range a lower bound of it (see `LnBounds`). A cost at or below zero (or NaN) has
/// none: at a network it leaves the trade-off undefined (`+inf`, so the trade-off is `-inf`); as
/// the low end of a range, `-inf` is the lower bound.
pub(super) fn log_cost(cost: f64, point: bool) -> f64 {
    if cost > 0.0 {
        if point {
            cost.ln()
        } else {
            LnBounds::get().below(cost)
        }
    } else if point {
        f64::INFINITY
    } else {
        f64::NEG_INFINITY
    }
}

/// The objective as a function of the stored quantities (larger is better).
pub(super) struct Value {
    pub(super) kind: ValueKind,
    /// The accuracy floor, up to rounding (`accuracy_floor`).
    pub(super) min_accuracy: Option<f64>,
    /// Where the merit is minus a stored NN-Degree (accuracy depends on nothing else).
    pub(super) merit_degree: Option<usize>,
    /// Accuracy's terms with their coefficients, looked up once: `accuracy` runs a few
    /// hundred thousand times a search.
    terms: Terms,
}

/// Accuracy's intercept, and its NN-Degree and params terms where it has them, with their
/// coefficients.
#[derive(Clone, Copy)]
struct Terms {
    intercept: f64,
    degree: Option<(Stored, DegreeTerm, f64)>,
    params: Option<(StoredParams, f64)>,
}

/// Where a quantity is among the stored ones, and the sign from stored to natural value.
#[derive(Clone, Copy)]
struct Stored {
    key: usize,
    sign: f64,
}

/// Where params are among the stored quantities, and whether accuracy grows with the stored
/// value.
#[derive(Clone, Copy)]
struct StoredParams {
    key: usize,
    sign: f64,
    grows: bool,
}

/// A cost of the trade-off: its quantity and its exponent.
pub(super) struct TradeOffCost {
    key: usize,
    exponent: f64,
}

/// A linear lower bound of `ln(cost)` over a range of the cost.
#[derive(Clone, Copy)]
pub(super) struct Chord {
    intercept: f64,
    slope: f64,
}

impl Chord {
    fn at(&self, cost: f64) -> f64 {
        self.intercept + self.slope * cost
    }
}

pub(super) enum ValueKind {
    Accuracy,
    /// `a ln(accuracy) - sum e ln(cost)`.
    TradeOff {
        a: f64,
        costs: Vec<TradeOffCost>,
    },
    /// Minus the cost at this quantity.
    MinCost(usize),
}

impl Value {
    pub(super) fn new(plan: &Plan, problem: &SearchProblem) -> Self {
        let c = problem.accuracy.log_params_coefficient();
        let index = |dev: &str, m: CostMetric| {
            plan.cost_index
                .iter()
                .find(|c| problem.devices[c.device].device == dev && c.metric == m)
                .map(|c| c.key)
        };
        let (kind, min_accuracy) = match &problem.objective {
            Objective::MaxAccuracy => (ValueKind::Accuracy, None),
            Objective::TradeOff { a, b, c, d } => {
                let mut costs = Vec::new();
                for dev in &problem.devices {
                    for (m, e) in METRICS.iter().zip([b, c, d]) {
                        if *e != 0.0 {
                            costs.push(TradeOffCost {
                                key: index(&dev.device, *m).expect("planned"),
                                exponent: *e,
                            });
                        }
                    }
                }
                (ValueKind::TradeOff { a: *a, costs }, None)
            }
            Objective::MinCost {
                device,
                metric,
                min_accuracy,
            } => (
                ValueKind::MinCost(index(device, *metric).expect("planned")),
                Some(accuracy_floor(*min_accuracy)),
            ),
        };
        let degree = plan.degree().map(|key| Stored {
            key,
            sign: plan.sign(key),
        });
        let params = plan.params.filter(|_| c != 0.0).map(|key| StoredParams {
            key,
            sign: plan.sign(key),
            grows: plan.sign(key) * c > 0.0,
        });
        let co = &problem.accuracy.coefficients;
        let terms = Terms {
            intercept: co[0],
            degree: degree
                .zip(problem.accuracy.form.degree)
                .map(|(d, t)| (d, t, co[1])),
            params: params.map(|p| (p, co[co.len() - 1])),
        };
        Value {
            terms,
            merit_degree: terms
                .degree
                .filter(|_| params.is_none())
                .map(|(d, ..)| d.key),
            kind,
            min_accuracy,
        }
    }

    /// The quantities accuracy depends on.
    pub(super) fn accuracy_keys(&self) -> Vec<usize> {
        let terms = &self.terms;
        terms
            .degree
            .map(|(d, ..)| d.key)
            .into_iter()
            .chain(terms.params.map(|(p, _)| p.key))
            .collect()
    }

    /// The quantity accuracy varies most with, NN-Degree or params, over the networks whose
    /// stored values lie between `lo` and `hi`; none when accuracy depends on neither.
    pub(super) fn leading_key(&self, lo: &[f64], hi: &[f64]) -> Option<usize> {
        let spread = |term: &dyn Fn(f64) -> f64, key: usize, sign: f64| {
            (term(hi[key] * sign) - term(lo[key] * sign)).abs()
        };
        let terms = &self.terms;
        let degree = terms
            .degree
            .map(|(d, t, b)| (d.key, spread(&|g| b * t.apply(g), d.key, d.sign)));
        let params = terms
            .params
            .map(|(p, c)| (p.key, spread(&|n| c * n.ln(), p.key, p.sign)));
        degree
            .into_iter()
            .chain(params)
            .filter(|(_, s)| !s.is_nan())
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k)
    }

    /// The quantities the objective depends on besides accuracy.
    pub(super) fn objective_keys(&self) -> Vec<usize> {
        match &self.kind {
            ValueKind::Accuracy => Vec::new(),
            ValueKind::TradeOff { costs, .. } => costs.iter().map(|c| c.key).collect(),
            ValueKind::MinCost(k) => vec![*k],
        }
    }

    /// Linear lower bounds of `ln(cost)` for each trade-off cost between `lo` and `hi` (chords
    /// of the concave logarithm); none where a cost may reach zero.
    pub(super) fn chords(&self, lo: &[f64], hi: &[f64]) -> Vec<Option<Chord>> {
        let ValueKind::TradeOff { costs, .. } = &self.kind else {
            return Vec::new();
        };
        costs
            .iter()
            .map(|&TradeOffCost { key: k, .. }| {
                (lo[k] > 0.0).then(|| {
                    let slope = if hi[k] > lo[k] {
                        (hi[k].ln() - lo[k].ln()) / (hi[k] - lo[k])
                    } else {
                        0.0
                    };
                    Chord {
                        intercept: lo[k].ln() - slope * lo[k],
                        slope,
                    }
                })
            })
            .collect()
    }

    /// An upper bound of the trade-off at `q` with accuracy `acc`, needing one logarithm
    /// instead of one per cost.
    pub(super) fn chord_bound(&self, acc: f64, chords: &[Option<Chord>], q: &[f64]) -> f64 {
        let ValueKind::TradeOff { a, costs } = &self.kind else {
            return f64::INFINITY;
        };
        // A cost that may reach zero has no chord: ln(0) = -inf bounds its logarithm.
        let log_costs = costs.iter().zip(chords).map(|(c, chord)| {
            let log_cost = chord.map_or(f64::NEG_INFINITY, |chord| chord.at(q[c.key]));
            (c.exponent, log_cost)
        });
        log_trade_off(*a, acc, log_costs)
    }

    /// An upper bound, over the quantity vectors between `lo` and `hi`, of a merit that orders
    /// networks as accuracy does (exact when `lo` is `hi`): the NN-Degree term's argument, with
    /// no logarithm, when accuracy depends on NN-Degree alone; accuracy itself otherwise
    /// (`accuracy`: its bound over the same vectors, when it is known).
    pub(super) fn merit_with(&self, lo: &[f64], hi: &[f64], accuracy: Option<f64>) -> f64 {
        match self.merit_degree {
            Some(k) => -lo[k],
            None => accuracy.unwrap_or_else(|| self.accuracy(lo, hi)),
        }
    }

    /// Whether `accuracy` (and so every bound of the passes but the trade-off's chords, taken
    /// over runs) reads the upper ends of a box: only params that accuracy grows with.
    pub(super) fn reads_upper(&self) -> bool {
        self.terms.params.is_some_and(|(p, _)| p.grows)
    }

    /// Upper bound of accuracy over the quantity vectors between `lo` and `hi`. Its logarithms
    /// are bounds (`LnBounds`), a little above the accuracy even where `lo` is `hi`: a
    /// network's own accuracy is `accuracy_at`.
    pub(super) fn accuracy(&self, lo: &[f64], hi: &[f64]) -> f64 {
        let terms = &self.terms;
        let ln = LnBounds::get();
        // The logarithm's bound in the direction that bounds `coefficient * ln x` above.
        let ln_term = |coefficient: f64, x: f64| {
            coefficient
                * if coefficient >= 0.0 {
                    ln.above(x)
                } else {
                    ln.below(x)
                }
        };
        let mut acc = terms.intercept;
        if let Some((d, t, b)) = terms.degree {
            // Stored so that smaller is better.
            let g = lo[d.key] * d.sign;
            acc += match t {
                DegreeTerm::Log => ln_term(b, g),
                _ => b * t.apply(g),
            };
        }
        if let Some((p, c)) = terms.params {
            let stored = if p.grows { hi[p.key] } else { lo[p.key] };
            acc += ln_term(c, stored * p.sign);
        }
        acc
    }

    /// The accuracy of the network of values `q`.
    pub(super) fn accuracy_at(&self, q: &[f64]) -> f64 {
        let terms = &self.terms;
        let mut acc = terms.intercept;
        if let Some((d, t, b)) = terms.degree {
            acc += b * t.apply(q[d.key] * d.sign);
        }
        if let Some((p, c)) = terms.params {
            acc += c * (q[p.key] * p.sign).ln();
        }
        acc
    }

    /// Upper bound of the objective over all quantity vectors between `lo` and `hi`.
    pub(super) fn bound(&self, lo: &[f64], hi: &[f64]) -> f64 {
        self.objective(self.accuracy(lo, hi), lo, false)
    }

    /// The objective with accuracy `acc` and costs `lo`: an upper bound over costs from `lo`
    /// on, or the exact value at `lo` when `point`.
    pub(super) fn objective(&self, acc: f64, lo: &[f64], point: bool) -> f64 {
        match &self.kind {
            ValueKind::Accuracy => acc,
            ValueKind::TradeOff { a, costs } => {
                let log_costs = costs
                    .iter()
                    .map(|c| (c.exponent, log_cost(lo[c.key], point)));
                log_trade_off(*a, acc, log_costs)
            }
            ValueKind::MinCost(k) => -lo[*k],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::search::oracle::{problem, random_spec, small_space, stored, unit};
    use crate::search::score::score;
    use crate::space::ArchSpec;

    #[test]
    fn log_trade_off_is_the_trade_off_in_logs() {
        let mut r = SplitMix64::new(11);
        for _ in 0..200 {
            let a = 4.0 * unit(&mut r);
            let acc = unit(&mut r) + 0.01;
            let costs: Vec<(f64, f64)> = (0..1 + r.below(4))
                .map(|_| (unit(&mut r), 0.1 + 100.0 * unit(&mut r)))
                .collect();
            let log_costs = costs.iter().map(|&(e, c)| (e, log_cost(c, true)));
            let direct = acc.powf(a) / costs.iter().map(|&(e, c)| c.powf(e)).product::<f64>();
            let v = log_trade_off(a, acc, log_costs).exp();
            assert!((v - direct).abs() <= 1e-12 * direct, "{v} vs {direct}");
        }
        // Undefined where accuracy or a cost at a network is not positive; a range reaching
        // zero cost bounds nothing.
        for acc in [0.0, -0.5, f64::NAN] {
            assert_eq!(
                log_trade_off(1.0, acc, [(1.0, f64::NEG_INFINITY)]),
                f64::NEG_INFINITY
            );
        }
        for cost in [0.0, -1.0, f64::NAN] {
            assert_eq!(
                log_trade_off(1.0, 0.9, [(0.5, log_cost(cost, true))]),
                f64::NEG_INFINITY
            );
            assert_eq!(
                log_trade_off(1.0, 0.9, [(0.5, log_cost(cost, false))]),
                f64::INFINITY
            );
        }
    }

    /// Blocks follow the term accuracy varies most with over the networks' range: params for a
    /// form whose NN-Degree term is nearly flat (as the digits' linear fit), NN-Degree for one
    /// whose params term is (as the logarithmic fit), and the only one where there is one.
    #[test]
    fn the_leading_quantity_is_the_term_with_the_larger_spread() {
        use crate::fit::{AccuracyForm, AccuracyModel, DegreeTerm};
        use crate::search::tables::column;
        let mut r = SplitMix64::new(13);
        let space = small_space(&mut r);
        let sample: Vec<ArchSpec> = (0..100).map(|_| random_spec(&mut r, &space)).collect();
        let mut p = problem(&mut r, &sample);
        p.max_params = None;
        let leading = |p: &SearchProblem, degree: Option<DegreeTerm>, co: Vec<f64>| {
            let params = co.len() == 3 || degree.is_none();
            let n = co.len();
            let mut p = p.clone();
            p.accuracy = AccuracyModel {
                form: AccuracyForm::new(degree, params),
                coefficients: co,
                residual_std: 0.01,
                t_quantile: 2.0,
                inverse_gram: vec![0.0; n * n],
                fitted_nn_degree: None,
                fitted_params: None,
            };
            let plan = Plan::new(&p).unwrap();
            let rows: Vec<Vec<f64>> = sample.iter().map(|s| stored(&plan, s)).collect();
            let d = rows[0].len();
            let [lo, hi] = [false, true].map(|max| column(rows.iter().map(Vec::as_slice), d, max));
            let key = Value::new(&plan, &p).leading_key(&lo, &hi);
            (key, plan.degree(), plan.params)
        };
        let (key, degree, params) = leading(&p, Some(DegreeTerm::Linear), vec![0.9, 1e-9, 0.005]);
        assert_eq!(key, params);
        assert!(degree.is_some());
        let (key, degree, _) = leading(&p, Some(DegreeTerm::Log), vec![0.9, 0.02, -1e-6]);
        assert_eq!(key, degree);
        let (key, degree, _) = leading(&p, Some(DegreeTerm::Reciprocal), vec![0.9, -4.0]);
        assert_eq!(key, degree);
        let (key, _, params) = leading(&p, None, vec![0.9, 0.005]);
        assert_eq!(key, params);
    }

    /// On random grids and problems of each kind: accuracy and objective at a network are the
    /// scored ones, and over any group of networks the bounds (the box's, and the chords') are
    /// never below a network's value.
    #[test]
    fn bounds_hold_over_every_box_and_points_match_the_scores() {
        let mut r = SplitMix64::new(12);
        let mut boxes = 0;
        for case in 0..60 {
            let space = small_space(&mut r);
            let sample: Vec<ArchSpec> = (0..200).map(|_| random_spec(&mut r, &space)).collect();
            let mut p = problem(&mut r, &sample);
            if case % 2 == 0 {
                p.objective = Objective::TradeOff {
                    a: 1.0 + 3.0 * unit(&mut r),
                    b: unit(&mut r),
                    c: unit(&mut r),
                    d: 0.0,
                };
            }
            let plan = Plan::new(&p).unwrap();
            let value = Value::new(&plan, &p);
            let rows: Vec<Vec<f64>> = sample.iter().map(|s| stored(&plan, s)).collect();
            for (spec, q) in sample.iter().zip(&rows) {
                let scored = score(&p, spec);
                let acc = value.accuracy_at(q);
                assert!((acc - scored.accuracy.value).abs() <= 1e-9, "case {case}");
                let objective = value.objective(acc, q, true);
                let expected = match p.objective {
                    Objective::TradeOff { .. } => scored.objective.ln(),
                    Objective::MinCost { .. } => -scored.objective,
                    Objective::MaxAccuracy => scored.objective,
                };
                assert!(
                    objective == expected
                        || (objective - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                    "case {case}: {objective} vs {expected}"
                );
            }
            for _ in 0..20 {
                let group: Vec<&Vec<f64>> = (0..2 + r.below(6))
                    .map(|_| &rows[r.below(rows.len() as u64) as usize])
                    .collect();
                let (mut lo, mut hi) = (group[0].clone(), group[0].clone());
                for q in &group {
                    for k in 0..q.len() {
                        lo[k] = lo[k].min(q[k]);
                        hi[k] = hi[k].max(q[k]);
                    }
                }
                let chords = value.chords(&lo, &hi);
                let bound = value.bound(&lo, &hi);
                for q in group {
                    let acc = value.accuracy_at(q);
                    let objective = value.objective(acc, q, true);
                    let slack = 1e-12 * objective.abs().max(1.0);
                    assert!(value.accuracy(&lo, &hi) >= acc - 1e-12, "case {case}");
                    assert!(bound >= objective - slack, "case {case}");
                    assert!(
                        value.chord_bound(acc, &chords, q) >= objective - slack,
                        "case {case}"
                    );
                }
                boxes += 1;
            }
        }
        assert_eq!(boxes, 1200);
    }
}
