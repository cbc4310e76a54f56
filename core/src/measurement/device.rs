//! The machine an agent runs on.

use serde::{Deserialize, Serialize};

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
