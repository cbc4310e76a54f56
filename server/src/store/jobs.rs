//! The measurement job queue. Agents pull: a claim is one statement that takes the oldest
//! claimable job of the device (queued, or running with an expired lease), bumps its attempt and
//! sets a lease. The attempt number fences every later update: a heartbeat or report for an
//! attempt that is no longer the running one changes nothing (the caller answers 409).
//! A device runs one job at a time (a partial unique index enforces it under concurrency).

use std::sync::LazyLock;

pub use flash_client::{ClaimedJob, Job, JobState};
use flash_core::measurement::{Protocol, ReferenceNetwork};
use flash_core::{ArchSpec, Space};

use super::NewArchitecture;
use super::measurements::NewMeasurement;
use super::{
    Measurement, Page, Store, StoreError, StoreResult, json, page_of, parse_json, rfc3339,
};

/// The reference network paired with architectures of `space` (the default space's for
/// imported networks), computed once per process.
pub fn reference_network(space: Option<&Space>) -> &'static ReferenceNetwork {
    static REFERENCES: LazyLock<Vec<ReferenceNetwork>> = LazyLock::new(|| {
        Space::all()
            .iter()
            .map(|space| {
                let spec = space.reference_spec();
                ReferenceNetwork {
                    architecture_id: spec.id(),
                    spec,
                }
            })
            .collect()
    });
    let space = space.unwrap_or_else(|| Space::default_space());
    let i = Space::all()
        .iter()
        .position(|s| s.name == space.name)
        .expect("spaces are static");
    &REFERENCES[i]
}

pub struct NewJobs {
    pub architecture_ids: Vec<String>,
    pub device: String,
    pub protocol: Protocol,
    pub max_attempts: i64,
}

#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub device: Option<String>,
}

/// Outcome of a fenced update.
#[derive(Debug)]
pub enum Fenced<T> {
    Done(T),
    /// The attempt is not the job's running attempt: the lease was lost.
    LeaseLost {
        state: JobState,
        attempt: i64,
    },
}

#[derive(sqlx::FromRow)]
struct Row {
    job_seq: i64,
    job_id: String,
    architecture_id: String,
    device: String,
    protocol: String,
    state: String,
    attempt: i64,
    max_attempts: i64,
    lease_expires_at: Option<i64>,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str = "job_seq, job_id, architecture_id, device, protocol, state, attempt, max_attempts, lease_expires_at, error, created_at, updated_at";

impl Row {
    fn into_job(self) -> StoreResult<(i64, Job)> {
        Ok((
            self.job_seq,
            Job {
                protocol: parse_json(&self.protocol, "job.protocol")?,
                state: self
                    .state
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("job state {:?}", self.state)))?,
                id: self.job_id,
                architecture_id: self.architecture_id,
                device: self.device,
                attempt: self.attempt,
                max_attempts: self.max_attempts,
                lease_expires_at: self.lease_expires_at.map(rfc3339),
                error: self.error,
                created_at: rfc3339(self.created_at),
                updated_at: rfc3339(self.updated_at),
            },
        ))
    }
}

fn new_job_id() -> String {
    let mut buf = [0u8; 12];
    getrandom::fill(&mut buf).expect("the operating system provides randomness");
    format!("job_{}", hex::encode(buf))
}

