//! What agents and the service exchange: device descriptors, measurement protocols and results.
//! Plain data with validation; the agent produces it, the server stores it.

use serde::{Deserialize, Serialize};

use crate::space::FieldError;

/// The machine an agent runs on, as read by the agent at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceDescriptor {
    /// Device profile name (a file in profiles/, e.g. `x86-host`).
    pub profile: String,
    #[serde(default)]
    pub cpu_model: Option<String>,
    #[serde(default)]
    pub cores: Option<u32>,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub kernel: Option<String>,
    /// CPU architecture (`x86_64`, `aarch64`).
    #[serde(default)]
    pub arch: Option<String>,
    #[serde(default)]
    pub runtime: Option<RuntimeInfo>,
    #[serde(default)]
    pub gpu: Option<GpuInfo>,
    #[serde(default)]
    pub agent_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuntimeInfo {
    /// `onnxruntime`.
    pub name: String,
    pub version: String,
    /// Execution providers available (`CPUExecutionProvider`, `CUDAExecutionProvider`, ...).
    pub providers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GpuInfo {
    pub name: String,
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
}

/// How to measure. Every field is optional: the agent fills what is missing from its profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Protocol {
    /// Intra-op threads of the ONNX Runtime session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// Execution provider: `cpu` or `cuda`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Target half-width of the 95% confidence interval of the median, relative (0.01 = +-1%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_relative_ci: Option<f64>,
    /// Most seconds of timed runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_budget_s: Option<f64>,
    /// Fewest timed runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_runs: Option<u32>,
    /// Most warm-up runs (warm-up stops earlier once latency is stable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_warmup_runs: Option<u32>,
}

impl Protocol {
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let f = |name: &str| format!("{prefix}{name}");
        if let Some(t) = self.threads
            && !(1..=1024).contains(&t)
        {
            errors.push(FieldError::new(f("threads"), "must be in 1..=1024"));
        }
        if let Some(p) = &self.provider
            && !["cpu", "cuda"].contains(&p.as_str())
        {
            errors.push(FieldError::new(
                f("provider"),
                "must be \"cpu\" or \"cuda\"",
            ));
        }
        if let Some(c) = self.target_relative_ci
            && !(c.is_finite() && c > 0.0 && c < 1.0)
        {
            errors.push(FieldError::new(
                f("target_relative_ci"),
                "must be in (0, 1)",
            ));
        }
        if let Some(b) = self.time_budget_s
            && !(b.is_finite() && b > 0.0 && b <= 3600.0)
        {
            errors.push(FieldError::new(f("time_budget_s"), "must be in (0, 3600]"));
        }
        if let Some(m) = self.min_runs
            && !(1..=1_000_000).contains(&m)
        {
            errors.push(FieldError::new(f("min_runs"), "must be in 1..=1000000"));
        }
        if let Some(m) = self.max_warmup_runs
            && m > 100_000
        {
            errors.push(FieldError::new(f("max_warmup_runs"), "must be <= 100000"));
        }
        errors
    }
}

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
            p50_ms: if n % 2 == 1 {
                s[n / 2]
            } else {
                (s[n / 2 - 1] + s[n / 2]) / 2.0
            },
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

/// 0-based ranks of the 95% interval of the median of `n` sorted samples.
fn median_ci_ranks(n: usize) -> (usize, usize) {
    let half = 1.96 * (n as f64).sqrt() / 2.0;
    let mid = n as f64 / 2.0;
    let lo = ((mid - half).floor() as isize - 1).max(0) as usize;
    let hi = ((mid + half).ceil() as usize).min(n - 1);
    (lo.min(n - 1), hi)
}

/// How an energy value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EnergyMethod {
    /// Intel/AMD RAPL counters under /sys/class/powercap.
    Rapl,
    /// NVIDIA NVML total-energy counter.
    Nvml,
    /// A power rail exposed through hwmon (e.g. an INA219 on I2C).
    Hwmon,
    /// No sensor: computed from the device profile's power model. Not a measurement.
    Estimated,
}

impl EnergyMethod {
    pub fn is_measured(self) -> bool {
        self != EnergyMethod::Estimated
    }
}

/// Energy per inference with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Energy {
    pub mj_per_inference: f64,
    pub method: EnergyMethod,
    /// What was read (sensor path or model), for the record.
    #[serde(default)]
    pub source: Option<String>,
    /// Seconds over which the counter was integrated (measured methods).
    #[serde(default)]
    pub window_s: Option<f64>,
}

impl Energy {
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let v = self.mj_per_inference;
        if !v.is_finite() || !(0.0..=1e12).contains(&v) {
            vec![FieldError::new(
                format!("{prefix}mj_per_inference"),
                "must be a finite number of millijoules in [0, 1e12]",
            )]
        } else {
            Vec::new()
        }
    }
}

/// Where and how a measurement ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Environment {
    #[serde(default)]
    pub threads: Option<u32>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub ort_version: Option<String>,
    #[serde(default)]
    pub onnx_sha256: Option<String>,
    #[serde(default)]
    pub governor: Option<String>,
    #[serde(default)]
    pub temperature_c: Option<f64>,
    #[serde(default)]
    pub load_average: Option<f64>,
}

/// One measurement of one architecture on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeasurementResult {
    pub latency: LatencyStats,
    #[serde(default)]
    pub energy: Option<Energy>,
    #[serde(default)]
    pub environment: Environment,
}

impl MeasurementResult {
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut errors = self.latency.validate(&format!("{prefix}latency."));
        if let Some(e) = &self.energy {
            errors.extend(e.validate(&format!("{prefix}energy.")));
        }
        errors
    }
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
    fn invalid_values_are_named() {
        let mut s = LatencyStats::from_samples(&[1.0, 2.0, 3.0], 0).unwrap();
        s.p90_ms = f64::INFINITY;
        s.min_ms = -1.0;
        let fields: Vec<String> = s
            .validate("result.latency.")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["result.latency.min_ms", "result.latency.p90_ms"]);
        let e = Energy {
            mj_per_inference: f64::NAN,
            method: EnergyMethod::Rapl,
            source: None,
            window_s: None,
        };
        assert_eq!(e.validate("energy.")[0].field, "energy.mj_per_inference");
    }
}
