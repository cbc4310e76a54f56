//! Fitted models, stored and versioned: hardware models per (device, metric) and accuracy
//! models per (data set, space). Each version keeps the fit (coefficients and figures) and the
//! samples it used, so a prediction can name the fit it came from.

use super::{Page, Store, StoreError, StoreResult, rfc3339};

/// Which model table, and its two key columns (the version counts per key).
#[derive(Debug, Clone, Copy)]
pub struct ModelTable {
    table: &'static str,
    key: &'static str,
    variant: &'static str,
    id_prefix: &'static str,
}

pub const HARDWARE_MODELS: ModelTable = ModelTable {
    table: "hardware_model",
    key: "device",
    variant: "metric",
    id_prefix: "hw",
};

pub const ACCURACY_MODELS: ModelTable = ModelTable {
    table: "accuracy_model",
    key: "dataset",
    variant: "space",
    id_prefix: "acc",
};

/// A stored model; `fit` and `samples` are JSON the API layer decodes.
#[derive(Debug, Clone)]
pub struct StoredModel {
    pub id: String,
    /// Device (hardware) or data set (accuracy).
    pub key: String,
    /// Metric (hardware) or space (accuracy).
    pub variant: Option<String>,
    pub version: i64,
    pub fit: String,
    pub samples: String,
    pub created_at: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    model_seq: i64,
    model_id: String,
    key: String,
    variant: Option<String>,
    version: i64,
    fit: String,
    samples: String,
    created_at: i64,
}

impl From<Row> for (i64, StoredModel) {
    fn from(r: Row) -> Self {
        (
            r.model_seq,
            StoredModel {
                id: r.model_id,
                key: r.key,
                variant: r.variant,
                version: r.version,
                fit: r.fit,
                samples: r.samples,
                created_at: rfc3339(r.created_at),
            },
        )
    }
}

impl ModelTable {
    fn select(&self) -> String {
        format!(
            "SELECT model_seq, model_id, {key} AS key, {variant} AS variant, version, fit, samples, created_at FROM {table}",
            key = self.key,
            variant = self.variant,
            table = self.table
        )
    }
}

