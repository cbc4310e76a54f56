//! The problem laid out as summed quantities, each stored so that smaller is better.

use super::exchange::Term;
use super::{DeviceModels, Objective, SearchError, SearchProblem};
use crate::features::{Feature, NUM_FEATURES};
use crate::fit::CostMetric;

/// One summed quantity of the search, stored so that smaller is better.
#[derive(Debug, Clone)]
pub(super) enum Quantity {
    /// A linear function of the features, with its optional limit. Only the nonzero weights
    /// are kept, by feature index in order: a model weighs a few of the features, and summing
    /// only those gives the full dot product to the bit, several times faster over the
    /// tables' ten thousand candidates.
    Linear {
        weights: Vec<(usize, f64)>,
        limit: Option<f64>,
        sign: f64,
    },
    /// NN-Degree, times `sign`.
    Degree { sign: f64 },
}

/// A device's cost as a summed quantity.
#[derive(Debug, Clone, Copy)]
pub(super) struct PlannedCost {
    /// Index among the problem's devices.
    pub(super) device: usize,
    pub(super) metric: CostMetric,
    /// Index among the quantities.
    pub(super) key: usize,
}

/// The problem laid out over the grid: which quantities are summed and where each one is.
pub(super) struct Plan {
    pub(super) quantities: Vec<Quantity>,
    /// Each modelled cost that is limited or in the objective, and where it is.
    pub(super) cost_index: Vec<PlannedCost>,
    /// The costs with a front: each limited one and the one minimised; when none is, each
    /// cost of the objective.
    pub(super) front_costs: Vec<PlannedCost>,
    /// The limited costs when exactly two are: the pair has a front of its own.
    pub(super) pair: Option<[PlannedCost; 2]>,
    /// The front costs whose fronts the passes over the last cell search: those the pair's
    /// front does not hold. A point of the front against one of the pair's costs is a point
    /// of the pair's front: a network that beat it there (no worse in both costs and merit,
    /// better in one) would be no worse in that cost and merit, or an equal point. So the
    /// passes search the pair's front alone, and the result takes those fronts from its
    /// points (`score::fronts`).
    searched_fronts: Vec<PlannedCost>,
    pub(super) params: Option<usize>,
    pub(super) exact: bool,
    /// Accuracy's NN-Degree and log-params terms, when it has both and params are not
    /// limited (a limit makes fewer params a condition, not only a trade): see
    /// `exchange_pareto`.
    pub(super) exchange: Option<[Term; 2]>,
}

impl Quantity {
    fn linear(weights: [f64; NUM_FEATURES], limit: Option<f64>, sign: f64) -> Quantity {
        Quantity::Linear {
            weights: (0..NUM_FEATURES)
                .filter(|&i| weights[i] != 0.0)
                .map(|i| (i, weights[i]))
                .collect(),
            limit,
            sign,
        }
    }
}

impl Plan {
    /// Sign of the stored value of quantity `k` relative to its natural value.
    pub(super) fn sign(&self, k: usize) -> f64 {
        match self.quantities[k] {
            Quantity::Linear { sign, .. } | Quantity::Degree { sign } => sign,
        }
    }

    /// The costs whose fronts the passes search, when `fronts` are wanted (see
    /// `searched_fronts`).
    pub(super) fn searched_fronts(&self, fronts: bool) -> &[PlannedCost] {
        if fronts { &self.searched_fronts } else { &[] }
    }

    /// The pair of limited costs with a front against both, when `fronts` are wanted.
    pub(super) fn pair_front(&self, fronts: bool) -> Option<[PlannedCost; 2]> {
        self.pair.filter(|_| fronts)
    }

    /// The stored limit of each quantity.
    pub(super) fn limits(&self) -> Vec<Option<f64>> {
        self.quantities
            .iter()
            .map(|q| match q {
                Quantity::Linear {
                    limit: Some(l),
                    sign,
                    ..
                } if *sign > 0.0 => Some(*l),
                _ => None,
            })
            .collect()
    }

    pub(super) fn degree(&self) -> Option<usize> {
        self.quantities
            .iter()
            .position(|q| matches!(q, Quantity::Degree { .. }))
    }
}

pub(super) const METRICS: [CostMetric; 3] =
    [CostMetric::Latency, CostMetric::Energy, CostMetric::Area];

fn params_weights() -> [f64; NUM_FEATURES] {
    let mut w = [0.0; NUM_FEATURES];
    w[Feature::WeightBytes.index()] = 0.25;
    w
}

fn macs_weights() -> [f64; NUM_FEATURES] {
    let mut w = [0.0; NUM_FEATURES];
    w[Feature::Macs.index()] = 1.0;
    w
}

