//! Co-design searches: the provably best architecture of a space under the fitted models, its
//! Pareto fronts, and re-measurement of the winners on the devices.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flash_core::Space;
use flash_core::fit::CostMetric;
use flash_core::measurement::{MeasurementResult, Protocol};
use flash_core::search::{DeviceModels, Objective, SearchError, SearchResult, search};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListPage;
use super::models::{AccuracyModelRecord, HardwareModelRecord};
use super::predictions::newest_fits;
use crate::app::AppState;
use crate::error::{
    ApiError, ApiResult, AuthProblems, BodyProblems, NotFoundProblem, QueryProblems,
};
use crate::extract::{Access, ApiJson, ApiQuery, Caller, Paging};
use crate::store::models::{ACCURACY_MODELS, HARDWARE_MODELS};
use crate::store::searches::StoredSearch;
use crate::store::{NewArchitecture, NewJobs};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_search, list_searches))
        .routes(routes!(get_search))
        .routes(routes!(verify_search))
}

/// Limits on one device (each optional).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceConstraint {
    pub device: String,
    /// Latency limit, ms per inference.
    pub max_latency_ms: Option<f64>,
    /// Energy limit, mJ per inference.
    pub max_energy_mj: Option<f64>,
    /// Area limit, mm^2.
    pub max_area_mm2: Option<f64>,
    /// Use this latency fit (an id of the device's hardware models) instead of the newest.
    pub latency_model: Option<String>,
    /// Use this energy fit instead of the newest.
    pub energy_model: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// A grid space (default `flash-densenet`).
    #[serde(default = "default_space")]
    pub space: String,
    /// The data set whose newest accuracy model predicts accuracy.
    pub dataset: String,
    /// Use this accuracy fit (an id of the data set's accuracy models) instead of the newest.
    pub accuracy_model: Option<String>,
    /// Target devices with their limits; their newest hardware models predict costs.
    pub devices: Vec<DeviceConstraint>,
    pub max_params: Option<u64>,
    pub max_macs: Option<u64>,
    /// Default: maximise predicted accuracy.
    #[serde(default = "default_objective")]
    pub objective: Objective,
}

fn default_space() -> String {
    Space::default_space().name.to_string()
}

fn default_objective() -> Objective {
    Objective::MaxAccuracy
}

/// The fits a search used, by id.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SearchFits {
    pub accuracy_model: String,
    /// Per device: the latency and energy model ids it used.
    pub devices: Vec<DeviceFits>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceFits {
    pub device: String,
    pub latency_model: Option<String>,
    pub energy_model: Option<String>,
}

/// A winner measured on a device: predicted against measured.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Verification {
    pub architecture_id: String,
    pub device: String,
    /// 1 for the optimum.
    pub rank: i64,
    pub job_id: String,
    pub job_state: String,
    pub predicted_latency_ms: Option<f64>,
    /// The measured normalized latency: the statistic the latency model was fitted on, and the
    /// one the limit is judged on.
    pub measured_latency_ms: Option<f64>,
    /// Whether the measurement was paired with the reference network (if not, the normalized
    /// latency is the raw p50).
    pub paired: Option<bool>,
    /// Raw median and p90 of the same measurement, for the record.
    pub measured_p50_ms: Option<f64>,
    pub measured_p90_ms: Option<f64>,
    pub predicted_energy_mj: Option<f64>,
    /// Energy per inference on the same scale as the model's (an estimate follows the
    /// latency's normalization; a sensor's reading is not scaled).
    pub measured_energy_mj: Option<f64>,
    /// How the measured energy was obtained (`estimated` is not a measurement).
    pub energy_method: Option<String>,
    pub max_latency_ms: Option<f64>,
    /// Whether the measured normalized latency meets the latency limit (absent until measured
    /// or when there is no limit).
    pub meets_latency_limit: Option<bool>,
}

