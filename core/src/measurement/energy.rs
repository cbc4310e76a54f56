//! Energy per inference and how it was obtained.

use serde::{Deserialize, Serialize};

use crate::space::FieldError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_energy_is_named() {
        let e = Energy {
            mj_per_inference: f64::NAN,
            method: EnergyMethod::Rapl,
            source: None,
            window_s: None,
        };
        assert_eq!(e.validate("energy.")[0].field, "energy.mj_per_inference");
    }
}
