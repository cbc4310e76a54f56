//! Searching: the provably best architecture of a space under the fitted models, and the API
//! records of stored searches (with their verification so far and the analytic checks).

use std::collections::HashMap;

use flash_client::{
    AnalyticCheck, DeviceFits, Refinement, SearchFits, SearchRecord, SearchRequest, Verification,
};
use flash_core::fit::CostMetric;
use flash_core::measurement::MeasurementResult;
use flash_core::search::{DeviceModels, SearchError, SearchProblem, SearchResult, search};
use flash_core::{FieldError, Space};

use super::blocking;
use super::fitting::{Fits, newest_fits, pinned_accuracy_model, pinned_hardware_model};
use super::validation::{none_failed, positive};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{StoredSearch, VerificationRow};

/// Most devices in one search.
const MAX_DEVICES: usize = 8;

/// Prepares this process for searching, once, off the async workers: what every search of a
/// built-in space shares (a few milliseconds per space), and the memory a search works in.
/// The server starts it as it starts serving; the demo waits for it before its loop, so that
/// its search is timed as a running service's is. Later callers wait for the first.
pub async fn prepared() {
    static PREPARED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    PREPARED
        .get_or_init(|| async {
            let preparing = tokio::task::spawn_blocking(|| {
                Space::all().iter().for_each(flash_core::search::prepare);
                touch_search_memory();
            });
            if let Err(e) = preparing.await {
                tracing::warn!(error = %e, "preparing for searching failed");
            }
        })
        .await;
}

/// Allocates, touches and frees about twice the memory a search works in (25-30 MB on the
/// default space). The allocator asks for transparent huge pages, and the kernel may compact
/// memory to grant them when they are first touched: the demo's search, the first of its
/// process, took 48-82 ms in 8 of 21 runs here (18-29 ms in the others). With the memory
/// touched first, 3 of 22 runs took 47-71 ms: fewer, not none. The allocator then handed the
/// touched memory back to the system a second later; it now keeps it (`keep_freed_memory` in
/// main.rs). A search on this thread finds it mapped (4 page faults, none of them the heap's);
/// one on another blocking thread, as most are, faulted 4-12 pages here, taking fresh pages
/// from the allocator's arena (a thread kept for searches showed no gain under this machine's
/// noise, so the touch stays as it is).
fn touch_search_memory() {
    const BLOCK: usize = 1 << 20;
    let blocks: Vec<Vec<u8>> = (0..64)
        .map(|_| {
            let mut block = vec![0u8; BLOCK];
            block.iter_mut().step_by(4096).for_each(|b| *b = 1);
            std::hint::black_box(block)
        })
        .collect();
    drop(blocks);
}

/// Searches `req.space` under the newest (or pinned) fits and stores the search.
pub async fn create(state: &AppState, req: SearchRequest) -> ApiResult<SearchRecord> {
    let (result, fits) = solve(state, &req).await?;
    let stored = state.store.put_search(&req, &fits, &result).await?;
    record(state, stored).await
}

/// The search `req` asks for, under the newest (or pinned) fits, and the fits it used.
pub async fn solve(state: &AppState, req: &SearchRequest) -> ApiResult<(SearchResult, SearchFits)> {
    let space = Space::by_name(&req.space).ok_or_else(|| {
        ApiError::field(
            "space",
            format!("unknown space; known: {}", Space::names().join(", ")),
        )
    })?;
    check_limits(req)?;
    let (problem, fits) = problem(state, req).await?;
    let result = blocking(move || search(space, &problem))
        .await?
        .map_err(search_error)?;
    Ok((result, fits))
}

fn check_limits(req: &SearchRequest) -> ApiResult<()> {
    let mut errors = Vec::new();
    if req.devices.is_empty() || req.devices.len() > MAX_DEVICES {
        errors.push(FieldError::new(
            "devices",
            format!("name 1 to {MAX_DEVICES} devices"),
        ));
    }
    for (i, d) in req.devices.iter().enumerate() {
        let field = |name: &str| format!("devices[{i}].{name}");
        positive(&mut errors, field("max_latency_ms"), d.max_latency_ms);
        positive(&mut errors, field("max_energy_mj"), d.max_energy_mj);
        positive(&mut errors, field("max_area_mm2"), d.max_area_mm2);
    }
    if let Some(c) = req.confidence
        && !(c > 0.0 && c < 1.0)
    {
        errors.push(FieldError::new(
            "confidence",
            "must be in (0, 1), e.g. 0.95",
        ));
    }
    none_failed(errors)
}

