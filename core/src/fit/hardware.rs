//! Analytic hardware models: a cost (latency, energy or area) as a non-negative combination of
//! the architecture's counts, fitted by NNLS on relative error and chosen among a few feature
//! sets by cross-validated MAPE (leave-one-out, or 10-fold above 40 samples: see `select`), with a relative prediction interval from nested
//! cross-validation.

use serde::{Deserialize, Serialize};
use strum::VariantArray;

use super::extrapolation::{FittedRange, fitted_ranges};
use super::feature_set::FeatureSet;
use super::interval::PredictionInterval;
use super::select::{self, CrossValidation, Design};
use super::{FitError, Interval, stats};
use crate::features::{Feature, FeatureVector, NUM_FEATURES};
use crate::metrics::Metrics;
use crate::space::ArchSpec;

// Its name (`"latency"`) is `<&'static str>::from(metric)` or `metric.to_string()`, spelt as in
// serde. (Not in the doc comment: that is the OpenAPI description.)
/// What a hardware model predicts, and its unit.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    VariantArray,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CostMetric {
    /// Milliseconds per inference.
    Latency,
    /// Millijoules per inference.
    Energy,
    /// Square millimetres of accelerator.
    Area,
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
    /// The relative prediction interval of a fitted model; `None` for a model written down
    /// from given coefficients.
    #[serde(default)]
    pub interval: Option<PredictionInterval>,
    /// The range of each feature (in `features` order) over the samples fitted on; empty for a
    /// model written down from coefficients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fitted_ranges: Vec<FittedRange>,
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
            interval: None,
            fitted_ranges: Vec::new(),
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

    /// The prediction (`value`) and the range the measured value lies in at `confidence` (in
    /// (0, 1), usually [`super::INTERVAL_LEVEL`]); `None` when the model has no interval.
    pub fn predict_interval(&self, x: &FeatureVector, confidence: f64) -> Option<Interval> {
        self.interval_around(self.predict(x), confidence)
    }

    /// The interval around a prediction `value` this model made (batch predictions compute the
    /// values elsewhere); `None` when the model has no interval.
    pub fn interval_around(&self, value: f64, confidence: f64) -> Option<Interval> {
        self.interval.map(|i| {
            let (lower, upper) = i.bounds(value, confidence);
            Interval {
                value,
                lower,
                upper,
            }
        })
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

/// How well a cost model predicts, on cross-validated predictions unless said otherwise.
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
    /// Its features that are not zero in every sample: the ones the data determine, and the
    /// set's size for the choice.
    #[serde(default)]
    pub features: usize,
    pub loo: CostErrors,
}

/// A fitted hardware model and the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HardwareFit {
    /// The chosen set fitted on every sample, over the set's features that are not zero in
    /// every sample.
    pub model: HardwareModel,
    pub feature_set: FeatureSet,
    /// Samples fitted on.
    pub n: usize,
    /// Nested cross-validated figures of the whole procedure: each sample predicted by the set
    /// chosen by leave-one-out on the other samples, fitted on them. Unlike the chosen set's
    /// own leave-one-out figures (in `candidates`), they include the luck of the choice.
    pub loo: CostErrors,
    /// Figures of the final model on its own training data.
    pub in_sample: CostErrors,
    /// Nested cross-validated prediction of each sample, in input order.
    pub loo_predictions: Vec<f64>,
    /// The set chosen without each sample, in input order.
    #[serde(default)]
    pub nested_feature_sets: Vec<FeatureSet>,
    /// Every candidate set tried, with its plain leave-one-out figures.
    pub candidates: Vec<FeatureSetScore>,
    /// Leave-one-out figures of the MACs-plus-constant baseline.
    pub baseline_macs: CostErrors,
    /// Why this set was chosen.
    pub reason: String,
}

impl HardwareFit {
    /// The model's prediction with its interval at `confidence` (see
    /// [`HardwareModel::predict_interval`]).
    pub fn predict_interval(&self, x: &FeatureVector, confidence: f64) -> Option<Interval> {
        self.model.predict_interval(x, confidence)
    }
}

