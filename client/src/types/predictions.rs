//! Batch predictions of accuracy and costs with the newest fits.

use flash_core::fit::Interval;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PredictionRequest {
    /// Architecture ids (strings) or specs (objects), mixed freely.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub architectures: Vec<serde_json::Value>,
    /// Predict latency and energy with this device's newest fits.
    pub device: Option<String>,
    /// Predict accuracy with this data set's newest fit.
    pub dataset: Option<String>,
}

/// The fits used, by id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FitsUsed {
    pub accuracy_model: Option<String>,
    pub latency_model: Option<String>,
    pub energy_model: Option<String>,
    /// Analytic accelerators only.
    pub area_model: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PredictionItem {
    /// The architecture's id (of the spec, when a spec was sent).
    pub architecture_id: String,
    /// Predicted accuracy with its 95% prediction interval.
    pub accuracy: Option<Interval>,
    pub latency_ms: Option<f64>,
    pub energy_mj: Option<f64>,
    /// Predicted latency (ms) with the 95% interval the measured (normalized) latency lies in,
    /// from the fit's cross-validated relative residuals.
    pub latency: Option<Interval>,
    /// Predicted energy (mJ) with its 95% prediction interval.
    pub energy: Option<Interval>,
    /// Analytic accelerators only.
    pub area_mm2: Option<f64>,
    /// Each prediction that is an extrapolation, with the features beyond what its fit was
    /// fitted on (`latency: macs = 4.1e9 is outside the fitted range [1.2e7, 9.8e8]`): an
    /// ImageNet network priced by a fit on CIFAR cells, say. Empty (left out) when every
    /// prediction lies inside its fit's data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PredictionResponse {
    pub fits: FitsUsed,
    pub items: Vec<PredictionItem>,
}
