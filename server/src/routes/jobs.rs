//! Measurement jobs: queued by users, pulled by agents under a lease fenced by the attempt
//! number.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flash_client::{
    AttemptRequest, ClaimRequest, CompleteRequest, FailRequest, JobRequest, JobsCreated, ListPage,
};

use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{
    ApiResult, AuthProblems, BodyProblems, ConflictProblem, NotFoundProblem, QueryProblems,
};
use crate::extract::{Access, ApiJson, ApiQuery, Caller, Paging};
use crate::services::measuring;
use crate::state::AppState;
use crate::store::{ClaimedJob, Job, JobFilter, JobState, Measurement};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_jobs, list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(claim_job))
        .routes(routes!(heartbeat_job))
        .routes(routes!(complete_job))
        .routes(routes!(fail_job))
}

/// Refuses a device-bound agent token a job of another device (the lookup is skipped for every
/// other caller).
async fn require_job_device(state: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    if caller.bound_device().is_some() {
        caller.require_device(&state.store.job(id).await?.device)?;
    }
    Ok(())
}

/// Queue measurement jobs.
#[utoipa::path(
    post, path = "/v1/jobs", tag = "jobs",
    request_body = JobRequest,
    responses((status = 201, description = "Queued", body = JobsCreated), AuthProblems, BodyProblems),
    security(("bearer" = ["write", "admin"]))
)]
async fn create_jobs(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<JobRequest>,
) -> ApiResult<(StatusCode, axum::Json<JobsCreated>)> {
    caller.require(Access::Write, &state)?;
    let created = measuring::queue_jobs(&state, req).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct JobQuery {
    /// Items per page, 1..=1000 (default 100).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    state: Option<JobState>,
    device: Option<String>,
}

/// List jobs.
#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs",
    params(JobQuery),
    responses((status = 200, description = "A page of jobs", body = ListPage<Job>), AuthProblems, QueryProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn list_jobs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> ApiResult<axum::Json<ListPage<Job>>> {
    caller.require(Access::Read, &state)?;
    let (cursor, limit) = Paging {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    let filter = JobFilter {
        state: q.state,
        device: q.device,
    };
    Ok(axum::Json(
        state.store.list_jobs(&filter, cursor, limit).await?,
    ))
}

/// Get a job.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The job", body = Job), AuthProblems, NotFoundProblem),
    security(("bearer" = ["read", "write", "agent", "admin"]))
)]
async fn get_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Job>> {
    caller.require(Access::ReadOrAgent, &state)?;
    let job = state.store.job(&id).await?;
    caller.require_device(&job.device)?;
    Ok(axum::Json(job))
}

/// Claim the device's next job (agents).
///
/// 200 with the job, its attempt number and lease; 204 when there is nothing to do (or the
/// device already runs a job).
#[utoipa::path(
    post, path = "/v1/jobs/claim", tag = "jobs",
    request_body = ClaimRequest,
    responses(
        (status = 200, description = "A job to run", body = ClaimedJob),
        (status = 204, description = "Nothing to do"),
        AuthProblems, BodyProblems
    ),
    security(("bearer" = ["agent", "admin"]))
)]
async fn claim_job(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ClaimRequest>,
) -> ApiResult<Response> {
    caller.require(Access::Agent, &state)?;
    caller.require_device(&req.device)?;
    Ok(match measuring::claim(&state, &req).await? {
        Some(job) => axum::Json(job).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Extend the lease of a running job (agents).
#[utoipa::path(
    post, path = "/v1/jobs/{id}/heartbeat", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    request_body = AttemptRequest,
    responses((status = 200, description = "Lease extended", body = Job), AuthProblems, BodyProblems, NotFoundProblem, ConflictProblem),
    security(("bearer" = ["agent", "admin"]))
)]
async fn heartbeat_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AttemptRequest>,
) -> ApiResult<axum::Json<Job>> {
    caller.require(Access::Agent, &state)?;
    require_job_device(&state, &caller, &id).await?;
    Ok(axum::Json(measuring::heartbeat(&state, &id, &req).await?))
}

/// Report a job's measurement (agents). Idempotent for the same attempt.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/complete", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    request_body = CompleteRequest,
    responses((status = 200, description = "Stored (or already stored)", body = Measurement), AuthProblems, BodyProblems, NotFoundProblem, ConflictProblem),
    security(("bearer" = ["agent", "admin"]))
)]
async fn complete_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CompleteRequest>,
) -> ApiResult<axum::Json<Measurement>> {
    caller.require(Access::Agent, &state)?;
    require_job_device(&state, &caller, &id).await?;
    Ok(axum::Json(measuring::complete(&state, &id, req).await?))
}

/// Report that an attempt failed (agents): the job is queued again until its last attempt.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/fail", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    request_body = FailRequest,
    responses((status = 200, description = "Recorded", body = Job), AuthProblems, BodyProblems, NotFoundProblem, ConflictProblem),
    security(("bearer" = ["agent", "admin"]))
)]
async fn fail_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<FailRequest>,
) -> ApiResult<axum::Json<Job>> {
    caller.require(Access::Agent, &state)?;
    require_job_device(&state, &caller, &id).await?;
    Ok(axum::Json(measuring::fail(&state, &id, &req).await?))
}
