//! Fitted models: hardware models per device and metric, accuracy predictors per data set.

use flash_core::fit::{AccuracyFit, AccuracyForm, CostMetric, FeatureSet, HardwareFit};
use serde::{Deserialize, Serialize};

/// One sample of a fit: what was measured (or trained) and what leave-one-out predicted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FitSample {
    pub architecture_id: String,
    pub actual: f64,
    /// Prediction of the fit made without this sample.
    pub loo_predicted: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HardwareModelRecord {
    pub id: String,
    pub device: String,
    pub metric: CostMetric,
    /// 1 for the device's first fit of this metric, then 2, 3, ...
    pub version: i64,
    pub fit: HardwareFit,
    /// How the fitted values were obtained (for energy: `rapl`, `estimated`, ...).
    pub value_source: String,
    pub samples: Vec<FitSample>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccuracyModelRecord {
    pub id: String,
    pub dataset: String,
    pub space: Option<String>,
    pub version: i64,
    pub fit: AccuracyFit,
    pub samples: Vec<FitSample>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HardwareModelRequest {
    pub device: String,
    /// `latency` (ms: each measurement's normalized latency, the raw p50 where unpaired) or
    /// `energy` (mJ per inference; estimates follow the latency's normalization).
    pub metric: CostMetric,
    /// Fit only on these architectures (default: every architecture measured on the device).
    pub fit_on: Option<Vec<String>>,
    /// Candidate feature sets (default: all, chosen by leave-one-out MAPE).
    #[serde(default)]
    pub feature_sets: Vec<FeatureSet>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccuracyModelRequest {
    pub dataset: String,
    /// Only records of architectures of this space.
    pub space: Option<String>,
    /// Candidate forms (default: the standard small set, chosen by leave-one-out RMSE).
    #[serde(default)]
    pub forms: Vec<AccuracyForm>,
}
