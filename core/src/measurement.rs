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
    /// Time every run alternately with the device's reference network and report the
    /// run-by-run ratio (the default in every profile); `false` reports raw latency only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<bool>,
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

/// The reference network's timing in a paired measurement, over the same window as the network
/// under test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferenceTiming {
    /// Id of the reference architecture (the space's `reference_spec`).
    pub architecture_id: String,
    pub latency: LatencyStats,
}

/// The reference network a job is paired with, as the server hands it to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferenceNetwork {
    pub architecture_id: String,
    /// Its spec: the agent exports the model from it (the same bytes the server would send).
    pub spec: crate::space::ArchSpec,
}

fn sorted_median(s: &[f64]) -> f64 {
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
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
///
/// # Normalized latency
/// A paired measurement carries the median `ratio` of the network's latency to the reference
/// network's, run by run, and the reference's own statistics over the same window. The
/// **normalized latency** is `ratio.p50 x R`, where `R`, the device's reference latency, is the
/// median of the reference's p50 over the device's last [`REFERENCE_HISTORY`] paired
/// measurements with that reference (the server keeps the history and computes `R` when it reads
/// measurements, so all of a device's measurements share one scale). A host that changes speed
/// moves both networks of a pair, so the ratio holds still where the raw median does not. An
/// unpaired measurement's normalized latency is its raw p50.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeasurementResult {
    /// Raw latency of the network under test.
    pub latency: LatencyStats,
    #[serde(default)]
    pub energy: Option<Energy>,
    #[serde(default)]
    pub environment: Environment,
    /// Paired measurements: the median run-by-run ratio to the reference network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<RatioStats>,
    /// Paired measurements: the reference network and its latency over the same window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceTiming>,
}

/// Paired measurements of a device whose reference p50s make its reference latency.
pub const REFERENCE_HISTORY: usize = 25;

/// The device's reference latency from its recent reference p50s (any order): their median.
pub fn reference_latency(recent_reference_p50_ms: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = recent_reference_p50_ms
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    Some(sorted_median(&s))
}