/// The winner evaluated with an analytic device's own crossbar model (the search used a linear
/// surrogate of it): the analytic counterpart of re-measuring.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnalyticCheck {
    pub device: String,
    pub architecture_id: String,
    pub latency_ms: f64,
    pub energy_mj: f64,
    pub area_mm2: f64,
    pub tiles: u64,
    /// Whether the crossbar model's values meet the device's limits.
    pub meets_limits: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchRecord {
    pub id: String,
    pub request: SearchRequest,
    pub fits: SearchFits,
    pub result: SearchResult,
    pub verification: Vec<Verification>,
    /// For analytic devices: the winner under the device's crossbar model.
    pub analytic: Vec<AnalyticCheck>,
    pub created_at: String,
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> ApiResult<T> {
    serde_json::from_str(text).map_err(|e| ApiError::Internal(format!("stored search: {e}")))
}

pub(super) async fn record(state: &AppState, stored: StoredSearch) -> ApiResult<SearchRecord> {
    let request: SearchRequest = decode(&stored.request)?;
    let result: SearchResult = decode(&stored.result)?;
    let mut verification = Vec::new();
    for row in state.store.verifications(&stored.id).await? {
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
        verification.push(Verification {
            predicted_latency_ms: cost(CostMetric::Latency),
            predicted_energy_mj: cost(CostMetric::Energy),
            measured_latency_ms: normalized,
            paired: measured.map(MeasurementResult::is_paired),
            measured_p50_ms: measured.map(|m| m.latency.p50_ms),
            measured_p90_ms: measured.map(|m| m.latency.p90_ms),
            measured_energy_mj: m
                .and_then(|m| m.result.normalized_energy_mj(m.reference_latency_ms)),
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
            job_state: row.job_state,
        });
    }
    let mut analytic = Vec::new();
    if let Some(best) = &result.best {
        for d in &request.devices {
            let profile = state
                .store
                .device(&d.device)
                .await
                .ok()
                .and_then(|dev| crate::profiles::shipped(&dev.profile));
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
    Ok(SearchRecord {
        analytic,
        id: stored.id,
        fits: decode(&stored.fits)?,
        request,
        result,
        verification,
        created_at: stored.created_at,
    })
}

/// A hardware model named in a request, checked to be the device's model of `metric`.
async fn pinned_hardware_model(
    state: &AppState,
    field: &str,
    id: &str,
    device: &str,
    metric: CostMetric,
) -> ApiResult<HardwareModelRecord> {
    let m = match state.store.model(HARDWARE_MODELS, id).await {
        Ok(m) => HardwareModelRecord::from_stored(m)?,
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
                super::models::metric_name(m.metric),
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
            let m = match state.store.model(ACCURACY_MODELS, id).await {
                Ok(m) => AccuracyModelRecord::from_stored(m)?,
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
                format!("{e}: fit it with POST /v1/hardware-models {{\"device\": \"{device}\", \"metric\": \"{}\"}}", super::models::metric_name(metric)),
            ),
            other => ApiError::Unprocessable(other.to_string(), vec![]),
        })?;
    let stored = state
        .store
        .put_search(
            serde_json::to_string(&req).expect("request serialises"),
            serde_json::to_string(&fits).expect("fits serialise"),
            serde_json::to_string(&result).expect("result serialises"),
        )
        .await?;
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
    let mut items = Vec::with_capacity(page.items.len());
    for s in page.items {
        items.push(record(&state, s).await?);
    }
    Ok(axum::Json(ListPage {
        items,
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// How many winners to measure: the optimum, then the best other front points by
    /// objective (default 1, at most 20).
    pub top_k: Option<usize>,
    /// Protocol overrides for the measurement jobs.
    #[serde(default)]
    pub protocol: Protocol,
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
    state.store.put_architectures(new).await?;
    let ids: Vec<String> = winners.iter().map(|w| w.id.clone()).collect();
    for d in &search.request.devices {
        let device = state.store.device(&d.device).await?;
        if crate::profiles::shipped(&device.profile).is_some_and(|p| p.crossbar().is_some()) {
            // No agent measures an analytic device: `analytic` shows its crossbar model's values.
            continue;
        }
        let jobs = state
            .store
            .create_jobs(NewJobs {
                architecture_ids: ids.clone(),
                device: d.device.clone(),
                protocol: req.protocol.clone(),
                max_attempts: state.config.max_attempts,
            })
            .await?;
        for (rank, (job, _)) in jobs.iter().enumerate() {
            state
                .store
                .add_verification(
                    &id,
                    &job.architecture_id,
                    &d.device,
                    &job.id,
                    rank as i64 + 1,
                )
                .await?;
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(record(&state, stored).await?),
    ))
}
