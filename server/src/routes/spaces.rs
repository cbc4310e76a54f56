//! Search spaces: their grids and sizes, and sampling architectures from them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flash_client::{SampleRequest, SampleResponse, SpaceList, SpaceView};

use flash_core::Space;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, AuthProblems, BodyProblems, NotFoundProblem};
use crate::extract::{Access, ApiJson, Caller};
use crate::services::sampling;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_spaces))
        .routes(routes!(get_space))
        .routes(routes!(sample_space))
}

fn find_space(name: &str) -> ApiResult<&'static Space> {
    Space::by_name(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "space {name:?} not found; known: {}",
            Space::names().join(", ")
        ))
    })
}

/// List the search spaces.
#[utoipa::path(
    get, path = "/v1/spaces", tag = "spaces",
    responses((status = 200, description = "The spaces", body = SpaceList), AuthProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn list_spaces(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<SpaceList>> {
    caller.require(Access::Read, &state)?;
    Ok(axum::Json(SpaceList {
        items: Space::all().iter().map(SpaceView::from).collect(),
        next_cursor: None,
    }))
}

/// Get a space: its grid and exact size.
#[utoipa::path(
    get, path = "/v1/spaces/{name}", tag = "spaces",
    params(("name" = String, Path, description = "Space name, e.g. flash-densenet")),
    responses((status = 200, description = "The space", body = SpaceView), AuthProblems, NotFoundProblem),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn get_space(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<SpaceView>> {
    caller.require(Access::Read, &state)?;
    Ok(axum::Json(find_space(&name)?.into()))
}

/// Sample architectures of a space and store them.
///
/// `informative` proposes what the newest model for the purpose learns most from: for
/// `measure`, the latency model of `device`; for `train`, the accuracy model of `dataset`.
/// Each item's score and a sentence on why come with it. Without that model, 422.
#[utoipa::path(
    post, path = "/v1/spaces/{name}/samples", tag = "spaces",
    params(("name" = String, Path, description = "Space name")),
    request_body = SampleRequest,
    responses(
        (status = 201, description = "The sampled architectures, stored", body = SampleResponse),
        AuthProblems, NotFoundProblem, BodyProblems
    ),
    security(("bearer" = ["write", "admin"]))
)]
async fn sample_space(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<SampleRequest>,
) -> ApiResult<(StatusCode, axum::Json<SampleResponse>)> {
    caller.require(Access::Write, &state)?;
    let space = find_space(&name)?;
    let response = sampling::sample(&state, space, req).await?;
    Ok((StatusCode::CREATED, axum::Json(response)))
}
