//! Relative prediction intervals of hardware models, from cross-validated log residuals.
//!
//! Costs spread in proportion to their size, so the interval is on the log scale: with
//! `e_i = ln(y_i / yhat_i)` over n cross-validated predictions, the measured value of a new
//! architecture lies, at confidence c, in
//! `yhat * exp(mean_e -+ t_{n-1, (1+c)/2} sd_e sqrt(1 + 1/n))`.

use serde::{Deserialize, Serialize};

use super::stats::student_t_quantile;

/// What a relative prediction interval needs: the log residuals' mean, standard deviation and
/// degrees of freedom.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PredictionInterval {
    /// Mean of `ln(measured / predicted)`: the model's bias as a log ratio.
    pub log_mean: f64,
    /// Standard deviation of `ln(measured / predicted)` (n - 1 denominator).
    pub log_sd: f64,
    /// Residuals minus one.
    pub dof: usize,
}

impl PredictionInterval {
    /// From cross-validated predictions of measured values; `None` with fewer than two, or when
    /// a prediction is not positive (its ratio has no logarithm).
    pub fn from_predictions(predicted: &[f64], measured: &[f64]) -> Option<Self> {
        let n = predicted.len();
        if n < 2 || predicted.iter().any(|p| !(*p > 0.0 && p.is_finite())) {
            return None;
        }
        let e: Vec<f64> = measured
            .iter()
            .zip(predicted)
            .map(|(y, p)| (y / p).ln())
            .collect();
        let log_mean = e.iter().sum::<f64>() / n as f64;
        let ss: f64 = e.iter().map(|v| (v - log_mean).powi(2)).sum();
        Some(PredictionInterval {
            log_mean,
            log_sd: (ss / (n - 1) as f64).sqrt(),
            dof: n - 1,
        })
    }

    /// Lower and upper bound of the measured value for a model's `prediction`, at `confidence`.
    ///
    /// # Panics
    /// When `confidence` is not in (0, 1).
    pub fn bounds(&self, prediction: f64, confidence: f64) -> (f64, f64) {
        let (lower, upper) = self.factors(confidence);
        (prediction * lower, prediction * upper)
    }

    /// The bounds of a prediction of 1: the interval is a fixed factor of the prediction, and a
    /// caller with many predictions computes the (costly) t quantile once through this.
    ///
    /// # Panics
    /// When `confidence` is not in (0, 1).
    pub fn factors(&self, confidence: f64) -> (f64, f64) {
        assert!(confidence > 0.0, "confidence must be in (0, 1)");
        let half = self.log_offset(0.5 + confidence / 2.0);
        ((self.log_mean - half).exp(), (self.log_mean + half).exp())
    }

    /// The one-sided upper bound of a prediction of 1: the measured value is at most the
    /// prediction times this factor with probability `confidence`. (The two-sided `factors(c)`
    /// leaves `(1 - c) / 2` above its upper bound, so for `confidence` above one half this is
    /// `factors(2 confidence - 1).1`; below one half the factor is under the bias-corrected
    /// prediction.)
    ///
    /// # Panics
    /// When `confidence` is not in (0, 1).
    pub fn upper_factor(&self, confidence: f64) -> f64 {
        (self.log_mean + self.log_offset(confidence)).exp()
    }

    /// `t_{n-1, q} sd sqrt(1 + 1/n)`: how far the `q` quantile of a new log residual lies from
    /// their mean (a `q` outside (0, 1) panics as a confidence outside it).
    fn log_offset(&self, q: f64) -> f64 {
        assert!(q > 0.0 && q < 1.0, "confidence must be in (0, 1)");
        let n = (self.dof + 1) as f64;
        student_t_quantile(q, self.dof as f64) * self.log_sd * (1.0 + 1.0 / n).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_from_known_residuals() {
        // Log residuals ln 1.1, ln 0.9, ln 1.0, ln 1.05: mean, sd by hand, t_{3, 0.975} = 3.182446.
        let predicted = [10.0, 10.0, 10.0, 10.0];
        let measured = [11.0, 9.0, 10.0, 10.5];
        let pi = PredictionInterval::from_predictions(&predicted, &measured).unwrap();
        let e = [1.1f64.ln(), 0.9f64.ln(), 0.0, 1.05f64.ln()];
        let mean = e.iter().sum::<f64>() / 4.0;
        let sd = (e.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
        assert!((pi.log_mean - mean).abs() < 1e-15 && (pi.log_sd - sd).abs() < 1e-15);
        assert_eq!(pi.dof, 3);
        let (lo, hi) = pi.bounds(20.0, 0.95);
        let half = 3.182_446 * sd * 1.25f64.sqrt();
        assert!((lo - 20.0 * (mean - half).exp()).abs() < 1e-5);
        assert!((hi - 20.0 * (mean + half).exp()).abs() < 1e-5);
        let (lo90, hi90) = pi.bounds(20.0, 0.9);
        assert!(lo < lo90 && hi90 < hi);
    }

    #[test]
    fn the_one_sided_bound_is_the_two_sided_one_of_twice_the_tail() {
        let pi = PredictionInterval {
            log_mean: 0.02,
            log_sd: 0.05,
            dof: 24,
        };
        for p in [0.6, 0.9, 0.95, 0.99] {
            let u = pi.upper_factor(p);
            assert!((u - pi.factors(2.0 * p - 1.0).1).abs() < 1e-12, "{p}");
            assert!(u < pi.factors(p).1);
        }
        // At one half the bound is the bias-corrected prediction; below, under it.
        assert!((pi.upper_factor(0.5) - 0.02f64.exp()).abs() < 1e-12);
        assert!(pi.upper_factor(0.3) < 0.02f64.exp());
    }

    #[test]
    fn no_interval_without_positive_predictions() {
        assert!(PredictionInterval::from_predictions(&[1.0, 0.0], &[1.0, 1.0]).is_none());
        assert!(PredictionInterval::from_predictions(&[1.0], &[1.0]).is_none());
    }
}
