//! Co-design searches: requests, the stored record with its verification, and re-measurement.

use flash_core::Space;
use flash_core::measurement::Protocol;
use flash_core::search::{Objective, SearchResult};
use serde::{Deserialize, Serialize};

use super::refinement::Refinement;

/// Limits on one device (each optional).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceConstraint {
    pub device: String,
    /// Latency limit, ms per inference.
    pub max_latency_ms: Option<f64>,
    /// Energy limit, mJ per inference.
    pub max_energy_mj: Option<f64>,
    /// Area limit, mm^2.
    pub max_area_mm2: Option<f64>,
    /// Use this latency fit (an id of the device's hardware models) instead of the newest.
    pub latency_model: Option<String>,
    /// Use this energy fit instead of the newest.
    pub energy_model: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// A grid space (default `flash-densenet`).
    #[serde(default = "default_space")]
    pub space: String,
    /// The data set whose newest accuracy model predicts accuracy.
    pub dataset: String,
    /// Use this accuracy fit (an id of the data set's accuracy models) instead of the newest.
    pub accuracy_model: Option<String>,
    /// Target devices with their limits; their newest hardware models predict costs.
    pub devices: Vec<DeviceConstraint>,
    pub max_params: Option<u64>,
    pub max_macs: Option<u64>,
    /// Default: maximise predicted accuracy.
    #[serde(default = "default_objective")]
    pub objective: Objective,
    /// In (0, 1), e.g. 0.95: every cost limit then applies to the cost's upper prediction
    /// bound at this confidence (one-sided), so that the winner meets its budgets when
    /// measured with that probability under the fitted models. Absent: limits apply to the
    /// predictions themselves.
    #[serde(default)]
    pub confidence: Option<f64>,
}

fn default_space() -> String {
    Space::default_space().name.to_string()
}

fn default_objective() -> Objective {
    Objective::MaxAccuracy
}

/// The fits a search used, by id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchFits {
    pub accuracy_model: String,
    /// Per device: the latency and energy model ids it used.
    pub devices: Vec<DeviceFits>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceFits {
    pub device: String,
    pub latency_model: Option<String>,
    pub energy_model: Option<String>,
}

/// A winner measured on a device: predicted against measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    pub architecture_id: String,
    pub device: String,
    /// 1 for the optimum.
    pub rank: i64,
    pub job_id: String,
    pub job_state: String,
    pub predicted_latency_ms: Option<f64>,
    /// The measured normalized latency: the statistic the latency model was fitted on, and the
    /// one the limit is judged on.
    pub measured_latency_ms: Option<f64>,
    /// Whether the measurement was paired with the reference network (if not, the normalized
    /// latency is the raw p50).
    pub paired: Option<bool>,
    /// Raw median and p90 of the same measurement, for the record.
    pub measured_p50_ms: Option<f64>,
    pub measured_p90_ms: Option<f64>,
    pub predicted_energy_mj: Option<f64>,
    /// Energy per inference on the same scale as the model's (an estimate follows the
    /// latency's normalization; a sensor's reading is not scaled).
    pub measured_energy_mj: Option<f64>,
    /// How the measured energy was obtained (`estimated` is not a measurement).
    pub energy_method: Option<String>,
    pub max_latency_ms: Option<f64>,
    /// Whether the measured normalized latency meets the latency limit (absent until measured
    /// or when there is no limit).
    pub meets_latency_limit: Option<bool>,
}

/// The winner evaluated with an analytic device's own crossbar model (the search used a linear
/// surrogate of it): the analytic counterpart of re-measuring.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticCheck {
    pub device: String,
    pub architecture_id: String,
    pub latency_ms: f64,
    pub energy_mj: f64,
    pub area_mm2: f64,
    pub tiles: u64,
    /// Whether the crossbar model's values meet the device's limits.
    pub meets_limits: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchRecord {
    pub id: String,
    pub request: SearchRequest,
    pub fits: SearchFits,
    pub result: SearchResult,
    pub verification: Vec<Verification>,
    /// For analytic devices: the winner under the device's crossbar model.
    pub analytic: Vec<AnalyticCheck>,
    /// The closed loop, when verification asked for `refine`.
    #[serde(default)]
    pub refinement: Option<Refinement>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// How many winners to measure: the optimum, then the best other front points by
    /// objective (default 1, at most 20).
    pub top_k: Option<usize>,
    /// Also measure this many points spread evenly along the search's first Pareto front
    /// (by its cost, from the cheapest to the most accurate; at most 20, default none), to see
    /// where the models hold along it. They follow the winners in rank.
    #[serde(default)]
    pub front_points: Option<usize>,
    /// Protocol overrides for the measurement jobs.
    #[serde(default)]
    pub protocol: Protocol,
    /// Close the loop: when the measured winner misses a latency budget, add the measurement
    /// to the device's data, refit its latency model, search again (with the budget scaled by
    /// the miss) and measure the new winner, until a measured winner meets every budget or
    /// `max_rounds` is reached. Runs in the server, survives restarts; the record shows every
    /// round. Needs a device with a latency budget that an agent measures.
    #[serde(default)]
    pub refine: bool,
    /// Rounds of the loop, the first included (default 3, 1..=10).
    #[serde(default)]
    pub max_rounds: Option<u32>,
}
