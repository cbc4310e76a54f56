//! The problem a search is given and the result it returns (the public, serialised types).

use serde::{Deserialize, Serialize};

use crate::fit::{AccuracyModel, CostMetric, HardwareModel, Interval};
use crate::space::ArchSpec;

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
    pub(super) fn model(&self, metric: CostMetric) -> Option<&HardwareModel> {
        match metric {
            CostMetric::Latency => self.latency.as_ref(),
            CostMetric::Energy => self.energy.as_ref(),
            CostMetric::Area => self.area.as_ref(),
        }
    }

    pub(super) fn limit(&self, metric: CostMetric) -> Option<f64> {
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
    /// Minimise one device's cost subject to predicted accuracy >= `min_accuracy`, up to
    /// rounding (a network whose own accuracy is given meets the floor).
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
    /// With a confidence p in (0, 1), each latency, energy and area limit applies to the cost's
    /// one-sided upper prediction bound at p (the measured cost stays under it with probability
    /// p), which needs every limited cost's model to have a prediction interval. Absent: limits
    /// apply to the predictions.
    #[serde(default)]
    pub confidence: Option<f64>,
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
    /// The 95% prediction interval the measured cost lies in, when the model has one (fitted
    /// models do; models written from a profile's coefficients do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
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
    /// The predicted value; for a cost of a search with a confidence, its upper bound.
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

/// A limited cost of the best architecture against its limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BudgetCheck {
    pub device: String,
    pub metric: CostMetric,
    /// The model's prediction.
    pub predicted: f64,
    /// The upper prediction bound at the search's confidence (the prediction without one):
    /// what the limit applied to.
    pub bound: f64,
    pub limit: f64,
    /// `bound / predicted`: the margin the confidence asked for (1 without one).
    pub margin_factor: f64,
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
    /// The problem's confidence: limits applied to upper prediction bounds at it.
    #[serde(default)]
    pub confidence: Option<f64>,
    /// Each limited cost of `best` (none without a `best`).
    #[serde(default)]
    pub budget_checks: Vec<BudgetCheck>,
    /// With a confidence: the predicted accuracy of the optimum without the margins minus that
    /// of `best` (absent when either search finds nothing).
    #[serde(default)]
    pub accuracy_given_up: Option<f64>,
    /// With a confidence: how much worse `best`'s objective is than the optimum's without the
    /// margins (lower for a maximised objective, higher for a minimised cost; absent when
    /// either search finds nothing).
    #[serde(default)]
    pub objective_given_up: Option<f64>,
}
