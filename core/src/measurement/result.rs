//! One measurement's result, and its latency normalized by the device's reference network.

use serde::{Deserialize, Serialize};

use super::energy::Energy;
use super::stats::{LatencyStats, RatioStats, sorted_median};
use crate::space::FieldError;

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

/// The reference network's timing in a paired measurement, over the same window as the network
/// under test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferenceTiming {
    /// Id of the reference architecture (the space's `reference_spec`).
    pub architecture_id: String,
    pub latency: LatencyStats,
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
    use crate::measurement::EnergyMethod;

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
    fn normalized_latency_follows_the_device_reference() {
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
}
