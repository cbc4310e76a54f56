//! Measurements of architectures on devices: from jobs run by agents, or uploaded directly.

use flash_core::measurement::MeasurementResult;
use serde::{Deserialize, Serialize};

use super::{Page, Store, StoreError, StoreResult, json, parse_json, rfc3339};

pub struct NewMeasurement {
    pub architecture_id: String,
    pub device: String,
    /// Where the numbers come from (`agent`, or what the uploader says).
    pub source: String,
    pub result: MeasurementResult,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Measurement {
    pub id: String,
    pub architecture_id: String,
    pub device: String,
    /// The job that produced it (None for uploads).
    pub job_id: Option<String>,
    pub source: String,
    pub result: MeasurementResult,
    pub created_at: String,
}

#[derive(Debug, Default, Clone)]
pub struct MeasurementFilter {
    pub device: Option<String>,
    pub architecture_id: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct Row {
    measurement_seq: i64,
    architecture_id: String,
    device: String,
    job_id: Option<String>,
    source: String,
    result: String,
    created_at: i64,
}

impl Row {
    pub(super) fn into_measurement(self) -> StoreResult<(i64, Measurement)> {
        Ok((
            self.measurement_seq,
            Measurement {
                id: self.measurement_seq.to_string(),
                result: parse_json(&self.result, "measurement.result")?,
                architecture_id: self.architecture_id,
                device: self.device,
                job_id: self.job_id,
                source: self.source,
                created_at: rfc3339(self.created_at),
            },
        ))
    }
}

pub(super) const COLUMNS: &str =
    "measurement_seq, architecture_id, device, job_id, source, result, created_at";

impl Store {
    /// Inserts a measurement on `conn` (a pool connection or a job's transaction).
    pub(super) async fn insert_measurement(
        &self,
        conn: &mut sqlx::AnyConnection,
        new: &NewMeasurement,
        job_id: Option<&str>,
    ) -> StoreResult<Measurement> {
        let energy = new.result.energy.as_ref();
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO measurement (architecture_id, device, job_id, source, p50_ms, energy_mj, energy_method, result, created_at)
             VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 = 1 THEN $9 END, $7, $8, {}) RETURNING {COLUMNS}",
            self.backend.now_ms()
        ))
        .bind(&new.architecture_id)
        .bind(&new.device)
        .bind(job_id)
        .bind(&new.source)
        .bind(new.result.latency.p50_ms)
        // A flag and a value instead of an optional float: sqlx's Any driver binds a NULL
        // float with the wrong type, which breaks the cached statement on Postgres.
        .bind(i64::from(energy.is_some()))
        .bind(energy.map(|e| json(&e.method).trim_matches('"').to_string()))
        .bind(json(&new.result))
        .bind(energy.map_or(0.0, |e| e.mj_per_inference))
        .fetch_one(conn)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(row.into_measurement()?.1)
    }

    pub async fn add_measurement(&self, new: NewMeasurement) -> StoreResult<Measurement> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        self.insert_measurement(&mut conn, &new, None).await
    }

    pub async fn list_measurements(
        &self,
        filter: &MeasurementFilter,
        cursor: i64,
        limit: i64,
    ) -> StoreResult<Page<Measurement>> {
        let rows: Vec<Row> = sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM measurement WHERE measurement_seq > $1
               AND (CAST($2 AS TEXT) IS NULL OR device = $2)
               AND (CAST($3 AS TEXT) IS NULL OR architecture_id = $3)
             ORDER BY measurement_seq LIMIT $4"
        ))
        .bind(cursor)
        .bind(&filter.device)
        .bind(&filter.architecture_id)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let rows = rows
            .into_iter()
            .map(Row::into_measurement)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(rows, limit))
    }
}
