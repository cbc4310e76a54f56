//! Co-design searches: the provably best architecture of a space under the fitted models, its
//! Pareto fronts, and re-measurement of the winners on the devices.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flash_client::{ListPage, SearchRecord, SearchRequest, VerifyRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, AuthProblems, BodyProblems, NotFoundProblem, QueryProblems};
use crate::extract::{Access, ApiJson, ApiQuery, Caller, Paging};
use crate::services::{searching, verifying};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_search, list_searches))
        .routes(routes!(get_search))
        .routes(routes!(verify_search))
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
    let record = searching::create(&state, req).await?;
    Ok((StatusCode::CREATED, axum::Json(record)))
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
        items: searching::records(&state, page.items).await?,
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
    Ok(axum::Json(searching::record(&state, stored).await?))
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
    let record = verifying::verify(&state, &id, req).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(record)))
}
