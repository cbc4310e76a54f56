//! Measurements of architectures on devices: from jobs run by agents, or uploaded directly.

use std::collections::{BTreeSet, HashMap};

use flash_client::{DeviceReference, Measurement, ReferencePoint};
use flash_core::measurement::{MeasurementResult, REFERENCE_HISTORY, reference_latency};

use super::{
    Page, Store, StoreError, StoreResult, bind_all, json, page_of, parse_json, placeholders,
    rfc3339,
};

pub struct NewMeasurement {
    pub architecture_id: String,
    pub device: String,
    /// Where the numbers come from (`agent`, or what the uploader says).
    pub source: String,
    pub result: MeasurementResult,
}

#[derive(Debug, Default, Clone)]
pub struct MeasurementFilter {
    pub device: Option<String>,
    pub architecture_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    measurement_seq: i64,
    architecture_id: String,
    device: String,
    job_id: Option<String>,
    source: String,
    result: String,
    created_at: i64,
}

impl Row {
    /// The measurement, normalized with its device's reference latencies (`references` maps
    /// a reference id to the latency; see [`Store::reference_latencies`]).
    fn into_measurement(
        self,
        references: &HashMap<(String, String), f64>,
    ) -> StoreResult<(i64, Measurement)> {
        let result: MeasurementResult = parse_json(&self.result, "measurement.result")?;
        let reference_latency_ms = result
            .reference
            .as_ref()
            .and_then(|r| references.get(&(self.device.clone(), r.architecture_id.clone())))
            .copied();
        Ok((
            self.measurement_seq,
            Measurement {
                id: self.measurement_seq.to_string(),
                normalized_latency_ms: result.normalized_latency_ms(reference_latency_ms),
                reference_latency_ms,
                result,
                architecture_id: self.architecture_id,
                device: self.device,
                job_id: self.job_id,
                source: self.source,
                created_at: rfc3339(self.created_at),
            },
        ))
    }
}

