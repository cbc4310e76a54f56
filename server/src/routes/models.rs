//! Fitted models: hardware models per device and metric (fitted on the device's measurements),
//! accuracy predictors per data set (fitted on trained accuracies), and predictions with them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flash_client::{
    AccuracyModelRecord, AccuracyModelRequest, HardwareModelRecord, HardwareModelRequest, ListPage,
};
use flash_core::fit::CostMetric;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, AuthProblems, BodyProblems, NotFoundProblem, QueryProblems};
use crate::extract::{Access, ApiJson, ApiQuery, Caller, Paging};
use crate::services::fitting;
use crate::state::AppState;
use crate::store::ModelRecord;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_hardware_model, list_hardware_models))
        .routes(routes!(get_hardware_model))
        .routes(routes!(create_accuracy_model, list_accuracy_models))
        .routes(routes!(get_accuracy_model))
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
    let record = fitting::fit_hardware_model(&state, &req).await?;
    Ok((StatusCode::CREATED, axum::Json(record)))
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
    let record = fitting::fit_accuracy_model(&state, &req).await?;
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
