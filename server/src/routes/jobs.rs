//! Measurement jobs: queued by users, pulled by agents under a lease fenced by the attempt
//! number.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flash_client::*;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{
    ApiError, ApiResult, AuthProblems, BodyProblems, ConflictProblem, NotFoundProblem,
    QueryProblems,
};
use crate::extract::{Access, ApiJson, ApiQuery, Caller, Paging};
use crate::state::AppState;
use crate::store::Fenced;
use crate::store::{ClaimedJob, Job, JobFilter, JobState, Measurement, NewJobs};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_jobs, list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(claim_job))
        .routes(routes!(heartbeat_job))
        .routes(routes!(complete_job))
        .routes(routes!(fail_job))
}

fn lost_lease<T>(fenced: Fenced<T>, id: &str, attempt: i64) -> ApiResult<T> {
    match fenced {
        Fenced::Done(t) => Ok(t),
        Fenced::LeaseLost {
            state,
            attempt: current,
        } => Err(ApiError::Conflict(format!(
            "job {id}: attempt {attempt} no longer holds the lease (the job is {} at attempt {current})",
            state
        ))),
    }
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
    let mut errors = req.protocol.validate("protocol.");
    if req.architecture_ids.is_empty() || req.architecture_ids.len() > 10_000 {
        errors.push(flash_core::FieldError::new(
            "architecture_ids",
            "must list 1 to 10000 ids",
        ));
    }
    let max_attempts = req.max_attempts.unwrap_or(state.config.max_attempts);
    if !(1..=20).contains(&max_attempts) {
        errors.push(flash_core::FieldError::new(
            "max_attempts",
            "must be in 1..=20",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    if !state.store.device_exists(&req.device).await? {
        return Err(ApiError::field("device", "no such device"));
    }
    for (i, id) in req.architecture_ids.iter().enumerate() {
        if let Err(crate::store::StoreError::NotFound(_)) = state.store.architecture(id).await {
            return Err(ApiError::field(
                &format!("architecture_ids[{i}]"),
                "no such architecture",
            ));
        }
    }
    let jobs = state
        .store
        .create_jobs(NewJobs {
            architecture_ids: req.architecture_ids,
            device: req.device,
            protocol: req.protocol,
            max_attempts,
        })
        .await?;
    let created = jobs.iter().filter(|(_, c)| *c).count();
    Ok((
        StatusCode::CREATED,
        axum::Json(JobsCreated {
            items: jobs.into_iter().map(|(j, _)| j).collect(),
            created,
        }),
    ))
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
    if !state.store.device_exists(&req.device).await? {
        return Err(ApiError::field(
            "device",
            "no such device (register it first)",
        ));
    }
    match state
        .store
        .claim_job(&req.device, state.config.lease_seconds * 1000)
        .await?
    {
        Some(job) => Ok(axum::Json(job).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
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
    let fenced = state
        .store
        .heartbeat_job(&id, req.attempt, state.config.lease_seconds * 1000)
        .await?;
    Ok(axum::Json(lost_lease(fenced, &id, req.attempt)?))
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
    let errors = req.result.validate("result.");
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let fenced = state
        .store
        .complete_job(&id, req.attempt, req.result)
        .await?;
    Ok(axum::Json(lost_lease(fenced, &id, req.attempt)?))
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
    if req.error.len() > 10_000 {
        return Err(ApiError::field("error", "at most 10000 bytes"));
    }
    let fenced = state.store.fail_job(&id, req.attempt, &req.error).await?;
    Ok(axum::Json(lost_lease(fenced, &id, req.attempt)?))
}
