//! Verifying: the winners of a search measured on its devices, to set predicted against
//! measured.

use flash_client::{SearchRecord, VerifyRequest};
use flash_core::search::{Objective, Scored};

use super::searching::record;
use super::validation::none_failed;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{NewArchitecture, NewJobs};

/// Most winners measured per search.
const MAX_TOP_K: usize = 20;

/// Stores the search's `top_k` winners as architectures and queues a measurement job for each
/// on each measurable device, all in one transaction.
pub async fn verify(state: &AppState, id: &str, req: VerifyRequest) -> ApiResult<SearchRecord> {
    let top_k = req.top_k.unwrap_or(1);
    if !(1..=MAX_TOP_K).contains(&top_k) {
        return Err(ApiError::field(
            "top_k",
            format!("must be in 1..={MAX_TOP_K}"),
        ));
    }
    none_failed(req.protocol.validate("protocol."))?;
    let stored = state.store.search(id).await?;
    let winners = winners(&stored.request.objective, &stored.result, top_k)?;
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
    let jobs: Vec<NewJobs> = names
        .iter()
        // No agent measures an analytic device: `analytic` shows its crossbar model's values.
        .filter(|name| {
            profiles
                .get(*name)
                .and_then(|p| crate::profiles::shipped(p))
                .is_none_or(|p| p.crossbar().is_none())
        })
        .map(|name| NewJobs {
            architecture_ids: ids.clone(),
            device: name.clone(),
            protocol: req.protocol.clone(),
            max_attempts: state.config.max_attempts,
        })
        .collect();
    state.store.queue_verification(id, new, &jobs).await?;
    record(state, stored).await
}

/// The best architecture, then the best others of the fronts by objective, up to `top_k`.
fn winners(
    objective: &Objective,
    result: &flash_core::search::SearchResult,
    top_k: usize,
) -> ApiResult<Vec<Scored>> {
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
