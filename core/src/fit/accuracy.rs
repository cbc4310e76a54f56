//! The accuracy predictor: accuracy as a small function of NN-Degree (FLASH's method), optionally
//! with log(params), fitted by ordinary least squares and chosen by leave-one-out RMSE, with
//! Student-t prediction intervals.
//!
//! Every form is monotone in NN-Degree and in params (each enters through one monotone term),
//! which is what lets the co-design search stay exact: the search only needs the sign of each
//! term's effect.

use serde::{Deserialize, Serialize};

use super::FitError;
use super::extrapolation::{FittedRange, range_of};
use super::linalg::{Matrix, least_squares};
use super::stats;
use crate::features::Counts;
use crate::metrics::Metrics;
use crate::space::ArchSpec;

/// How NN-Degree `g` enters a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DegreeTerm {
    /// `b g`
    Linear,
    /// `b ln g`
    Log,
    /// `b / g`: saturates as g grows.
    Reciprocal,
}

impl DegreeTerm {
    pub fn apply(self, g: f64) -> f64 {
        match self {
            DegreeTerm::Linear => g,
            DegreeTerm::Log => g.ln(),
            DegreeTerm::Reciprocal => 1.0 / g,
        }
    }
}

/// `accuracy = a + b term(g) [+ c ln(params)]`; without a degree term it is the params-only
/// baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccuracyForm {
    pub degree: Option<DegreeTerm>,
    pub log_params: bool,
}

impl AccuracyForm {
    /// The candidates: each degree term, alone and with log(params).
    pub const CANDIDATES: [AccuracyForm; 6] = [
        AccuracyForm::new(Some(DegreeTerm::Linear), false),
        AccuracyForm::new(Some(DegreeTerm::Log), false),
        AccuracyForm::new(Some(DegreeTerm::Reciprocal), false),
        AccuracyForm::new(Some(DegreeTerm::Linear), true),
        AccuracyForm::new(Some(DegreeTerm::Log), true),
        AccuracyForm::new(Some(DegreeTerm::Reciprocal), true),
    ];
    /// `a + c ln(params)`: what NN-Degree must beat.
    pub const PARAMS_ONLY: AccuracyForm = AccuracyForm::new(None, true);

    pub const fn new(degree: Option<DegreeTerm>, log_params: bool) -> Self {
        AccuracyForm { degree, log_params }
    }

    /// Number of coefficients, the intercept included.
    pub fn coefficients(self) -> usize {
        1 + usize::from(self.degree.is_some()) + usize::from(self.log_params)
    }

    /// Fewest records a fit of this form accepts: leave-one-out fits need one more record than
    /// coefficients, and the interval needs two residual degrees of freedom.
    pub fn min_records(self) -> usize {
        self.coefficients() + 2
    }

    /// The regressors `[1, term(g), ln(params)]` of the form, the first `coefficients()` used.
    fn regressors(self, nn_degree: f64, params: f64) -> [f64; 3] {
        let mut x = [1.0, 0.0, 0.0];
        let mut k = 1;
        if let Some(t) = self.degree {
            x[k] = t.apply(nn_degree);
            k += 1;
        }
        if self.log_params {
            x[k] = params.ln();
        }
        x
    }

    /// The regressors of the form, one per coefficient (the fit's design-matrix row).
    pub fn row(self, nn_degree: f64, params: f64) -> Vec<f64> {
        self.regressors(nn_degree, params)[..self.coefficients()].to_vec()
    }
}

impl std::fmt::Display for AccuracyForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let degree = match self.degree {
            Some(DegreeTerm::Linear) => "a + b*g",
            Some(DegreeTerm::Log) => "a + b*ln(g)",
            Some(DegreeTerm::Reciprocal) => "a + b/g",
            None => "a",
        };
        write!(f, "{degree}")?;
        if self.log_params {
            write!(f, " + c*ln(params)")?;
        }
        Ok(())
    }
}

/// One (architecture, accuracy) record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccuracyRecord {
    pub nn_degree: f64,
    pub params: u64,
    pub accuracy: f64,
}

impl AccuracyRecord {
    pub fn from_spec(spec: &ArchSpec, accuracy: f64) -> Self {
        let (counts, nn_degree) = Counts::and_degree(spec);
        AccuracyRecord {
            nn_degree,
            params: counts.params,
            accuracy,
        }
    }

