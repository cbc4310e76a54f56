//! Search spaces: their grids and sizes, and sampling architectures from them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flash_core::Space;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::architectures::spec_architecture;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, AuthProblems, BodyProblems, NotFoundProblem};
use crate::extract::{Access, ApiJson, Caller};
use crate::store::Architecture;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_spaces))
        .routes(routes!(get_space))
        .routes(routes!(sample_space))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SpaceView {
    #[serde(flatten)]
    pub space: Space,
    /// Choices for one cell.
    pub cell_choices: u64,
    /// Exact number of configurations, as a decimal string (it exceeds 2^53).
    pub size: String,
    /// The same, as a float for plotting.
    pub size_f64: f64,
}

impl From<&Space> for SpaceView {
    fn from(space: &Space) -> Self {
        SpaceView {
            cell_choices: space.cell_choices(),
            size: space.size().to_string(),
            size_f64: space.size() as f64,
            space: space.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SpaceList {
    pub items: Vec<SpaceView>,
    /// Always absent: every space fits on one page.
    pub next_cursor: Option<String>,
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleRequest {
    /// How many architectures, 1..=10000.
    pub n: usize,
    /// Seed of the draw (the same seed gives the same architectures).
    #[serde(default)]
    pub seed: u64,
    /// Spread the sample evenly over NN-Degree instead of uniformly over the grid.
    #[serde(default)]
    pub stratified: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SampleResponse {
    pub space: String,
    pub seed: u64,
    pub stratified: bool,
    pub items: Vec<Architecture>,
}

/// Sample architectures of a space and store them.
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
    if !(1..=10_000).contains(&req.n) {
        return Err(ApiError::field("n", "must be in 1..=10000"));
    }
    let (n, seed, stratified) = (req.n, req.seed, req.stratified);
    let new = tokio::task::spawn_blocking(move || {
        let specs = if stratified {
            space.sample_stratified(n, seed)
        } else {
            space.sample_uniform(n, seed)
        };
        specs.into_iter().map(spec_architecture).collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let items = state.store.put_architectures(new).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SampleResponse {
            space: space.name.to_string(),
            seed,
            stratified,
            items,
        }),
    ))
}
