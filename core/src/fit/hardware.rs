//! Analytic hardware models: a cost (latency, energy or area) as a non-negative combination of
//! the architecture's counts, fitted by NNLS on relative error and chosen among a few feature
//! sets by leave-one-out MAPE.

use serde::{Deserialize, Serialize};

use super::FitError;
use super::linalg::{Matrix, nnls};
use super::stats;
use crate::features::{Feature, FeatureVector, NUM_FEATURES};
use crate::metrics::Metrics;
use crate::space::ArchSpec;

/// What a hardware model predicts, and its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CostMetric {
    /// Milliseconds per inference.
    Latency,
    /// Millijoules per inference.
    Energy,
    /// Square millimetres of accelerator.
    Area,
}

/// The candidate feature sets, smallest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FeatureSet {
    /// MACs and a constant: the FLOPs-only baseline.
    Macs,
    /// MACs, activation and weight bytes, constant.
    MacsBytes,
    /// MACs, bytes, concat copies, kernel launches, constant.
    MacsBytesKernels,
    /// MACs per operator kind, bytes, concat copies, kernel launches, constant.
    PerKind,
}

impl FeatureSet {
    pub const ALL: [FeatureSet; 4] = [
        FeatureSet::Macs,
        FeatureSet::MacsBytes,
        FeatureSet::MacsBytesKernels,
        FeatureSet::PerKind,
    ];

    pub fn features(self) -> &'static [Feature] {
        use Feature::*;
        match self {
            FeatureSet::Macs => &[Macs, Constant],
            FeatureSet::MacsBytes => &[Macs, ActivationBytes, WeightBytes, Constant],
            FeatureSet::MacsBytesKernels => &[
                Macs,
                ActivationBytes,
                WeightBytes,
                ConcatBytes,
                Kernels,
                Constant,
            ],
            FeatureSet::PerKind => &[
                MacsConv3x3,
                MacsConv1x1,
                MacsDepthwise,
                MacsConvOther,
                MacsLinear,
                ActivationBytes,
                WeightBytes,
                ConcatBytes,
                Kernels,
                Constant,
            ],
        }
    }
}

/// A cost as `sum_i coefficient_i * feature_i`. Fitted by [`fit_hardware`], or written down
/// from a device profile (an in-memory-computing crossbar model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HardwareModel {
    pub metric: CostMetric,
    pub features: Vec<Feature>,
    /// One per feature, in the same order, never negative.
    pub coefficients: Vec<f64>,
}

impl HardwareModel {
    /// A model from given coefficients (one per distinct feature, finite, non-negative).
    pub fn new(
        metric: CostMetric,
        features: Vec<Feature>,
        coefficients: Vec<f64>,
    ) -> Result<Self, FitError> {
        let mut sorted = features.clone();
        sorted.sort();
        sorted.dedup();
        if features.is_empty()
            || sorted.len() != features.len()
            || coefficients.len() != features.len()
            || coefficients.iter().any(|c| !c.is_finite() || *c < 0.0)
        {
            return Err(FitError::InvalidModel(
                "a model needs distinct features, one finite non-negative coefficient each".into(),
            ));
        }
        Ok(HardwareModel {
            metric,
            features,
            coefficients,
        })
    }

    /// The coefficients laid out over every feature (zero where unused).
    pub fn weights(&self) -> [f64; NUM_FEATURES] {
        let mut w = [0.0; NUM_FEATURES];
        for (f, c) in self.features.iter().zip(&self.coefficients) {
            w[f.index()] = *c;
        }
        w
    }

    pub fn predict(&self, x: &FeatureVector) -> f64 {
        self.features
            .iter()
            .zip(&self.coefficients)
            .map(|(f, c)| c * x.get(*f))
            .sum()
    }

    /// Prediction for a cell spec from its closed-form counts.
    pub fn predict_spec(&self, spec: &ArchSpec) -> f64 {
        self.predict(&FeatureVector::of_spec(spec))
    }

    /// Prediction for any graph's metrics (ONNX imports).
    pub fn predict_metrics(&self, m: &Metrics) -> f64 {
        self.predict(&FeatureVector::from_metrics(m))
    }
}

/// How well a cost model predicts, on leave-one-out predictions unless said otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CostErrors {
    /// Mean absolute percentage error, percent.
    pub mape: f64,
    /// Share (0..=1) of predictions within +-10% of the measured value.
    pub within_10: f64,
    /// Share (0..=1) within +-5%.
    pub within_5: f64,
    pub spearman: f64,
    pub kendall: f64,
}

impl CostErrors {
    pub fn of(predicted: &[f64], actual: &[f64]) -> Self {
        CostErrors {
            mape: stats::mape(predicted, actual),
            within_10: stats::share_within(predicted, actual, 0.10),
            within_5: stats::share_within(predicted, actual, 0.05),
            spearman: stats::spearman(predicted, actual),
            kendall: stats::kendall_tau_b(predicted, actual),
        }
    }
}