impl Plan {
    pub(super) fn new(p: &SearchProblem) -> Result<Plan, SearchError> {
        let mut quantities = Vec::new();
        // NN-Degree first: the Pareto filters sort rows by their first quantity, and larger
        // networks have more NN-Degree (stored so that less is better: -g when accuracy grows
        // with it) but more of every cost. Rows kept before a row then mostly have more of the
        // costs, which lets their blocks' least values skip them (see `Lanes::any_at_most`):
        // about half the filters' time.
        let direction = p.accuracy.degree_direction();
        if direction != 0.0 {
            quantities.push(Quantity::Degree { sign: -direction });
        }
        let mut cost_index = Vec::new();
        let objective_metric = |dev: &DeviceModels, m: CostMetric| match &p.objective {
            Objective::MaxAccuracy => false,
            Objective::TradeOff { b, c, d, .. } => {
                let e = match m {
                    CostMetric::Latency => b,
                    CostMetric::Energy => c,
                    CostMetric::Area => d,
                };
                *e != 0.0
            }
            Objective::MinCost { device, metric, .. } => *device == dev.device && *metric == m,
        };
        if let Objective::MinCost { device, .. } = &p.objective
            && !p.devices.iter().any(|d| &d.device == device)
        {
            return Err(SearchError::UnknownDevice(device.clone()));
        }
        if let Objective::TradeOff { a, b, c, d } = p.objective
            && [a, b, c, d].iter().any(|e| !e.is_finite() || *e < 0.0)
        {
            return Err(SearchError::Invalid(
                "trade-off exponents must be finite and non-negative".into(),
            ));
        }
        for (i, dev) in p.devices.iter().enumerate() {
            for m in METRICS {
                let limit = dev.limit(m);
                let in_objective = objective_metric(dev, m);
                let model = dev.model(m);
                match (model, limit.is_some() || in_objective) {
                    (Some(model), true) => {
                        cost_index.push(PlannedCost {
                            device: i,
                            metric: m,
                            key: quantities.len(),
                        });
                        quantities.push(Quantity::linear(model.weights(), limit, 1.0));
                    }
                    (None, true) => {
                        return Err(SearchError::MissingModel {
                            device: dev.device.clone(),
                            metric: m,
                            needed_by: if limit.is_some() {
                                "limit"
                            } else {
                                "objective"
                            },
                        });
                    }
                    _ => {}
                }
            }
        }
        if let Some(m) = p.max_macs {
            quantities.push(Quantity::linear(macs_weights(), Some(m as f64), 1.0));
        }
        let c = p.accuracy.log_params_coefficient();
        let mut exact = true;
        let params = if p.max_params.is_some() || c != 0.0 {
            // More params is better only for an unlimited, params-rewarding accuracy form.
            let sign = if p.max_params.is_none() && c > 0.0 {
                -1.0
            } else {
                exact = !(p.max_params.is_some() && c > 0.0);
                1.0
            };
            quantities.push(Quantity::linear(
                params_weights(),
                p.max_params.map(|m| m as f64),
                sign,
            ));
            Some(quantities.len() - 1)
        } else {
            None
        };
        // When params are rewarded too, larger networks are better in two quantities and the
        // order above no longer pays: costs first, NN-Degree last, is cheaper there.
        let rewarded = direction != 0.0 && params.is_some() && c > 0.0 && p.max_params.is_none();
        let degree_key = if rewarded {
            let last = quantities.len() - 1;
            quantities.rotate_left(1);
            for planned in &mut cost_index {
                planned.key -= 1;
            }
            last
        } else {
            0
        };
        let params = params.map(|k| if rewarded { k - 1 } else { k });
        let co = &p.accuracy.coefficients;
        let exchange = match (params, p.accuracy.form.degree) {
            (Some(kp), Some(t)) if direction != 0.0 && c != 0.0 && p.max_params.is_none() => {
                Some([
                    Term {
                        key: degree_key,
                        sign: -direction,
                        degree: Some(t),
                        coefficient: co[1],
                    },
                    Term {
                        key: kp,
                        sign: if c > 0.0 { -1.0 } else { 1.0 },
                        degree: None,
                        coefficient: c,
                    },
                ])
            }
            _ => None,
        };
        let limited = |c: &&PlannedCost| p.devices[c.device].limit(c.metric).is_some();
        let minimised = |c: &&PlannedCost| {
            matches!(&p.objective, Objective::MinCost { device, metric, .. }
                if *device == p.devices[c.device].device && *metric == c.metric)
        };
        let constrained: Vec<_> = cost_index
            .iter()
            .filter(|c| limited(c) || minimised(c))
            .copied()
            .collect();
        let front_costs = if constrained.is_empty() {
            cost_index.clone()
        } else {
            constrained
        };
        let pair = match cost_index.iter().filter(limited).collect::<Vec<_>>()[..] {
            [a, b] => Some([*a, *b]),
            _ => None,
        };
        let searched_fronts = front_costs
            .iter()
            .filter(|c| pair.is_none_or(|pair| pair.iter().all(|p| p.key != c.key)))
            .copied()
            .collect();
        Ok(Plan {
            quantities,
            cost_index,
            front_costs,
            pair,
            searched_fronts,
            params,
            exact,
            exchange,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{AccuracyForm, AccuracyModel, DegreeTerm, HardwareModel};

    fn model(metric: CostMetric) -> Option<HardwareModel> {
        Some(HardwareModel::new(metric, vec![Feature::Macs], vec![1e-6]).unwrap())
    }

    fn device(name: &str) -> DeviceModels {
        DeviceModels {
            device: name.into(),
            latency: model(CostMetric::Latency),
            energy: model(CostMetric::Energy),
            area: None,
            max_latency: None,
            max_energy: None,
            max_area: None,
        }
    }

    /// `a + b ln g + c ln params`.
    fn problem(c: f64) -> SearchProblem {
        SearchProblem {
            accuracy: AccuracyModel {
                form: AccuracyForm::new(Some(DegreeTerm::Log), true),
                coefficients: vec![0.3, 0.05, c],
                residual_std: 0.01,
                t_quantile: 2.0,
                inverse_gram: vec![0.0; 9],
                fitted_nn_degree: None,
                fitted_params: None,
            },
            devices: vec![device("cpu"), device("gpu")],
            max_params: None,
            max_macs: None,
            objective: Objective::MaxAccuracy,
            confidence: None,
        }
    }

    fn costs(of: &[PlannedCost]) -> Vec<(usize, CostMetric)> {
        of.iter().map(|c| (c.device, c.metric)).collect()
    }

    #[test]
    fn only_a_params_limit_with_a_params_rewarding_form_is_inexact() {
        let mut p = problem(0.02);
        let plan = Plan::new(&p).unwrap();
        assert!(plan.exact);
        // Rewarded and unlimited: more params is better, and traded against NN-Degree.
        assert_eq!(plan.sign(plan.params.unwrap()), -1.0);
        assert!(plan.exchange.is_some());
        p.max_params = Some(1_000_000);
        let plan = Plan::new(&p).unwrap();
        assert!(!plan.exact);
        assert!(plan.exchange.is_none());
        assert_eq!(plan.sign(plan.params.unwrap()), 1.0);
        p.accuracy.coefficients[2] = -0.02;
        assert!(Plan::new(&p).unwrap().exact);
    }

    #[test]
    fn fronts_follow_the_limited_and_minimised_costs_and_the_pair() {
        let mut p = problem(0.0);
        p.objective = Objective::TradeOff {
            a: 1.0,
            b: 1.0,
            c: 0.0,
            d: 0.0,
        };
        // Nothing limited or minimised: a front per cost of the objective.
        let plan = Plan::new(&p).unwrap();
        let latency = CostMetric::Latency;
        assert_eq!(costs(&plan.front_costs), [(0, latency), (1, latency)]);
        assert!(plan.pair.is_none());
        assert_eq!(costs(plan.searched_fronts(true)), costs(&plan.front_costs));
        assert!(plan.searched_fronts(false).is_empty());
        p.devices[1].max_energy = Some(1.0);
        let plan = Plan::new(&p).unwrap();
        assert_eq!(costs(&plan.front_costs), [(1, CostMetric::Energy)]);
        assert!(plan.pair.is_none());
        p.devices[0].max_latency = Some(1.0);
        p.objective = Objective::MinCost {
            device: "gpu".into(),
            metric: latency,
            min_accuracy: 0.5,
        };
        let plan = Plan::new(&p).unwrap();
        assert_eq!(
            costs(&plan.front_costs),
            [(0, latency), (1, latency), (1, CostMetric::Energy)]
        );
        let pair = plan.pair.unwrap();
        assert_eq!(costs(&pair), [(0, latency), (1, CostMetric::Energy)]);
        // The pair's front holds the fronts against its costs: only the other is searched.
        assert_eq!(costs(plan.searched_fronts(true)), [(1, latency)]);
        // Each planned cost's quantity carries its limit.
        for c in &plan.cost_index {
            let Quantity::Linear { limit, .. } = &plan.quantities[c.key] else {
                panic!("a cost is linear");
            };
            assert_eq!(*limit, p.devices[c.device].limit(c.metric));
        }
    }
}
