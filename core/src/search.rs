//! Exact co-design search over a grid-shaped cell space.
//!
//! Every hardware cost, params and MACs is a linear function of the feature vector, which is a
//! head term plus one term per cell (see `features`); NN-Degree is a sum over cells too. A cell's
//! term depends on the previous cell's width only through its first convolution, so it splits
//! into a part that depends on the cell alone and a coupling that depends on the pair of widths.
//! Every predicted accuracy form is monotone in NN-Degree and in params, and every objective is
//! monotone in accuracy and in each cost. So a partial network (cells 0..=c) can be dropped when
//! another with the same last width is no worse in every summed quantity: whatever cells follow,
//! the other one's completion is at least as good and as feasible. The search keeps, per cell
//! and per last width, only the non-dominated partial networks (dynamic programming over cells),
//! drops those that cannot meet a limit even with the cheapest remaining cells, and evaluates
//! the objective on the survivors. The result is the optimum of the whole grid, not a sample.
//!
//! The last cell needs no merge: a complete network only matters if it is the optimum or on a
//! front. Each (network before the last cell, last width) entry is bounded by the best
//! per-quantity values of that width's candidates and skipped when it can neither beat the
//! incumbent nor enter a front; the fronts are kept as staircases, and the trade-off objective
//! is first bounded with chords of the logarithm so most networks cost one logarithm.
//!
//! One case defeats the dominance argument: a params limit together with an accuracy form that
//! rewards params (positive log-params coefficient). Then params are pruned as a cost and the
//! result says `exact: false` with a bound on the accuracy it may have missed.

use serde::{Deserialize, Serialize};

use crate::features::{Feature, Layout, NUM_FEATURES, cell_nn_degree};
use crate::fit::{AccuracyModel, CostMetric, HardwareModel, Interval};
use crate::space::{ArchSpec, CellSpec, Space};

/// The models and limits of one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceModels {
    pub device: String,
    #[serde(default)]
    pub latency: Option<HardwareModel>,
    #[serde(default)]
    pub energy: Option<HardwareModel>,
    #[serde(default)]
    pub area: Option<HardwareModel>,
    /// Latency limit, ms.
    #[serde(default)]
    pub max_latency: Option<f64>,
    /// Energy limit, mJ.
    #[serde(default)]
    pub max_energy: Option<f64>,
    /// Area limit, mm^2.
    #[serde(default)]
    pub max_area: Option<f64>,
}

impl DeviceModels {
    fn model(&self, metric: CostMetric) -> Option<&HardwareModel> {
        match metric {
            CostMetric::Latency => self.latency.as_ref(),
            CostMetric::Energy => self.energy.as_ref(),
            CostMetric::Area => self.area.as_ref(),
        }
    }

    fn limit(&self, metric: CostMetric) -> Option<f64> {
        match metric {
            CostMetric::Latency => self.max_latency,
            CostMetric::Energy => self.max_energy,
            CostMetric::Area => self.max_area,
        }
    }
}

/// What to optimise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Objective {
    /// Maximise predicted accuracy.
    MaxAccuracy,
    /// FLASH's trade-off: maximise `accuracy^a / prod over devices (latency^b energy^c area^d)`.
    TradeOff { a: f64, b: f64, c: f64, d: f64 },
    /// Minimise one device's cost subject to predicted accuracy >= `min_accuracy`.
    MinCost {
        device: String,
        metric: CostMetric,
        min_accuracy: f64,
    },
}

/// A search request in core terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchProblem {
    pub accuracy: AccuracyModel,
    pub devices: Vec<DeviceModels>,
    #[serde(default)]
    pub max_params: Option<u64>,
    #[serde(default)]
    pub max_macs: Option<u64>,
    pub objective: Objective,
}

/// Why a problem cannot be searched.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    #[error("device {device:?} has no {metric:?} model, which the {needed_by} needs")]
    MissingModel {
        device: String,
        metric: CostMetric,
        needed_by: &'static str,
    },
    #[error("the objective names device {0:?}, which is not among the devices")]
    UnknownDevice(String),
    #[error("invalid problem: {0}")]
    Invalid(String),
}

/// One predicted cost of an architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cost {
    pub device: String,
    pub metric: CostMetric,
    pub value: f64,
}

/// An architecture with everything predicted for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scored {
    pub id: String,
    pub spec: ArchSpec,
    pub accuracy: Interval,
    pub nn_degree: f64,
    pub params: u64,
    pub macs: u64,
    /// Every modelled cost of every device.
    pub costs: Vec<Cost>,
    /// The objective's value (accuracy, trade-off score, or the minimised cost).
    pub objective: f64,
}

/// A limit and how far an architecture is from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Violation {
    /// `device.latency`, `params`, `accuracy`, ...
    pub what: String,
    pub value: f64,
    pub limit: f64,
}

/// The architecture that comes closest to meeting every limit (smallest largest relative
/// violation) when none meets them all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClosestMiss {
    pub architecture: Scored,
    pub violations: Vec<Violation>,
}

/// Non-dominated feasible architectures: predicted accuracy against one cost, or two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParetoFront {
    /// The costs, as `device.metric`.
    pub against: Vec<String>,
    /// Ordered by the first cost, ascending.
    pub points: Vec<Scored>,
}

/// How much work pruning saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchStats {
    /// Per cell: candidates (width, depth, tc) left after dominance pruning, of `cell_choices`.
    pub cell_candidates: Vec<usize>,
    pub cell_choices: u64,
    /// Per cell before the last: partial networks kept after pruning; for the last cell,
    /// complete networks evaluated after bound pruning.
    pub states: Vec<usize>,
    /// Complete networks kept as the optimum or front points and scored in full.
    pub final_states: usize,
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResult {
    /// The optimum; `None` when no architecture meets the limits.
    pub best: Option<Scored>,
    /// Present when `best` is `None`.
    pub closest_miss: Option<ClosestMiss>,
    /// Accuracy against each limited or optimised cost, and against the pair when exactly two
    /// costs are limited.
    pub fronts: Vec<ParetoFront>,
    /// Configurations the result covers: the whole grid.
    pub configurations: u64,
    /// Whether `best` is provably optimal under the models.
    pub exact: bool,
    /// When not exact: how much predicted accuracy the result may miss, at most.
    pub accuracy_gap_bound: Option<f64>,
    pub elapsed_ms: f64,
    pub stats: SearchStats,
}

