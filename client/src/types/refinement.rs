//! The closed loop of a search: measure the winner, add the measurement to the device's data,
//! refit, search again, until the measured winner meets every latency and energy budget or
//! the rounds run out.

use flash_core::fit::CostMetric;
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
    /// The last round's measured winner meets every budget.
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

/// A round's budget of one cost on one device: normalized latency in ms, or energy in mJ per
/// inference (as the device's agent reports it: measured by a sensor, or estimated where the
/// device has none).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoundCheck {
    pub device: String,
    /// `latency` or `energy` (loops started before energy was looped: latency).
    #[serde(default = "latency")]
    pub metric: CostMetric,
    /// The budget of the request.
    #[serde(alias = "budget_ms")]
    pub budget: f64,
    /// The limit this round's search applied: the budget, scaled down by the earlier rounds'
    /// measured-to-budget ratios when a winner missed.
    #[serde(alias = "limit_ms")]
    pub limit: f64,
    #[serde(alias = "predicted_ms")]
    pub predicted: f64,
    /// The upper prediction bound at the search's confidence (the prediction without one).
    #[serde(alias = "bound_ms")]
    pub bound: f64,
    /// The winner's measured normalized latency or energy, once measured.
    #[serde(alias = "measured_ms")]
    pub measured: Option<f64>,
    pub job_id: String,
}

fn latency() -> CostMetric {
    CostMetric::Latency
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_recorded_before_energy_was_looped_still_read_as_latency() {
        let old: RoundCheck = serde_json::from_value(serde_json::json!({
            "device": "cpu", "budget_ms": 4.0, "limit_ms": 3.5, "predicted_ms": 3.0,
            "bound_ms": 3.3, "measured_ms": 4.2, "job_id": "j1"
        }))
        .unwrap();
        assert_eq!(old.metric, CostMetric::Latency);
        assert_eq!((old.budget, old.limit, old.measured), (4.0, 3.5, Some(4.2)));
    }
}
