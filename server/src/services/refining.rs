//! The closed loop of a search (`verify` with `refine`): once a round's winner is measured on
//! every looped device, the round is met (every measured normalized latency and energy within
//! its budget), or each looped cost's model is refitted on the device's measurements (the new
//! ones included), the search runs again and the new winner is queued, until a winner meets
//! every budget or `max_rounds` is reached. Energy is what the agent reports: a sensor's
//! reading where the device has one, else its estimate (the measurement says which).
//!
//! A refit alone moves little when one new point joins 25: where a winner missed, the next
//! round also scales the limit it gives the search by budget / measured, so that a device that
//! runs x% slower (or costlier) near the budget than its model predicts is corrected within a
//! round.
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

/// How long a replica may hold a loop while it refits and searches (well under a second
/// usually): a replica that dies holding it delays the loop this long. Should the work outlast
/// it, another replica may advance the same round too; the round's key lets only one commit.
const LEASE_MS: i64 = 15_000;
/// How often the background task looks for measured rounds.
pub const PERIOD: Duration = Duration::from_millis(500);

/// A budget a loop checks: a device's latency (ms) or energy (mJ) limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget<'a> {
    pub device: &'a str,
    pub metric: CostMetric,
    pub value: f64,
}

/// The limit `device` gives `metric` in `request`, if any.
fn limit_of(request: &SearchRequest, device: &str, metric: CostMetric) -> Option<f64> {
    let d = request.devices.iter().find(|d| d.device == device)?;
    match metric {
        CostMetric::Latency => d.max_latency_ms,
        CostMetric::Energy => d.max_energy_mj,
        CostMetric::Area => None,
    }
}

/// Sets the limit `device` gives `metric` in `request`, and the model it is predicted by.
fn set_limit(request: &mut SearchRequest, check: &RoundCheck, model: String, limit: f64) {
    let Some(d) = request
        .devices
        .iter_mut()
        .find(|d| d.device == check.device)
    else {
        return;
    };
    match check.metric {
        CostMetric::Latency => (d.latency_model, d.max_latency_ms) = (Some(model), Some(limit)),
        CostMetric::Energy => (d.energy_model, d.max_energy_mj) = (Some(model), Some(limit)),
        CostMetric::Area => {}
    }
}

/// The budgets a loop checks: every latency and energy limit of a device that agents measure.
pub fn looped_budgets(
    request: &SearchRequest,
    measurable: impl Fn(&str) -> bool,
) -> Vec<Budget<'_>> {
    let mut budgets = Vec::new();
    for d in request.devices.iter().filter(|d| measurable(&d.device)) {
        for metric in [CostMetric::Latency, CostMetric::Energy] {
            if let Some(value) = limit_of(request, &d.device, metric) {
                budgets.push(Budget {
                    device: &d.device,
                    metric,
                    value,
                });
            }
        }
    }
    budgets
}

/// A round of `result`, searched under `searched` (whose limits may be scaled), for
/// `budgets`; its checks' job ids are filled when its jobs are queued.
pub fn round_of(
    round: u32,
    budgets: &[Budget],
    searched: &SearchRequest,
    fits: SearchFits,
    result: &SearchResult,
) -> RefinementRound {
    // The result's budget checks are those of its winner (none without one).
    let checks = budgets
        .iter()
        .filter_map(|b| {
            let check = result
                .budget_checks
                .iter()
                .find(|c| c.device == b.device && c.metric == b.metric)?;
            Some(RoundCheck {
                device: b.device.to_string(),
                metric: b.metric,
                budget: b.value,
                limit: limit_of(searched, b.device, b.metric).unwrap_or(b.value),
                predicted: check.predicted,
                bound: check.bound,
                measured: None,
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
    let mut job_ids: Vec<String> = last.checks.iter().map(|c| c.job_id.clone()).collect();
    job_ids.dedup();
    for job_id in &job_ids {
        let job = state.store.job(job_id).await?;
        match job.state {
            JobState::Succeeded => {}
            JobState::Failed => {
                let why = format!(
                    "the measurement failed (job {job_id}: {})",
                    job.error.unwrap_or_default()
                );
                return end(state, id, last, why, RefinementState::Failed).await;
            }
            _ => return Ok(false),
        }
    }
    let measured = state.store.job_measurements(&job_ids).await?;
    for check in &mut last.checks {
        let m = measured.get(&check.job_id);
        check.measured = match check.metric {
            CostMetric::Latency => m.map(|m| m.normalized_latency_ms),
            CostMetric::Energy => {
                m.and_then(|m| m.result.energy.as_ref().map(|e| e.mj_per_inference))
            }
            CostMetric::Area => None,
        };
    }
    if let Some(check) = last.checks.iter().find(|c| c.measured.is_none()) {
        let why = format!(
            "the measurement (job {}) reported no {} for {}",
            check.job_id, check.metric, check.device
        );
        return end(state, id, last, why, RefinementState::Failed).await;
    }
    let met = last
        .checks
        .iter()
        .all(|c| c.measured.is_some_and(|m| m <= c.budget));
    if met {
        return end(state, id, last, "met".into(), RefinementState::Met).await;
    }
    if last.round >= running.max_rounds {
        return end(state, id, last, "missed".into(), RefinementState::Exhausted).await;
    }
    last.outcome = Some("missed".to_string());

    let stored = state.store.search(id).await?;
    let mut request = stored.request.clone();
    for check in &last.checks {
        let refit = fit_hardware_model(
            state,
            &HardwareModelRequest {
                device: check.device.clone(),
                metric: check.metric,
                fit_on: None,
                feature_sets: Vec::new(),
            },
        )
        .await?;
        let measured = check.measured.unwrap_or(check.budget);
        let limit = if measured > check.budget {
            check.limit * check.budget / measured
        } else {
            check.limit
        };
        set_limit(&mut request, check, refit.id, limit);
    }
    let (result, fits) = solve(state, &request).await?;
    let budgets: Vec<Budget> = last
        .checks
        .iter()
        .map(|c| Budget {
            device: &c.device,
            metric: c.metric,
            value: c.budget,
        })
        .collect();
    let next = round_of(last.round + 1, &budgets, &request, fits, &result);
    let Some(best) = &result.best else {
        let why = "missed; no architecture meets the next round's scaled limits".into();
        return end(state, id, last, why, RefinementState::Exhausted).await;
    };
    // One job per device measures every cost checked on it.
    let mut devices: Vec<&str> = next.checks.iter().map(|c| c.device.as_str()).collect();
    devices.dedup();
    let jobs = devices
        .into_iter()
        .map(|device| NewJobs {
            architecture_ids: vec![best.id.clone()],
            device: device.to_string(),
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

/// Ends the loop at its round `last`, with `outcome`.
async fn end(
    state: &AppState,
    id: &str,
    mut last: RefinementRound,
    outcome: String,
    end: RefinementState,
) -> ApiResult<bool> {
    last.outcome = Some(outcome);
    state.store.advance_refinement(id, &last, None, end).await?;
    Ok(true)
}
