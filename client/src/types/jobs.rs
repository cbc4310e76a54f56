//! The measurement job queue: jobs, and what agents send to claim and report them.

use flash_core::ArchSpec;
use flash_core::measurement::{MeasurementResult, Protocol, ReferenceNetwork};
use serde::{Deserialize, Serialize};

/// A job's state; its name (`queued`, ...) is the same in JSON, in the store and in `Display`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    pub id: String,
    pub architecture_id: String,
    pub device: String,
    pub protocol: Protocol,
    pub state: JobState,
    /// Attempts started so far (the running attempt's number while running).
    pub attempt: i64,
    pub max_attempts: i64,
    pub lease_expires_at: Option<String>,
    /// Why the last attempt failed (or why the job failed).
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A job handed to an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimedJob {
    pub id: String,
    pub architecture_id: String,
    pub device: String,
    /// The fencing token: send it with every heartbeat and report.
    pub attempt: i64,
    pub lease_expires_at: String,
    pub lease_seconds: i64,
    pub protocol: Protocol,
    /// The architecture's spec when it has one (the agent may build the model from it).
    pub spec: Option<ArchSpec>,
    /// The reference network to time alternately with it (absent when the job's protocol sets
    /// `paired: false`): the reference of the architecture's space, or of the default space for
    /// an imported network.
    pub reference: Option<ReferenceNetwork>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// Architectures to measure, one job each (1..=10000).
    pub architecture_ids: Vec<String>,
    pub device: String,
    /// Overrides of the device profile's protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// Attempts before the job fails (default from the server, 1..=20).
    pub max_attempts: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobsCreated {
    /// One job per requested architecture, in order (an existing live job where there was one).
    pub items: Vec<Job>,
    /// How many were new.
    pub created: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub device: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AttemptRequest {
    /// The attempt number received with the claim.
    pub attempt: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    pub attempt: i64,
    pub result: MeasurementResult,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FailRequest {
    pub attempt: i64,
    /// What went wrong (at most 10000 bytes).
    pub error: String,
}