/// One summed quantity of the search, stored so that smaller is better.
#[derive(Debug, Clone)]
enum Quantity {
    /// A linear function of the features, with its optional limit.
    Linear {
        weights: [f64; NUM_FEATURES],
        limit: Option<f64>,
        sign: f64,
    },
    /// NN-Degree, times `sign`.
    Degree { sign: f64 },
}

/// The problem laid out over the grid: which quantities are summed and where each one is.
struct Plan {
    quantities: Vec<Quantity>,
    /// Index of each (device, metric) cost among the quantities.
    cost_index: Vec<(usize, CostMetric, usize)>,
    params: Option<usize>,
    exact: bool,
}

impl Plan {
    /// Sign of the stored value of quantity `k` relative to its natural value.
    fn sign(&self, k: usize) -> f64 {
        match self.quantities[k] {
            Quantity::Linear { sign, .. } | Quantity::Degree { sign } => sign,
        }
    }

    fn degree(&self) -> Option<usize> {
        self.quantities
            .iter()
            .position(|q| matches!(q, Quantity::Degree { .. }))
    }
}

const METRICS: [CostMetric; 3] = [CostMetric::Latency, CostMetric::Energy, CostMetric::Area];

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
    fn new(p: &SearchProblem) -> Result<Plan, SearchError> {
        let mut quantities = Vec::new();
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
                        cost_index.push((i, m, quantities.len()));
                        quantities.push(Quantity::Linear {
                            weights: model.weights(),
                            limit,
                            sign: 1.0,
                        });
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
            quantities.push(Quantity::Linear {
                weights: macs_weights(),
                limit: Some(m as f64),
                sign: 1.0,
            });
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
            quantities.push(Quantity::Linear {
                weights: params_weights(),
                limit: p.max_params.map(|m| m as f64),
                sign,
            });
            Some(quantities.len() - 1)
        } else {
            None
        };
        let direction = p.accuracy.degree_direction();
        if direction != 0.0 {
            quantities.push(Quantity::Degree { sign: -direction });
        }
        Ok(Plan {
            quantities,
            cost_index,
            params,
            exact,
        })
    }
}

/// Per-cell candidate values and couplings.
struct CellTable {
    /// Candidate grid indices of this cell surviving pruning, grouped by width index.
    groups: Vec<Vec<u32>>,
    /// Quantity values of every grid candidate at a zero-channel input (row-major, `dims`).
    values: Vec<f64>,
    /// Coupling of (previous width index, width index), `dims` each; for cell 0 only row 0.
    coupling: Vec<f64>,
}

/// Values of all quantities for a feature vector and NN-Degree.
fn eval(q: &[Quantity], x: &crate::features::FeatureVector, degree: f64, out: &mut [f64]) {
    for (o, q) in out.iter_mut().zip(q) {
        *o = match q {
            Quantity::Linear { weights, sign, .. } => sign * x.dot(weights),
            Quantity::Degree { sign } => sign * degree,
        };
    }
}