impl Store {
    /// Queues one job per architecture; a live (queued or running) job for the same
    /// architecture, device and protocol is returned instead of a duplicate. All or nothing.
    /// Returns the jobs and, for each, whether it was created.
    pub async fn create_jobs(&self, new: NewJobs) -> StoreResult<Vec<(Job, bool)>> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        let out = self.insert_jobs(&mut tx, &new).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(out)
    }

    /// [`Store::create_jobs`] on `conn`, a transaction the caller commits.
    pub(super) async fn insert_jobs(
        &self,
        conn: &mut sqlx::AnyConnection,
        new: &NewJobs,
    ) -> StoreResult<Vec<(Job, bool)>> {
        let protocol = json(&new.protocol);
        let now = self.backend.now_ms();
        if new.protocol.paired != Some(false) {
            // The networks paired jobs are timed against, stored so their ids resolve.
            for space in Space::all() {
                let reference = reference_network(Some(space)).spec.clone();
                self.insert_architecture(&mut *conn, NewArchitecture::from_spec(reference))
                    .await?;
            }
        }
        let mut out = Vec::with_capacity(new.architecture_ids.len());
        for architecture_id in &new.architecture_ids {
            let inserted: Option<Row> = sqlx::query_as(sql!(
                "INSERT INTO job (job_id, architecture_id, device, protocol, state, attempt, max_attempts, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'queued', 0, $5, {now}, {now})
                 ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
            ))
            .bind(new_job_id())
            .bind(architecture_id)
            .bind(&new.device)
            .bind(&protocol)
            .bind(new.max_attempts)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?;
            let (row, created) = match inserted {
                Some(row) => (row, true),
                None => (
                    sqlx::query_as(sql!(
                        "SELECT {COLUMNS} FROM job WHERE architecture_id = $1 AND device = $2 AND protocol = $3
                           AND state IN ('queued', 'running')"
                    ))
                    .bind(architecture_id)
                    .bind(&new.device)
                    .bind(&protocol)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(StoreError::from_sqlx)?,
                    false,
                ),
            };
            out.push((row.into_job()?.1, created));
        }
        Ok(out)
    }

    pub async fn job(&self, id: &str) -> StoreResult<Job> {
        let row: Option<Row> = sqlx::query_as(sql!("SELECT {COLUMNS} FROM job WHERE job_id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        match row {
            Some(row) => Ok(row.into_job()?.1),
            None => Err(StoreError::NotFound(format!("job {id}"))),
        }
    }

    pub async fn list_jobs(
        &self,
        filter: &JobFilter,
        cursor: i64,
        limit: i64,
    ) -> StoreResult<Page<Job>> {
        let rows: Vec<Row> = sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM job WHERE job_seq > $1
               AND (CAST($2 AS TEXT) IS NULL OR state = $2)
               AND (CAST($3 AS TEXT) IS NULL OR device = $3)
             ORDER BY job_seq LIMIT $4"
        ))
        .bind(cursor)
        .bind(filter.state.map(<&str>::from))
        .bind(&filter.device)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let rows = rows
            .into_iter()
            .map(Row::into_job)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(rows, limit))
    }

    /// Jobs in the queue (queued or running), for metrics and the fleet view.
    pub async fn queue_depth(&self) -> StoreResult<(i64, i64)> {
        let (queued, running): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0)
             FROM job WHERE state IN ('queued', 'running')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok((queued, running))
    }

    /// Claims the device's next job with a lease of `lease_ms`, or None when there is none (or
    /// the device already runs one).
    pub async fn claim_job(&self, device: &str, lease_ms: i64) -> StoreResult<Option<ClaimedJob>> {
        let now = self.backend.now_ms();
        // Expired leases on their last attempt end the job.
        sqlx::query(sql!(
            "UPDATE job SET state = 'failed', lease_expires_at = NULL, updated_at = {now},
                 error = 'lease expired on attempt ' || CAST(attempt AS TEXT) || ' of ' || CAST(max_attempts AS TEXT)
                   || COALESCE(': last error: ' || error, '')
             WHERE device = $1 AND state = 'running' AND lease_expires_at < {now} AND attempt >= max_attempts"
        ))
        .bind(device)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let claimed: Result<Option<Row>, sqlx::Error> = sqlx::query_as(sql!(
            "UPDATE job SET state = 'running', attempt = attempt + 1, lease_expires_at = {now} + $2,
                 updated_at = {now}
             WHERE job_id = (
                 SELECT job_id FROM job
                 WHERE device = $1 AND attempt < max_attempts
                   AND (state = 'queued' OR (state = 'running' AND lease_expires_at < {now}))
                   AND NOT EXISTS (SELECT 1 FROM job r WHERE r.device = $1 AND r.state = 'running'
                                     AND r.lease_expires_at >= {now})
                 ORDER BY CASE WHEN state = 'running' THEN 0 ELSE 1 END, job_seq
                 LIMIT 1 {skip_locked})
             RETURNING {COLUMNS}",
            skip_locked = self.backend.skip_locked()
        ))
        .bind(device)
        .bind(lease_ms)
        .fetch_optional(&self.pool)
        .await;
        let row = match claimed {
            Ok(Some(row)) => row,
            Ok(None) => return Ok(None),
            // Another claimer of the same device won the race.
            Err(e) if StoreError::is_unique_violation(&e, "idx_job_one_running") => {
                return Ok(None);
            }
            Err(e) => return Err(StoreError::from_sqlx(e)),
        };
        let lease = row.lease_expires_at.unwrap_or_default();
        let job = row.into_job()?.1;
        let spec = self.architecture(&job.architecture_id).await?.spec;
        let reference = (job.protocol.paired != Some(false))
            .then(|| reference_network(spec.as_ref().and_then(ArchSpec::space)).clone());
        Ok(Some(ClaimedJob {
            reference,
            id: job.id,
            architecture_id: job.architecture_id,
            device: job.device,
            attempt: job.attempt,
            lease_expires_at: rfc3339(lease),
            lease_seconds: lease_ms / 1000,
            protocol: job.protocol,
            spec,
        }))
    }

    /// The job's state and attempt, to explain a refused fenced update.
    async fn lease_lost<T>(&self, id: &str) -> StoreResult<Fenced<T>> {
        let job = self.job(id).await?;
        Ok(Fenced::LeaseLost {
            state: job.state,
            attempt: job.attempt,
        })
    }

    /// Extends the lease of the running `attempt`.
    pub async fn heartbeat_job(
        &self,
        id: &str,
        attempt: i64,
        lease_ms: i64,
    ) -> StoreResult<Fenced<Job>> {
        let now = self.backend.now_ms();
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE job SET lease_expires_at = {now} + $3, updated_at = {now}
             WHERE job_id = $1 AND attempt = $2 AND state = 'running' RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(attempt)
        .bind(lease_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        match row {
            Some(row) => Ok(Fenced::Done(row.into_job()?.1)),
            None => self.lease_lost(id).await,
        }
    }

    /// Stores the result of the running `attempt` and marks the job succeeded, in one
    /// transaction. Completing the same attempt again returns the stored measurement.
    pub async fn complete_job(
        &self,
        id: &str,
        attempt: i64,
        result: flash_core::measurement::MeasurementResult,
    ) -> StoreResult<Fenced<Measurement>> {
        let now = self.backend.now_ms();
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE job SET state = 'succeeded', lease_expires_at = NULL, error = NULL, updated_at = {now}
             WHERE job_id = $1 AND attempt = $2 AND state = 'running' RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(attempt)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        let Some(row) = row else {
            drop(tx);
            let job = self.job(id).await?;
            if job.state == JobState::Succeeded
                && job.attempt == attempt
                && let Some(m) = self.job_measurements(&[id.to_string()]).await?.remove(id)
            {
                return Ok(Fenced::Done(m));
            }
            return Ok(Fenced::LeaseLost {
                state: job.state,
                attempt: job.attempt,
            });
        };
        let job = row.into_job()?.1;
        let new = NewMeasurement {
            architecture_id: job.architecture_id,
            device: job.device,
            source: "agent".into(),
            result,
        };
        let measurement = self.insert_measurement(&mut tx, &new, Some(id)).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(Fenced::Done(measurement))
    }

    /// Records a failed attempt: the job is queued again, or failed after its last attempt.
    pub async fn fail_job(&self, id: &str, attempt: i64, error: &str) -> StoreResult<Fenced<Job>> {
        let now = self.backend.now_ms();
        let row: Option<Row> = sqlx::query_as(sql!(
            "UPDATE job SET state = CASE WHEN attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
                 lease_expires_at = NULL, error = $3, updated_at = {now}
             WHERE job_id = $1 AND attempt = $2 AND state = 'running' RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(attempt)
        .bind(error)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        match row {
            Some(row) => Ok(Fenced::Done(row.into_job()?.1)),
            None => self.lease_lost(id).await,
        }
    }
}
