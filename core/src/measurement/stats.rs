//! Order statistics of timed runs: latency, and the run-by-run ratio of a paired measurement.

use serde::{Deserialize, Serialize};

use crate::space::FieldError;

/// Latency statistics of one measurement, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LatencyStats {
    /// Timed runs.
    pub n: u64,
    pub mean_ms: f64,
    pub std_ms: f64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// 95% confidence interval of the median (distribution-free, from order statistics).
    pub p50_ci_low_ms: f64,
    pub p50_ci_high_ms: f64,
    /// Warm-up runs before timing.
    #[serde(default)]
    pub warmup_runs: u64,
}

impl LatencyStats {
    /// Statistics of `samples_ms` (at least one sample). Percentiles by nearest rank; the
    /// median's 95% interval from the binomial order-statistic ranks `n/2 -+ 1.96 sqrt(n)/2`.
    pub fn from_samples(samples_ms: &[f64], warmup_runs: u64) -> Option<LatencyStats> {
        if samples_ms.is_empty() || samples_ms.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let mut s = samples_ms.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let mean = s.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let rank = |q: f64| s[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        let (lo, hi) = median_ci_ranks(n);
        Some(LatencyStats {
            n: n as u64,
            mean_ms: mean,
            std_ms: var.sqrt(),
            min_ms: s[0],
            p50_ms: sorted_median(&s),
            p90_ms: rank(0.90),
            p99_ms: rank(0.99),
            p50_ci_low_ms: s[lo],
            p50_ci_high_ms: s[hi],
            warmup_runs,
        })
    }

    /// Half-width of the median's interval relative to the median.
    pub fn relative_ci(&self) -> f64 {
        (self.p50_ci_high_ms - self.p50_ci_low_ms) / 2.0 / self.p50_ms
    }

    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let values = [
            ("mean_ms", self.mean_ms),
            ("std_ms", self.std_ms),
            ("min_ms", self.min_ms),
            ("p50_ms", self.p50_ms),
            ("p90_ms", self.p90_ms),
            ("p99_ms", self.p99_ms),
            ("p50_ci_low_ms", self.p50_ci_low_ms),
            ("p50_ci_high_ms", self.p50_ci_high_ms),
        ];
        for (name, v) in values {
            if !v.is_finite() || !(0.0..=1e9).contains(&v) {
                errors.push(FieldError::new(
                    format!("{prefix}{name}"),
                    "must be a finite number of milliseconds in [0, 1e9]",
                ));
            }
        }
        if self.std_ms > 0.0 && self.p50_ms == 0.0 {
            errors.push(FieldError::new(format!("{prefix}p50_ms"), "must be > 0"));
        }
        if self.n == 0 || self.n > 1_000_000_000 {
            errors.push(FieldError::new(format!("{prefix}n"), "must be in 1..=1e9"));
        }
        if errors.is_empty() {
            if !(self.min_ms <= self.p50_ms
                && self.p50_ms <= self.p90_ms
                && self.p90_ms <= self.p99_ms)
            {
                errors.push(FieldError::new(
                    format!("{prefix}p50_ms"),
                    "must satisfy min <= p50 <= p90 <= p99",
                ));
            }
            if !(self.p50_ci_low_ms <= self.p50_ms && self.p50_ms <= self.p50_ci_high_ms) {
                errors.push(FieldError::new(
                    format!("{prefix}p50_ci_low_ms"),
                    "the median's interval must contain p50",
                ));
            }
        }
        errors
    }
}

/// The median of the run-by-run ratio of a paired measurement: each inference of the network
/// under test divided by the reference's inference that follows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RatioStats {
    /// Pairs timed.
    pub n: u64,
    /// Median of the ratios.
    pub p50: f64,
    /// 95% confidence interval of the median (order statistics, as for latency).
    pub ci_low: f64,
    pub ci_high: f64,
}

