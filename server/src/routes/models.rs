//! Fitted models: hardware models per device and metric (fitted on the device's measurements),
//! accuracy predictors per data set (fitted on trained accuracies), and predictions with them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flash_client::*;
use flash_core::features::FeatureVector;
use flash_core::fit::{AccuracyRecord, CostMetric, FitError, fit_accuracy, fit_hardware};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::check_name;
use crate::error::{
    ApiError, ApiResult, AuthProblems, BodyProblems, NotFoundProblem, QueryProblems,
};
use crate::extract::{Access, ApiJson, ApiQuery, Caller, Paging};
use crate::state::AppState;
use crate::store::ModelRecord;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_hardware_model, list_hardware_models))
        .routes(routes!(get_hardware_model))
        .routes(routes!(create_accuracy_model, list_accuracy_models))
        .routes(routes!(get_accuracy_model))
}

fn fit_error(e: FitError) -> ApiError {
    match e {
        FitError::NotEnoughSamples { .. } => ApiError::Unprocessable(e.to_string(), vec![]),
        other => ApiError::Unprocessable(format!("the data cannot be fitted: {other}"), vec![]),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Fit a hardware model on a device's measurements.
///
/// Each architecture contributes the median over its measurements. The model has non-negative
/// coefficients over the architecture's counts; the response reports leave-one-out figures for
/// every candidate feature set and for the MACs-only baseline.
#[utoipa::path(
    post, path = "/v1/hardware-models", tag = "models",
    request_body = HardwareModelRequest,
    responses((status = 201, description = "Fitted and stored", body = HardwareModelRecord), AuthProblems, BodyProblems, NotFoundProblem),
    security(("bearer" = ["write", "admin"]))
)]
async fn create_hardware_model(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<HardwareModelRequest>,
) -> ApiResult<(StatusCode, axum::Json<HardwareModelRecord>)> {
    caller.require(Access::Write, &state)?;
    let device = match state.store.device(&req.device).await {
        Ok(d) => d,
        Err(crate::store::StoreError::NotFound(_)) => {
            return Err(ApiError::field("device", "no such device"));
        }
        Err(e) => return Err(e.into()),
    };
    let crossbar = crate::profiles::shipped(&device.profile).and_then(|p| p.crossbar().cloned());
    let (samples, ids, value_source) = match crossbar {
        Some(crossbar) => analytic_samples(&state, &crossbar, &device.profile, &req).await?,
        None => measured_samples(&state, &req).await?,
    };
    let actuals: Vec<f64> = samples.iter().map(|(_, y)| *y).collect();
    let (metric, sets) = (req.metric, req.feature_sets.clone());
    let fit = tokio::task::spawn_blocking(move || fit_hardware(metric, &samples, &sets))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(fit_error)?;
    let samples = ids
        .into_iter()
        .zip(actuals)
        .zip(&fit.loo_predictions)
        .map(|((architecture_id, actual), loo)| FitSample {
            architecture_id,
            actual,
            loo_predicted: *loo,
        })
        .collect();
    let record = state
        .store
        .put_hardware_model(&req.device, &fit, value_source, samples)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(record)))
}

type Samples = (Vec<(FeatureVector, f64)>, Vec<String>, String);

/// The device's measurements: each architecture's median normalized latency or energy.
async fn measured_samples(state: &AppState, req: &HardwareModelRequest) -> ApiResult<Samples> {
    if req.metric == CostMetric::Area {
        return Err(ApiError::field(
            "metric",
            "area is not measured by agents; it comes from an analytic profile",
        ));
    }
    let mut measured = state.store.measured_on(&req.device).await?;
    if let Some(ids) = &req.fit_on {
        for (i, id) in ids.iter().enumerate() {
            if !measured.iter().any(|m| &m.architecture_id == id) {
                return Err(ApiError::field(
                    &format!("fit_on[{i}]"),
                    "not measured on this device",
                ));
            }
        }
        measured.retain(|m| ids.contains(&m.architecture_id));
    }
    let mut methods: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    let mut ids = Vec::new();
    for mut m in measured {
        let value = match req.metric {
            CostMetric::Latency => median(&mut m.latencies_ms),
            _ if m.energies_mj.is_empty() => continue,
            _ => {
                for method in &m.energy_methods {
                    if !methods.contains(method) {
                        methods.push(method.clone());
                    }
                }
                median(&mut m.energies_mj)
            }
        };
        samples.push((FeatureVector::from_metrics(&m.metrics), value));
        ids.push(m.architecture_id);
    }
    let value_source = match req.metric {
        CostMetric::Latency => "normalized latency (raw p50 where unpaired)".to_string(),
        _ if methods.is_empty() => {
            return Err(ApiError::Unprocessable(
                "no measurement on this device has energy".into(),
                vec![],
            ));
        }
        _ => methods.join(", "),
    };
    Ok((samples, ids, value_source))
}

/// Architectures an analytic surrogate is fitted on when none are named.
const ANALYTIC_SAMPLES: usize = 200;

