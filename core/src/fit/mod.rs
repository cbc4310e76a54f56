//! Fitted models: hardware cost models (NNLS over the architecture counts), the NN-Degree
//! accuracy predictor, and batch scoring of many architectures with them.

mod accuracy;
mod extrapolation;
mod feature_set;
mod hardware;
mod interval;
pub mod linalg;
mod select;
pub mod stats;

pub use accuracy::{
    AccuracyErrors, AccuracyFit, AccuracyForm, AccuracyModel, AccuracyRecord, DegreeTerm,
    FormScore, INTERVAL_LEVEL, Interval, fit_accuracy,
};
pub use extrapolation::{Extrapolation, FittedRange};
pub use feature_set::FeatureSet;
pub use hardware::{
    CostErrors, CostMetric, FeatureSetScore, HardwareFit, HardwareModel, fit_hardware,
};
pub use interval::PredictionInterval;

use serde::{Deserialize, Serialize};

use crate::features::{Counts, Layout};
use crate::space::{ArchSpec, Family};

/// Why a model could not be fitted or built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("not enough samples: the fit needs at least {needed}, got {got}")]
    NotEnoughSamples { needed: usize, got: usize },
    #[error("sample {index}: {message}")]
    InvalidSample { index: usize, message: String },
    #[error("the data cannot determine any candidate form (constant or collinear inputs)")]
    Singular,
    #[error("invalid model: {0}")]
    InvalidModel(String),
}

/// Predictions for one architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Prediction {
    /// Predicted accuracy with its interval, when an accuracy model was given.
    pub accuracy: Option<Interval>,
    /// One value per hardware model, in the order given.
    pub costs: Vec<f64>,
}

/// Scores specs, DenseNet cells with closed-form counts only (no graph is built), other
/// families from their graphs: predicted accuracy and every hardware model's cost, in input
/// order.
pub fn predict_batch(
    specs: &[ArchSpec],
    accuracy: Option<&AccuracyModel>,
    hardware: &[HardwareModel],
) -> Vec<Prediction> {
    let weights: Vec<_> = hardware.iter().map(HardwareModel::weights).collect();
    // Specs of one space share a layout: build it once per run of equal shapes.
    let mut layout: Option<Layout> = None;
    specs
        .iter()
        .map(|spec| {
            let (counts, degree) = match spec.family() {
                Family::Densenet => {
                    let layout = match &layout {
                        Some(l) if l.fits(spec) => l,
                        _ => layout.insert(Layout::of_spec(spec)),
                    };
                    (layout.counts(spec), spec.nn_degree())
                }
                _ => Counts::and_degree(spec),
            };
            let x = counts.features(1.0);
            Prediction {
                accuracy: accuracy.map(|m| m.predict(degree, counts.params as f64)),
                costs: weights.iter().map(|w| x.dot(w)).collect(),
            }
        })
        .collect()
}
