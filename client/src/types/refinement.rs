//! The closed loop of a search: measure the winner, add the measurement to the device's data,
//! refit, search again, until the measured winner meets every latency budget or the rounds
//! run out.

use serde::{Deserialize, Serialize};

use super::searches::SearchFits;

/// Where a search's loop stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RefinementState {
    /// A round's winner is being measured.
    Running,
    /// The last round's measured winner meets every latency budget.
    Met,
    /// The rounds ran out (or no architecture met the limits any more) before a measured
    /// winner met every budget.
    Exhausted,
    /// A measurement failed; the loop stopped.
    Failed,
}

/// A search's loop: every round, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refinement {
    pub state: RefinementState,
    pub max_rounds: u32,
    pub rounds: Vec<RefinementRound>,
}

/// One round: the fits the search used, its winner, and per looped device what was predicted,
/// bounded, limited and measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefinementRound {
    /// 1 for the search itself, then 2, 3, ...
    pub round: u32,
    pub fits: SearchFits,
    /// The winner's architecture id (none when no architecture met the limits this round).
    pub winner: Option<String>,
    pub checks: Vec<RoundCheck>,
    /// `met`, `missed`, or why the loop stopped; absent while the winner is being measured.
    pub outcome: Option<String>,
}

/// A round's latency budget on one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoundCheck {
    pub device: String,
    /// The budget of the request, ms.
    pub budget_ms: f64,
    /// The limit this round's search applied: the budget, scaled down by the earlier rounds'
    /// measured-to-predicted ratios when a winner missed.
    pub limit_ms: f64,
    pub predicted_ms: f64,
    /// The upper prediction bound at the search's confidence (the prediction without one).
    pub bound_ms: f64,
    /// The winner's measured normalized latency, once measured.
    pub measured_ms: Option<f64>,
    pub job_id: String,
}