/// Leave-one-out figures of one candidate feature set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeatureSetScore {
    pub feature_set: FeatureSet,
    pub loo: CostErrors,
}

/// A fitted hardware model and the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HardwareFit {
    pub model: HardwareModel,
    pub feature_set: FeatureSet,
    /// Samples fitted on.
    pub n: usize,
    /// Leave-one-out figures of the chosen set.
    pub loo: CostErrors,
    /// Figures of the final model on its own training data.
    pub in_sample: CostErrors,
    /// Leave-one-out prediction of each sample, in input order.
    pub loo_predictions: Vec<f64>,
    /// Every candidate set tried.
    pub candidates: Vec<FeatureSetScore>,
    /// Leave-one-out figures of the MACs-plus-constant baseline.
    pub baseline_macs: CostErrors,
    /// Why this set was chosen.
    pub reason: String,
}

/// NNLS on relative error: rows weighted by 1/y, so the fit minimises the sum of squared
/// relative errors, the quantity MAPE and the +-x% shares judge.
fn fit_set(xs: &[FeatureVector], ys: &[f64], features: &[Feature]) -> Vec<f64> {
    let rows: Vec<Vec<f64>> = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| features.iter().map(|f| x.get(*f) / y).collect())
        .collect();
    nnls(&Matrix::from_rows(&rows), &vec![1.0; ys.len()])
}

fn predict_with(x: &FeatureVector, features: &[Feature], coefficients: &[f64]) -> f64 {
    features
        .iter()
        .zip(coefficients)
        .map(|(f, c)| c * x.get(*f))
        .sum()
}

fn loo_predictions(xs: &[FeatureVector], ys: &[f64], features: &[Feature]) -> Vec<f64> {
    (0..xs.len())
        .map(|i| {
            let (mut tx, mut ty) = (xs.to_vec(), ys.to_vec());
            tx.remove(i);
            ty.remove(i);
            predict_with(&xs[i], features, &fit_set(&tx, &ty, features))
        })
        .collect()
}

