//! Devices, registered by their agents (or an operator), and their reference networks.

use flash_core::measurement::DeviceDescriptor;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    pub name: String,
    pub profile: String,
    pub descriptor: DeviceDescriptor,
    /// Heartbeat seen within the last 60 s.
    pub online: bool,
    pub last_heartbeat_at: Option<String>,
    /// The job the device is running now, if any.
    pub current_job: Option<String>,
    /// Jobs queued for the device.
    pub queued_jobs: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// One paired measurement's timing of the reference network: a point of the device's speed
/// history.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferencePoint {
    /// The measurement it was timed in.
    pub measurement_id: String,
    pub reference_architecture_id: String,
    pub p50_ms: f64,
    pub p50_ci_low_ms: f64,
    pub p50_ci_high_ms: f64,
    pub n: u64,
    pub created_at: String,
    /// The same instant in milliseconds since the Unix epoch, for plotting.
    pub created_at_unix_ms: i64,
}

/// A reference network a device has been paired with, and its current reference latency.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceReference {
    pub architecture_id: String,
    /// Median of the reference's p50 over the device's latest paired measurements with it (ms).
    pub latency_ms: f64,
    /// How many measurements that median is over (at most 25).
    pub window: usize,
    /// Paired measurements with this reference in all.
    pub measurements: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceReferences {
    pub device: String,
    /// Each reference network the device's paired measurements used, with the device's current
    /// reference latency: the factor that turns a ratio into a normalized latency.
    pub items: Vec<DeviceReference>,
}