impl RatioStats {
    /// Statistics of `ratios` (at least one, all finite and positive).
    pub fn from_samples(ratios: &[f64]) -> Option<RatioStats> {
        if ratios.is_empty() || ratios.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
            return None;
        }
        let mut s = ratios.to_vec();
        s.sort_by(f64::total_cmp);
        let (lo, hi) = median_ci_ranks(s.len());
        Some(RatioStats {
            n: s.len() as u64,
            p50: sorted_median(&s),
            ci_low: s[lo],
            ci_high: s[hi],
        })
    }

    /// Half-width of the median's interval relative to the median: what the paired stopping
    /// rule compares with the target.
    pub fn relative_ci(&self) -> f64 {
        (self.ci_high - self.ci_low) / 2.0 / self.p50
    }

    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (name, v) in [
            ("p50", self.p50),
            ("ci_low", self.ci_low),
            ("ci_high", self.ci_high),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 1e9) {
                errors.push(FieldError::new(
                    format!("{prefix}{name}"),
                    "must be a finite ratio in (0, 1e9]",
                ));
            }
        }
        if errors.is_empty() && !(self.ci_low <= self.p50 && self.p50 <= self.ci_high) {
            errors.push(FieldError::new(
                format!("{prefix}ci_low"),
                "the median's interval must contain p50",
            ));
        }
        if self.n == 0 || self.n > 1_000_000_000 {
            errors.push(FieldError::new(format!("{prefix}n"), "must be in 1..=1e9"));
        }
        errors
    }
}

pub(super) fn sorted_median(s: &[f64]) -> f64 {
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// 0-based ranks of the 95% interval of the median of `n` sorted samples.
/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn median_ci_ranks(n: usize) -> (usize, usize) {
    let half = 1.96 * (n as f64).sqrt() / 2.0;
    let mid = n as f64 / 2.0;
    let lo = ((mid - half).floor() as isize - 1).max(0) as usize;
    let hi = ((mid + half).ceil() as usize).min(n - 1);
    (lo.min(n - 1), hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_known_samples() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = LatencyStats::from_samples(&samples, 3).unwrap();
        assert_eq!(s.n, 100);
        assert_eq!(s.min_ms, 1.0);
        assert_eq!(s.p50_ms, 50.5);
        assert_eq!(s.p90_ms, 90.0);
        assert_eq!(s.p99_ms, 99.0);
        assert!((s.mean_ms - 50.5).abs() < 1e-12);
        // ranks 50 -+ 9.8: sorted[39] = 40 and sorted[60] = 61
        assert_eq!((s.p50_ci_low_ms, s.p50_ci_high_ms), (40.0, 61.0));
        assert!(s.validate("").is_empty());
        assert!(LatencyStats::from_samples(&[], 0).is_none());
        assert!(LatencyStats::from_samples(&[f64::NAN], 0).is_none());
    }

    #[test]
    fn ratio_statistics_of_known_samples() {
        let ratios: Vec<f64> = (1..=100).map(|i| 0.5 + i as f64 / 1000.0).collect();
        let r = RatioStats::from_samples(&ratios).unwrap();
        assert_eq!(r.n, 100);
        assert!((r.p50 - 0.5505).abs() < 1e-12);
        // the same order-statistic ranks as latency: sorted[39] and sorted[60]
        assert_eq!((r.ci_low, r.ci_high), (ratios[39], ratios[60]));
        assert!((r.relative_ci() - 0.0105 / 0.5505).abs() < 1e-12);
        assert!(RatioStats::from_samples(&[1.0, 0.0]).is_none());
        assert!(RatioStats::from_samples(&[f64::INFINITY]).is_none());
    }

    #[test]
    fn invalid_latency_values_are_named() {
        let mut s = LatencyStats::from_samples(&[1.0, 2.0, 3.0], 0).unwrap();
        s.p90_ms = f64::INFINITY;
        s.min_ms = -1.0;
        let fields: Vec<String> = s
            .validate("result.latency.")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["result.latency.min_ms", "result.latency.p90_ms"]);
    }
}
