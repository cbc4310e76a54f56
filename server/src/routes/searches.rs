//! Co-design searches: the provably best architecture of a space under the fitted models, its
//! Pareto fronts, and re-measurement of the winners on the devices.

use flash_client::*;
use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flash_core::Space;
use flash_core::fit::CostMetric;
use flash_core::measurement::MeasurementResult;
use flash_core::search::{DeviceModels, Objective, SearchError, SearchResult, search};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::predictions::newest_fits;
use crate::error::{
    ApiError, ApiResult, AuthProblems, BodyProblems, NotFoundProblem, QueryProblems,
};
use crate::extract::{Access, ApiJson, ApiQuery, Caller, Paging};
use crate::state::AppState;
use crate::store::{NewArchitecture, NewJobs};
use crate::store::{StoredSearch, VerificationRow};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_search, list_searches))
        .routes(routes!(get_search))
        .routes(routes!(verify_search))
}

/// One search's API record.
pub(super) async fn record(state: &AppState, stored: StoredSearch) -> ApiResult<SearchRecord> {
    Ok(records(state, vec![stored])
        .await?
        .pop()
        .expect("one record per search"))
}

/// The API records of `searches`, with their verification so far and the analytic checks of
/// their winners: a fixed number of queries whatever the number of searches (a list page).
pub(super) async fn records(
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
    Ok(searches
        .into_iter()
        .map(|stored| {
            let rows = verifications.remove(&stored.id).unwrap_or_default();
            assemble(stored, rows, &profiles)
        })
        .collect())
}

fn assemble(
    stored: StoredSearch,
    rows: Vec<VerificationRow>,
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
    let mut analytic = Vec::new();
    if let Some(best) = &result.best {
        for d in &request.devices {
            let profile = profiles
                .get(&d.device)
                .and_then(|p| crate::profiles::shipped(p));
            let Some(crossbar) = profile.as_ref().and_then(|p| p.crossbar()) else {
                continue;
            };
            let e = crossbar.evaluate(&best.spec.to_graph());
            let within = |value: f64, limit: Option<f64>| limit.is_none_or(|l| value <= l);
            analytic.push(AnalyticCheck {
                device: d.device.clone(),
                architecture_id: best.id.clone(),
                meets_limits: within(e.latency_ms, d.max_latency_ms)
                    && within(e.energy_mj, d.max_energy_mj)
                    && within(e.area_mm2, d.max_area_mm2),
                latency_ms: e.latency_ms,
                energy_mj: e.energy_mj,
                area_mm2: e.area_mm2,
                tiles: e.tiles,
            });
        }
    }
    SearchRecord {
        analytic,
        id,
        fits,
        request,
        result,
        verification,
        created_at,
    }
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

/// A hardware model named in a request, checked to be the device's model of `metric`.
async fn pinned_hardware_model(
    state: &AppState,
    field: &str,
    id: &str,
    device: &str,
    metric: CostMetric,
) -> ApiResult<HardwareModelRecord> {
    let m = match state.store.model::<HardwareModelRecord>(id).await {
        Ok(m) => m,
        Err(crate::store::StoreError::NotFound(_)) => {
            return Err(ApiError::field(field, "no such hardware model"));
        }
        Err(e) => return Err(e.into()),
    };
    if m.device != device || m.metric != metric {
        return Err(ApiError::field(
            field,
            format!(
                "is a {} model of device {:?}",
                <&str>::from(m.metric),
                m.device
            ),
        ));
    }
    Ok(m)
}

fn positive(errors: &mut Vec<flash_core::FieldError>, field: String, v: Option<f64>) {
    if let Some(v) = v
        && !(v.is_finite() && v > 0.0)
    {
        errors.push(flash_core::FieldError::new(
            field,
            "must be a positive number",
        ));
    }
}

/// Search a space for the best architecture under the newest fits.
///
/// Exact over the whole grid (6.4 x 10^10 configurations for `flash-densenet`): the result is
/// the optimum under the fitted models, with the Pareto front of predicted accuracy against
/// each limited cost. A device without the needed fitted model is a 422 naming it.
#[utoipa::path(
    post, path = "/v1/searches", tag = "searches",
    request_body = SearchRequest,
    responses((status = 201, description = "Searched and stored", body = SearchRecord), AuthProblems, BodyProblems),
    security(("bearer" = ["write", "admin"]))
)]
async fn create_search(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<SearchRequest>,
) -> ApiResult<(StatusCode, axum::Json<SearchRecord>)> {
    caller.require(Access::Write, &state)?;
    let space = Space::by_name(&req.space).ok_or_else(|| {
        ApiError::field(
            "space",
            format!("unknown space; known: {}", Space::names().join(", ")),
        )
    })?;
    let mut errors = Vec::new();
    if req.devices.is_empty() || req.devices.len() > 8 {
        errors.push(flash_core::FieldError::new(
            "devices",
            "name 1 to 8 devices",
        ));
    }
    for (i, d) in req.devices.iter().enumerate() {
        positive(
            &mut errors,
            format!("devices[{i}].max_latency_ms"),
            d.max_latency_ms,
        );
        positive(
            &mut errors,
            format!("devices[{i}].max_energy_mj"),
            d.max_energy_mj,
        );
        positive(
            &mut errors,
            format!("devices[{i}].max_area_mm2"),
            d.max_area_mm2,
        );
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let mut fits = SearchFits::default();
    let mut devices = Vec::new();
    let mut accuracy = None;
    for (i, d) in req.devices.iter().enumerate() {
        if !state.store.device_exists(&d.device).await? {
            return Err(ApiError::field(
                &format!("devices[{i}].device"),
                "no such device",
            ));
        }
        let mut f = newest_fits(&state, Some(&req.dataset), Some(&d.device), false).await?;
        if let Some(id) = &d.latency_model {
            let m = pinned_hardware_model(
                &state,
                &format!("devices[{i}].latency_model"),
                id,
                &d.device,
                CostMetric::Latency,
            )
            .await?;
            f.used.latency_model = Some(m.id);
            f.latency = Some(m.fit.model);
        }
        if let Some(id) = &d.energy_model {
            let m = pinned_hardware_model(
                &state,
                &format!("devices[{i}].energy_model"),
                id,
                &d.device,
                CostMetric::Energy,
            )
            .await?;
            f.used.energy_model = Some(m.id);
            f.energy = Some(m.fit.model);
        }
        if let Some(id) = &req.accuracy_model {
            let m = match state.store.model::<AccuracyModelRecord>(id).await {
                Ok(m) => m,
                Err(crate::store::StoreError::NotFound(_)) => {
                    return Err(ApiError::field("accuracy_model", "no such accuracy model"));
                }
                Err(e) => return Err(e.into()),
            };
            if m.dataset != req.dataset {
                return Err(ApiError::field(
                    "accuracy_model",
                    format!("is a model of data set {:?}", m.dataset),
                ));
            }
            f.used.accuracy_model = Some(m.id);
            f.accuracy = Some(m.fit.model);
        }
        fits.accuracy_model = f.used.accuracy_model.clone().unwrap_or_default();
        accuracy = f.accuracy;
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
    let problem = flash_core::search::SearchProblem {
        accuracy: accuracy.expect("newest_fits loads the dataset's model or fails"),
        devices,
        max_params: req.max_params,
        max_macs: req.max_macs,
        objective: req.objective.clone(),
    };
    let result = tokio::task::spawn_blocking(move || search(space, &problem))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| match e {
            SearchError::MissingModel { ref device, metric, .. } => ApiError::field(
                "devices",
                format!("{e}: fit it with POST /v1/hardware-models {{\"device\": \"{device}\", \"metric\": \"{}\"}}", <&str>::from(metric)),
            ),
            other => ApiError::Unprocessable(other.to_string(), vec![]),
        })?;
    let stored = state.store.put_search(&req, &fits, &result).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(record(&state, stored).await?),
    ))
}

