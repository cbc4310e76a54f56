//! SVG plots of fits and searches at stable URLs beside their JSON, with the same access: a
//! notebook or the dashboard shows them as they are.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use flash_client::{AccuracyModelRecord, HardwareModelRecord};

use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, AuthProblems, NotFoundProblem, QueryProblems};
use crate::extract::{Access, ApiQuery, Caller};
use crate::plots::{self, Scale};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(hardware_model_plot))
        .routes(routes!(hardware_model_residuals))
        .routes(routes!(accuracy_model_plot))
        .routes(routes!(search_pareto))
        .routes(routes!(device_speed_plot))
}

/// Timings of a reference network a speed plot shows at most.
const MAX_SPEED_POINTS: i64 = 5000;

/// Plot a device's speed over time: the reference network's latency in each paired measurement.
#[utoipa::path(
    get, path = "/v1/devices/{name}/speed.svg", tag = "devices",
    params(("name" = String, Path, description = "Device name")),
    responses((status = 200, description = "SVG image", content_type = "image/svg+xml", body = String), AuthProblems, NotFoundProblem),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn device_speed_plot(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller.require(Access::Read, &state)?;
    state.store.device(&name).await?;
    let page = state
        .store
        .reference_history(&name, None, 0, MAX_SPEED_POINTS)
        .await?;
    let references = state.store.device_references(&name).await?;
    Ok(svg(plots::device_speed(&name, &page.items, &references)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PlotQuery {
    /// Scale of the cost axes: `log` or `linear` (default: log when the values span more
    /// than a factor of 10).
    scale: Option<Scale>,
}

fn svg(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn hardware_model(state: &AppState, id: &str) -> ApiResult<HardwareModelRecord> {
    Ok(state.store.model::<HardwareModelRecord>(id).await?)
}

/// Plot a hardware model's fit: leave-one-out predicted against measured.
///
/// Each architecture the model was fitted on, predicted by the fit made without it, against its
/// measured value; with the y = x line, the +-10% band, and the fit's figures in the title.
#[utoipa::path(
    get, path = "/v1/hardware-models/{id}/plot.svg", tag = "models",
    params(("id" = String, Path, description = "Model id"), PlotQuery),
    responses((status = 200, description = "SVG image", content_type = "image/svg+xml", body = String), AuthProblems, NotFoundProblem, QueryProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn hardware_model_plot(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PlotQuery>,
) -> ApiResult<Response> {
    caller.require(Access::Read, &state)?;
    let m = hardware_model(&state, &id).await?;
    Ok(svg(plots::hardware_fit(&m, q.scale)))
}

/// Plot a hardware model's leave-one-out residuals, in percent of the measured value.
#[utoipa::path(
    get, path = "/v1/hardware-models/{id}/residuals.svg", tag = "models",
    params(("id" = String, Path, description = "Model id"), PlotQuery),
    responses((status = 200, description = "SVG image", content_type = "image/svg+xml", body = String), AuthProblems, NotFoundProblem, QueryProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn hardware_model_residuals(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PlotQuery>,
) -> ApiResult<Response> {
    caller.require(Access::Read, &state)?;
    let m = hardware_model(&state, &id).await?;
    Ok(svg(plots::hardware_residuals(&m, q.scale)))
}

/// Plot an accuracy model's fit: leave-one-out predicted against trained accuracy, and
/// accuracy against NN-Degree with the fitted curve.
#[utoipa::path(
    get, path = "/v1/accuracy-models/{id}/plot.svg", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, description = "SVG image", content_type = "image/svg+xml", body = String), AuthProblems, NotFoundProblem),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn accuracy_model_plot(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Access::Read, &state)?;
    let m = state.store.model::<AccuracyModelRecord>(&id).await?;
    let ids: Vec<String> = m
        .samples
        .iter()
        .map(|s| s.architecture_id.clone())
        .collect();
    let archs = state.store.architectures_by_ids(&ids).await?;
    let degrees: Vec<Option<f64>> = ids
        .iter()
        .map(|id| archs.get(id).map(|a| a.metrics.nn_degree))
        .collect();
    Ok(svg(plots::accuracy_fit(&m, &degrees)))
}

/// Plot a search's Pareto fronts: predicted accuracy against each limited cost, with the limit,
/// the winner, and the measured costs of verified winners.
#[utoipa::path(
    get, path = "/v1/searches/{id}/pareto.svg", tag = "searches",
    params(("id" = String, Path, description = "Search id"), PlotQuery),
    responses((status = 200, description = "SVG image", content_type = "image/svg+xml", body = String), AuthProblems, NotFoundProblem, QueryProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn search_pareto(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PlotQuery>,
) -> ApiResult<Response> {
    caller.require(Access::Read, &state)?;
    let stored = state.store.search(&id).await?;
    let s = crate::services::searching::record(&state, stored).await?;
    Ok(svg(plots::pareto(&s, q.scale)))
}
