//! The closed loop of a search (`verify` with `refine`): once a round's winner is measured on
//! every looped device, the round is met (every measured normalized latency within its
//! budget), or the device's latency model is refitted on its measurements (the new ones
//! included), the search runs again and the new winner is queued, until a winner meets every
//! budget or `max_rounds` is reached.
//!
//! A refit alone moves little when one new point joins 25: where a winner missed, the next
//! round also scales the limit it gives the search by budget / measured, so that a device that
//! runs x% slower near the budget than its model predicts is corrected within a round.
//!
//! The loop's state is in the store: `step` is called by every replica's background task (and
//! directly by tests); a replica leases a loop before advancing it, and a restarted server
//! carries on from the last recorded round.

use std::time::Duration;

use flash_client::{
    HardwareModelRequest, JobState, RefinementRound, RefinementState, RoundCheck, SearchFits,
    SearchRequest,
};
use flash_core::fit::CostMetric;
use flash_core::search::SearchResult;

use super::fitting::fit_hardware_model;
use super::searching::solve;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{NewArchitecture, NewJobs, RoundJobs};

/// How long a replica may hold a loop while it refits and searches.
const LEASE_MS: i64 = 60_000;
/// How often the background task looks for measured rounds.
pub const PERIOD: Duration = Duration::from_millis(500);

/// The devices a loop measures: with a latency budget and measured by agents.
pub fn looped_devices(
    request: &SearchRequest,
    measurable: impl Fn(&str) -> bool,
) -> Vec<(&str, f64)> {
    request
        .devices
        .iter()
        .filter(|d| measurable(&d.device))
        .filter_map(|d| Some((d.device.as_str(), d.max_latency_ms?)))
        .collect()
}

/// A round of `result`, searched under `searched` (whose latency limits may be scaled), for the
/// budgets of `budgets`; its checks' job ids are filled when its jobs are queued.
pub fn round_of(
    round: u32,
    budgets: &[(&str, f64)],
    searched: &SearchRequest,
    fits: SearchFits,
    result: &SearchResult,
) -> RefinementRound {
    // The result's budget checks are those of its winner (none without one).
    let checks = budgets
        .iter()
        .filter_map(|(device, budget)| {
            let check = result
                .budget_checks
                .iter()
                .find(|c| c.device == *device && c.metric == CostMetric::Latency)?;
            let limit = searched
                .devices
                .iter()
                .find(|d| d.device == *device)
                .and_then(|d| d.max_latency_ms)
                .unwrap_or(*budget);
            Some(RoundCheck {
                device: device.to_string(),
                budget_ms: *budget,
                limit_ms: limit,
                predicted_ms: check.predicted,
                bound_ms: check.bound,
                measured_ms: None,
                job_id: String::new(),
            })
        })
        .collect();
    RefinementRound {
        round,
        fits,
        winner: result.best.as_ref().map(|b| b.id.clone()),
        checks,
        outcome: None,
    }
}

/// Advances every loop whose round has been measured; returns how many it advanced.
pub async fn step(state: &AppState) -> ApiResult<usize> {
    let mut advanced = 0;
    for id in state.store.running_refinements().await? {
        if !state.store.lease_refinement(&id, LEASE_MS).await? {
            continue;
        }
        match advance(state, &id).await {
            Ok(true) => advanced += 1,
            Ok(false) => state.store.release_refinement(&id).await?,
            Err(e) => {
                tracing::warn!(search = %id, error = %e, "a refinement round could not advance; it is tried again");
                state.store.release_refinement(&id).await?;
            }
        }
    }
    Ok(advanced)
}

/// Runs `step` every `PERIOD` until the task is dropped.
pub async fn run_forever(state: AppState) {
    loop {
        if let Err(e) = step(&state).await {
            tracing::warn!(error = %e, "refinement step failed");
        }
        tokio::time::sleep(PERIOD).await;
    }
}

/// Ok(false) while the last round's winner is still being measured.
async fn advance(state: &AppState, id: &str) -> ApiResult<bool> {
    let Some(running) = state.store.refinement(id).await? else {
        return Ok(false);
    };
    let Some(mut last) = running.rounds.last().cloned() else {
        return Ok(false);
    };
    let job_ids: Vec<String> = last.checks.iter().map(|c| c.job_id.clone()).collect();
    for job_id in &job_ids {
        let job = state.store.job(job_id).await?;
        match job.state {
            JobState::Succeeded => {}
            JobState::Failed => {
                last.outcome = Some(format!(
                    "the measurement failed (job {job_id}: {})",
                    job.error.unwrap_or_default()
                ));
                let failed = RefinementState::Failed;
                state
                    .store
                    .advance_refinement(id, &last, None, failed)
                    .await?;
                return Ok(true);
            }
            _ => return Ok(false),
        }
    }
    let measured = state.store.job_measurements(&job_ids).await?;
    for check in &mut last.checks {
        check.measured_ms = measured.get(&check.job_id).map(|m| m.normalized_latency_ms);
    }
    let met = last
        .checks
        .iter()
        .all(|c| c.measured_ms.is_some_and(|m| m <= c.budget_ms));
    if met || last.round >= running.max_rounds {
        let end = if met {
            RefinementState::Met
        } else {
            RefinementState::Exhausted
        };
        last.outcome = Some(if met { "met" } else { "missed" }.to_string());
        state.store.advance_refinement(id, &last, None, end).await?;
        return Ok(true);
    }
    last.outcome = Some("missed".to_string());

    let stored = state.store.search(id).await?;
    let mut request = stored.request.clone();
    for check in &last.checks {
        let refit = fit_hardware_model(
            state,
            &HardwareModelRequest {
                device: check.device.clone(),
                metric: CostMetric::Latency,
                fit_on: None,
                feature_sets: Vec::new(),
            },
        )
        .await?;
        if let Some(d) = request
            .devices
            .iter_mut()
            .find(|d| d.device == check.device)
        {
            d.latency_model = Some(refit.id);
            let measured = check.measured_ms.unwrap_or(check.budget_ms);
            d.max_latency_ms = Some(if measured > check.budget_ms {
                check.limit_ms * check.budget_ms / measured
            } else {
                check.limit_ms
            });
        }
    }
    let (result, fits) = solve(state, &request).await?;
    let budgets: Vec<(&str, f64)> = last
        .checks
        .iter()
        .map(|c| (c.device.as_str(), c.budget_ms))
        .collect();
    let next = round_of(last.round + 1, &budgets, &request, fits, &result);
    let Some(best) = &result.best else {
        last.outcome =
            Some("missed; no architecture meets the next round's scaled limits".to_string());
        let end = RefinementState::Exhausted;
        state.store.advance_refinement(id, &last, None, end).await?;
        return Ok(true);
    };
    let jobs = next
        .checks
        .iter()
        .map(|c| NewJobs {
            architecture_ids: vec![best.id.clone()],
            device: c.device.clone(),
            protocol: running.protocol.clone(),
            max_attempts: state.config.max_attempts,
        })
        .collect();
    let winner = NewArchitecture::from_spec(best.spec.clone());
    state
        .store
        .advance_refinement(
            id,
            &last,
            Some((next, RoundJobs { winner, jobs })),
            RefinementState::Running,
        )
        .await?;
    Ok(true)
}