/// The core problem of `req`, with the fits it uses.
async fn problem(state: &AppState, req: &SearchRequest) -> ApiResult<(SearchProblem, SearchFits)> {
    let mut fits = SearchFits::default();
    let mut devices = Vec::new();
    // The data set's fit, resolved once (at the first device, as the checks run in that order).
    let mut accuracy: Option<Fits> = None;
    for (i, d) in req.devices.iter().enumerate() {
        if !state.store.device_exists(&d.device).await? {
            return Err(ApiError::field(
                &format!("devices[{i}].device"),
                "no such device",
            ));
        }
        let newest_accuracy = match accuracy {
            Some(_) => None,
            None => Some(newest_fits(state, Some(&req.dataset), None, false).await?),
        };
        let mut f = newest_fits(state, None, Some(&d.device), false).await?;
        for (pinned, metric, name) in [
            (&d.latency_model, CostMetric::Latency, "latency_model"),
            (&d.energy_model, CostMetric::Energy, "energy_model"),
        ] {
            if let Some(id) = pinned {
                let field = format!("devices[{i}].{name}");
                f.set_hardware(&pinned_hardware_model(state, &field, id, &d.device, metric).await?);
            }
        }
        if let Some(mut a) = newest_accuracy {
            if let Some(id) = &req.accuracy_model {
                a.set_accuracy(
                    &pinned_accuracy_model(state, "accuracy_model", id, &req.dataset).await?,
                );
            }
            accuracy = Some(a);
        }
        fits.devices.push(DeviceFits {
            device: d.device.clone(),
            latency_model: f.used.latency_model,
            energy_model: f.used.energy_model,
        });
        devices.push(DeviceModels {
            device: d.device.clone(),
            latency: f.latency,
            energy: f.energy,
            area: f.area,
            max_latency: d.max_latency_ms,
            max_energy: d.max_energy_mj,
            max_area: d.max_area_mm2,
        });
    }
    let no_devices = || ApiError::field("devices", format!("name 1 to {MAX_DEVICES} devices"));
    let accuracy = accuracy.ok_or_else(no_devices)?;
    fits.accuracy_model = accuracy.used.accuracy_model.unwrap_or_default();
    let accuracy = accuracy.accuracy.ok_or_else(no_devices)?;
    let problem = SearchProblem {
        accuracy,
        devices,
        max_params: req.max_params,
        max_macs: req.max_macs,
        objective: req.objective.clone(),
        confidence: req.confidence,
    };
    Ok((problem, fits))
}

fn search_error(e: SearchError) -> ApiError {
    match e {
        SearchError::MissingModel {
            ref device, metric, ..
        } => ApiError::field(
            "devices",
            format!(
                "{e}: fit it with POST /v1/hardware-models {{\"device\": \"{device}\", \
                 \"metric\": \"{}\"}}",
                <&str>::from(metric)
            ),
        ),
        other => ApiError::Unprocessable(other.to_string(), vec![]),
    }
}

/// One search's API record.
pub async fn record(state: &AppState, stored: StoredSearch) -> ApiResult<SearchRecord> {
    let mut one = records(state, vec![stored]).await?;
    one.pop()
        .ok_or_else(|| ApiError::Internal("a search lost its record".into()))
}

