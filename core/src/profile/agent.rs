//! What an agent needs to measure on a device: the protocol defaults, the energy sensor and the
//! power model behind an estimate when there is no sensor.

use serde::{Deserialize, Serialize};

use crate::measurement::Protocol;
use crate::space::FieldError;

/// What an agent needs to measure on the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentProfile {
    pub protocol: ProtocolDefaults,
    pub energy: EnergyConfig,
    pub power_model: PowerModel,
}

/// The measurement protocol with every value set; a job's [`Protocol`] overrides some of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolDefaults {
    /// Intra-op threads of the ONNX Runtime session.
    pub threads: u32,
    /// `cpu` or `cuda`.
    pub provider: String,
    /// Target half-width of the median's 95% interval, relative (0.01 = +-1%).
    pub target_relative_ci: f64,
    /// Most seconds of timed runs.
    pub time_budget_s: f64,
    /// Fewest timed runs.
    pub min_runs: u32,
    /// Most warm-up runs.
    pub max_warmup_runs: u32,
    /// Warm-up runs compared at a time: warm-up ends when the medians of the last two windows
    /// differ by less than `warmup_tolerance`.
    #[serde(default = "default_warmup_window")]
    pub warmup_window: u32,
    #[serde(default = "default_warmup_tolerance")]
    pub warmup_tolerance: f64,
    /// Time every run alternately with the reference network (see
    /// `measurement::MeasurementResult`); on unless a profile or a job turns it off.
    #[serde(default = "default_paired")]
    pub paired: bool,
}

fn default_paired() -> bool {
    true
}

fn default_warmup_window() -> u32 {
    10
}

fn default_warmup_tolerance() -> f64 {
    0.02
}

impl ProtocolDefaults {
    /// These defaults with the values a job sets.
    pub fn with_overrides(&self, job: Option<&Protocol>) -> ProtocolDefaults {
        let mut p = self.clone();
        if let Some(job) = job {
            p.threads = job.threads.unwrap_or(p.threads);
            p.provider = job.provider.clone().unwrap_or(p.provider);
            p.target_relative_ci = job.target_relative_ci.unwrap_or(p.target_relative_ci);
            p.time_budget_s = job.time_budget_s.unwrap_or(p.time_budget_s);
            p.min_runs = job.min_runs.unwrap_or(p.min_runs);
            p.max_warmup_runs = job.max_warmup_runs.unwrap_or(p.max_warmup_runs);
            p.paired = job.paired.unwrap_or(p.paired);
        }
        p
    }

    pub(super) fn validate(&self, errors: &mut Vec<FieldError>) {
        let as_protocol = Protocol {
            threads: Some(self.threads),
            provider: Some(self.provider.clone()),
            target_relative_ci: Some(self.target_relative_ci),
            time_budget_s: Some(self.time_budget_s),
            min_runs: Some(self.min_runs),
            max_warmup_runs: Some(self.max_warmup_runs),
            paired: Some(self.paired),
        };
        errors.extend(as_protocol.validate("protocol."));
        if !(2..=1000).contains(&self.warmup_window) {
            errors.push(FieldError::new(
                "protocol.warmup_window",
                "must be in 2..=1000",
            ));
        }
        if !(self.warmup_tolerance > 0.0 && self.warmup_tolerance < 1.0) {
            errors.push(FieldError::new(
                "protocol.warmup_tolerance",
                "must be in (0, 1)",
            ));
        }
    }
}

/// Which sensor gives the energy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensor {
    /// RAPL package counters under /sys/class/powercap.
    Rapl,
    /// The NVML total-energy counter of GPU 0.
    Nvml,
    /// A hwmon power rail (`power*_input`, microwatts), e.g. an INA219 on the supply.
    Hwmon,
    /// No sensor: the power model's estimate.
    None,
}

/// The profile's `[energy]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyConfig {
    pub sensor: Sensor,
    /// Shortest integration window in seconds: several update periods of the counter.
    pub window_s: f64,
    /// hwmon only: the device's `name` file content (`ina219`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwmon_name: Option<String>,
    /// hwmon only: the power file in that device's directory (`power1_input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwmon_input: Option<String>,
}

impl EnergyConfig {
    pub(super) fn validate(&self, errors: &mut Vec<FieldError>) {
        if !(self.window_s.is_finite() && self.window_s > 0.0 && self.window_s <= 600.0) {
            errors.push(FieldError::new("energy.window_s", "must be in (0, 600]"));
        }
        let hwmon = self.sensor == Sensor::Hwmon;
        for (field, value) in [
            ("energy.hwmon_name", &self.hwmon_name),
            ("energy.hwmon_input", &self.hwmon_input),
        ] {
            match (hwmon, value) {
                (true, None) => {
                    errors.push(FieldError::new(field, "required when sensor = \"hwmon\""))
                }
                (false, Some(_)) => errors.push(FieldError::new(
                    field,
                    "only allowed when sensor = \"hwmon\"",
                )),
                (true, Some(v)) if v.is_empty() || v.contains('/') => {
                    errors.push(FieldError::new(field, "must be a plain file name"))
                }
                _ => {}
            }
        }
        if let Some(input) = &self.hwmon_input
            && !(input.starts_with("power") && input.ends_with("_input"))
        {
            errors.push(FieldError::new(
                "energy.hwmon_input",
                "must be a power*_input file (microwatts)",
            ));
        }
    }
}

/// Power drawn while running inference, for the estimate when there is no sensor:
/// `static_w + per_thread_w * threads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerModel {
    pub static_w: f64,
    pub per_thread_w: f64,
    /// Where the numbers come from; travels with every estimate.
    pub source: String,
}

impl PowerModel {
    pub fn power_w(&self, threads: u32) -> f64 {
        self.static_w + self.per_thread_w * f64::from(threads)
    }

    /// Millijoules per inference of `latency_ms` (watts times milliseconds).
    pub fn energy_mj(&self, latency_ms: f64, threads: u32) -> f64 {
        self.power_w(threads) * latency_ms
    }

    pub(super) fn validate(&self, errors: &mut Vec<FieldError>) {
        for (field, v) in [
            ("power_model.static_w", self.static_w),
            ("power_model.per_thread_w", self.per_thread_w),
        ] {
            if !(v.is_finite() && (0.0..=10_000.0).contains(&v)) {
                errors.push(FieldError::new(field, "must be in [0, 10000] watts"));
            }
        }
        if self.static_w + self.per_thread_w <= 0.0 {
            errors.push(FieldError::new(
                "power_model.static_w",
                "static_w + per_thread_w must be > 0",
            ));
        }
        if self.source.trim().is_empty() {
            errors.push(FieldError::new(
                "power_model.source",
                "must say where the numbers come from",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;
    use crate::profile::test_support::AGENT;

    #[test]
    fn agent_profile_and_overrides() {
        let p = Profile::parse(AGENT).unwrap();
        let a = p.agent().unwrap();
        assert_eq!(a.protocol.warmup_window, 10);
        assert_eq!(a.power_model.power_w(2), 5.0);
        // 5 W for 4 ms is 20 mJ
        assert!((a.power_model.energy_mj(4.0, 2) - 20.0).abs() < 1e-12);
        let job = Protocol {
            threads: Some(1),
            time_budget_s: Some(2.0),
            ..Protocol::default()
        };
        let merged = a.protocol.with_overrides(Some(&job));
        assert_eq!((merged.threads, merged.time_budget_s), (1, 2.0));
        assert_eq!(merged.provider, "cpu");
        assert_eq!(a.protocol.with_overrides(None), a.protocol);
    }
}
