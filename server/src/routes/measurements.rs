//! Measurements: made by agents through jobs, or uploaded directly from elsewhere.

use axum::extract::State;
use axum::http::StatusCode;
use flash_client::{ListPage, MeasurementUpload};

use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, AuthProblems, BodyProblems, QueryProblems};
use crate::extract::{Access, ApiJson, ApiQuery, Caller, Paging};
use crate::services::measuring;
use crate::state::AppState;
use crate::store::{Measurement, MeasurementFilter};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_measurement, list_measurements))
}

/// Upload a measurement made elsewhere.
#[utoipa::path(
    post, path = "/v1/measurements", tag = "measurements",
    request_body = MeasurementUpload,
    responses((status = 201, description = "Stored", body = Measurement), AuthProblems, BodyProblems),
    security(("bearer" = ["write", "admin"]))
)]
async fn create_measurement(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(upload): ApiJson<MeasurementUpload>,
) -> ApiResult<(StatusCode, axum::Json<Measurement>)> {
    caller.require(Access::Write, &state)?;
    let m = measuring::upload(&state, upload).await?;
    Ok((StatusCode::CREATED, axum::Json(m)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MeasurementQuery {
    /// Items per page, 1..=1000 (default 100).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only measurements on this device.
    device: Option<String>,
    /// Only measurements of this architecture.
    architecture: Option<String>,
}

/// List measurements.
#[utoipa::path(
    get, path = "/v1/measurements", tag = "measurements",
    params(MeasurementQuery),
    responses((status = 200, description = "A page of measurements", body = ListPage<Measurement>), AuthProblems, QueryProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn list_measurements(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<MeasurementQuery>,
) -> ApiResult<axum::Json<ListPage<Measurement>>> {
    caller.require(Access::Read, &state)?;
    let (cursor, limit) = Paging {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    let filter = MeasurementFilter {
        device: q.device,
        architecture_id: q.architecture,
    };
    Ok(axum::Json(
        state
            .store
            .list_measurements(&filter, cursor, limit)
            .await?,
    ))
}