/// An analytic device's values from its crossbar model, on the named architectures (with
/// specs) or on a stratified sample of the default space: the fitted model is a linear
/// surrogate of the crossbar model that the search can use, and its figures say how close it is.
async fn analytic_samples(
    state: &AppState,
    crossbar: &flash_core::profile::CrossbarModel,
    profile: &str,
    req: &HardwareModelRequest,
) -> ApiResult<Samples> {
    let specs: Vec<flash_core::ArchSpec> = match &req.fit_on {
        Some(ids) => {
            let found = state.store.architectures_by_ids(ids).await?;
            ids.iter()
                .enumerate()
                .map(|(i, id)| {
                    found.get(id).and_then(|a| a.spec.clone()).ok_or_else(|| {
                        ApiError::field(&format!("fit_on[{i}]"), "no such architecture with a spec")
                    })
                })
                .collect::<ApiResult<_>>()?
        }
        None => flash_core::Space::default_space().sample_stratified(ANALYTIC_SAMPLES, 0),
    };
    let (metric, crossbar) = (req.metric, crossbar.clone());
    let samples = tokio::task::spawn_blocking(move || {
        specs
            .iter()
            .map(|spec| {
                let e = crossbar.evaluate(&spec.to_graph());
                let value = match metric {
                    CostMetric::Latency => e.latency_ms,
                    CostMetric::Energy => e.energy_mj,
                    CostMetric::Area => e.area_mm2,
                };
                (spec.id(), (FeatureVector::of_spec(spec), value))
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (ids, samples) = samples.into_iter().unzip();
    Ok((
        samples,
        ids,
        format!("analytic crossbar model of profile {profile} (not a measurement)"),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HardwareModelQuery {
    /// Items per page, 1..=1000 (default 100).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    device: Option<String>,
    metric: Option<CostMetric>,
}

/// List hardware models (every version).
#[utoipa::path(
    get, path = "/v1/hardware-models", tag = "models",
    params(HardwareModelQuery),
    responses((status = 200, description = "A page of hardware models", body = ListPage<HardwareModelRecord>), AuthProblems, QueryProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn list_hardware_models(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<HardwareModelQuery>,
) -> ApiResult<axum::Json<ListPage<HardwareModelRecord>>> {
    caller.require(Access::Read, &state)?;
    let paging = Paging {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (key, variant) = (q.device.as_deref(), q.metric.map(<&str>::from));
    model_page::<HardwareModelRecord>(&state, key, variant, &paging).await
}

/// A page of stored models of one kind.
async fn model_page<T: ModelRecord>(
    state: &AppState,
    key: Option<&str>,
    variant: Option<&str>,
    paging: &Paging,
) -> ApiResult<axum::Json<ListPage<T>>> {
    let (cursor, limit) = paging.parse()?;
    Ok(axum::Json(
        state.store.list_models(key, variant, cursor, limit).await?,
    ))
}

/// Get a hardware model.
#[utoipa::path(
    get, path = "/v1/hardware-models/{id}", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, description = "The model", body = HardwareModelRecord), AuthProblems, NotFoundProblem),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn get_hardware_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<HardwareModelRecord>> {
    caller.require(Access::Read, &state)?;
    Ok(axum::Json(
        state.store.model::<HardwareModelRecord>(&id).await?,
    ))
}

/// Fit an accuracy predictor on a data set's trained accuracies.
///
/// Accuracy as a function of NN-Degree (FLASH's method), the form chosen among a few by
/// leave-one-out error; the #params-only baseline is always reported beside it.
#[utoipa::path(
    post, path = "/v1/accuracy-models", tag = "models",
    request_body = AccuracyModelRequest,
    responses((status = 201, description = "Fitted and stored", body = AccuracyModelRecord), AuthProblems, BodyProblems),
    security(("bearer" = ["write", "admin"]))
)]
async fn create_accuracy_model(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AccuracyModelRequest>,
) -> ApiResult<(StatusCode, axum::Json<AccuracyModelRecord>)> {
    caller.require(Access::Write, &state)?;
    check_name("dataset", &req.dataset)?;
    let rows = state
        .store
        .accuracy_records(&req.dataset, req.space.as_deref())
        .await?;
    if rows.is_empty() {
        return Err(ApiError::field(
            "dataset",
            "no accuracy records for this data set",
        ));
    }
    let records: Vec<AccuracyRecord> = rows
        .iter()
        .map(|(_, m, acc)| AccuracyRecord::from_metrics(m, *acc))
        .collect();
    let forms = req.forms.clone();
    let fit = tokio::task::spawn_blocking(move || fit_accuracy(&records, &forms))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(fit_error)?;
    let samples: Vec<FitSample> = rows
        .iter()
        .zip(&fit.loo_predictions)
        .map(|((id, _, acc), loo)| FitSample {
            architecture_id: id.clone(),
            actual: *acc,
            loo_predicted: *loo,
        })
        .collect();
    let record = state
        .store
        .put_accuracy_model(&req.dataset, req.space.as_deref(), &fit, &samples)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(record)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AccuracyModelQuery {
    /// Items per page, 1..=1000 (default 100).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    dataset: Option<String>,
    space: Option<String>,
}

/// List accuracy models (every version).
#[utoipa::path(
    get, path = "/v1/accuracy-models", tag = "models",
    params(AccuracyModelQuery),
    responses((status = 200, description = "A page of accuracy models", body = ListPage<AccuracyModelRecord>), AuthProblems, QueryProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn list_accuracy_models(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AccuracyModelQuery>,
) -> ApiResult<axum::Json<ListPage<AccuracyModelRecord>>> {
    caller.require(Access::Read, &state)?;
    let paging = Paging {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (key, variant) = (q.dataset.as_deref(), q.space.as_deref());
    model_page::<AccuracyModelRecord>(&state, key, variant, &paging).await
}

/// Get an accuracy model.
#[utoipa::path(
    get, path = "/v1/accuracy-models/{id}", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, description = "The model", body = AccuracyModelRecord), AuthProblems, NotFoundProblem),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn get_accuracy_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AccuracyModelRecord>> {
    caller.require(Access::Read, &state)?;
    Ok(axum::Json(
        state.store.model::<AccuracyModelRecord>(&id).await?,
    ))
}