    pub fn from_metrics(m: &Metrics, accuracy: f64) -> Self {
        AccuracyRecord {
            nn_degree: m.nn_degree,
            params: m.params,
            accuracy,
        }
    }
}

/// A predicted value with its prediction interval (for an accuracy, the bounds are clamped to
/// [0, 1]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Interval {
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Confidence level of the prediction intervals.
pub const INTERVAL_LEVEL: f64 = 0.95;

/// A fitted accuracy predictor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccuracyModel {
    pub form: AccuracyForm,
    /// Intercept, then the degree term's coefficient, then the log-params coefficient (each
    /// present only if the form has it).
    pub coefficients: Vec<f64>,
    /// Residual standard deviation of the fit.
    pub residual_std: f64,
    /// Student t quantile for [`INTERVAL_LEVEL`] intervals at the residual degrees of freedom.
    pub t_quantile: f64,
    /// `(X^T X)^-1` of the fit, row-major.
    pub inverse_gram: Vec<f64>,
    /// NN-Degree range of the records fitted on, when the form uses it (absent in models
    /// stored before ranges were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted_nn_degree: Option<FittedRange>,
    /// Parameter range of the records fitted on, when the form uses parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted_params: Option<FittedRange>,
}

impl AccuracyModel {
    /// Predicted accuracy without its interval (the hot path of batch scoring and search).
    pub fn mean(&self, nn_degree: f64, params: f64) -> f64 {
        let x = self.form.regressors(nn_degree, params);
        self.coefficients.iter().zip(x).map(|(c, x)| c * x).sum()
    }

    /// Predicted accuracy with its prediction interval.
    pub fn predict(&self, nn_degree: f64, params: f64) -> Interval {
        let x = self.form.regressors(nn_degree, params);
        let p = self.coefficients.len();
        let leverage: f64 = (0..p)
            .map(|i| {
                (0..p)
                    .map(|j| x[i] * self.inverse_gram[i * p + j] * x[j])
                    .sum::<f64>()
            })
            .sum();
        let value = self.mean(nn_degree, params);
        let half = self.t_quantile * self.residual_std * (1.0 + leverage).sqrt();
        // An accuracy lies in [0, 1]: the interval's bounds are clamped to it (the value is the
        // model's mean, left as it is so that the search sees the fitted function).
        Interval {
            value,
            lower: (value - half).clamp(0.0, 1.0),
            upper: (value + half).clamp(0.0, 1.0),
        }
    }

    pub fn predict_spec(&self, spec: &ArchSpec) -> Interval {
        let (counts, nn_degree) = Counts::and_degree(spec);
        self.predict(nn_degree, counts.params as f64)
    }

    /// The sign (-1, 0, 1) of the effect of more NN-Degree on predicted accuracy.
    pub fn degree_direction(&self) -> f64 {
        match self.form.degree {
            None => 0.0,
            Some(t) => {
                let s = self.coefficients[1].signum()
                    * if t == DegreeTerm::Reciprocal {
                        -1.0
                    } else {
                        1.0
                    };
                if self.coefficients[1] == 0.0 { 0.0 } else { s }
            }
        }
    }

    /// The coefficient of ln(params) (0 when the form has none).
    pub fn log_params_coefficient(&self) -> f64 {
        if self.form.log_params {
            self.coefficients[self.coefficients.len() - 1]
        } else {
            0.0
        }
    }
}

/// How well a form predicts: leave-one-out unless said otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccuracyErrors {
    pub loo_rmse: f64,
    /// R^2 of the leave-one-out predictions.
    pub loo_r2: f64,
    /// R^2 of the fit on its own data.
    pub r2: f64,
    pub spearman: f64,
    pub kendall: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FormScore {
    pub form: AccuracyForm,
    /// Written out, e.g. `a + b*ln(g) + c*ln(params)`.
    pub formula: String,
    pub coefficients: Vec<f64>,
    pub errors: AccuracyErrors,
}

/// A fitted accuracy predictor and the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccuracyFit {
    pub model: AccuracyModel,
    pub n: usize,
    pub errors: AccuracyErrors,
    /// Leave-one-out prediction of each record, in input order.
    pub loo_predictions: Vec<f64>,
    /// Every candidate form tried.
    pub candidates: Vec<FormScore>,
    /// The params-only baseline, `a + c ln(params)`.
    pub baseline_params: FormScore,
    /// Why the form won.
    pub reason: String,
}