impl Store {
    /// Stores a new version of the model for (`key`, `variant`).
    pub async fn put_model(
        &self,
        table: ModelTable,
        key: &str,
        variant: Option<&str>,
        fit: String,
        samples: String,
    ) -> StoreResult<StoredModel> {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).expect("the operating system provides randomness");
        let id = format!("{}_{}", table.id_prefix, hex::encode(random));
        // Two fits racing for the same version: the loser retries with the next one.
        for _ in 0..5 {
            let result = sqlx::query(sql!(
                "INSERT INTO {table} (model_id, {k}, {v}, version, fit, samples, created_at)
                 SELECT $1, $2, $3, COALESCE(MAX(version), 0) + 1, $4, $5, {now} FROM {table}
                 WHERE {k} = $2 AND COALESCE({v}, '') = COALESCE($3, '')",
                table = table.table,
                k = table.key,
                v = table.variant,
                now = self.backend.now_ms()
            ))
            .bind(&id)
            .bind(key)
            .bind(variant)
            .bind(&fit)
            .bind(&samples)
            .execute(&self.pool)
            .await;
            match result {
                Ok(_) => return self.model(table, &id).await,
                Err(e) if matches!(&e, sqlx::Error::Database(db) if db.is_unique_violation()) => {
                    continue;
                }
                Err(e) => return Err(StoreError::from_sqlx(e)),
            }
        }
        Err(StoreError::Conflict(
            "too many concurrent fits of the same model".into(),
        ))
    }

    pub async fn model(&self, table: ModelTable, id: &str) -> StoreResult<StoredModel> {
        let row: Option<Row> = sqlx::query_as(sql!("{} WHERE model_id = $1", table.select()))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        row.map(|r| <(i64, StoredModel)>::from(r).1)
            .ok_or_else(|| StoreError::NotFound(format!("model {id}")))
    }

    /// The newest version for (`key`, `variant`), or for `key` alone when `variant` is None.
    pub async fn latest_model(
        &self,
        table: ModelTable,
        key: &str,
        variant: Option<&str>,
    ) -> StoreResult<Option<StoredModel>> {
        let row: Option<Row> = sqlx::query_as(sql!(
            "{} WHERE {k} = $1 AND (CAST($2 AS TEXT) IS NULL OR {v} = $2) ORDER BY model_seq DESC LIMIT 1",
            table.select(),
            k = table.key,
            v = table.variant
        ))
        .bind(key)
        .bind(variant)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(row.map(|r| <(i64, StoredModel)>::from(r).1))
    }

    pub async fn list_models(
        &self,
        table: ModelTable,
        key: Option<&str>,
        variant: Option<&str>,
        cursor: i64,
        limit: i64,
    ) -> StoreResult<Page<StoredModel>> {
        let rows: Vec<Row> = sqlx::query_as(sql!(
            "{} WHERE model_seq > $1 AND (CAST($2 AS TEXT) IS NULL OR {k} = $2)
               AND (CAST($3 AS TEXT) IS NULL OR {v} = $3) ORDER BY model_seq LIMIT $4",
            table.select(),
            k = table.key,
            v = table.variant
        ))
        .bind(cursor)
        .bind(key)
        .bind(variant)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(Page::from_rows(
            rows.into_iter().map(Into::into).collect(),
            limit,
        ))
    }

    /// The normalized latency (ms) and energy (mJ, with its method) of every measurement on
    /// `device`, grouped by architecture (`MeasurementResult::normalized_latency_ms` with the
    /// device's current reference latencies, so every value is on one scale).
    pub async fn measured_on(&self, device: &str) -> StoreResult<Vec<MeasuredArchitecture>> {
        let rows: Vec<MeasuredRow> = sqlx::query_as(
            "SELECT m.architecture_id, m.result, m.energy_method, a.metrics
             FROM measurement m JOIN architecture a ON a.architecture_id = m.architecture_id
             WHERE m.device = $1 ORDER BY m.architecture_id, m.measurement_seq",
        )
        .bind(device)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let references = self.reference_latencies(&[device.to_string()]).await?;
        let mut out: Vec<MeasuredArchitecture> = Vec::new();
        for MeasuredRow {
            architecture_id: id,
            result,
            energy_method: method,
            metrics,
        } in rows
        {
            let result: flash_core::measurement::MeasurementResult =
                super::parse_json(&result, "measurement.result")?;
            let reference_latency = result.reference.as_ref().and_then(|r| {
                references
                    .get(&(device.to_string(), r.architecture_id.clone()))
                    .copied()
            });
            let p50 = result.normalized_latency_ms(reference_latency);
            let energy = result.normalized_energy_mj(reference_latency);
            if out.last().is_none_or(|m| m.architecture_id != id) {
                out.push(MeasuredArchitecture {
                    architecture_id: id,
                    metrics: super::parse_json(&metrics, "architecture.metrics")?,
                    latencies_ms: Vec::new(),
                    energies_mj: Vec::new(),
                    energy_methods: Vec::new(),
                });
            }
            let m = out.last_mut().expect("pushed above");
            m.latencies_ms.push(p50);
            if let Some(e) = energy {
                m.energies_mj.push(e);
                m.energy_methods.push(method.unwrap_or_default());
            }
        }
        Ok(out)
    }

    /// Every accuracy record of `dataset` (optionally only architectures of `space`) with the
    /// architecture's metrics, one row per record.
    pub async fn accuracy_records(
        &self,
        dataset: &str,
        space: Option<&str>,
    ) -> StoreResult<Vec<(String, flash_core::Metrics, f64)>> {
        let rows: Vec<(String, String, f64)> = sqlx::query_as(
            "SELECT r.architecture_id, a.metrics, r.accuracy
             FROM accuracy r JOIN architecture a ON a.architecture_id = r.architecture_id
             WHERE r.dataset = $1 AND (CAST($2 AS TEXT) IS NULL OR a.space = $2)
             ORDER BY r.accuracy_seq",
        )
        .bind(dataset)
        .bind(space)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.into_iter()
            .map(|(id, metrics, acc)| {
                Ok((
                    id,
                    super::parse_json(&metrics, "architecture.metrics")?,
                    acc,
                ))
            })
            .collect()
    }
}

#[derive(sqlx::FromRow)]
struct MeasuredRow {
    architecture_id: String,
    result: String,
    energy_method: Option<String>,
    metrics: String,
}

/// What one architecture measured on a device.
#[derive(Debug, Clone)]
pub struct MeasuredArchitecture {
    pub architecture_id: String,
    pub metrics: flash_core::Metrics,
    /// Normalized latency of each measurement.
    pub latencies_ms: Vec<f64>,
    /// Energy of each measurement that has one (estimates normalized like the latency).
    pub energies_mj: Vec<f64>,
    pub energy_methods: Vec<String>,
}
