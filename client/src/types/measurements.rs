//! Measurements of architectures on devices: from jobs run by agents, or uploaded directly.

use flash_core::measurement::MeasurementResult;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Measurement {
    pub id: String,
    pub architecture_id: String,
    pub device: String,
    /// The job that produced it (None for uploads).
    pub job_id: Option<String>,
    pub source: String,
    pub result: MeasurementResult,
    /// The latency fits, searches and verification use (ms): the median run-by-run ratio to the
    /// reference network times the device's reference latency when paired, the raw p50 when not.
    pub normalized_latency_ms: f64,
    /// The device's reference latency (ms) the normalized latency was computed with: the median
    /// of the reference's p50 over the device's latest 25 paired measurements with it, as of
    /// this read. Absent for unpaired measurements.
    pub reference_latency_ms: Option<f64>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MeasurementUpload {
    pub architecture_id: String,
    pub device: String,
    /// Where the numbers come from (e.g. `notebook`, `onnxruntime-perf-test`); stored with them.
    pub source: String,
    /// Latency statistics in ms, optional energy in mJ with its method, the environment; for a
    /// paired measurement also `ratio` and `reference` (both or neither). Without them the
    /// measurement is taken as raw: its normalized latency is its p50.
    pub result: MeasurementResult,
}