struct FormFit {
    model: AccuracyModel,
    loo: Vec<f64>,
    score: FormScore,
}

fn fit_form(form: AccuracyForm, records: &[AccuracyRecord]) -> Option<FormFit> {
    let rows: Vec<Vec<f64>> = records
        .iter()
        .map(|r| form.row(r.nn_degree, r.params as f64))
        .collect();
    let ys: Vec<f64> = records.iter().map(|r| r.accuracy).collect();
    let solve = |rows: &[Vec<f64>], ys: &[f64]| least_squares(&Matrix::from_rows(rows), ys);
    let full = solve(&rows, &ys)?;
    let fitted: Vec<f64> = rows
        .iter()
        .map(|x| x.iter().zip(&full.coefficients).map(|(a, b)| a * b).sum())
        .collect();
    let mut loo = Vec::with_capacity(records.len());
    for i in 0..records.len() {
        let (mut r, mut y) = (rows.clone(), ys.clone());
        r.remove(i);
        y.remove(i);
        let ls = solve(&r, &y)?;
        loo.push(
            rows[i]
                .iter()
                .zip(&ls.coefficients)
                .map(|(a, b)| a * b)
                .sum(),
        );
    }
    let n = records.len();
    let p = form.coefficients();
    let sse: f64 = fitted.iter().zip(&ys).map(|(f, y)| (f - y).powi(2)).sum();
    let dof = (n - p) as f64;
    let model = AccuracyModel {
        form,
        coefficients: full.coefficients.clone(),
        residual_std: (sse / dof).sqrt(),
        t_quantile: stats::student_t_quantile(0.5 + INTERVAL_LEVEL / 2.0, dof),
        inverse_gram: full.inverse_gram,
        fitted_nn_degree: form
            .degree
            .map(|_| range_of(records.iter().map(|r| r.nn_degree))),
        fitted_params: form
            .log_params
            .then(|| range_of(records.iter().map(|r| r.params as f64))),
    };
    let errors = AccuracyErrors {
        loo_rmse: stats::rmse(&loo, &ys),
        loo_r2: stats::r_squared(&loo, &ys),
        r2: stats::r_squared(&fitted, &ys),
        spearman: stats::spearman(&loo, &ys),
        kendall: stats::kendall_tau_b(&loo, &ys),
    };
    Some(FormFit {
        score: FormScore {
            form,
            formula: form.to_string(),
            coefficients: full.coefficients,
            errors,
        },
        model,
        loo,
    })
}