/// The API records of `searches`, with their verification so far and the analytic checks of
/// their winners: a fixed number of queries whatever the number of searches (a list page).
pub async fn records(
    state: &AppState,
    searches: Vec<StoredSearch>,
) -> ApiResult<Vec<SearchRecord>> {
    let ids: Vec<String> = searches.iter().map(|s| s.id.clone()).collect();
    let mut verifications = state.store.verifications(&ids).await?;
    let mut device_names: Vec<String> = searches
        .iter()
        .flat_map(|s| s.request.devices.iter().map(|d| d.device.clone()))
        .collect();
    device_names.sort();
    device_names.dedup();
    let profiles = state.store.device_profiles(&device_names).await?;
    let mut refinements = state.store.refinements(&ids).await?;
    Ok(searches
        .into_iter()
        .map(|stored| {
            let rows = verifications.remove(&stored.id).unwrap_or_default();
            let refinement = refinements.remove(&stored.id);
            assemble(stored, rows, refinement, &profiles)
        })
        .collect())
}

fn assemble(
    stored: StoredSearch,
    rows: Vec<VerificationRow>,
    refinement: Option<Refinement>,
    profiles: &HashMap<String, String>,
) -> SearchRecord {
    let StoredSearch {
        id,
        request,
        fits,
        result,
        created_at,
    } = stored;
    let verification = rows
        .into_iter()
        .map(|row| verification(&request, &result, row))
        .collect();
    let analytic = analytic_checks(&request, &result, profiles);
    SearchRecord {
        analytic,
        id,
        fits,
        request,
        result,
        verification,
        refinement,
        created_at,
    }
}

/// The winner under each analytic device's crossbar model (no agent measures those).
fn analytic_checks(
    request: &SearchRequest,
    result: &SearchResult,
    profiles: &HashMap<String, String>,
) -> Vec<AnalyticCheck> {
    let Some(best) = &result.best else {
        return Vec::new();
    };
    request
        .devices
        .iter()
        .filter_map(|d| {
            let profile = crate::profiles::shipped(profiles.get(&d.device)?)?;
            let e = profile.crossbar()?.evaluate(&best.spec.to_graph());
            let within = |value: f64, limit: Option<f64>| limit.is_none_or(|l| value <= l);
            Some(AnalyticCheck {
                device: d.device.clone(),
                architecture_id: best.id.clone(),
                meets_limits: within(e.latency_ms, d.max_latency_ms)
                    && within(e.energy_mj, d.max_energy_mj)
                    && within(e.area_mm2, d.max_area_mm2),
                latency_ms: e.latency_ms,
                energy_mj: e.energy_mj,
                area_mm2: e.area_mm2,
                tiles: e.tiles,
            })
        })
        .collect()
}

/// A verification row against what the search predicted for the same winner and device.
fn verification(
    request: &SearchRequest,
    result: &SearchResult,
    row: VerificationRow,
) -> Verification {
    let predicted = result
        .best
        .iter()
        .chain(result.fronts.iter().flat_map(|f| f.points.iter()))
        .find(|s| s.id == row.architecture_id);
    let cost = |metric: CostMetric| {
        predicted.and_then(|s| {
            s.costs
                .iter()
                .find(|c| c.device == row.device && c.metric == metric)
                .map(|c| c.value)
        })
    };
    let m = row.measurement.as_ref();
    let measured = m.map(|m| &m.result);
    let limit = request
        .devices
        .iter()
        .find(|d| d.device == row.device)
        .and_then(|d| d.max_latency_ms);
    let normalized = m.map(|m| m.normalized_latency_ms);
    Verification {
        predicted_latency_ms: cost(CostMetric::Latency),
        predicted_energy_mj: cost(CostMetric::Energy),
        measured_latency_ms: normalized,
        paired: measured.map(MeasurementResult::is_paired),
        measured_p50_ms: measured.map(|m| m.latency.p50_ms),
        measured_p90_ms: measured.map(|m| m.latency.p90_ms),
        measured_energy_mj: m.and_then(|m| m.result.normalized_energy_mj(m.reference_latency_ms)),
        energy_method: measured.and_then(|m| m.energy.as_ref()).map(|e| {
            serde_json::to_value(e.method)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        }),
        max_latency_ms: limit,
        meets_latency_limit: normalized.zip(limit).map(|(p, l)| p <= l),
        architecture_id: row.architecture_id,
        device: row.device,
        rank: row.rank,
        job_id: row.job_id,
        job_state: row.job_state.to_string(),
    }
}