/// Fits `metric` on `samples` (features, measured value > 0), choosing among `sets` (all of
/// them when empty) by cross-validated MAPE (leave-one-out up to 40 samples, 10-fold above:
/// `select::fold_count`), ties to fewer features (`select::choose`: within one
/// standard error of the lowest). A set is tried only with at most n - 2 features that are not
/// zero in every sample, so that every fold of the nested cross-validation can still score it
/// by leave-one-out; if no set qualifies it is an error.
pub fn fit_hardware(
    metric: CostMetric,
    samples: &[(FeatureVector, f64)],
    sets: &[FeatureSet],
) -> Result<HardwareFit, FitError> {
    let sets = if sets.is_empty() {
        FeatureSet::VARIANTS
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
    let xs: Vec<FeatureVector> = samples.iter().map(|s| s.0).collect();
    let ys: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let sizes: Vec<usize> = sets
        .iter()
        .map(|s| Design::new(&xs, &ys, s.features()).effective(None).len())
        .collect();
    // Every set has the constant, so n >= 3: enough for the MACs baseline's leave-one-out too.
    let needed = sizes.iter().min().expect("at least one set") + 2;
    if n < needed {
        return Err(FitError::NotEnoughSamples { needed, got: n });
    }
    let tried: Vec<usize> = (0..sets.len()).filter(|&k| sizes[k] + 2 <= n).collect();
    let designs: Vec<Design> = tried
        .iter()
        .map(|&k| Design::new(&xs, &ys, sets[k].features()))
        .collect();
    let CrossValidation {
        loo,
        scores,
        chosen,
        nested_choices,
        nested,
    } = select::cross_validate(&designs, &ys);
    let candidates: Vec<FeatureSetScore> = tried
        .iter()
        .zip(&loo)
        .map(|(&k, p)| FeatureSetScore {
            feature_set: sets[k],
            features: sizes[k],
            loo: CostErrors::of(p, &ys),
        })
        .collect();
    let set = sets[tried[chosen]];
    let design = &designs[chosen];
    let coefficients = design.fit(&[]);
    let used = design.effective(None);
    let model = HardwareModel {
        metric,
        coefficients: set
            .features()
            .iter()
            .zip(&coefficients)
            .filter(|(f, _)| used.contains(f))
            .map(|(_, c)| *c)
            .collect(),
        fitted_ranges: fitted_ranges(&xs, &used),
        features: used,
        interval: PredictionInterval::from_predictions(&nested, &ys),
    };
    let fitted: Vec<f64> = xs.iter().map(|x| model.predict(x)).collect();
    let baseline_macs = match tried.iter().position(|&k| sets[k] == FeatureSet::Macs) {
        Some(c) => candidates[c].loo.clone(),
        None => CostErrors::of(
            &Design::new(&xs, &ys, FeatureSet::Macs.features()).cross_validated(),
            &ys,
        ),
    };
    let loo_errors = CostErrors::of(&nested, &ys);
    let best = (0..scores.len())
        .min_by(|&a, &b| scores[a].mape.total_cmp(&scores[b].mape))
        .expect("one candidate or more");
    let agreed = nested_choices.iter().filter(|&&k| k == chosen).count();
    let reason = format!(
        "{set:?} ({} features) has the fewest features among the {} candidate sets whose \
         leave-one-out MAPE is within one standard error of the lowest ({:.2}% against \
         {:.2}% +- {:.2}% for {:?}); chosen without each sample in {agreed} of {n} folds, \
         nested cross-validated MAPE {:.2}%",
        scores[chosen].features,
        candidates.len(),
        scores[chosen].mape,
        scores[best].mape,
        scores[best].se,
        candidates[best].feature_set,
        loo_errors.mape,
    );
    Ok(HardwareFit {
        model,
        feature_set: set,
        n,
        in_sample: CostErrors::of(&fitted, &ys),
        loo: loo_errors,
        loo_predictions: nested,
        nested_feature_sets: nested_choices.iter().map(|&k| sets[tried[k]]).collect(),
        candidates,
        baseline_macs,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::INTERVAL_LEVEL;
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

    /// A standard normal draw (Box-Muller).
    fn normal(rng: &mut SplitMix64) -> f64 {
        let u = |r: &mut SplitMix64| ((r.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let (a, b) = (u(rng), u(rng));
        (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
    }

    /// `n` uniform architectures of the default space costed by `truth` with log-normal noise
    /// of standard deviation `noise`.
    fn generated(
        truth: impl Fn(&FeatureVector) -> f64,
        n: usize,
        noise: f64,
        seed: u64,
    ) -> Vec<(FeatureVector, f64)> {
        let mut rng = SplitMix64::new(seed ^ 0x5eed);
        Space::default_space()
            .sample_uniform(n, seed)
            .iter()
            .map(|s| {
                let x = FeatureVector::of_spec(s);
                (x, truth(&x) * (noise * normal(&mut rng)).exp())
            })
            .collect()
    }

    /// A per-stage latency: a MAC, a layer and a copied byte cost less in later stages.
    fn per_stage_latency(x: &FeatureVector) -> f64 {
        (0..3)
            .map(|s| {
                let f = 0.4f64.powi(s as i32);
                4e-9 * f * x.get(Feature::stage_macs(s))
                    + 0.05 * f * x.get(Feature::stage_layers(s))
                    + 1e-7 * f * x.get(Feature::stage_concat_bytes(s))
            })
            .sum::<f64>()
            + 0.2
    }

    #[test]
    fn metric_names_are_their_serde_names() {
        assert_eq!(CostMetric::VARIANTS.len(), 3);
        for &m in CostMetric::VARIANTS {
            let name: &str = m.into();
            assert_eq!(serde_json::to_value(m).unwrap(), name);
            assert_eq!(m.to_string(), name);
        }
        assert_eq!(<&str>::from(CostMetric::Latency), "latency");
    }

    #[test]
    fn recovers_a_model_the_data_was_made_from_and_beats_macs_only() {
        let data = samples(30, 0.0, 5);
        let fit = fit_hardware(CostMetric::Latency, &data, &[]).unwrap();
        assert!(fit.loo.mape < 1e-6, "{:?}", fit.loo);
        assert_eq!(fit.loo.within_5, 1.0);
        assert!(fit.baseline_macs.mape > fit.loo.mape);
        assert!(fit.model.coefficients.iter().all(|&c| c >= 0.0));
        assert_eq!(fit.candidates.len(), 6);
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
        let (i, j) = (
            a.predict_interval(&x, INTERVAL_LEVEL).unwrap(),
            back.predict_interval(&x, INTERVAL_LEVEL).unwrap(),
        );
        assert!((i.upper - j.upper).abs() <= 1e-12 * i.upper);
        assert!(i.lower < i.value && i.value < i.upper);
    }

    #[test]
    fn too_few_samples_is_a_typed_error() {
        let data = samples(6, 0.0, 1);
        // Macs + constant needs n - 2 >= 2.
        assert!(matches!(
            fit_hardware(CostMetric::Latency, &data[..3], &[]),
            Err(FitError::NotEnoughSamples { needed: 4, got: 3 })
        ));
        // PerKind's features that are not zero here: 3x3 and linear MACs, activation, weight
        // and concat bytes, kernels, constant.
        assert!(matches!(
            fit_hardware(CostMetric::Latency, &data, &[FeatureSet::PerKind]),
            Err(FitError::NotEnoughSamples { needed: 9, got: 6 })
        ));
        // With 6 samples only the sets of at most 4 features are tried.
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
    fn unused_stage_slots_do_not_count_and_are_left_out_of_the_model() {
        let data = generated(per_stage_latency, 25, 0.03, 3);
        let fit = fit_hardware(CostMetric::Latency, &data, &[FeatureSet::PerStage]).unwrap();
        // Three cells: three stages of MACs, layers and concat bytes, and the constant.
        assert_eq!(fit.candidates[0].features, 10);
        assert_eq!(fit.model.features.len(), 10);
        assert!(!fit.model.features.contains(&Feature::Stage3Macs));
    }

    #[test]
    fn nested_selection_finds_a_per_stage_model() {
        for seed in [1, 2, 3] {
            let data = generated(per_stage_latency, 30, 0.03, seed);
            let fit = fit_hardware(CostMetric::Latency, &data, &[]).unwrap();
            assert_eq!(fit.feature_set, FeatureSet::PerStage, "{}", fit.reason);
            let agreed = fit
                .nested_feature_sets
                .iter()
                .filter(|&&s| s == FeatureSet::PerStage)
                .count();
            assert!(agreed >= 25, "seed {seed}: {:?}", fit.nested_feature_sets);
            assert!(
                fit.loo.mape < fit.baseline_macs.mape / 2.0,
                "{}",
                fit.reason
            );
        }
    }

    /// Fits on 30 samples of the per-stage generator (4% noise), each with 200 fresh samples
    /// of the same generator.
    fn trials(seeds: std::ops::Range<u64>) -> Vec<(HardwareFit, Vec<(FeatureVector, f64)>)> {
        seeds
            .map(|seed| {
                let data = generated(per_stage_latency, 30, 0.04, seed);
                let fit = fit_hardware(CostMetric::Latency, &data, &[]).unwrap();
                (fit, generated(per_stage_latency, 200, 0.04, seed + 1000))
            })
            .collect()
    }

    #[test]
    fn the_nested_estimate_matches_the_error_on_fresh_data() {
        // Paired over trials: the mean difference within three of its standard errors, and no
        // trial off by more than a factor of two.
        let diffs: Vec<f64> = trials(1..9)
            .iter()
            .map(|(fit, fresh)| {
                let (p, y): (Vec<f64>, Vec<f64>) = fresh
                    .iter()
                    .map(|(x, y)| (fit.model.predict(x), *y))
                    .unzip();
                let on_fresh = stats::mape(&p, &y);
                let ratio = fit.loo.mape / on_fresh;
                assert!(
                    (0.5..2.0).contains(&ratio),
                    "{} vs {on_fresh}",
                    fit.loo.mape
                );
                fit.loo.mape - on_fresh
            })
            .collect();
        let k = diffs.len() as f64;
        let mean = diffs.iter().sum::<f64>() / k;
        let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
        assert!(mean.abs() < 3.0 * sd / k.sqrt(), "{diffs:?}");
    }

    #[test]
    fn intervals_cover_fresh_measurements_at_about_their_level() {
        let (mut covered, mut total) = (0, 0);
        for (fit, fresh) in trials(1..9) {
            for (x, y) in &fresh {
                let i = fit.predict_interval(x, INTERVAL_LEVEL).unwrap();
                covered += usize::from(i.lower <= *y && *y <= i.upper);
            }
            total += fresh.len();
        }
        let share = covered as f64 / total as f64;
        assert!((0.90..=0.99).contains(&share), "{share}");
    }

    #[test]
    fn ties_go_to_the_smaller_set_when_extra_features_carry_no_signal() {
        let macs_only = |x: &FeatureVector| 3e-9 * x.get(Feature::Macs) + 0.4;
        for seed in [4, 5, 6] {
            let fit = fit_hardware(
                CostMetric::Latency,
                &generated(macs_only, 25, 0.03, seed),
                &[],
            )
            .unwrap();
            assert_eq!(fit.feature_set, FeatureSet::Macs, "{}", fit.reason);
            assert_eq!(fit.model.features, vec![Feature::Macs, Feature::Constant]);
        }
    }

    #[test]
    fn models_from_given_coefficients_are_checked_and_have_no_interval() {
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
        assert_eq!(m.predict_interval(&x, INTERVAL_LEVEL), None);
        // A model stored before intervals existed still parses.
        let old = r#"{"metric":"area","features":["macs"],"coefficients":[1.0]}"#;
        let parsed: HardwareModel = serde_json::from_str(old).unwrap();
        assert_eq!(parsed.interval, None);
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
