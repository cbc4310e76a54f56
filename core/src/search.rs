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
//! front. The last cell's candidates of each width are grouped in blocks of similar NN-Degree,
//! and each pair of a network before the last cell and a block is a box bounded by the
//! per-quantity extremes. A trade-off optimum is searched best bound first and stops at the
//! first box that cannot beat the incumbent (the trade-off bounded with chords of the
//! logarithm); the fronts visit the boxes best accuracy first, so they are nearly final early
//! and most boxes are dominated before any network in them is looked at (`Engine::finish`).
//!
//! With an accuracy form that rewards both NN-Degree and params, a network with more of one
//! and less of the other is also dropped when the tangents of the two accuracy terms over what
//! the remaining cells can add prove it worse whatever follows (`exchange_pareto`).
//!
//! One case defeats the dominance argument: a params limit together with an accuracy form that
//! rewards params (positive log-params coefficient). Then params are pruned as a cost and the
//! result says `exact: false` with a bound on the accuracy it may have missed.

use serde::{Deserialize, Serialize};

use crate::features::{Feature, Layout, NUM_FEATURES, cell_nn_degree};
use crate::fit::{AccuracyModel, CostMetric, DegreeTerm, HardwareModel, Interval};
use crate::space::{ArchSpec, Space};

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
    /// Accuracy against each limited cost and the minimised one (when nothing is limited or
    /// minimised: against each cost of the trade-off), and against the pair when exactly two
    /// costs are limited.
    pub fronts: Vec<ParetoFront>,
    /// Configurations the result covers: the whole grid.
    pub configurations: u64,
    /// Whether `best` (or, when nothing meets the limits, the closest miss) is provably
    /// optimal under the models. False only with a params limit and an accuracy form that
    /// rewards params: params are then pruned as a cost, `best` may miss at most
    /// `accuracy_gap_bound` of accuracy, and with a minimum-cost objective the networks that
    /// meet its accuracy floor may all be missed (the result then shows no `best`).
    pub exact: bool,
    /// When not exact: how much predicted accuracy the result may miss, at most.
    pub accuracy_gap_bound: Option<f64>,
    pub elapsed_ms: f64,
    pub stats: SearchStats,
}

