//! Device profiles (the files in profiles/): how an agent measures on a device, which energy
//! sensor it reads, the power model behind an estimate when it has none, and the crossbar model of
//! an analytic in-memory-computing accelerator, which needs no agent at all.
//!
//! Pure: profiles are parsed from text; reading the files is the caller's business.

mod agent;
mod crossbar;
mod parse;

pub use agent::{AgentProfile, EnergyConfig, PowerModel, ProtocolDefaults, Sensor};
pub use crossbar::{CrossbarEstimate, CrossbarModel};

use serde::{Deserialize, Serialize};

use crate::space::FieldError;

/// Why a profile was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    /// Not TOML, an unknown key, a missing key or a value of the wrong type.
    #[error("{0}")]
    Syntax(String),
    /// Well-formed but out of range or inconsistent, field by field.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
}

/// One device profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The file's stem in profiles/ (`x86-host`).
    pub name: String,
    pub description: String,
    pub device: DeviceKind,
}

/// Measured by an agent, or computed from a model of the hardware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Agent(AgentProfile),
    Analytic(CrossbarModel),
}

impl Profile {
    pub fn agent(&self) -> Option<&AgentProfile> {
        match &self.device {
            DeviceKind::Agent(a) => Some(a),
            DeviceKind::Analytic(_) => None,
        }
    }

    pub fn crossbar(&self) -> Option<&CrossbarModel> {
        match &self.device {
            DeviceKind::Analytic(c) => Some(c),
            DeviceKind::Agent(_) => None,
        }
    }
}

#[cfg(test)]
mod test_support {
    pub(super) const AGENT: &str = r#"
name = "test-host"
kind = "agent"
description = "a test host"

[protocol]
threads = 2
provider = "cpu"
target_relative_ci = 0.01
time_budget_s = 10
min_runs = 20
max_warmup_runs = 100

[energy]
sensor = "none"
window_s = 1.0

[power_model]
static_w = 2.0
per_thread_w = 1.5
source = "datasheet"
"#;

    pub(super) const ANALYTIC: &str = r#"
name = "imc"
kind = "analytic"
description = "crossbars"

[crossbar]
rows = 128
cols = 128
cell_bits = 2
weight_bits = 8
tile_area_mm2 = 0.01
tile_latency_ns = 800.0
mac_energy_pj = 1.0
peripheral_area_fraction = 0.5
peripheral_energy_fraction = 0.25
peripheral_latency_ns = 200.0
source = "paper"
"#;
}
