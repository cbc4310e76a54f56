//! Where a model was fitted: the range of each of its features over the fit's samples (the
//! counts of a hardware model; NN-Degree and parameters of an accuracy model), so that a
//! prediction outside them (an ImageNet network priced by a model fitted on CIFAR cells, a family
//! with operators the samples never had) says it is an extrapolation.

use serde::{Deserialize, Serialize};

use super::accuracy::AccuracyModel;
use super::hardware::HardwareModel;
use crate::features::{Feature, FeatureVector};

/// The least and greatest value of one feature over the samples a model was fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FittedRange {
    pub min: f64,
    pub max: f64,
}

/// One feature of an architecture outside the range its model was fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Extrapolation {
    /// The feature's name (`macs`, `nn_degree`, ...).
    pub feature: String,
    /// The architecture's value.
    pub value: f64,
    pub fitted: FittedRange,
}

impl std::fmt::Display for Extrapolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} = {} is outside the fitted range [{}, {}]",
            self.feature, self.value, self.fitted.min, self.fitted.max
        )
    }
}

/// The range of `values`.
pub(super) fn range_of(values: impl Iterator<Item = f64>) -> FittedRange {
    values.fold(
        FittedRange {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        },
        |r, v| FittedRange {
            min: r.min.min(v),
            max: r.max.max(v),
        },
    )
}

/// The range of each of `features` over `xs`.
pub(super) fn fitted_ranges(xs: &[FeatureVector], features: &[Feature]) -> Vec<FittedRange> {
    features
        .iter()
        .map(|&f| range_of(xs.iter().map(|x| x.get(f))))
        .collect()
}

/// Relative slack below and above a range: counts are integers, so only rounding is forgiven.
const SLACK: f64 = 1e-9;

impl FittedRange {
    /// `value` of feature `name` when it lies outside this range.
    pub(super) fn check(self, name: &str, value: f64) -> Option<Extrapolation> {
        let outside =
            value < self.min - SLACK * self.min.abs() || value > self.max + SLACK * self.max.abs();
        outside.then(|| Extrapolation {
            feature: name.to_string(),
            value,
            fitted: self,
        })
    }
}

impl HardwareModel {
    /// The features of `x` outside the ranges the model was fitted on; empty when none are, and
    /// for a model without ranges (written down from coefficients, or stored before they were
    /// kept).
    pub fn extrapolations(&self, x: &FeatureVector) -> Vec<Extrapolation> {
        self.features
            .iter()
            .zip(&self.fitted_ranges)
            .filter_map(|(&feature, range)| range.check(feature.into(), x.get(feature)))
            .collect()
    }
}

impl AccuracyModel {
    /// `nn_degree` and `params` where they lie outside the records the model was fitted on (each
    /// only if the form uses it).
    pub fn extrapolations(&self, nn_degree: f64, params: f64) -> Vec<Extrapolation> {
        [
            ("nn_degree", self.fitted_nn_degree, nn_degree),
            ("params", self.fitted_params, params),
        ]
        .into_iter()
        .filter_map(|(name, range, value)| range?.check(name, value))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::features::{Feature, FeatureVector};
    use crate::fit::{CostMetric, HardwareModel, fit_hardware};
    use crate::space::Space;

    #[test]
    fn a_prediction_outside_the_fitted_samples_names_the_features_beyond_them() {
        let space = Space::default_space();
        let data: Vec<(FeatureVector, f64)> = space
            .sample_stratified(25, 3)
            .iter()
            .map(|s| {
                let x = FeatureVector::of_spec(s);
                (
                    x,
                    1e-8 * x.get(Feature::Macs) + 0.05 * x.get(Feature::Kernels) + 0.2,
                )
            })
            .collect();
        let model = fit_hardware(CostMetric::Latency, &data, &[]).unwrap().model;
        assert_eq!(model.fitted_ranges.len(), model.features.len());
        // Every sample it was fitted on lies inside.
        for (x, _) in &data {
            assert!(model.extrapolations(x).is_empty());
        }
        // Ten times the largest sample's every count lies beyond the range of each feature the
        // model uses but the constant.
        let largest = data
            .iter()
            .map(|(x, _)| *x)
            .max_by(|a, b| a.get(Feature::Macs).total_cmp(&b.get(Feature::Macs)))
            .unwrap();
        let mut huge = largest;
        for v in huge.0.iter_mut() {
            *v *= 10.0;
        }
        huge.0[Feature::Constant.index()] = 1.0;
        let beyond = model.extrapolations(&huge);
        let used: Vec<Feature> = model
            .features
            .iter()
            .copied()
            .filter(|&f| f != Feature::Constant)
            .collect();
        let named: Vec<String> = used.iter().map(|&f| <&str>::from(f).to_string()).collect();
        assert_eq!(
            beyond.iter().map(|e| e.feature.clone()).collect::<Vec<_>>(),
            named
        );
        let text = beyond[0].to_string();
        assert!(text.contains("outside the fitted range"), "{text}");
        // A model written down from coefficients knows no range, so it never warns.
        let given = HardwareModel::new(CostMetric::Area, vec![Feature::Macs], vec![1.0]).unwrap();
        assert!(given.extrapolations(&huge).is_empty());
    }
}