/// One summed quantity of the search, stored so that smaller is better.
#[derive(Debug, Clone)]
enum Quantity {
    /// A linear function of the features, with its optional limit (boxed: the weights are
    /// far larger than the other variant).
    Linear {
        weights: Box<[f64; NUM_FEATURES]>,
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
    /// The costs with a front: each limited one and the one minimised; when none is, each
    /// cost of the objective.
    front_costs: Vec<(usize, CostMetric, usize)>,
    params: Option<usize>,
    exact: bool,
    /// Accuracy's NN-Degree and log-params terms, when it has both and params are not
    /// limited (a limit makes fewer params a condition, not only a trade): see
    /// `exchange_pareto`.
    exchange: Option<[Term; 2]>,
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
                            weights: Box::new(model.weights()),
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
                weights: Box::new(macs_weights()),
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
                weights: Box::new(params_weights()),
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
        let co = &p.accuracy.coefficients;
        let exchange = match (params, p.accuracy.form.degree) {
            (Some(kp), Some(t)) if direction != 0.0 && c != 0.0 && p.max_params.is_none() => {
                Some([
                    Term {
                        key: quantities.len() - 1,
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
        let constrained: Vec<_> = cost_index
            .iter()
            .copied()
            .filter(|&(i, m, _)| {
                let dev = &p.devices[i];
                dev.limit(m).is_some()
                    || matches!(&p.objective, Objective::MinCost { device, metric, .. }
                        if *device == dev.device && *metric == m)
            })
            .collect();
        let front_costs = if constrained.is_empty() {
            cost_index.clone()
        } else {
            constrained
        };
        Ok(Plan {
            quantities,
            cost_index,
            front_costs,
            params,
            exact,
            exchange,
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

/// The inverse of `ordered`.
fn unordered(x: u64) -> f64 {
    f64::from_bits(if x >> 63 == 1 { x & !(1 << 63) } else { !x })
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
            // Staircase of kept rows, (dim 1, dim 2) ordered by dim 1 with dim 2 falling.
            let mut stairs: Vec<(f64, f64)> = Vec::new();
            for i in idx {
                let (k, v) = (row(i)[1], row(i)[2]);
                let at = stairs.partition_point(|s| s.0 <= k);
                if at > 0 && stairs[at - 1].1 <= v {
                    continue;
                }
                let start = stairs[..at].partition_point(|s| s.0 < k);
                let end = at + stairs[at..].iter().take_while(|s| s.1 >= v).count();
                stairs.splice(start..end, [(k, v)]);
                kept.push(i);
            }
            return kept;
        }
        _ => {}
    }
    if dims == 1 {
        return idx;
    }
    // The kept rows past their first value (which the sort already orders) in blocks of
    // `LANES` rows, one array per value, so that a row is tested against a whole block without
    // branches; unfilled lanes hold infinity and dominate nothing.
    const LANES: usize = 8;
    let width = dims - 1;
    let mut blocks: Vec<[f64; LANES]> = Vec::new();
    for i in idx {
        let r = &row(i)[1..];
        let dominated = blocks.chunks_exact(width).rev().any(|block| {
            let mut all = [true; LANES];
            for (lanes, v) in block.iter().zip(r) {
                for (a, lane) in all.iter_mut().zip(lanes) {
                    *a &= lane <= v;
                }
            }
            all.contains(&true)
        });
        if !dominated {
            let lane = kept.len() % LANES;
            if lane == 0 {
                blocks.extend(std::iter::repeat_n([f64::INFINITY; LANES], width));
            }
            let start = blocks.len() - width;
            for (lanes, v) in blocks[start..].iter_mut().zip(r) {
                lanes[lane] = *v;
            }
            kept.push(i);
        }
    }
    kept
}

/// Last-cell candidates per block of `finish`.
const BLOCK: usize = 8;

/// Consumer bits of the last cell: the optimum, then each front, then the pair.
const OPTIMUM: u32 = 1;

fn front_bit(i: usize) -> u32 {
    2 << i
}

/// A run of last-cell candidates of one width (positions in their sorted list) with the
/// per-quantity extremes of their values and the consumers (bits) any of them may matter to.
struct Block {
    range: std::ops::Range<usize>,
    wanted: u32,
    min: Vec<f64>,
    max: Vec<f64>,
}

impl Block {
    fn new(range: std::ops::Range<usize>, wanted: &[u32], rows: &[&[f64]], d: usize) -> Self {
        let (mut min, mut max) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
        for row in &rows[range.clone()] {
            for (k, v) in row.iter().enumerate() {
                min[k] = min[k].min(*v);
                max[k] = max[k].max(*v);
            }
        }
        Block {
            wanted: wanted[range.clone()].iter().fold(0, |a, b| a | b),
            range,
            min,
            max,
        }
    }
}

/// For each row, the consumers (bits) it may matter to: those in whose quantities no other
/// row is at least as good (the first of equal rows stays).
fn wanted_by(watched: &[(u32, Vec<usize>)], rows: &[&[f64]]) -> Vec<u32> {
    let mut wanted = vec![0; rows.len()];
    for (bit, keys) in watched {
        let projected: Vec<f64> = rows
            .iter()
            .flat_map(|row| keys.iter().map(|&k| row[k]))
            .collect();
        for i in pareto(&projected, keys.len(), (0..rows.len() as u32).collect()) {
            wanted[i as usize] |= bit;
        }
    }
    wanted
}

/// The last cell's candidates of one width, by NN-Degree, with the consumers each may matter
/// to, their blocks and the box of them all, and the networks entering that width: values
/// and states.
struct LastWidth {
    sorted: Vec<u32>,
    wanted: Vec<u32>,
    blocks: Vec<Block>,
    all: Block,
    entries: Vec<f64>,
    states: Vec<u32>,
}

/// The front against a pair of limited costs while the last cell is searched: the shadow of the
/// networks kept so far, and their (cost, cost, -merit) rows and networks.
struct PairFront {
    shadow: Shadow,
    rows: Vec<f64>,
    networks: Vec<(u32, u32)>,
}

/// What the last cell's search has found so far.
struct Kept {
    /// The objective of the incumbent optimum, and it.
    best: (f64, Option<(u32, u32)>),
    fronts: Vec<Front>,
    pair: Option<PairFront>,
    evaluated: usize,
}

/// The last cell's search: the widths' candidates and entries, and what it keeps.
struct LastCell<'a> {
    d: usize,
    /// Every candidate's values (the cell table's).
    values: &'a [f64],
    zero: Vec<f64>,
    limit_of: Vec<Option<f64>>,
    value: Value<'a>,
    widths: Vec<LastWidth>,
    kept: Kept,
    pair_bit: u32,
}

impl LastCell<'_> {
    /// `base` plus `by`, into `out`.
    fn shift(base: &[f64], by: &[f64], out: &mut [f64]) {
        for ((o, b), v) in out.iter_mut().zip(base).zip(by) {
            *o = b + v;
        }
    }

    /// Entry `e` of `width` extended by the box of `block`, into `lo` and `hi`.
    fn bounds(width: &LastWidth, e: usize, block: &Block, lo: &mut [f64], hi: &mut [f64]) {
        let d = lo.len();
        let base = &width.entries[e * d..(e + 1) * d];
        Self::shift(base, &block.min, lo);
        Self::shift(base, &block.max, hi);
    }

    /// The trade-off optimum, best bound first (see `Engine::finish`).
    fn optimum(&mut self) {
        let (mut lo, mut hi, mut row) = (self.zero.clone(), self.zero.clone(), self.zero.clone());
        let mut entries: Vec<(f64, u32, u32)> = Vec::new();
        for (w, width) in self.widths.iter().enumerate() {
            for e in 0..width.states.len() {
                Self::bounds(width, e, &width.all, &mut lo, &mut hi);
                if within(&self.limit_of, &lo, &self.zero) {
                    entries.push((self.value.bound(&lo, &hi), w as u32, e as u32));
                }
            }
        }
        entries.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        for (bound, w, e) in entries {
            if bound < self.kept.best.0 {
                break;
            }
            let (w, e) = (w as usize, e as usize);
            let width = &self.widths[w];
            Self::bounds(width, e, &width.all, &mut lo, &mut hi);
            let chords = self.value.chords(&lo, &hi);
            for b in 0..self.widths[w].blocks.len() {
                let block = &self.widths[w].blocks[b];
                if block.wanted & OPTIMUM == 0 {
                    continue;
                }
                Self::bounds(&self.widths[w], e, block, &mut lo, &mut hi);
                let acc = self.value.accuracy(&lo, &hi);
                if within(&self.limit_of, &lo, &self.zero)
                    && self.value.min_accuracy.is_none_or(|m| acc >= m)
                    && self.value.chord_bound(acc, &chords, &lo) >= self.kept.best.0
                {
                    self.visit(w, e, b, OPTIMUM, &chords, &mut row);
                }
            }
        }
    }

    /// The fronts, best merit first (see `Engine::finish`).
    fn fronts(&mut self) {
        if self.kept.fronts.is_empty() && self.kept.pair.is_none() {
            return;
        }
        let (mut lo, mut hi, mut row) = (self.zero.clone(), self.zero.clone(), self.zero.clone());
        // (merit bound as a key that sorts best first, width | block | entry): integers sort
        // fastest. Widths and blocks per width fit 16 bits in every space (a few dozen each).
        let mut boxes: Vec<(u64, u64)> = Vec::new();
        for (w, width) in self.widths.iter().enumerate() {
            for e in 0..width.states.len() {
                for (b, block) in width.blocks.iter().enumerate() {
                    Self::bounds(width, e, block, &mut lo, &mut hi);
                    if block.wanted & !OPTIMUM != 0 && within(&self.limit_of, &lo, &self.zero) {
                        debug_assert!(w < 1 << 16 && b < 1 << 16 && e < 1 << 32);
                        let at = (w as u64) << 48 | (b as u64) << 32 | e as u64;
                        boxes.push((!ordered(self.value.merit(&lo, &hi)), at));
                    }
                }
            }
        }
        boxes.sort_unstable();
        for (key, at) in boxes {
            let merit_hi = unordered(!key);
            let (w, b, e) = (
                (at >> 48) as usize,
                (at >> 32 & 0xffff) as usize,
                at as u32 as usize,
            );
            let block = &self.widths[w].blocks[b];
            Self::bounds(&self.widths[w], e, block, &mut lo, &mut hi);
            if self
                .value
                .min_accuracy
                .is_some_and(|m| self.value.accuracy(&lo, &hi) < m)
            {
                continue;
            }
            let mut open = 0;
            for (i, f) in self.kept.fronts.iter().enumerate() {
                if block.wanted & front_bit(i) != 0 && !f.dominated(&lo, merit_hi) {
                    open |= front_bit(i);
                }
            }
            if block.wanted & self.pair_bit != 0
                && let Some(p) = &self.kept.pair
                && !p.shadow.covers(&lo, merit_hi)
            {
                open |= self.pair_bit;
            }
            if open != 0 {
                self.visit(w, e, b, open, &[], &mut row);
            }
        }
    }

    /// Offers the networks of entry `e` of width `w` with the candidates of block `b` to the
    /// consumers in `open` (`chords`: the entry's, for the optimum; `row`: scratch).
    fn visit(
        &mut self,
        w: usize,
        e: usize,
        b: usize,
        open: u32,
        chords: &[Option<(f64, f64)>],
        row: &mut [f64],
    ) {
        let d = self.d;
        let width = &self.widths[w];
        let base = &width.entries[e * d..(e + 1) * d];
        let value = &self.value;
        let kept = &mut self.kept;
        for j in width.blocks[b].range.clone() {
            let want = width.wanted[j] & open;
            if want == 0 {
                continue;
            }
            let cand = width.sorted[j];
            Self::shift(base, &self.values[cand as usize * d..][..d], row);
            let row = &*row;
            if !within(&self.limit_of, row, &self.zero) {
                continue;
            }
            kept.evaluated += 1;
            // Accuracy costs a logarithm or two: only where needed.
            let acc = (want & OPTIMUM != 0
                || value.min_accuracy.is_some()
                || value.merit_degree.is_none())
            .then(|| value.accuracy(row, row));
            if let (Some(m), Some(acc)) = (value.min_accuracy, acc)
                && acc < m
            {
                continue;
            }
            let network = (width.states[e], cand);
            if want & OPTIMUM != 0
                && let Some(acc) = acc
                && value.chord_bound(acc, chords, row) >= kept.best.0
                && let objective = value.objective(acc, row, true)
                && objective > kept.best.0
            {
                kept.best = (objective, Some(network));
            }
            if want & !OPTIMUM == 0 {
                continue;
            }
            let merit = value.merit_with(row, row, acc);
            for (i, f) in kept.fronts.iter_mut().enumerate() {
                if want & front_bit(i) != 0 {
                    f.insert(row, merit, network);
                }
            }
            if want & self.pair_bit != 0
                && let Some(p) = &mut kept.pair
                && !p.shadow.covers(row, merit)
            {
                p.shadow.add(row, merit);
                p.rows
                    .extend([row[p.shadow.keys[0]], row[p.shadow.keys[1]], -merit]);
                p.networks.push(network);
            }
        }
    }
}

/// One term of accuracy as a function of a summed quantity: `coefficient * T(natural value)`.
#[derive(Clone, Copy)]
struct Term {
    /// Index among the quantities, and the sign from stored to natural value.
    key: usize,
    sign: f64,
    /// The transform (`None`: the natural logarithm of params).
    degree: Option<DegreeTerm>,
    coefficient: f64,
}

impl Term {
    fn slope(&self, x: f64) -> f64 {
        self.coefficient
            * match self.degree {
                Some(DegreeTerm::Linear) => 1.0,
                Some(DegreeTerm::Reciprocal) => -1.0 / (x * x),
                Some(DegreeTerm::Log) | None => 1.0 / x,
            }
    }

    fn concave(&self) -> bool {
        match self.degree {
            Some(DegreeTerm::Reciprocal) => self.coefficient <= 0.0,
            _ => self.coefficient >= 0.0,
        }
    }

    /// The natural range of stored values from `lo` to `hi`.
    fn natural(&self, lo: f64, hi: f64) -> (f64, f64) {
        if self.sign > 0.0 {
            (lo * self.sign, hi * self.sign)
        } else {
            (hi * self.sign, lo * self.sign)
        }
    }

    /// A row's natural value of this term's quantity and the slopes there plus the least and
    /// the most that the remaining cells add (`added`).
    fn tangents(&self, stored: f64, added: (f64, f64)) -> Tangents {
        let value = stored * self.sign;
        Tangents {
            value,
            at_least: self.slope(value + added.0),
            at_most: self.slope(value + added.1),
        }
    }

    /// A lower bound of `term(y + a) - term(x + a)` over every `a` the remaining cells add:
    /// the tangent at the end of the range where it is least.
    fn gain(&self, y: &Tangents, x: &Tangents) -> f64 {
        let delta = y.value - x.value;
        let slope = match (self.concave(), delta >= 0.0) {
            (true, true) => y.at_most,
            (true, false) => y.at_least,
            (false, true) => x.at_least,
            (false, false) => x.at_most,
        };
        slope * delta
    }
}

#[derive(Clone, Copy)]
struct Tangents {
    value: f64,
    at_least: f64,
    at_most: f64,
}

/// The least and the most natural value of `term`'s quantity over `rows`.
fn natural_range<'a>(rows: impl Iterator<Item = &'a [f64]>, term: &Term) -> (f64, f64) {
    rows.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
        let v = r[term.key] * term.sign;
        (lo.min(v), hi.max(v))
    })
}

/// Of the rows `idx` (into `rows`, `d` values each), drops those that a kept row beats whatever
/// the remaining cells add, when accuracy depends on both NN-Degree and params: a row with
/// more NN-Degree and fewer params (or the reverse) beats another when it is no worse in every
/// other quantity and the tangent bounds of the two accuracy terms over what may be added
/// (`terms`' ranges, natural values) sum to a gain. Each bound is a sufficient test of a strict
/// order, so every dropped row has a kept one that beats it.
fn exchange_pareto(
    rows: &[f64],
    d: usize,
    terms: [(Term, (f64, f64)); 2],
    idx: Vec<u32>,
) -> Vec<u32> {
    let others: Vec<usize> = (0..d)
        .filter(|&k| terms.iter().all(|(t, _)| t.key != k))
        .collect();
    let row = |i: u32| &rows[i as usize * d..(i as usize + 1) * d];
    let tangents = |x: &[f64]| terms.map(|(t, added)| t.tangents(x[t.key], added));
    let beats = |y: &[Tangents; 2], x: &[Tangents; 2]| {
        terms[0].0.gain(&y[0], &x[0]) + terms[1].0.gain(&y[1], &x[1]) > 0.0
    };
    // By the first other quantity, so that a row can only be beaten by earlier ones (or by
    // an equal one, which may be missed: then both stay).
    let mut idx = idx;
    if let Some(&first) = others.first() {
        idx.sort_by(|&a, &b| row(a)[first].total_cmp(&row(b)[first]));
    }
    // The kept rows' other quantities in blocks of `LANES`, as in `pareto`. Only the latest
    // `WINDOW` blocks are tried (those nearest in the first other quantity): the test is
    // costlier than plain dominance, and a row it misses is merely kept.
    const LANES: usize = 8;
    const WINDOW: usize = 2;
    let width = others.len();
    let mut blocks: Vec<[f64; LANES]> = Vec::new();
    let mut kept: Vec<u32> = Vec::new();
    let mut kept_tangents: Vec<[Tangents; 2]> = Vec::new();
    for i in idx {
        let x = row(i);
        let x_tangents = tangents(x);
        let beaten = (0..kept.len().div_ceil(LANES))
            .rev()
            .take(WINDOW)
            .any(|blk| {
                let mut all = [true; LANES];
                for (lanes, &k) in blocks[blk * width..(blk + 1) * width].iter().zip(&others) {
                    for (a, lane) in all.iter_mut().zip(lanes) {
                        *a &= *lane <= x[k];
                    }
                }
                all.iter().enumerate().any(|(lane, &a)| {
                    a && kept_tangents
                        .get(blk * LANES + lane)
                        .is_some_and(|y| beats(y, &x_tangents))
                })
            });
        if !beaten {
            let lane = kept.len() % LANES;
            if lane == 0 {
                blocks.extend(std::iter::repeat_n([f64::INFINITY; LANES], width));
            }
            let start = blocks.len() - width;
            for (lanes, &k) in blocks[start..].iter_mut().zip(&others) {
                lanes[lane] = x[k];
            }
            kept.push(i);
            kept_tangents.push(x_tangents);
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
                    let at = (pi * nw + wi) * dims;
                    eval(
                        &plan.quantities,
                        &layout.coupling(c, pw, w).features(0.0),
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
        let mut engine = Engine {
            space,
            plan,
            tables,
            dims,
        };
        if let Some(terms) = engine.plan.exchange {
            // A candidate against what every other cell and this cell's coupling add (the
            // ranges before any cell is pruned: wider, so still bounds).
            let totals = [false, true].map(|max| engine.total(0, max));
            let cells: Vec<[Vec<f64>; 2]> = (0..space.num_cells)
                .map(|c| [false, true].map(|max| engine.extremes(c, max).0))
                .collect();
            for (c, cell) in cells.iter().enumerate() {
                let range = |t: &Term| {
                    let [lo, hi] = [0, 1].map(|m| totals[m][t.key] - cell[m][t.key]);
                    t.natural(lo, hi)
                };
                let terms = terms.map(|t| (t, range(&t)));
                let table = &engine.tables[c];
                let groups = table
                    .groups
                    .iter()
                    .map(|g| exchange_pareto(&table.values, dims, terms, g.clone()))
                    .collect();
                engine.tables[c].groups = groups;
            }
        }
        engine
    }

    /// Lower (or with `max`, upper) bounds of each quantity of cell `c`'s candidates (without
    /// coupling) and of its coupling.
    fn extremes(&self, c: usize, max: bool) -> (Vec<f64>, Vec<f64>) {
        let d = self.dims;
        let t = &self.tables[c];
        let column = |rows: &mut dyn Iterator<Item = &[f64]>| {
            let mut m = vec![
                if max {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                };
                d
            ];
            for r in rows {
                for (m, v) in m.iter_mut().zip(r) {
                    *m = if max { m.max(*v) } else { m.min(*v) };
                }
            }
            m
        };
        let cand = column(
            &mut t
                .groups
                .iter()
                .flatten()
                .map(|&i| &t.values[i as usize * d..(i as usize + 1) * d]),
        );
        (cand, column(&mut t.coupling.chunks_exact(d)))
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

    /// Lower (or with `max`, upper) bounds of what cells `from..` add, coupling included.
    fn total(&self, from: usize, max: bool) -> Vec<f64> {
        let mut total = vec![0.0; self.dims];
        for later in from..self.tables.len() {
            let (cand, coup) = self.extremes(later, max);
            for k in 0..self.dims {
                total[k] += cand[k] + coup[k];
            }
        }
        total
    }

    /// Networks of cells `..c` extended by the coupling into width `wi` of cell `c`, kept when
    /// they can still meet the limits with `rest` added: (values, state).
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
        (entry, entry_state)
    }

    /// Runs the dynamic programme over the first `cells` cells; with `limits` false no limit
    /// prunes (for the closest miss).
    fn run(&self, limits: bool, cells: usize) -> Vec<Stage> {
        let d = self.dims;
        let nw = self.space.widths.len();
        let limit_of = self.limits(limits);
        let mut stages: Vec<Stage> = Vec::with_capacity(cells);
        for (c, table) in self.tables.iter().enumerate().take(cells) {
            let rest = self.total(c + 1, false);
            let rest_here: Vec<f64> = self
                .extremes(c, false)
                .0
                .iter()
                .zip(&rest)
                .map(|(a, b)| a + b)
                .collect();
            let exchange = self.plan.exchange.map(|terms| {
                let [lo, hi] = [false, true].map(|max| self.total(c + 1, max));
                terms.map(|t| (t, t.natural(lo[t.key], hi[t.key])))
            });
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
                for e in pareto(&entry, d, (0..entry_state.len() as u32).collect()) {
                    let e = e as usize;
                    let (base, state) = (&entry[e * d..(e + 1) * d], entry_state[e]);
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
                // Plain dominance, then the exchange test where it applies.
                let all = (0..local_parent.len() as u32).collect();
                let keep = match exchange {
                    Some(terms) => exchange_pareto(&local, d, terms, pareto(&local, d, all)),
                    None => pareto(&local, d, all),
                };
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

    /// The last cell without a full merge: only the optimum and the front points are wanted.
    /// Each of them (a consumer) looks at a few quantities only: the limited ones, those that
    /// accuracy depends on, and its own cost(s). Per width, a candidate matters to a consumer
    /// only if no other candidate of that width is at least as good in those quantities (the
    /// coupling adds the same to every candidate). The candidates of a width are grouped in
    /// blocks of similar NN-Degree; every (entry, block) pair, an entry being a network before
    /// the last cell, is a box of networks bounded by the per-quantity extremes.
    ///
    /// A trade-off optimum is searched best bound first: entries by the bound of all their
    /// networks, stopping at the first that cannot beat the incumbent, and within an entry the
    /// blocks whose bound still can. The fronts then visit the boxes best merit first (a
    /// quantity that orders networks as accuracy does), so they are nearly final early and
    /// most later boxes are dominated before any of their networks is looked at. Returns the
    /// complete networks (state, candidate) that may be the optimum or on a front, and how many
    /// were evaluated.
    fn finish(&self, problem: &SearchProblem, stages: &[Stage]) -> (Vec<(u32, u32)>, usize) {
        let d = self.dims;
        let c = self.tables.len() - 1;
        let table = &self.tables[c];
        let limit_of = self.limits(true);
        let here = self.extremes(c, false).0;
        let value = Value::new(&self.plan, problem);
        // The span of the complete networks' costs sets the shadows' grids: up to the limit
        // where there is one.
        let lowest = self.total(0, false);
        let mut highest = self.total(0, true);
        for (h, l) in highest.iter_mut().zip(&limit_of) {
            *h = l.map_or(*h, |l| h.min(l));
        }
        let fronts: Vec<Front> = self
            .plan
            .front_costs
            .iter()
            .map(|&(_, _, key)| Front::new(key, Shadow::new(vec![key], &lowest, &highest)))
            .collect();
        let limited: Vec<usize> = self
            .plan
            .cost_index
            .iter()
            .filter(|(i, m, _)| problem.devices[*i].limit(*m).is_some())
            .map(|&(_, _, k)| k)
            .collect();
        // With two limited costs there is a front against the pair: networks its shadow cannot
        // rule out are kept and the front is taken from them at the end.
        let pair = match limited[..] {
            [a, b] => Some(PairFront {
                shadow: Shadow::new(vec![a, b], &lowest, &highest),
                rows: Vec::new(),
                networks: Vec::new(),
            }),
            _ => None,
        };
        // The optimum of accuracy, or of one cost at an accuracy floor, is a point of that
        // cost's front (or of any front for accuracy): only a trade-off needs its own search.
        let track = matches!(value.kind, ValueKind::TradeOff { .. }) || fronts.is_empty();
        let pair_bit = front_bit(fronts.len());
        let mut common: Vec<usize> = (0..d).filter(|&k| limit_of[k].is_some()).collect();
        common.extend(value.accuracy_keys());
        let mut watched: Vec<(u32, Vec<usize>)> = Vec::new();
        if track {
            watched.push((OPTIMUM, value.objective_keys()));
        }
        for (i, f) in fronts.iter().enumerate() {
            watched.push((front_bit(i), vec![f.key]));
        }
        if let Some(p) = &pair {
            watched.push((pair_bit, p.shadow.keys.clone()));
        }
        for (_, keys) in &mut watched {
            keys.extend(&common);
            keys.sort_unstable();
            keys.dedup();
        }
        let sort_key = self.plan.degree().unwrap_or(0);
        let widths: Vec<LastWidth> = table
            .groups
            .iter()
            .enumerate()
            .filter(|(_, group)| !group.is_empty())
            .map(|(wi, group)| {
                let at = |cand: u32| &table.values[cand as usize * d..(cand as usize + 1) * d];
                let mut sorted = group.clone();
                sorted.sort_unstable_by(|&a, &b| at(a)[sort_key].total_cmp(&at(b)[sort_key]));
                let (all_entries, all_states) = self.entries(stages, c, wi, &limit_of, &here);
                // Entries not dominated; then, where it applies, the exchange test against
                // what this width's candidates add, and the candidates against the entries
                // left.
                let all = (0..all_states.len() as u32).collect();
                let keep = match self.plan.exchange {
                    Some(terms) => {
                        let range =
                            |t: &Term| natural_range(sorted.iter().map(|&cand| at(cand)), t);
                        exchange_pareto(
                            &all_entries,
                            d,
                            terms.map(|t| (t, range(&t))),
                            pareto(&all_entries, d, all),
                        )
                    }
                    None => pareto(&all_entries, d, all),
                };
                let entries: Vec<f64> = keep
                    .iter()
                    .flat_map(|&e| &all_entries[e as usize * d..(e as usize + 1) * d])
                    .copied()
                    .collect();
                let states: Vec<u32> = keep.iter().map(|&e| all_states[e as usize]).collect();
                if let Some(terms) = self.plan.exchange {
                    let range = |t: &Term| natural_range(entries.chunks_exact(d), t);
                    let terms = terms.map(|t| (t, range(&t)));
                    sorted = exchange_pareto(&table.values, d, terms, sorted);
                    sorted.sort_unstable_by(|&a, &b| at(a)[sort_key].total_cmp(&at(b)[sort_key]));
                }
                let candidates: Vec<&[f64]> = sorted.iter().map(|&cand| at(cand)).collect();
                let wanted = wanted_by(&watched, &candidates);
                let n = sorted.len();
                let blocks: Vec<Block> = (0..n)
                    .step_by(BLOCK)
                    .map(|start| Block::new(start..n.min(start + BLOCK), &wanted, &candidates, d))
                    .filter(|b| b.wanted != 0)
                    .collect();
                let all = Block::new(0..n, &wanted, &candidates, d);
                LastWidth {
                    sorted,
                    wanted,
                    blocks,
                    all,
                    entries,
                    states,
                }
            })
            .collect();
        let mut last = LastCell {
            d,
            values: &table.values,
            zero: vec![0.0; d],
            limit_of,
            value,
            widths,
            kept: Kept {
                best: (f64::NEG_INFINITY, None),
                fronts,
                pair,
                evaluated: 0,
            },
            pair_bit,
        };
        if track {
            last.optimum();
        }
        last.fronts();
        let Kept {
            best,
            mut fronts,
            pair,
            evaluated,
        } = last.kept;
        let mut out: Vec<(u32, u32)> = best.1.into_iter().collect();
        for f in &mut fronts {
            f.merge();
            out.extend(f.points.iter().map(|p| p.2));
        }
        if let Some(PairFront { rows, networks, .. }) = pair {
            let all = (0..networks.len() as u32).collect();
            out.extend(
                pareto(&rows, 3, all)
                    .into_iter()
                    .map(|i| networks[i as usize]),
            );
        }
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
    /// Where the merit is minus a stored NN-Degree (accuracy depends on nothing else).
    merit_degree: Option<usize>,
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
        let degree = plan.degree().map(|k| (k, plan.sign(k)));
        let params = plan
            .params
            .filter(|_| c != 0.0)
            .map(|k| (k, plan.sign(k), plan.sign(k) * c > 0.0));
        Value {
            model: &problem.accuracy,
            merit_degree: degree
                .filter(|_| params.is_none() && problem.accuracy.form.degree.is_some())
                .map(|(k, _)| k),
            degree,
            params,
            kind,
            min_accuracy,
        }
    }

    /// The quantities accuracy depends on.
    fn accuracy_keys(&self) -> Vec<usize> {
        let degree = self.degree.filter(|_| self.model.form.degree.is_some());
        degree
            .map(|(k, _)| k)
            .into_iter()
            .chain(self.params.map(|(k, ..)| k))
            .collect()
    }

    /// The quantities the objective depends on besides accuracy.
    fn objective_keys(&self) -> Vec<usize> {
        match &self.kind {
            ValueKind::Accuracy => Vec::new(),
            ValueKind::TradeOff { costs, .. } => costs.iter().map(|&(k, _)| k).collect(),
            ValueKind::MinCost(k) => vec![*k],
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

    /// An upper bound, over the quantity vectors between `lo` and `hi`, of a merit that orders
    /// networks as accuracy does (exact when `lo` is `hi`): the NN-Degree term's argument, with
    /// no logarithm, when accuracy depends on NN-Degree alone; accuracy itself otherwise.
    fn merit(&self, lo: &[f64], hi: &[f64]) -> f64 {
        self.merit_with(lo, hi, None)
    }

    /// `merit`, given the accuracy bound over the same vectors when it is known.
    fn merit_with(&self, lo: &[f64], hi: &[f64], accuracy: Option<f64>) -> f64 {
        match self.merit_degree {
            Some(k) => -lo[k],
            None => accuracy.unwrap_or_else(|| self.accuracy(lo, hi)),
        }
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

    /// Upper bound of the objective over all quantity vectors between `lo` and `hi`.
    fn bound(&self, lo: &[f64], hi: &[f64]) -> f64 {
        self.objective(self.accuracy(lo, hi), lo, false)
    }

    /// The objective with accuracy `acc` and costs `lo`: an upper bound over costs from `lo`
    /// on, or the exact value at `lo` when `point`.
    fn objective(&self, acc: f64, lo: &[f64], point: bool) -> f64 {
        match &self.kind {
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
        }
    }
}

/// A front point: (cost, merit, network).
type Point = (f64, f64, (u32, u32));

/// Feasible complete networks not dominated in (cost at `key`, -merit). Inserting into a
/// sorted staircase moves its tail each time, so new points wait in `pending` and are merged
/// in batches.
struct Front {
    key: usize,
    /// The staircase as of the last merge: ordered by cost with accuracy rising.
    points: Vec<Point>,
    /// Points added since, not checked against each other.
    pending: Vec<Point>,
    shadow: Shadow,
}

impl Front {
    /// Whether a point at least as good as (cost in `q`, `merit`) is already in.
    fn dominated(&self, q: &[f64], merit: f64) -> bool {
        if self.shadow.covers(q, merit) {
            return true;
        }
        let i = self.points.partition_point(|p| p.0 <= q[self.key]);
        i > 0 && self.points[i - 1].1 >= merit
    }

    fn new(key: usize, shadow: Shadow) -> Self {
        Front {
            key,
            points: Vec::new(),
            pending: Vec::new(),
            shadow,
        }
    }

    fn insert(&mut self, q: &[f64], merit: f64, network: (u32, u32)) {
        if self.dominated(q, merit) {
            return;
        }
        self.pending.push((q[self.key], merit, network));
        self.shadow.add(q, merit);
        if self.pending.len() >= 64 {
            self.merge();
        }
    }

    /// Merges the pending points into the staircase (the earlier of equal points stays).
    fn merge(&mut self) {
        let by_cost = |a: &Point, b: &Point| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1));
        self.pending.sort_by(by_cost);
        let old = std::mem::take(&mut self.points);
        let (mut a, mut b) = (old.iter().peekable(), self.pending.iter().peekable());
        let mut best = f64::NEG_INFINITY;
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if by_cost(y, x).is_lt() => b.next(),
                (Some(_), _) => a.next(),
                (None, _) => b.next(),
            };
            let Some(&p) = next else { break };
            if p.1 > best {
                best = p.1;
                self.points.push(p);
            }
        }
        self.pending.clear();
    }
}

/// A constant-time, one-sided dominance test over one or two costs: a grid whose cell holds the
/// best merit of the points added with every cost strictly below the cell's lower corner.
/// `covers` answering yes proves that an added point dominates; no proves nothing.
struct Shadow {
    keys: Vec<usize>,
    lo: Vec<f64>,
    scale: Vec<f64>,
    bins: usize,
    best: Vec<f64>,
}

impl Shadow {
    /// A grid over `keys` spanning `lo..hi` (values outside still work, with less effect).
    fn new(keys: Vec<usize>, lo: &[f64], hi: &[f64]) -> Self {
        let bins: usize = if keys.len() == 1 { 1024 } else { 32 };
        let scale = keys
            .iter()
            .map(|&k| {
                let span = hi[k] - lo[k];
                if span > 0.0 && span.is_finite() {
                    bins as f64 / span
                } else {
                    0.0
                }
            })
            .collect();
        Shadow {
            lo: keys.iter().map(|&k| lo[k]).collect(),
            best: vec![f64::NEG_INFINITY; bins.pow(keys.len() as u32)],
            keys,
            scale,
            bins,
        }
    }

    /// Grid coordinate of `q` along axis `i`, before flooring.
    fn coordinate(&self, q: &[f64], i: usize) -> f64 {
        (q[self.keys[i]] - self.lo[i]) * self.scale[i]
    }

    fn covers(&self, q: &[f64], merit: f64) -> bool {
        let mut at = 0;
        for i in 0..self.keys.len() {
            let x = self.coordinate(q, i);
            // The cell whose lower corner is at or below `q` (none below the grid, or NaN).
            if x.is_nan() || x < 0.0 {
                return false;
            }
            at = at * self.bins + (x as usize).min(self.bins - 1);
        }
        self.best[at] >= merit
    }

    fn add(&mut self, q: &[f64], merit: f64) {
        let n = self.bins;
        // The first cell along each axis whose lower corner is strictly above `q`.
        let mut first = [0; 2];
        for (i, f) in first.iter_mut().enumerate().take(self.keys.len()) {
            let x = self.coordinate(q, i);
            if x.is_nan() {
                return;
            }
            *f = if x < 0.0 {
                0
            } else {
                (x as usize).saturating_add(1)
            };
            if *f >= n {
                return;
            }
        }
        // Cells only grow along each axis, so each row fills a prefix and the rows stop at
        // the first that needs nothing.
        let rows = if self.keys.len() == 1 {
            0..1
        } else {
            first[0]..n
        };
        let column = first[self.keys.len() - 1];
        for r in rows {
            let row = &mut self.best[r * n..(r + 1) * n];
            if row[column] >= merit {
                break;
            }
            for b in &mut row[column..] {
                if *b >= merit {
                    break;
                }
                *b = merit;
            }
        }
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
        .front_costs
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
    use crate::fit::AccuracyForm;
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

    /// A model over totals, and in half the models per-kind layer counts and per-stage
    /// counts too; a quarter of the coefficients zero.
    fn model(r: &mut SplitMix64, metric: CostMetric) -> HardwareModel {
        let mut terms = vec![
            (Feature::Macs, 1e-7),
            (Feature::ActivationBytes, 1e-6),
            (Feature::WeightBytes, 1e-6),
            (Feature::ConcatBytes, 1e-5),
            (Feature::Kernels, 0.05),
            (Feature::Constant, 0.5),
        ];
        if r.below(2) == 0 {
            terms.extend([
                (Feature::Conv3x3Layers, 0.05),
                (Feature::ConcatLayers, 0.05),
                (Feature::PoolLayers, 0.1),
            ]);
            // Stages of different cost (up to 30 times apart), so that models disagree more.
            for s in 0..crate::features::MAX_STAGES {
                let k = 30f64.powf(unit(r));
                terms.push((Feature::stage_macs(s), 1e-7 * k));
                terms.push((Feature::stage_layers(s), 0.05 * k));
                terms.push((Feature::stage_activation_bytes(s), 1e-6 * k));
                terms.push((Feature::stage_concat_bytes(s), 1e-5 * k));
            }
        }
        let (features, coefficients) = terms
            .into_iter()
            .map(|(f, s)| (f, if r.below(4) == 0 { 0.0 } else { s * unit(r) }))
            .unzip();
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
        let (mut feasible, mut infeasible, mut inexact, mut pairs) = (0, 0, 0, 0);
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
                    // Inexact plans prune params as a cost, so their miss may be farther.
                    let found = miss_size(&miss.violations);
                    assert!(
                        (found - brute_miss).abs() <= 1e-9 * brute_miss
                            || (!result.exact && found > brute_miss),
                        "case {case}: miss {found} vs {brute_miss}"
                    );
                }
                (Some(o), Some(b)) if result.exact => {
                    feasible += 1;
                    assert!(
                        (o - b.objective).abs() <= 1e-9 * o.abs().max(1e-12),
                        "case {case}: {o} vs {}",
                        b.objective
                    );
                    // Each front, against one cost or the pair, is the brute-force front.
                    for f in &result.fronts {
                        let cost = |s: &Scored, name: &str| {
                            let (dev, metric) = name.split_once('.').unwrap();
                            s.costs
                                .iter()
                                .find(|c| c.device == dev && metric_name(c.metric) == metric)
                                .unwrap()
                                .value
                        };
                        let point = |s: &Scored| {
                            let mut v: Vec<f64> = f.against.iter().map(|a| cost(s, a)).collect();
                            v.push(s.accuracy.value);
                            v
                        };
                        let dominates = |a: &[f64], b: &[f64]| {
                            let n = a.len() - 1;
                            a[..n].iter().zip(&b[..n]).all(|(x, y)| x <= y) && a[n] >= b[n]
                        };
                        let all: Vec<Vec<f64>> = ok.iter().map(|s| point(s)).collect();
                        let mut expected: Vec<Vec<f64>> = all
                            .iter()
                            .enumerate()
                            .filter(|(i, p)| {
                                !all.iter()
                                    .enumerate()
                                    .any(|(j, q)| dominates(q, p) && (q != *p || j < *i))
                            })
                            .map(|(_, p)| p.clone())
                            .collect();
                        let mut got: Vec<Vec<f64>> = f.points.iter().map(point).collect();
                        for v in [&mut expected, &mut got] {
                            v.sort_by(|a, b| {
                                a.iter()
                                    .zip(b)
                                    .map(|(x, y)| x.total_cmp(y))
                                    .find(|o| o.is_ne())
                                    .unwrap_or(std::cmp::Ordering::Equal)
                            });
                        }
                        assert_eq!(got.len(), expected.len(), "case {case}: {:?}", f.against);
                        for (g, e) in got.iter().zip(&expected) {
                            for (x, y) in g.iter().zip(e) {
                                assert!((x - y).abs() <= 1e-9 * y.abs(), "case {case}");
                            }
                        }
                        pairs += usize::from(f.against.len() == 2);
                    }
                }
                (Some(o), Some(b)) => {
                    inexact += 1;
                    let gap = result.accuracy_gap_bound.unwrap();
                    if matches!(p.objective, Objective::MaxAccuracy) {
                        assert!(o - b.objective <= gap + 1e-12, "case {case}");
                    }
                }
                // Pruning params as a cost may drop every network that meets an accuracy
                // floor (documented on `SearchResult::exact`).
                (Some(_), None)
                    if !result.exact && matches!(p.objective, Objective::MinCost { .. }) =>
                {
                    inexact += 1;
                }
                (o, b) => panic!(
                    "case {case}: brute force {o:?}, search {:?}",
                    b.as_ref().map(|b| b.objective)
                ),
            }
        }
        assert!(
            feasible > 60 && infeasible > 4 && pairs > 5,
            "{feasible} {infeasible} {inexact} {pairs}"
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