/// Fits `metric` on `samples` (features, measured value > 0), choosing among `sets` (all of
/// them when empty) by leave-one-out MAPE; sets with at least as many features as samples are
/// skipped, and an explicitly requested set that is too large is an error.
pub fn fit_hardware(
    metric: CostMetric,
    samples: &[(FeatureVector, f64)],
    sets: &[FeatureSet],
) -> Result<HardwareFit, FitError> {
    let sets = if sets.is_empty() {
        &FeatureSet::ALL[..]
    } else {
        sets
    };
    for (i, (x, y)) in samples.iter().enumerate() {
        if !(y.is_finite() && *y > 0.0) || x.0.iter().any(|v| !v.is_finite()) {
            return Err(FitError::InvalidSample {
                index: i,
                message: "values must be finite and the measured value positive".into(),
            });
        }
    }
    let n = samples.len();
    let needed = sets
        .iter()
        .map(|s| s.features().len() + 1)
        .min()
        .unwrap_or(3);
    let baseline_needed = FeatureSet::Macs.features().len() + 1;
    if n < needed.max(baseline_needed) {
        return Err(FitError::NotEnoughSamples {
            needed: needed.max(baseline_needed),
            got: n,
        });
    }
    let xs: Vec<FeatureVector> = samples.iter().map(|s| s.0).collect();
    let ys: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let mut candidates = Vec::new();
    let mut best: Option<(FeatureSet, Vec<f64>, CostErrors)> = None;
    for &set in sets.iter().filter(|s| s.features().len() < n) {
        let loo = loo_predictions(&xs, &ys, set.features());
        let errors = CostErrors::of(&loo, &ys);
        candidates.push(FeatureSetScore {
            feature_set: set,
            loo: errors.clone(),
        });
        // Strictly lower MAPE is needed to prefer a later (larger) set.
        if best.as_ref().is_none_or(|b| errors.mape < b.2.mape) {
            best = Some((set, loo, errors));
        }
    }
    let Some((set, loo_predictions, loo)) = best else {
        return Err(FitError::NotEnoughSamples { needed, got: n });
    };
    let coefficients = fit_set(&xs, &ys, set.features());
    let model = HardwareModel {
        metric,
        features: set.features().to_vec(),
        coefficients,
    };
    let fitted: Vec<f64> = xs.iter().map(|x| model.predict(x)).collect();
    let baseline_macs = CostErrors::of(
        &self::loo_predictions(&xs, &ys, FeatureSet::Macs.features()),
        &ys,
    );
    let reason = if candidates.len() == 1 {
        format!("{set:?} was the only candidate feature set")
    } else {
        let runner_up = candidates
            .iter()
            .filter(|c| c.feature_set != set)
            .min_by(|a, b| a.loo.mape.total_cmp(&b.loo.mape))
            .expect("two or more candidates");
        format!(
            "lowest leave-one-out MAPE among {} feature sets: {:.2}% against {:.2}% for {:?}",
            candidates.len(),
            loo.mape,
            runner_up.loo.mape,
            runner_up.feature_set
        )
    };
    Ok(HardwareFit {
        model,
        feature_set: set,
        n,
        in_sample: CostErrors::of(&fitted, &ys),
        loo,
        loo_predictions,
        candidates,
        baseline_macs,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::space::Space;

    /// Latency-like data: MACs, bytes and kernels with multiplicative noise.
    fn samples(n: usize, noise: f64, seed: u64) -> Vec<(FeatureVector, f64)> {
        let mut rng = SplitMix64::new(seed);
        Space::default_space()
            .sample_stratified(n, seed)
            .iter()
            .map(|s| {
                let x = FeatureVector::of_spec(s);
                let y = 2e-9 * x.get(Feature::Macs)
                    + 1e-8 * x.get(Feature::ActivationBytes)
                    + 0.02 * x.get(Feature::Kernels)
                    + 0.3;
                let e = 1.0 + noise * (2.0 * rng.unit_f32() as f64 - 1.0);
                (x, y * e)
            })
            .collect()
    }

    #[test]
    fn recovers_a_model_the_data_was_made_from_and_beats_macs_only() {
        let data = samples(30, 0.0, 5);
        let fit = fit_hardware(CostMetric::Latency, &data, &[]).unwrap();
        assert!(fit.loo.mape < 1e-6, "{:?}", fit.loo);
        assert_eq!(fit.loo.within_5, 1.0);
        assert!(fit.baseline_macs.mape > fit.loo.mape);
        assert!(fit.model.coefficients.iter().all(|&c| c >= 0.0));
        assert_eq!(fit.candidates.len(), 4);
        assert!(fit.reason.contains("leave-one-out MAPE"));
    }

    #[test]
    fn refitting_gives_the_identical_model() {
        let data = samples(25, 0.05, 9);
        let a = fit_hardware(CostMetric::Energy, &data, &[]).unwrap();
        let b = fit_hardware(CostMetric::Energy, &data, &[]).unwrap();
        assert_eq!(a, b);
        assert!(a.loo.mape > 0.0 && a.loo.mape < 10.0, "{:?}", a.loo);
        // JSON keeps every figure to within float parsing (serde_json rounds the last bit).
        let back: HardwareFit = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        let x = FeatureVector::of_spec(&Space::default_space().sample_uniform(1, 1)[0]);
        let (p, q) = (a.model.predict(&x), back.model.predict(&x));
        assert!((p - q).abs() <= 1e-12 * p);
        assert_eq!((back.feature_set, back.n), (a.feature_set, a.n));
    }

    #[test]
    fn too_few_samples_is_a_typed_error() {
        let data = samples(5, 0.0, 1);
        assert!(matches!(
            fit_hardware(CostMetric::Latency, &data[..2], &[]),
            Err(FitError::NotEnoughSamples { needed: 3, got: 2 })
        ));
        assert!(matches!(
            fit_hardware(CostMetric::Latency, &data, &[FeatureSet::PerKind]),
            Err(FitError::NotEnoughSamples { needed: 11, got: 5 })
        ));
        // With 5 samples only the sets of fewer than 5 features are tried.
        let fit = fit_hardware(CostMetric::Latency, &data, &[]).unwrap();
        assert_eq!(fit.candidates.len(), 2);
        let mut bad = data.clone();
        bad[1].1 = 0.0;
        assert!(matches!(
            fit_hardware(CostMetric::Latency, &bad, &[]),
            Err(FitError::InvalidSample { index: 1, .. })
        ));
    }

    #[test]
    fn models_from_given_coefficients_are_checked() {
        let m = HardwareModel::new(
            CostMetric::Area,
            vec![Feature::WeightBytes, Feature::Constant],
            vec![1e-6, 2.0],
        )
        .unwrap();
        let spec = &Space::default_space().sample_uniform(1, 3)[0];
        let x = FeatureVector::of_spec(spec);
        assert_eq!(
            m.predict_spec(spec),
            1e-6 * x.get(Feature::WeightBytes) + 2.0
        );
        assert_eq!(m.predict_spec(spec), x.dot(&m.weights()));
        assert!(HardwareModel::new(CostMetric::Area, vec![Feature::Macs], vec![-1.0]).is_err());
        assert!(
            HardwareModel::new(
                CostMetric::Area,
                vec![Feature::Macs, Feature::Macs],
                vec![1.0, 1.0]
            )
            .is_err()
        );
    }
}