/// List searches.
#[utoipa::path(
    get, path = "/v1/searches", tag = "searches",
    params(Paging),
    responses((status = 200, description = "A page of searches", body = ListPage<SearchRecord>), AuthProblems, QueryProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn list_searches(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(paging): ApiQuery<Paging>,
) -> ApiResult<axum::Json<ListPage<SearchRecord>>> {
    caller.require(Access::Read, &state)?;
    let (cursor, limit) = paging.parse()?;
    let page = state.store.list_searches(cursor, limit).await?;
    Ok(axum::Json(ListPage {
        items: records(&state, page.items).await?,
        next_cursor: page.next_cursor,
    }))
}

/// Get a search, with its winners' verification so far.
#[utoipa::path(
    get, path = "/v1/searches/{id}", tag = "searches",
    params(("id" = String, Path, description = "Search id")),
    responses((status = 200, description = "The search", body = SearchRecord), AuthProblems, NotFoundProblem),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn get_search(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SearchRecord>> {
    caller.require(Access::Read, &state)?;
    let stored = state.store.search(&id).await?;
    Ok(axum::Json(record(&state, stored).await?))
}

/// Re-measure a search's winners on each of its devices.
///
/// Stores the winners as architectures and queues a measurement job for each on each device;
/// `GET /v1/searches/{id}` then shows predicted against measured.
#[utoipa::path(
    post, path = "/v1/searches/{id}/verify", tag = "searches",
    params(("id" = String, Path, description = "Search id")),
    request_body = VerifyRequest,
    responses((status = 202, description = "Jobs queued", body = SearchRecord), AuthProblems, BodyProblems, NotFoundProblem),
    security(("bearer" = ["write", "admin"]))
)]
async fn verify_search(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> ApiResult<(StatusCode, axum::Json<SearchRecord>)> {
    caller.require(Access::Write, &state)?;
    let top_k = req.top_k.unwrap_or(1);
    if !(1..=20).contains(&top_k) {
        return Err(ApiError::field("top_k", "must be in 1..=20"));
    }
    let errors = req.protocol.validate("protocol.");
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let stored = state.store.search(&id).await?;
    let search: SearchRecord = record(&state, stored.clone()).await?;
    let Some(best) = &search.result.best else {
        return Err(ApiError::Unprocessable(
            "the search found no architecture that meets the limits: nothing to verify".into(),
            vec![],
        ));
    };
    let mut winners = vec![best.clone()];
    let mut others: Vec<_> = search
        .result
        .fronts
        .iter()
        .flat_map(|f| f.points.iter())
        .filter(|s| s.id != best.id)
        .cloned()
        .collect();
    let maximise = !matches!(search.request.objective, Objective::MinCost { .. });
    others.sort_by(|a, b| {
        if maximise {
            b.objective.total_cmp(&a.objective)
        } else {
            a.objective.total_cmp(&b.objective)
        }
    });
    for s in others {
        if winners.len() >= top_k {
            break;
        }
        if !winners.iter().any(|w| w.id == s.id) {
            winners.push(s);
        }
    }
    let new: Vec<_> = winners
        .iter()
        .map(|w| NewArchitecture::from_spec(w.spec.clone()))
        .collect();
    let ids: Vec<String> = winners.iter().map(|w| w.id.clone()).collect();
    let names: Vec<String> = search
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
    state.store.queue_verification(&id, new, &jobs).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(record(&state, stored).await?),
    ))
}
