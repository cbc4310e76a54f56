//! Search spaces and samples of them.

use flash_core::Space;
use serde::{Deserialize, Serialize};

use super::Architecture;

/// A space as the API shows it (sent only: a space is known by name, never sent back).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpaceView {
    #[serde(flatten)]
    pub space: Space,
    /// Choices for one cell.
    pub cell_choices: u64,
    /// Exact number of configurations, as a decimal string (it exceeds 2^53).
    pub size: String,
    /// The same, as a float for plotting.
    pub size_f64: f64,
}

impl From<&Space> for SpaceView {
    fn from(space: &Space) -> Self {
        SpaceView {
            cell_choices: space.cell_choices(),
            size: space.size().to_string(),
            size_f64: space.size() as f64,
            space: space.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpaceList {
    pub items: Vec<SpaceView>,
    /// Always absent: every space fits on one page.
    pub next_cursor: Option<String>,
}

/// What the sample is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// To be trained: informative sampling serves the accuracy model of `dataset`.
    Train,
    /// To be measured: informative sampling serves the latency model of `device`.
    #[default]
    Measure,
}

/// How the architectures are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Uniformly over the grid.
    Uniform,
    /// Spread evenly over NN-Degree.
    Stratified,
    /// Where the newest model for the purpose is least certain: greedy D-optimal design over a
    /// seeded uniform pool (needs that model).
    Informative,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SampleRequest {
    /// How many architectures, 1..=10000 (1..=200 for `informative`).
    pub n: usize,
    /// Seed of the draw (the same seed gives the same architectures).
    #[serde(default)]
    pub seed: u64,
    /// The same as `strategy: stratified` (kept for older clients).
    #[serde(default)]
    pub stratified: bool,
    /// Default `measure`.
    #[serde(default)]
    pub purpose: Purpose,
    /// Default `uniform` (or `stratified` when `stratified` is true).
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// The device whose latency model `informative` serves, for `purpose: measure`.
    #[serde(default)]
    pub device: Option<String>,
    /// The data set whose accuracy model `informative` serves, for `purpose: train`.
    #[serde(default)]
    pub dataset: Option<String>,
}

/// Why an informative sample chose an architecture.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SampleScore {
    pub architecture_id: String,
    /// `x^T (X^T X)^-1 x` of its regressors under the model's training set and the earlier
    /// picks: how much of the model's uncertainty it resolves.
    pub leverage: f64,
    /// Predicted accuracy's standard deviation there, `s sqrt(1 + leverage)` (accuracy models
    /// only).
    pub predictive_std: Option<f64>,
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SampleResponse {
    pub space: String,
    pub seed: u64,
    /// Whether the strategy is `stratified`.
    pub stratified: bool,
    pub purpose: Purpose,
    pub strategy: Strategy,
    /// The model informative sampling scored with.
    pub model_id: Option<String>,
    /// For `informative`: one per item, in the same order (best first), with the pool scored.
    pub scores: Option<Vec<SampleScore>>,
    /// Candidates an informative sample was chosen from.
    pub pool: Option<usize>,
    pub items: Vec<Architecture>,
}