/// A total order of f64 as unsigned integers (for ordered maps).
fn ordered(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

/// Keeps the indices whose value rows no other row dominates (all <=), first of equals.
fn pareto(values: &[f64], dims: usize, idx: Vec<u32>) -> Vec<u32> {
    let row = |i: u32| &values[i as usize * dims..(i as usize + 1) * dims];
    // Sorting packed (first value, index) keys is much cheaper than comparing rows; runs with
    // an equal first value are then ordered by the rest of the row.
    let mut keyed: Vec<(u64, u32)> = idx.iter().map(|&i| (ordered(row(i)[0]), i)).collect();
    keyed.sort_unstable();
    for run in keyed
        .chunk_by_mut(|a, b| a.0 == b.0)
        .filter(|r| r.len() > 1)
    {
        run.sort_unstable_by(|&(_, a), &(_, b)| {
            let (x, y) = (row(a), row(b));
            x.iter()
                .zip(y)
                .map(|(p, q)| p.total_cmp(q))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
    }
    let mut idx: Vec<u32> = keyed.into_iter().map(|(_, i)| i).collect();
    // Sorted lexicographically, so only earlier rows can dominate later ones.
    let mut kept: Vec<u32> = Vec::new();
    match dims {
        1 => idx.truncate(1.min(idx.len())),
        2 => {
            let mut best = f64::INFINITY;
            for i in idx {
                if row(i)[1] < best {
                    best = row(i)[1];
                    kept.push(i);
                }
            }
            return kept;
        }
        3 => {
            // Staircase of kept rows over (dim 1 -> smallest dim 2), dim 2 falling as dim 1 rises.
            let mut stairs: std::collections::BTreeMap<u64, f64> = Default::default();
            for i in idx {
                let (k, v) = (ordered(row(i)[1]), row(i)[2]);
                if stairs.range(..=k).next_back().is_some_and(|(_, &w)| w <= v) {
                    continue;
                }
                let covered: Vec<u64> = stairs
                    .range(k..)
                    .take_while(|(_, w)| **w >= v)
                    .map(|(k, _)| *k)
                    .collect();
                for c in covered {
                    stairs.remove(&c);
                }
                stairs.insert(k, v);
                kept.push(i);
            }
            return kept;
        }
        _ => {}
    }
    if dims == 1 {
        return idx;
    }
    let mut kept_rows: Vec<f64> = Vec::new();
    for i in idx {
        let r = row(i);
        let dominated = kept_rows
            .chunks_exact(dims)
            .rev()
            .any(|k| k[1..].iter().zip(&r[1..]).all(|(a, b)| a <= b));
        if !dominated {
            kept.push(i);
            kept_rows.extend_from_slice(r);
        }
    }
    kept
}

/// Partial networks after some cell: values and how they were built.
struct Stage {
    values: Vec<f64>,
    /// (state of the previous stage, candidate grid index of this cell)
    parent: Vec<(u32, u32)>,
    /// State index ranges per width index of the last cell.
    groups: Vec<std::ops::Range<usize>>,
}

struct Engine<'a> {
    space: &'a Space,
    plan: Plan,
    tables: Vec<CellTable>,
    dims: usize,
}

impl<'a> Engine<'a> {
    fn new(space: &'a Space, plan: Plan) -> Self {
        let dims = plan.quantities.len().max(1);
        let layout = Layout::new(space.input_shape, space.num_classes, space.num_cells);
        let n = space.cell_choices() as usize;
        let nw = space.widths.len();
        let last = space.num_cells - 1;
        let mut tables = Vec::with_capacity(space.num_cells);
        for c in 0..space.num_cells {
            let mut values = vec![0.0; n * dims];
            for i in 0..n {
                let cell = space.cell_at(i as u64);
                let mut counts = layout.cell(c, 0, &cell);
                if c == last {
                    counts = counts + layout.head(cell.width);
                }
                let x = counts.features(if c == last { 1.0 } else { 0.0 });
                eval(
                    &plan.quantities,
                    &x,
                    cell_nn_degree(&cell),
                    &mut values[i * dims..(i + 1) * dims],
                );
            }
            let prevs = if c == 0 { 1 } else { nw };
            let mut coupling = vec![0.0; prevs * nw * dims];
            for (pi, &pw) in space.widths.iter().take(prevs).enumerate() {
                for (wi, &w) in space.widths.iter().enumerate() {
                    let probe = CellSpec {
                        width: w,
                        depth: 3,
                        tc: 0,
                    };
                    let (a, b) = (layout.cell(c, pw, &probe), layout.cell(c, 0, &probe));
                    let diff = crate::features::Counts {
                        params: a.params - b.params,
                        macs_conv3x3: a.macs_conv3x3 - b.macs_conv3x3,
                        macs_linear: 0,
                        activation_bytes: a.activation_bytes - b.activation_bytes,
                        concat_bytes: 0,
                        kernels: 0,
                    };
                    let at = (pi * nw + wi) * dims;
                    eval(
                        &plan.quantities,
                        &diff.features(0.0),
                        0.0,
                        &mut coupling[at..at + dims],
                    );
                }
            }
            let per_width = n / nw;
            let groups = (0..nw)
                .map(|wi| {
                    let idx = (wi * per_width) as u32..((wi + 1) * per_width) as u32;
                    pareto(&values, dims, idx.collect())
                })
                .collect();
            tables.push(CellTable {
                groups,
                values,
                coupling,
            });
        }
        Engine {
            space,
            plan,
            tables,
            dims,
        }
    }

    /// Lower bounds of each quantity of cell `c`'s candidates (without coupling) and of its
    /// coupling, for limit pruning.
    fn minima(&self, c: usize) -> (Vec<f64>, Vec<f64>) {
        let d = self.dims;
        let t = &self.tables[c];
        let column_min = |rows: &mut dyn Iterator<Item = &[f64]>| {
            let mut m = vec![f64::INFINITY; d];
            for r in rows {
                for (m, v) in m.iter_mut().zip(r) {
                    *m = m.min(*v);
                }
            }
            m
        };
        let cand = column_min(
            &mut t
                .groups
                .iter()
                .flatten()
                .map(|&i| &t.values[i as usize * d..(i as usize + 1) * d]),
        );
        (cand, column_min(&mut t.coupling.chunks_exact(d)))
    }

    /// The stored limit of each quantity (none when `limits` is false).
    fn limits(&self, limits: bool) -> Vec<Option<f64>> {
        self.plan
            .quantities
            .iter()
            .map(|q| match q {
                Quantity::Linear {
                    limit: Some(l),
                    sign,
                    ..
                } if limits && *sign > 0.0 => Some(*l),
                _ => None,
            })
            .collect()
    }

    /// Lower bounds of what cells `from..` add, coupling included.
    fn rest(&self, from: usize) -> Vec<f64> {
        let mut rest = vec![0.0; self.dims];
        for later in from..self.tables.len() {
            let (cand, coup) = self.minima(later);
            for k in 0..self.dims {
                rest[k] += cand[k] + coup[k];
            }
        }
        rest
    }

    /// Networks of cells `..c` extended by the coupling into width `wi` of cell `c`, kept when
    /// they can still meet the limits with `rest` added, and not dominated: (values, state).
    fn entries(
        &self,
        stages: &[Stage],
        c: usize,
        wi: usize,
        limit_of: &[Option<f64>],
        rest: &[f64],
    ) -> (Vec<f64>, Vec<u32>) {
        let (d, nw) = (self.dims, self.space.widths.len());
        let table = &self.tables[c];
        let mut entry: Vec<f64> = Vec::new();
        let mut entry_state: Vec<u32> = Vec::new();
        if c == 0 {
            entry.extend_from_slice(&table.coupling[wi * d..(wi + 1) * d]);
            entry_state.push(0);
            return (entry, entry_state);
        }
        let prev = &stages[c - 1];
        let mut row = vec![0.0; d];
        for (pi, range) in prev.groups.iter().enumerate() {
            let coup = &table.coupling[(pi * nw + wi) * d..(pi * nw + wi + 1) * d];
            for s in range.clone() {
                let base = &prev.values[s * d..(s + 1) * d];
                for k in 0..d {
                    row[k] = base[k] + coup[k];
                }
                if within(limit_of, &row, rest) {
                    entry.extend_from_slice(&row);
                    entry_state.push(s as u32);
                }
            }
        }
        let keep = pareto(&entry, d, (0..entry_state.len() as u32).collect());
        let mut values = Vec::with_capacity(keep.len() * d);
        let mut states = Vec::with_capacity(keep.len());
        for e in keep {
            values.extend_from_slice(&entry[e as usize * d..(e as usize + 1) * d]);
            states.push(entry_state[e as usize]);
        }
        (values, states)
    }

    /// Runs the dynamic programme over the first `cells` cells; with `limits` false no limit
    /// prunes (for the closest miss).
    fn run(&self, limits: bool, cells: usize) -> Vec<Stage> {
        let d = self.dims;
        let nw = self.space.widths.len();
        let limit_of = self.limits(limits);
        let mut stages: Vec<Stage> = Vec::with_capacity(cells);
        for (c, table) in self.tables.iter().enumerate().take(cells) {
            let rest = self.rest(c + 1);
            let rest_here: Vec<f64> = self
                .minima(c)
                .0
                .iter()
                .zip(&rest)
                .map(|(a, b)| a + b)
                .collect();
            let mut values = Vec::new();
            let mut parent = Vec::new();
            let mut groups = Vec::with_capacity(nw);
            let mut row = vec![0.0; d];
            for wi in 0..nw {
                // The coupling depends on the two widths only, so entries are pruned before the
                // cell's candidates are added.
                let (entry, entry_state) = self.entries(&stages, c, wi, &limit_of, &rest_here);
                let mut local: Vec<f64> = Vec::new();
                let mut local_parent: Vec<(u32, u32)> = Vec::new();
                for (base, &state) in entry.chunks_exact(d).zip(&entry_state) {
                    for &cand in &table.groups[wi] {
                        let cv = &table.values[cand as usize * d..(cand as usize + 1) * d];
                        for k in 0..d {
                            row[k] = base[k] + cv[k];
                        }
                        if within(&limit_of, &row, &rest) {
                            local.extend_from_slice(&row);
                            local_parent.push((state, cand));
                        }
                    }
                }
                let keep = pareto(&local, d, (0..local_parent.len() as u32).collect());
                let start = parent.len();
                for i in keep {
                    values.extend_from_slice(&local[i as usize * d..(i as usize + 1) * d]);
                    parent.push(local_parent[i as usize]);
                }
                groups.push(start..parent.len());
            }
            stages.push(Stage {
                values,
                parent,
                groups,
            });
        }
        stages
    }

    /// The last cell without a full merge: only the optimum and the front points are wanted,
    /// so each entry (network before the last cell) is bounded by adding the per-dimension
    /// best of the cell's candidates, and skipped when that bound cannot beat the incumbent
    /// nor enter any front. Returns the complete networks (state, candidate) that may be the
    /// optimum or on a front, and how many were evaluated.
    fn finish(&self, problem: &SearchProblem, stages: &[Stage]) -> (Vec<(u32, u32)>, usize) {
        let d = self.dims;
        let c = self.tables.len() - 1;
        let table = &self.tables[c];
        let limit_of = self.limits(true);
        let here = self.minima(c).0;
        let value = Value::new(&self.plan, problem);
        let mut fronts: Vec<Front> = self
            .plan
            .cost_index
            .iter()
            .map(|&(_, _, key)| Front {
                key,
                points: Vec::new(),
            })
            .collect();
        let limited: Vec<usize> = self
            .plan
            .cost_index
            .iter()
            .filter(|(i, m, _)| problem.devices[*i].limit(*m).is_some())
            .map(|&(_, _, k)| k)
            .collect();
        // With two limited costs, the front against the pair is taken at the end from every
        // feasible network that two-cost front could hold (cost, cost, -accuracy).
        let pair_keys = match limited[..] {
            [a, b] => Some((a, b)),
            _ => None,
        };
        let (mut pair_rows, mut pair_networks) = (Vec::new(), Vec::new());
        // The optimum of accuracy, or of one cost at an accuracy floor, is a point of that
        // cost's front (or of any front for accuracy): only a trade-off needs its own search.
        let track = matches!(value.kind, ValueKind::TradeOff { .. }) || fronts.is_empty();
        let mut best = (f64::NEG_INFINITY, None);
        let mut evaluated = 0;
        let zero = vec![0.0; d];
        let (mut lo, mut hi, mut row) = (zero.clone(), zero.clone(), zero.clone());
        for (wi, group) in table.groups.iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let (entry, entry_state) = self.entries(stages, c, wi, &limit_of, &here);
            let (mut gmin, mut gmax) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
            for &cand in group {
                let cv = &table.values[cand as usize * d..(cand as usize + 1) * d];
                for k in 0..d {
                    gmin[k] = gmin[k].min(cv[k]);
                    gmax[k] = gmax[k].max(cv[k]);
                }
            }
            // Most promising entries first, so the incumbent is strong early.
            let mut order: Vec<(f64, usize)> = entry
                .chunks_exact(d)
                .enumerate()
                .map(|(e, base)| {
                    for k in 0..d {
                        lo[k] = base[k] + gmin[k];
                        hi[k] = base[k] + gmax[k];
                    }
                    (value.eval(&lo, &hi, false).1, e)
                })
                .collect();
            order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
            for (_, e) in order {
                let base = &entry[e * d..(e + 1) * d];
                for k in 0..d {
                    lo[k] = base[k] + gmin[k];
                    hi[k] = base[k] + gmax[k];
                }
                if !within(&limit_of, &lo, &zero) {
                    continue;
                }
                let (acc_hi, bound) = value.eval(&lo, &hi, false);
                if value.min_accuracy.is_some_and(|m| acc_hi < m) {
                    continue;
                }
                let open = (track && bound >= best.0)
                    || pair_keys.is_some()
                    || fronts.iter().any(|f| !f.dominated(&lo, acc_hi));
                if !open {
                    continue;
                }
                let chords = value.chords(&lo, &hi);
                for &cand in group {
                    let cv = &table.values[cand as usize * d..(cand as usize + 1) * d];
                    for k in 0..d {
                        row[k] = base[k] + cv[k];
                    }
                    if !within(&limit_of, &row, &zero) {
                        continue;
                    }
                    evaluated += 1;
                    let acc = value.accuracy(&row, &row);
                    if value.min_accuracy.is_some_and(|m| acc < m) {
                        continue;
                    }
                    let pair = (entry_state[e], cand);
                    if track
                        && value.chord_bound(acc, &chords, &row) >= best.0
                        && let objective = value.eval(&row, &row, true).1
                        && objective > best.0
                    {
                        best = (objective, Some(pair));
                    }
                    for f in &mut fronts {
                        f.insert(&row, acc, pair);
                    }
                    if let Some((a, b)) = pair_keys {
                        pair_rows.extend([row[a], row[b], -acc]);
                        pair_networks.push(pair);
                    }
                }
            }
        }
        let mut out: Vec<(u32, u32)> = best.1.into_iter().collect();
        out.extend(fronts.iter().flat_map(|f| f.points.iter().map(|p| p.2)));
        let all = (0..pair_networks.len() as u32).collect();
        out.extend(
            pareto(&pair_rows, 3, all)
                .into_iter()
                .map(|i| pair_networks[i as usize]),
        );
        out.sort_unstable();
        out.dedup();
        (out, evaluated)
    }

    /// The spec of `state` of the last stage, followed by the cell candidate `last` if given.
    fn spec_of(&self, stages: &[Stage], mut state: usize, last: Option<u32>) -> ArchSpec {
        let mut cells = Vec::with_capacity(self.space.num_cells);
        cells.extend(last.map(|cand| self.space.cell_at(cand as u64)));
        for stage in stages.iter().rev() {
            let (prev, cand) = stage.parent[state];
            cells.push(self.space.cell_at(cand as u64));
            state = prev as usize;
        }
        cells.reverse();
        self.space.spec(cells)
    }
}

/// Whether `v` plus the lower bounds `rest` can still meet every limit.
fn within(limit_of: &[Option<f64>], v: &[f64], rest: &[f64]) -> bool {
    limit_of
        .iter()
        .zip(v)
        .zip(rest)
        .all(|((l, v), r)| l.is_none_or(|l| v + r <= l * (1.0 + 1e-12)))
}

/// The objective as a function of the stored quantities (larger is better).
struct Value<'a> {
    model: &'a AccuracyModel,
    /// Index and sign of NN-Degree among the quantities.
    degree: Option<(usize, f64)>,
    /// Index and sign of params, and whether accuracy grows with the stored value.
    params: Option<(usize, f64, bool)>,
    kind: ValueKind,
    min_accuracy: Option<f64>,
}