/// Fits the accuracy predictor on `records`, choosing among `forms` (the six candidates when
/// empty) by leave-one-out RMSE, fewer coefficients winning ties. Forms needing more records
/// than given are skipped; if none remains, or a requested form needs more, it is an error.
pub fn fit_accuracy(
    records: &[AccuracyRecord],
    forms: &[AccuracyForm],
) -> Result<AccuracyFit, FitError> {
    let forms = if forms.is_empty() {
        &AccuracyForm::CANDIDATES[..]
    } else {
        forms
    };
    for (i, r) in records.iter().enumerate() {
        if !(r.accuracy.is_finite() && r.nn_degree.is_finite() && r.nn_degree > 0.0 && r.params > 0)
        {
            return Err(FitError::InvalidSample {
                index: i,
                message: "accuracy must be finite, NN-Degree and params positive".into(),
            });
        }
    }
    let n = records.len();
    let needed = forms
        .iter()
        .map(|f| f.min_records())
        .min()
        .expect("non-empty")
        .max(AccuracyForm::PARAMS_ONLY.min_records());
    if n < needed {
        return Err(FitError::NotEnoughSamples { needed, got: n });
    }
    let mut fits: Vec<FormFit> = forms
        .iter()
        .filter(|f| f.min_records() <= n)
        .filter_map(|&f| fit_form(f, records))
        .collect();
    let baseline = fit_form(AccuracyForm::PARAMS_ONLY, records).ok_or(FitError::Singular)?;
    let candidates: Vec<FormScore> = fits.iter().map(|f| f.score.clone()).collect();
    let best = (0..fits.len())
        .min_by(|&a, &b| {
            let (x, y) = (&fits[a].score, &fits[b].score);
            x.errors
                .loo_rmse
                .total_cmp(&y.errors.loo_rmse)
                .then(x.form.coefficients().cmp(&y.form.coefficients()))
        })
        .ok_or(FitError::Singular)?;
    let won = fits.swap_remove(best);
    let mut reason = format!(
        "{} has the lowest leave-one-out RMSE ({:.4}) of {} candidate forms",
        won.score.formula,
        won.score.errors.loo_rmse,
        candidates.len()
    );
    if let Some(next) = candidates
        .iter()
        .filter(|c| c.form != won.score.form)
        .min_by(|a, b| a.errors.loo_rmse.total_cmp(&b.errors.loo_rmse))
    {
        reason += &format!("; next best {} ({:.4})", next.formula, next.errors.loo_rmse);
    }
    reason += &format!(
        "; the params-only baseline has {:.4}",
        baseline.score.errors.loo_rmse
    );
    Ok(AccuracyFit {
        model: won.model,
        n,
        errors: won.score.errors,
        loo_predictions: won.loo,
        candidates,
        baseline_params: baseline.score,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::space::Space;

    fn records(n: usize, noise: f64, seed: u64) -> Vec<AccuracyRecord> {
        let mut rng = SplitMix64::new(seed);
        Space::default_space()
            .sample_stratified(n, seed)
            .iter()
            .map(|s| {
                let g = s.nn_degree();
                let e = noise * (2.0 * rng.unit_f32() as f64 - 1.0);
                AccuracyRecord::from_spec(s, 0.6 + 0.05 * g.ln() + e)
            })
            .collect()
    }

    #[test]
    fn chooses_the_form_the_data_was_made_from() {
        let fit = fit_accuracy(&records(25, 0.002, 4), &[]).unwrap();
        assert_eq!(fit.model.form.degree, Some(DegreeTerm::Log));
        assert!(
            (fit.model.coefficients[1] - 0.05).abs() < 0.01,
            "{:?}",
            fit.model
        );
        assert!(fit.errors.loo_rmse < 0.002);
        assert!(fit.errors.spearman > 0.95);
        assert!(fit.baseline_params.errors.loo_rmse > fit.errors.loo_rmse);
        assert_eq!(fit.candidates.len(), 6);
        assert!(fit.reason.contains("a + b*ln(g)"), "{}", fit.reason);
        assert_eq!(fit.model.degree_direction(), 1.0);
    }

    #[test]
    fn intervals_cover_held_out_records_at_about_their_level() {
        let all = records(200, 0.01, 8);
        let fit = fit_accuracy(
            &all[..25],
            &[AccuracyForm::new(Some(DegreeTerm::Log), false)],
        )
        .unwrap();
        let covered = all[25..]
            .iter()
            .filter(|r| {
                let i = fit.model.predict(r.nn_degree, r.params as f64);
                i.lower <= r.accuracy && r.accuracy <= i.upper
            })
            .count();
        let share = covered as f64 / 175.0;
        assert!((0.85..=1.0).contains(&share), "{share}");
        let i = fit.model.predict(100.0, 1e6);
        assert!(i.lower < i.value && i.value < i.upper);
        assert_eq!(i.value, fit.model.mean(100.0, 1e6));
    }

    #[test]
    fn refit_is_identical_and_serialises() {
        let data = records(25, 0.01, 2);
        let a = fit_accuracy(&data, &[]).unwrap();
        assert_eq!(a, fit_accuracy(&data, &[]).unwrap());
        // JSON keeps every figure to within float parsing (serde_json rounds the last bit).
        let back: AccuracyFit = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        let (p, q) = (a.model.predict(80.0, 1e6), back.model.predict(80.0, 1e6));
        assert!((p.value - q.value).abs() < 1e-12 && (p.upper - q.upper).abs() < 1e-12);
        assert_eq!(back.model.form, a.model.form);
    }

    #[test]
    fn too_few_records_is_a_typed_error() {
        let data = records(6, 0.01, 2);
        assert!(matches!(
            fit_accuracy(&data[..3], &[]),
            Err(FitError::NotEnoughSamples { needed: 4, got: 3 })
        ));
        // Four records: only the two-coefficient forms can be fitted.
        let fit = fit_accuracy(&data[..4], &[]).unwrap();
        assert_eq!(fit.candidates.len(), 3);
        let with_params = AccuracyForm::new(Some(DegreeTerm::Linear), true);
        assert!(matches!(
            fit_accuracy(&data[..4], &[with_params]),
            Err(FitError::NotEnoughSamples { needed: 5, got: 4 })
        ));
    }
}
