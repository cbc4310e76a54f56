//! Measuring: jobs queued for agents, the agents' reports under a lease fenced by the attempt
//! number, and measurements uploaded from elsewhere.

use flash_client::{
    AttemptRequest, ClaimRequest, CompleteRequest, FailRequest, JobRequest, JobsCreated,
    MeasurementUpload,
};
use flash_core::FieldError;
use flash_core::onnx;

use super::validation::{check_name, found, none_failed};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{ClaimedJob, Fenced, Job, Measurement, NewJobs, NewMeasurement};

/// Most architectures in one job request.
const MAX_JOB_ARCHITECTURES: usize = 10_000;

/// Queues a job per architecture on `req.device` (an architecture with a job already queued
/// there keeps it).
pub async fn queue_jobs(state: &AppState, req: JobRequest) -> ApiResult<JobsCreated> {
    let mut errors = req.protocol.validate("protocol.");
    if req.architecture_ids.is_empty() || req.architecture_ids.len() > MAX_JOB_ARCHITECTURES {
        errors.push(FieldError::new(
            "architecture_ids",
            format!("must list 1 to {MAX_JOB_ARCHITECTURES} ids"),
        ));
    }
    let max_attempts = req.max_attempts.unwrap_or(state.config.max_attempts);
    if !(1..=20).contains(&max_attempts) {
        errors.push(FieldError::new("max_attempts", "must be in 1..=20"));
    }
    none_failed(errors)?;
    if !state.store.device_exists(&req.device).await? {
        return Err(ApiError::field("device", "no such device"));
    }
    let known = state
        .store
        .architectures_by_ids(&req.architecture_ids)
        .await?;
    if let Some(i) = req
        .architecture_ids
        .iter()
        .position(|id| !known.contains_key(id))
    {
        return Err(ApiError::field(
            &format!("architecture_ids[{i}]"),
            "no such architecture",
        ));
    }
    // An agent exports a spec to measure it: one too large to export cannot be measured.
    for (i, id) in req.architecture_ids.iter().enumerate() {
        let a = &known[id];
        if let (Some(_), Some(why)) = (&a.spec, onnx::too_large_to_export(a.metrics.params)) {
            return Err(ApiError::field(&format!("architecture_ids[{i}]"), why));
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
    Ok(JobsCreated {
        items: jobs.into_iter().map(|(j, _)| j).collect(),
        created,
    })
}

/// The oldest queued job of `req.device` under a new lease, if any.
pub async fn claim(state: &AppState, req: &ClaimRequest) -> ApiResult<Option<ClaimedJob>> {
    if !state.store.device_exists(&req.device).await? {
        return Err(ApiError::field(
            "device",
            "no such device (register it first)",
        ));
    }
    Ok(state
        .store
        .claim_job(&req.device, state.config.lease_seconds * 1000)
        .await?)
}

/// A report whose attempt no longer holds the job's lease is a conflict, not a change.
fn lost_lease<T>(fenced: Fenced<T>, id: &str, attempt: i64) -> ApiResult<T> {
    match fenced {
        Fenced::Done(t) => Ok(t),
        Fenced::LeaseLost {
            state,
            attempt: current,
        } => Err(ApiError::Conflict(format!(
            "job {id}: attempt {attempt} no longer holds the lease (the job is {state} at \
             attempt {current})"
        ))),
    }
}

/// Extends the lease of a running job.
pub async fn heartbeat(state: &AppState, id: &str, req: &AttemptRequest) -> ApiResult<Job> {
    let fenced = state
        .store
        .heartbeat_job(id, req.attempt, state.config.lease_seconds * 1000)
        .await?;
    lost_lease(fenced, id, req.attempt)
}

/// Stores a job's measurement (idempotent for the same attempt).
pub async fn complete(state: &AppState, id: &str, req: CompleteRequest) -> ApiResult<Measurement> {
    none_failed(req.result.validate("result."))?;
    let fenced = state
        .store
        .complete_job(id, req.attempt, req.result)
        .await?;
    lost_lease(fenced, id, req.attempt)
}

/// Records a failed attempt: the job is queued again until its last attempt.
pub async fn fail(state: &AppState, id: &str, req: &FailRequest) -> ApiResult<Job> {
    if req.error.len() > 10_000 {
        return Err(ApiError::field("error", "at most 10000 bytes"));
    }
    let fenced = state.store.fail_job(id, req.attempt, &req.error).await?;
    lost_lease(fenced, id, req.attempt)
}

/// Stores a measurement made elsewhere, after checking what it names exists.
pub async fn upload(state: &AppState, upload: MeasurementUpload) -> ApiResult<Measurement> {
    check_name("source", &upload.source)?;
    none_failed(upload.result.validate("result."))?;
    found(
        state.store.architecture(&upload.architecture_id).await,
        "architecture_id",
        "no such architecture",
    )?;
    if let Some(reference) = &upload.result.reference {
        found(
            state.store.architecture(&reference.architecture_id).await,
            "result.reference.architecture_id",
            "no such architecture (store the reference network first)",
        )?;
    }
    if !state.store.device_exists(&upload.device).await? {
        return Err(ApiError::field(
            "device",
            "no such device (register it with PUT /v1/devices/{name})",
        ));
    }
    Ok(state
        .store
        .add_measurement(NewMeasurement {
            architecture_id: upload.architecture_id,
            device: upload.device,
            source: upload.source,
            result: upload.result,
        })
        .await?)
}
