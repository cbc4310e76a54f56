//! Verifying: the winners of a search measured on its devices, to set predicted against
//! measured.

use flash_client::{SearchRecord, VerifyRequest};
use flash_core::search::{Objective, Scored, SearchResult};

use super::refining::{looped_budgets, round_of};
use super::searching::record;
use super::validation::none_failed;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{NewArchitecture, NewJobs, NewRefinement, StoredSearch};

/// Most winners measured per search.
const MAX_TOP_K: usize = 20;
/// Most points measured along a front per search.
const MAX_FRONT_POINTS: usize = 20;
/// Rounds of a closed loop when the request names none, and the most it may name.
const DEFAULT_ROUNDS: u32 = 3;
const MAX_ROUNDS: u32 = 10;

/// Stores the search's `top_k` winners (and `front_points` points along its first front) as
/// architectures and queues a measurement job for each on each measurable device, all in one
/// transaction.
pub async fn verify(state: &AppState, id: &str, req: VerifyRequest) -> ApiResult<SearchRecord> {
    let top_k = req.top_k.unwrap_or(1);
    if !(1..=MAX_TOP_K).contains(&top_k) {
        return Err(ApiError::field(
            "top_k",
            format!("must be in 1..={MAX_TOP_K}"),
        ));
    }
    let front_points = req.front_points.unwrap_or(0);
    if front_points > MAX_FRONT_POINTS {
        return Err(ApiError::field(
            "front_points",
            format!("must be in 0..={MAX_FRONT_POINTS}"),
        ));
    }
    let max_rounds = req.max_rounds.unwrap_or(DEFAULT_ROUNDS);
    if !(1..=MAX_ROUNDS).contains(&max_rounds) {
        return Err(ApiError::field(
            "max_rounds",
            format!("must be in 1..={MAX_ROUNDS}"),
        ));
    }
    none_failed(req.protocol.validate("protocol."))?;
    let stored = state.store.search(id).await?;
    let mut winners = winners(&stored.request.objective, &stored.result, top_k)?;
    for point in spread_along_front(&stored.result, front_points) {
        if !winners.iter().any(|w| w.id == point.id) {
            winners.push(point.clone());
        }
    }
    let new: Vec<_> = winners
        .iter()
        .map(|w| NewArchitecture::from_spec(w.spec.clone()))
        .collect();
    let ids: Vec<String> = winners.iter().map(|w| w.id.clone()).collect();
    let names: Vec<String> = stored
        .request
        .devices
        .iter()
        .map(|d| d.device.clone())
        .collect();
    let profiles = state.store.device_profiles(&names).await?;
    // No agent measures an analytic device: `analytic` shows its crossbar model's values.
    let measurable = |name: &str| {
        profiles
            .get(name)
            .and_then(|p| crate::profiles::shipped(p))
            .is_none_or(|p| p.crossbar().is_none())
    };
    let refinement = match req.refine {
        true => Some(refinement(state, id, &stored, max_rounds, &req, &measurable).await?),
        false => None,
    };
    let jobs: Vec<NewJobs> = names
        .iter()
        .filter(|name| measurable(name))
        .map(|name| NewJobs {
            architecture_ids: ids.clone(),
            device: name.clone(),
            protocol: req.protocol.clone(),
            max_attempts: state.config.max_attempts,
        })
        .collect();
    state
        .store
        .queue_verification(id, new, &jobs, refinement)
        .await?;
    record(state, stored).await
}

/// The loop `refine` starts: its first round is the search itself, measured by the winner's
/// verification jobs on the devices with a latency or energy budget that agents measure.
async fn refinement(
    state: &AppState,
    id: &str,
    stored: &StoredSearch,
    max_rounds: u32,
    req: &VerifyRequest,
    measurable: &impl Fn(&str) -> bool,
) -> ApiResult<NewRefinement> {
    let budgets = looped_budgets(&stored.request, measurable);
    if budgets.is_empty() {
        return Err(ApiError::field(
            "refine",
            "needs a device with a latency or energy budget (max_latency_ms, max_energy_mj) \
             that an agent measures",
        ));
    }
    if state.store.has_refinement(id).await? {
        return Err(ApiError::field(
            "refine",
            "this search's loop has already started; see its refinement",
        ));
    }
    let first = round_of(
        1,
        &budgets,
        &stored.request,
        stored.fits.clone(),
        &stored.result,
    );
    Ok(NewRefinement {
        max_rounds,
        protocol: req.protocol.clone(),
        first,
    })
}