enum ValueKind {
    Accuracy,
    /// `a ln(accuracy) - sum e ln(cost)` over (quantity, exponent).
    TradeOff {
        a: f64,
        costs: Vec<(usize, f64)>,
    },
    /// Minus the cost at this quantity.
    MinCost(usize),
}

impl<'a> Value<'a> {
    fn new(plan: &Plan, problem: &'a SearchProblem) -> Self {
        let c = problem.accuracy.log_params_coefficient();
        let index = |dev: &str, m: CostMetric| {
            plan.cost_index
                .iter()
                .find(|(i, mm, _)| problem.devices[*i].device == dev && *mm == m)
                .map(|&(_, _, k)| k)
        };
        let (kind, min_accuracy) = match &problem.objective {
            Objective::MaxAccuracy => (ValueKind::Accuracy, None),
            Objective::TradeOff { a, b, c, d } => {
                let mut costs = Vec::new();
                for dev in &problem.devices {
                    for (m, e) in METRICS.iter().zip([b, c, d]) {
                        if *e != 0.0 {
                            costs.push((index(&dev.device, *m).expect("planned"), *e));
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
                Some(*min_accuracy),
            ),
        };
        Value {
            model: &problem.accuracy,
            degree: plan.degree().map(|k| (k, plan.sign(k))),
            params: plan
                .params
                .filter(|_| c != 0.0)
                .map(|k| (k, plan.sign(k), plan.sign(k) * c > 0.0)),
            kind,
            min_accuracy,
        }
    }

    /// Linear lower bounds `(intercept, slope)` of `ln(cost)` for each trade-off cost between
    /// `lo` and `hi` (chords of the concave logarithm); none where a cost may reach zero.
    fn chords(&self, lo: &[f64], hi: &[f64]) -> Vec<Option<(f64, f64)>> {
        let ValueKind::TradeOff { costs, .. } = &self.kind else {
            return Vec::new();
        };
        costs
            .iter()
            .map(|&(k, _)| {
                (lo[k] > 0.0).then(|| {
                    let slope = if hi[k] > lo[k] {
                        (hi[k].ln() - lo[k].ln()) / (hi[k] - lo[k])
                    } else {
                        0.0
                    };
                    (lo[k].ln() - slope * lo[k], slope)
                })
            })
            .collect()
    }

    /// An upper bound of the trade-off at `q` with accuracy `acc`, needing one logarithm
    /// instead of one per cost.
    fn chord_bound(&self, acc: f64, chords: &[Option<(f64, f64)>], q: &[f64]) -> f64 {
        let ValueKind::TradeOff { a, costs } = &self.kind else {
            return f64::INFINITY;
        };
        if acc <= 0.0 {
            return f64::NEG_INFINITY;
        }
        let mut v = a * acc.ln();
        for (&(k, e), chord) in costs.iter().zip(chords) {
            match chord {
                Some((c0, c1)) => v -= e * (c0 + c1 * q[k]),
                None => return f64::INFINITY,
            }
        }
        v
    }

    /// Upper bound of accuracy over the quantity vectors between `lo` and `hi`.
    fn accuracy(&self, lo: &[f64], hi: &[f64]) -> f64 {
        let co = &self.model.coefficients;
        let mut acc = co[0];
        if let (Some((k, sign)), Some(t)) = (self.degree, self.model.form.degree) {
            // Stored so that smaller is better.
            acc += co[1] * t.apply(lo[k] * sign);
        }
        if let Some((k, sign, grows)) = self.params {
            let stored = if grows { hi[k] } else { lo[k] };
            acc += co[co.len() - 1] * (stored * sign).ln();
        }
        acc
    }

    /// Upper bounds of accuracy and of the objective over all quantity vectors between `lo`
    /// and `hi`; the exact values when `point` (then `lo` is the vector).
    fn eval(&self, lo: &[f64], hi: &[f64], point: bool) -> (f64, f64) {
        let acc = self.accuracy(lo, hi);
        let objective = match &self.kind {
            ValueKind::Accuracy => acc,
            ValueKind::TradeOff { a, costs } => {
                let mut v = if acc > 0.0 {
                    a * acc.ln()
                } else {
                    f64::NEG_INFINITY
                };
                for &(k, e) in costs {
                    v -= if lo[k] > 0.0 {
                        e * lo[k].ln()
                    } else if point {
                        f64::INFINITY
                    } else {
                        f64::NEG_INFINITY
                    };
                }
                v
            }
            ValueKind::MinCost(k) => -lo[*k],
        };
        (acc, objective)
    }
}

/// Feasible complete networks not dominated in (cost at `key`, -accuracy), as (cost,
/// accuracy, network), ordered by cost with accuracy rising.
struct Front {
    key: usize,
    points: Vec<(f64, f64, (u32, u32))>,
}

impl Front {
    /// Whether a point at least as good as (cost in `q`, `acc`) is already in.
    fn dominated(&self, q: &[f64], acc: f64) -> bool {
        let i = self.points.partition_point(|p| p.0 <= q[self.key]);
        i > 0 && self.points[i - 1].1 >= acc
    }

    fn insert(&mut self, q: &[f64], acc: f64, network: (u32, u32)) {
        if self.dominated(q, acc) {
            return;
        }
        let x = q[self.key];
        let start = self.points.partition_point(|p| p.0 < x);
        let end = start
            + self.points[start..]
                .iter()
                .take_while(|p| p.1 <= acc)
                .count();
        self.points.splice(start..end, [(x, acc, network)]);
    }
}

/// Every prediction for one spec, and the objective (`-inf` when undefined).
fn score(problem: &SearchProblem, spec: &ArchSpec) -> Scored {
    let counts = crate::features::Counts::of_spec(spec);
    let x = counts.features(1.0);
    let nn_degree = spec.nn_degree();
    let accuracy = problem.accuracy.predict(nn_degree, counts.params as f64);
    let costs: Vec<Cost> = problem
        .devices
        .iter()
        .flat_map(|d| {
            METRICS.iter().filter_map(move |&m| {
                d.model(m).map(|model| Cost {
                    device: d.device.clone(),
                    metric: m,
                    value: model.predict(&x),
                })
            })
        })
        .collect();
    let cost = |dev: &str, m: CostMetric| {
        costs
            .iter()
            .find(|c| c.device == dev && c.metric == m)
            .map(|c| c.value)
    };
    let objective = match &problem.objective {
        Objective::MaxAccuracy => accuracy.value,
        Objective::TradeOff { a, b, c, d } => {
            let mut v = if accuracy.value > 0.0 {
                a * accuracy.value.ln()
            } else {
                f64::NEG_INFINITY
            };
            for dev in &problem.devices {
                for (m, e) in METRICS.iter().zip([b, c, d]) {
                    if *e != 0.0 {
                        let value = cost(&dev.device, *m).unwrap_or(f64::NAN);
                        v -= if value > 0.0 {
                            e * value.ln()
                        } else {
                            f64::INFINITY
                        };
                    }
                }
            }
            // Reported as the score itself, compared in logs.
            v.exp()
        }
        Objective::MinCost { device, metric, .. } => cost(device, *metric).unwrap_or(f64::NAN),
    };
    Scored {
        id: spec.id(),
        spec: spec.clone(),
        accuracy,
        nn_degree,
        params: counts.params,
        macs: counts.macs(),
        costs,
        objective,
    }
}

/// Every limit `s` violates (relative tolerance 1e-9 for rounding).
fn violations(problem: &SearchProblem, s: &Scored) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut check = |what: String, value: f64, limit: f64| {
        if value > limit * (1.0 + 1e-9) {
            out.push(Violation { what, value, limit });
        }
    };
    for dev in &problem.devices {
        for m in METRICS {
            if let (Some(limit), Some(c)) = (
                dev.limit(m),
                s.costs
                    .iter()
                    .find(|c| c.device == dev.device && c.metric == m),
            ) {
                check(format!("{}.{}", dev.device, metric_name(m)), c.value, limit);
            }
        }
    }
    if let Some(l) = problem.max_params {
        check("params".into(), s.params as f64, l as f64);
    }
    if let Some(l) = problem.max_macs {
        check("macs".into(), s.macs as f64, l as f64);
    }
    if let Objective::MinCost { min_accuracy, .. } = problem.objective
        && s.accuracy.value < min_accuracy
    {
        out.push(Violation {
            what: "accuracy".into(),
            value: s.accuracy.value,
            limit: min_accuracy,
        });
    }
    out
}

fn metric_name(m: CostMetric) -> &'static str {
    match m {
        CostMetric::Latency => "latency",
        CostMetric::Energy => "energy",
        CostMetric::Area => "area",
    }
}

/// How far a violation is, relative to its limit.
fn miss_size(v: &[Violation]) -> f64 {
    v.iter()
        .map(|v| (v.value - v.limit).abs() / v.limit.abs().max(1e-12))
        .fold(0.0, f64::max)
}

/// Better objective value first (maximised objectives are larger, MinCost smaller).
fn better(problem: &SearchProblem, a: f64, b: f64) -> bool {
    match problem.objective {
        Objective::MinCost { .. } => a < b,
        _ => a > b,
    }
}

/// Searches the whole grid of `space` for `problem`'s optimum.
pub fn search(space: &Space, problem: &SearchProblem) -> Result<SearchResult, SearchError> {
    let start = std::time::Instant::now();
    if space.num_cells == 0 {
        return Err(SearchError::Invalid("the space has no cells".into()));
    }
    let plan = Plan::new(problem)?;
    let engine = Engine::new(space, plan);
    let stages = engine.run(true, space.num_cells - 1);
    let (finals, evaluated) = engine.finish(problem, &stages);
    let scored: Vec<Scored> = finals
        .iter()
        .map(|&(s, cand)| score(problem, &engine.spec_of(&stages, s as usize, Some(cand))))
        .filter(|s| violations(problem, s).is_empty())
        .collect();
    let mut best: Option<&Scored> = None;
    for s in &scored {
        if s.objective.is_nan() {
            continue;
        }
        if best.is_none_or(|b| better(problem, s.objective, b.objective)) {
            best = Some(s);
        }
    }
    let closest_miss = if scored.is_empty() {
        closest_miss(&engine, problem)
    } else {
        None
    };
    let fronts = fronts(&engine.plan, problem, &scored);
    let gap = (!engine.plan.exact).then(|| accuracy_gap_bound(&engine, problem));
    let stats = SearchStats {
        cell_candidates: engine
            .tables
            .iter()
            .map(|t| t.groups.iter().map(Vec::len).sum())
            .collect(),
        cell_choices: space.cell_choices(),
        states: stages
            .iter()
            .map(|s| s.parent.len())
            .chain([evaluated])
            .collect(),
        final_states: finals.len(),
    };
    Ok(SearchResult {
        best: best.cloned(),
        closest_miss,
        fronts,
        configurations: u64::try_from(space.size()).unwrap_or(u64::MAX),
        exact: engine.plan.exact,
        accuracy_gap_bound: gap,
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
        stats,
    })
}

/// The closest miss lies among the networks not dominated in the limited quantities, so the
/// same programme without limit pruning finds it exactly.
fn closest_miss(engine: &Engine, problem: &SearchProblem) -> Option<ClosestMiss> {
    let stages = engine.run(false, engine.space.num_cells);
    let last = stages.last()?;
    let all: Vec<u32> = (0..last.parent.len() as u32).collect();
    pareto(&last.values, engine.dims, all)
        .into_iter()
        .map(|s| {
            let scored = score(problem, &engine.spec_of(&stages, s as usize, None));
            let v = violations(problem, &scored);
            (miss_size(&v), scored, v)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, architecture, violations)| ClosestMiss {
            architecture,
            violations,
        })
}

/// When params are pruned as a cost although accuracy rewards them, a dropped network had no
/// more params than the whole space's largest, and no fewer than the smallest, so its accuracy
/// exceeds the kept one's by at most `c ln(max / min)`.
fn accuracy_gap_bound(engine: &Engine, problem: &SearchProblem) -> f64 {
    let k = engine
        .plan
        .params
        .expect("inexact only with a params quantity");
    let mut lo = 0.0;
    let mut hi = 0.0;
    for t in &engine.tables {
        let col = |v: &[f64]| {
            v.chunks_exact(engine.dims)
                .map(|r| r[k])
                .collect::<Vec<_>>()
        };
        let (vals, coup) = (col(&t.values), col(&t.coupling));
        lo += vals.iter().copied().fold(f64::INFINITY, f64::min)
            + coup.iter().copied().fold(f64::INFINITY, f64::min);
        hi += vals.iter().copied().fold(0.0, f64::max) + coup.iter().copied().fold(0.0, f64::max);
    }
    problem.accuracy.log_params_coefficient() * (hi / lo).ln()
}

fn fronts(plan: &Plan, problem: &SearchProblem, scored: &[Scored]) -> Vec<ParetoFront> {
    let name = |&(i, m, _): &(usize, CostMetric, usize)| {
        format!("{}.{}", problem.devices[i].device, metric_name(m))
    };
    let value = |s: &Scored, (i, m): (usize, CostMetric)| {
        s.costs
            .iter()
            .find(|c| c.device == problem.devices[i].device && c.metric == m)
            .map_or(f64::NAN, |c| c.value)
    };
    let front = |keys: &[(usize, CostMetric)], against: Vec<String>| {
        // Rows: costs, then -accuracy, all minimised.
        let dims = keys.len() + 1;
        let mut rows = Vec::with_capacity(scored.len() * dims);
        for s in scored {
            rows.extend(keys.iter().map(|&k| value(s, k)));
            rows.push(-s.accuracy.value);
        }
        let keep = pareto(&rows, dims, (0..scored.len() as u32).collect());
        ParetoFront {
            against,
            points: keep.iter().map(|&i| scored[i as usize].clone()).collect(),
        }
    };
    let mut out: Vec<ParetoFront> = plan
        .cost_index
        .iter()
        .map(|c| front(&[(c.0, c.1)], vec![name(c)]))
        .collect();
    let limited: Vec<_> = plan
        .cost_index
        .iter()
        .filter(|(i, m, _)| problem.devices[*i].limit(*m).is_some())
        .collect();
    if let [a, b] = limited[..] {
        out.push(front(&[(a.0, a.1), (b.0, b.1)], vec![name(a), name(b)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{AccuracyForm, DegreeTerm};
    use crate::rng::SplitMix64;

    fn unit(r: &mut SplitMix64) -> f64 {
        r.unit_f32() as f64
    }

    fn small_space(r: &mut SplitMix64) -> Space {
        let pick = |r: &mut SplitMix64, base: &[u64]| -> Vec<u64> {
            let n = 2 + r.below(2) as usize;
            let mut v: Vec<u64> = base.to_vec();
            while v.len() > n {
                v.remove(r.below(v.len() as u64) as usize);
            }
            v
        };
        Space {
            name: "test",
            description: "",
            input_shape: [3, 16, 16],
            num_classes: 10,
            num_cells: 2 + r.below(2) as usize,
            widths: pick(r, &[8, 16, 24, 32]),
            depths: pick(r, &[3, 4, 6, 8]),
            tcs: pick(r, &[0, 5, 16, 40]),
        }
    }

    fn model(r: &mut SplitMix64, metric: CostMetric) -> HardwareModel {
        let features = vec![
            Feature::Macs,
            Feature::ActivationBytes,
            Feature::WeightBytes,
            Feature::ConcatBytes,
            Feature::Kernels,
            Feature::Constant,
        ];
        let scale = [1e-7, 1e-6, 1e-6, 1e-5, 0.05, 0.5];
        let coefficients = scale
            .iter()
            .map(|s| if r.below(4) == 0 { 0.0 } else { s * unit(r) })
            .collect();
        HardwareModel::new(metric, features, coefficients).unwrap()
    }

    fn accuracy(r: &mut SplitMix64) -> AccuracyModel {
        let degree =
            [DegreeTerm::Linear, DegreeTerm::Log, DegreeTerm::Reciprocal][r.below(3) as usize];
        let log_params = r.below(2) == 0;
        let mut coefficients = vec![0.3, (unit(r) - 0.2) * 0.1];
        if degree == DegreeTerm::Reciprocal {
            coefficients[1] *= -100.0;
        }
        if log_params {
            coefficients.push((unit(r) - 0.3) * 0.05);
        }
        AccuracyModel {
            form: AccuracyForm::new(Some(degree), log_params),
            coefficients: coefficients.clone(),
            residual_std: 0.01,
            t_quantile: 2.0,
            inverse_gram: vec![0.0; coefficients.len().pow(2)],
        }
    }

    fn all_specs(space: &Space) -> Vec<ArchSpec> {
        let n = space.cell_choices();
        let total = n.pow(space.num_cells as u32);
        (0..total)
            .map(|mut k| {
                let cells = (0..space.num_cells)
                    .map(|_| {
                        let c = space.cell_at(k % n);
                        k /= n;
                        c
                    })
                    .collect();
                space.spec(cells)
            })
            .collect()
    }

    /// A random problem with limits drawn around the space's costs (some infeasible).
    fn problem(r: &mut SplitMix64, specs: &[ArchSpec]) -> SearchProblem {
        let with_area = r.below(2) == 0;
        let devices: Vec<DeviceModels> = (0..1 + r.below(2))
            .map(|i| {
                let mut d = DeviceModels {
                    device: format!("dev{i}"),
                    latency: Some(model(r, CostMetric::Latency)),
                    energy: Some(model(r, CostMetric::Energy)),
                    area: with_area.then(|| model(r, CostMetric::Area)),
                    max_latency: None,
                    max_energy: None,
                    max_area: None,
                };
                let quantile = |r: &mut SplitMix64, m: &HardwareModel| {
                    let mut v: Vec<f64> = specs.iter().map(|s| m.predict_spec(s)).collect();
                    v.sort_by(f64::total_cmp);
                    v[(unit(r) * 0.6 * v.len() as f64) as usize]
                };
                if r.below(3) > 0 {
                    d.max_latency = Some(quantile(r, d.latency.as_ref().unwrap()));
                }
                if r.below(2) == 0 {
                    d.max_energy = Some(quantile(r, d.energy.as_ref().unwrap()));
                }
                if let Some(a) = d.area.clone()
                    && r.below(2) == 0
                {
                    d.max_area = Some(quantile(r, &a));
                }
                d
            })
            .collect();
        let accuracy = accuracy(r);
        let params: Vec<u64> = specs
            .iter()
            .map(|s| crate::features::Counts::of_spec(s).params)
            .collect();
        let objective = match r.below(3) {
            0 => Objective::MaxAccuracy,
            1 => Objective::TradeOff {
                a: 1.0 + unit(r) * 4.0,
                b: unit(r),
                c: unit(r),
                d: if devices[0].area.is_some() {
                    unit(r)
                } else {
                    0.0
                },
            },
            _ => {
                let mut acc: Vec<f64> = specs
                    .iter()
                    .zip(&params)
                    .map(|(s, p)| accuracy.mean(s.nn_degree(), *p as f64))
                    .collect();
                acc.sort_by(f64::total_cmp);
                Objective::MinCost {
                    device: "dev0".into(),
                    metric: CostMetric::Energy,
                    min_accuracy: acc[(unit(r) * acc.len() as f64) as usize],
                }
            }
        };
        let mut sorted = params.clone();
        sorted.sort_unstable();
        SearchProblem {
            accuracy,
            max_params: (r.below(4) == 0).then(|| sorted[(unit(r) * sorted.len() as f64) as usize]),
            max_macs: None,
            devices,
            objective,
        }
    }

    #[test]
    fn equals_brute_force_on_small_grids() {
        let mut r = SplitMix64::new(42);
        let (mut feasible, mut infeasible, mut inexact) = (0, 0, 0);
        for case in 0..100 {
            let space = small_space(&mut r);
            let specs = all_specs(&space);
            let p = problem(&mut r, &specs);
            let result = search(&space, &p).unwrap();
            assert_eq!(result.configurations, specs.len() as u64);
            let brute: Vec<Scored> = specs.iter().map(|s| score(&p, s)).collect();
            let ok: Vec<&Scored> = brute
                .iter()
                .filter(|s| violations(&p, s).is_empty() && !s.objective.is_nan())
                .collect();
            let optimum = ok
                .iter()
                .map(|s| s.objective)
                .reduce(|a, b| if better(&p, a, b) { a } else { b });
            match (optimum, &result.best) {
                (None, None) => {
                    infeasible += 1;
                    let miss = result.closest_miss.as_ref().expect("a closest miss");
                    let brute_miss = brute
                        .iter()
                        .map(|s| miss_size(&violations(&p, s)))
                        .fold(f64::INFINITY, f64::min);
                    assert!(
                        (miss_size(&miss.violations) - brute_miss).abs() <= 1e-9 * brute_miss,
                        "case {case}: miss {} vs {brute_miss}",
                        miss_size(&miss.violations)
                    );
                }
                (Some(o), Some(b)) if result.exact => {
                    feasible += 1;
                    assert!(
                        (o - b.objective).abs() <= 1e-9 * o.abs().max(1e-12),
                        "case {case}: {o} vs {}",
                        b.objective
                    );
                    // Each one-cost front is the brute-force front.
                    for f in result.fronts.iter().filter(|f| f.against.len() == 1) {
                        let (dev, metric) = f.against[0].split_once('.').unwrap();
                        let cost = |s: &Scored| {
                            s.costs
                                .iter()
                                .find(|c| c.device == dev && metric_name(c.metric) == metric)
                                .unwrap()
                                .value
                        };
                        let mut pts: Vec<(f64, f64)> =
                            ok.iter().map(|s| (cost(s), s.accuracy.value)).collect();
                        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
                        let mut expected = Vec::new();
                        for (c, a) in pts {
                            if expected.last().is_none_or(|&(_, b): &(f64, f64)| a > b) {
                                expected.push((c, a));
                            }
                        }
                        let got: Vec<(f64, f64)> = f
                            .points
                            .iter()
                            .map(|s| (cost(s), s.accuracy.value))
                            .collect();
                        assert_eq!(got.len(), expected.len(), "case {case}");
                        for (g, e) in got.iter().zip(&expected) {
                            assert!((g.0 - e.0).abs() <= 1e-9 * e.0 && (g.1 - e.1).abs() < 1e-12);
                        }
                    }
                }
                (Some(o), Some(b)) => {
                    inexact += 1;
                    let gap = result.accuracy_gap_bound.unwrap();
                    if matches!(p.objective, Objective::MaxAccuracy) {
                        assert!(o - b.objective <= gap + 1e-12, "case {case}");
                    }
                }
                (o, b) => panic!(
                    "case {case}: brute force {o:?}, search {:?}",
                    b.as_ref().map(|b| b.objective)
                ),
            }
        }
        assert!(
            feasible > 60 && infeasible > 4,
            "{feasible} {infeasible} {inexact}"
        );
    }

    #[test]
    fn missing_models_and_unknown_devices_are_errors() {
        let mut r = SplitMix64::new(1);
        let mut p = SearchProblem {
            accuracy: accuracy(&mut r),
            devices: vec![DeviceModels {
                device: "cpu".into(),
                latency: None,
                energy: None,
                area: None,
                max_latency: Some(5.0),
                max_energy: None,
                max_area: None,
            }],
            max_params: None,
            max_macs: None,
            objective: Objective::MaxAccuracy,
        };
        let space = Space::default_space();
        assert!(matches!(
            search(space, &p),
            Err(SearchError::MissingModel {
                metric: CostMetric::Latency,
                ..
            })
        ));
        p.devices[0].max_latency = None;
        p.objective = Objective::MinCost {
            device: "gpu".into(),
            metric: CostMetric::Latency,
            min_accuracy: 0.5,
        };
        assert!(matches!(
            search(space, &p),
            Err(SearchError::UnknownDevice(_))
        ));
    }
}