const COLUMNS: &str =
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
        let paired = new.result.ratio.as_ref().zip(new.result.reference.as_ref());
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO measurement (architecture_id, device, job_id, source, p50_ms, energy_mj, energy_method, result,
                 reference_id, reference_p50_ms, ratio_p50, created_at)
             VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 = 1 THEN $9 END, $7, $8,
                 $10, CASE WHEN $11 = 1 THEN $12 END, CASE WHEN $11 = 1 THEN $13 END, {}) RETURNING {COLUMNS}",
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
        .bind(paired.map(|(_, r)| r.architecture_id.clone()))
        .bind(i64::from(paired.is_some()))
        .bind(paired.map_or(0.0, |(_, r)| r.latency.p50_ms))
        .bind(paired.map_or(0.0, |(ratio, _)| ratio.p50))
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?;
        let references = self
            .reference_latencies_on(conn, std::slice::from_ref(&row.device))
            .await?;
        Ok(row.into_measurement(&references)?.1)
    }

    /// The current reference latencies of `devices`, one query whatever their number: for each
    /// (device, reference) pair, the median of the reference's p50 over the device's latest
    /// [`REFERENCE_HISTORY`] paired measurements with it
    /// (`flash_core::measurement::reference_latency`), ordered by device and reference.
    async fn references_of_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        devices: &[String],
    ) -> StoreResult<Vec<(String, DeviceReference)>> {
        let devices: Vec<&String> = devices
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if devices.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT device, reference_id, reference_p50_ms, total FROM (
                 SELECT device, reference_id, reference_p50_ms,
                     ROW_NUMBER() OVER (PARTITION BY device, reference_id ORDER BY measurement_seq DESC) AS recency,
                     COUNT(*) OVER (PARTITION BY device, reference_id) AS total
                 FROM measurement WHERE reference_id IS NOT NULL AND device IN ({})
             ) recent WHERE recency <= $1 ORDER BY device, reference_id, recency",
            placeholders(2, devices.len())
        );
        let query = bind_all(
            &devices,
            sqlx::query_as::<_, (String, String, f64, i64)>(sqlx::AssertSqlSafe(sql))
                .bind(REFERENCE_HISTORY as i64),
        );
        let rows = query
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?;
        let mut out: Vec<(String, DeviceReference)> = Vec::new();
        let mut recent: Vec<f64> = Vec::new();
        let mut rows = rows.into_iter().peekable();
        while let Some((device, reference, p50, total)) = rows.next() {
            recent.push(p50);
            let last_of_pair = rows
                .peek()
                .is_none_or(|(d, r, _, _)| *d != device || *r != reference);
            if last_of_pair {
                if let Some(latency_ms) = reference_latency(&recent) {
                    out.push((
                        device,
                        DeviceReference {
                            architecture_id: reference,
                            latency_ms,
                            window: recent.len(),
                            measurements: total,
                        },
                    ));
                }
                recent.clear();
            }
        }
        Ok(out)
    }

    /// [`Store::references_of_on`] as a map from (device, reference id) to the latency, for
    /// [`Row::into_measurement`].
    async fn reference_latencies_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        devices: &[String],
    ) -> StoreResult<HashMap<(String, String), f64>> {
        Ok(self
            .references_of_on(conn, devices)
            .await?
            .into_iter()
            .map(|(device, r)| ((device, r.architecture_id), r.latency_ms))
            .collect())
    }

    /// The reference networks `device` has been paired with and its current reference latency
    /// with each.
    pub async fn device_references(&self, device: &str) -> StoreResult<Vec<DeviceReference>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        Ok(self
            .references_of_on(&mut conn, &[device.to_string()])
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// The reference latencies of `devices`, for [`Row::into_measurement`].
    pub(super) async fn reference_latencies(
        &self,
        devices: &[String],
    ) -> StoreResult<HashMap<(String, String), f64>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        self.reference_latencies_on(&mut conn, devices).await
    }

    /// The device's speed history: every timing of a reference network in its paired
    /// measurements, oldest first (optionally of one reference).
    pub async fn reference_history(
        &self,
        device: &str,
        reference: Option<&str>,
        cursor: i64,
        limit: i64,
    ) -> StoreResult<Page<ReferencePoint>> {
        let rows: Vec<Row> = sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM measurement WHERE device = $1 AND reference_id IS NOT NULL
               AND (CAST($2 AS TEXT) IS NULL OR reference_id = $2) AND measurement_seq > $3
             ORDER BY measurement_seq LIMIT $4"
        ))
        .bind(device)
        .bind(reference)
        .bind(cursor)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let points = rows
            .into_iter()
            .filter_map(|row| {
                let result: MeasurementResult = match parse_json(&row.result, "measurement.result")
                {
                    Ok(r) => r,
                    Err(e) => return Some(Err(e)),
                };
                let r = result.reference?;
                Some(Ok((
                    row.measurement_seq,
                    ReferencePoint {
                        measurement_id: row.measurement_seq.to_string(),
                        reference_architecture_id: r.architecture_id,
                        p50_ms: r.latency.p50_ms,
                        p50_ci_low_ms: r.latency.p50_ci_low_ms,
                        p50_ci_high_ms: r.latency.p50_ci_high_ms,
                        n: r.latency.n,
                        created_at: rfc3339(row.created_at),
                        created_at_unix_ms: row.created_at,
                    },
                )))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(points, limit))
    }

    /// The measurements the jobs of `job_ids` produced, by job id (two queries whatever their
    /// number).
    pub async fn job_measurements(
        &self,
        job_ids: &[String],
    ) -> StoreResult<HashMap<String, Measurement>> {
        if job_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM measurement WHERE job_id IN ({})",
            placeholders(1, job_ids.len())
        );
        let query = bind_all(job_ids, sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)));
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        let devices: Vec<String> = rows.iter().map(|r| r.device.clone()).collect();
        let references = self.reference_latencies(&devices).await?;
        rows.into_iter()
            .map(|row| {
                let job = row.job_id.clone().unwrap_or_default();
                Ok((job, row.into_measurement(&references)?.1))
            })
            .collect()
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
        let devices: Vec<String> = rows.iter().map(|r| r.device.clone()).collect();
        let references = self.reference_latencies(&devices).await?;
        let rows = rows
            .into_iter()
            .map(|r| r.into_measurement(&references))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(rows, limit))
    }
}
