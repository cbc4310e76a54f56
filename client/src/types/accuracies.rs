//! Trained accuracies of architectures on data sets (the accuracy predictor's data).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accuracy {
    pub id: String,
    pub architecture_id: String,
    pub dataset: String,
    /// Top-1 accuracy in [0, 1].
    pub accuracy: f64,
    pub epochs: Option<i64>,
    pub notes: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccuracyUpload {
    pub architecture_id: String,
    /// Data set name, e.g. `digits` or `cifar10`.
    pub dataset: String,
    /// Top-1 accuracy in [0, 1].
    pub accuracy: f64,
    pub epochs: Option<i64>,
    pub notes: Option<String>,
}