impl MeasurementResult {
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut errors = self.latency.validate(&format!("{prefix}latency."));
        if let Some(e) = &self.energy {
            errors.extend(e.validate(&format!("{prefix}energy.")));
        }
        match (&self.ratio, &self.reference) {
            (Some(ratio), Some(reference)) => {
                errors.extend(ratio.validate(&format!("{prefix}ratio.")));
                errors.extend(
                    reference
                        .latency
                        .validate(&format!("{prefix}reference.latency.")),
                );
                if reference.latency.p50_ms <= 0.0 {
                    errors.push(FieldError::new(
                        format!("{prefix}reference.latency.p50_ms"),
                        "must be > 0",
                    ));
                }
                let id = &reference.architecture_id;
                if id.is_empty() || id.len() > 128 {
                    errors.push(FieldError::new(
                        format!("{prefix}reference.architecture_id"),
                        "must be an architecture id",
                    ));
                }
            }
            (Some(_), None) => errors.push(FieldError::new(
                format!("{prefix}reference"),
                "required with a ratio: the reference network and its latency",
            )),
            (None, Some(_)) => errors.push(FieldError::new(
                format!("{prefix}ratio"),
                "required with a reference: the median run-by-run ratio",
            )),
            (None, None) => {}
        }
        errors
    }

    /// Whether the measurement was paired with a reference network.
    pub fn is_paired(&self) -> bool {
        self.ratio.is_some() && self.reference.is_some()
    }

    /// The normalized latency (ms) given the device's reference latency for this measurement's
    /// reference (see the type's docs); the raw p50 when unpaired or when `R` is unknown.
    pub fn normalized_latency_ms(&self, reference_latency_ms: Option<f64>) -> f64 {
        match (&self.ratio, reference_latency_ms) {
            (Some(ratio), Some(r)) if self.reference.is_some() => ratio.p50 * r,
            _ => self.latency.p50_ms,
        }
    }

    /// Energy per inference on the same scale: an estimate derived from latency follows the
    /// normalization; a measured energy (a sensor over its own window) is never scaled.
    pub fn normalized_energy_mj(&self, reference_latency_ms: Option<f64>) -> Option<f64> {
        let e = self.energy.as_ref()?;
        Some(if e.method.is_measured() || self.latency.p50_ms <= 0.0 {
            e.mj_per_inference
        } else {
            e.mj_per_inference * self.normalized_latency_ms(reference_latency_ms)
                / self.latency.p50_ms
        })
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

    fn paired(ratio: f64, reference_p50: f64, raw_p50: f64) -> MeasurementResult {
        let mut latency = LatencyStats::from_samples(&[raw_p50], 10).unwrap();
        latency.n = 1;
        MeasurementResult {
            latency,
            energy: Some(Energy {
                mj_per_inference: 2.0 * raw_p50,
                method: EnergyMethod::Estimated,
                source: None,
                window_s: None,
            }),
            environment: Environment::default(),
            ratio: RatioStats::from_samples(&[ratio]),
            reference: Some(ReferenceTiming {
                architecture_id: "ref".into(),
                latency: LatencyStats::from_samples(&[reference_p50], 10).unwrap(),
            }),
        }
    }

    #[test]
    fn ratio_statistics_and_normalized_latency() {
        let ratios: Vec<f64> = (1..=100).map(|i| 0.5 + i as f64 / 1000.0).collect();
        let r = RatioStats::from_samples(&ratios).unwrap();
        assert_eq!(r.n, 100);
        assert!((r.p50 - 0.5505).abs() < 1e-12);
        // the same order-statistic ranks as latency: sorted[39] and sorted[60]
        assert_eq!((r.ci_low, r.ci_high), (ratios[39], ratios[60]));
        assert!((r.relative_ci() - 0.0105 / 0.5505).abs() < 1e-12);
        assert!(RatioStats::from_samples(&[1.0, 0.0]).is_none());
        assert!(RatioStats::from_samples(&[f64::INFINITY]).is_none());

        assert_eq!(reference_latency(&[4.0, 5.0, 100.0]), Some(5.0));
        assert_eq!(reference_latency(&[]), None);
        let m = paired(0.5, 3.0, 1.6);
        assert!(m.is_paired());
        // ratio x the device's reference latency, not this window's reference p50
        assert_eq!(m.normalized_latency_ms(Some(4.0)), 2.0);
        assert_eq!(m.normalized_latency_ms(None), 1.6);
        // an estimated energy follows the normalization, a measured one does not
        assert!((m.normalized_energy_mj(Some(4.0)).unwrap() - 4.0).abs() < 1e-12);
        let mut measured = m.clone();
        measured.energy.as_mut().unwrap().method = EnergyMethod::Rapl;
        assert_eq!(measured.normalized_energy_mj(Some(4.0)), Some(3.2));
        let raw = MeasurementResult {
            ratio: None,
            reference: None,
            ..m
        };
        assert_eq!(raw.normalized_latency_ms(Some(4.0)), 1.6);
    }

    #[test]
    fn a_ratio_needs_its_reference_and_must_be_finite() {
        let fields = |m: &MeasurementResult| -> Vec<String> {
            m.validate("result.").into_iter().map(|e| e.field).collect()
        };
        let ok = paired(0.5, 3.0, 1.5);
        assert!(fields(&ok).is_empty());
        let no_reference = MeasurementResult {
            reference: None,
            ..ok.clone()
        };
        assert_eq!(fields(&no_reference), ["result.reference"]);
        let no_ratio = MeasurementResult {
            ratio: None,
            ..ok.clone()
        };
        assert_eq!(fields(&no_ratio), ["result.ratio"]);
        let mut infinite = ok.clone();
        infinite.ratio.as_mut().unwrap().p50 = f64::INFINITY;
        assert_eq!(fields(&infinite), ["result.ratio.p50"]);
        let mut zero_reference = ok;
        let l = &mut zero_reference.reference.as_mut().unwrap().latency;
        (l.p50_ms, l.min_ms, l.p50_ci_low_ms) = (0.0, 0.0, 0.0);
        assert_eq!(fields(&zero_reference), ["result.reference.latency.p50_ms"]);
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