/// The best architecture, then the best others of the fronts by objective, up to `top_k`.
fn winners(objective: &Objective, result: &SearchResult, top_k: usize) -> ApiResult<Vec<Scored>> {
    let Some(best) = &result.best else {
        return Err(ApiError::Unprocessable(
            "the search found no architecture that meets the limits: nothing to verify".into(),
            vec![],
        ));
    };
    let mut others: Vec<&Scored> = result
        .fronts
        .iter()
        .flat_map(|f| f.points.iter())
        .filter(|s| s.id != best.id)
        .collect();
    let maximise = !matches!(objective, Objective::MinCost { .. });
    others.sort_by(|a, b| {
        if maximise {
            b.objective.total_cmp(&a.objective)
        } else {
            a.objective.total_cmp(&b.objective)
        }
    });
    let mut winners = vec![best.clone()];
    for s in others {
        if winners.len() >= top_k {
            break;
        }
        if !winners.iter().any(|w| w.id == s.id) {
            winners.push(s.clone());
        }
    }
    Ok(winners)
}

/// `k` points of the first front, evenly spaced by position from its cheapest to its most
/// accurate end (the front is ordered along its cost).
fn spread_along_front(result: &SearchResult, k: usize) -> Vec<&Scored> {
    let Some(front) = result.fronts.first() else {
        return Vec::new();
    };
    let n = front.points.len();
    if k == 0 || n == 0 {
        return Vec::new();
    }
    if k >= n {
        return front.points.iter().collect();
    }
    let mut picked: Vec<usize> = (0..k)
        .map(|i| match k {
            1 => n / 2,
            _ => (i * (n - 1) + (k - 1) / 2) / (k - 1),
        })
        .collect();
    picked.dedup();
    picked.into_iter().map(|i| &front.points[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn front_of(n: usize) -> SearchResult {
        let mut result: SearchResult = serde_json::from_value(serde_json::json!({
            "best": null, "closest_miss": null, "fronts": [], "configurations": 0,
            "exact": true, "accuracy_gap_bound": null, "elapsed_ms": 0.0,
            "stats": {"cell_candidates": [], "cell_choices": 0, "states": [], "final_states": 0}
        }))
        .unwrap();
        let spec = flash_core::Space::default_space()
            .sample_uniform(1, 1)
            .remove(0);
        let point = |i: usize| Scored {
            id: format!("p{i}"),
            spec: spec.clone(),
            accuracy: flash_core::fit::Interval {
                value: 0.5,
                lower: 0.4,
                upper: 0.6,
            },
            nn_degree: 1.0,
            params: 1,
            macs: 1,
            costs: Vec::new(),
            objective: i as f64,
        };
        result.fronts.push(flash_core::search::ParetoFront {
            against: vec!["d.latency".into()],
            points: (0..n).map(point).collect(),
        });
        result
    }

    fn ids(points: Vec<&Scored>) -> Vec<&str> {
        points.iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn front_points_span_the_front_from_end_to_end() {
        let r = front_of(11);
        assert_eq!(ids(spread_along_front(&r, 3)), ["p0", "p5", "p10"]);
        assert_eq!(ids(spread_along_front(&r, 2)), ["p0", "p10"]);
        assert_eq!(ids(spread_along_front(&r, 1)), ["p5"]);
        assert_eq!(spread_along_front(&r, 0).len(), 0);
        assert_eq!(spread_along_front(&r, 11).len(), 11);
        assert_eq!(spread_along_front(&front_of(4), 9).len(), 4);
        assert_eq!(spread_along_front(&front_of(0), 3).len(), 0);
    }
}
