//! Fitted models, stored and versioned: hardware models per (device, metric) and accuracy
//! models per (data set, space). Each version keeps the fit (coefficients and figures) and the
//! samples it used, so a prediction can name the fit it came from.

use flash_client::{AccuracyModelRecord, FitSample, HardwareModelRecord};
use flash_core::fit::{AccuracyFit, HardwareFit};
use serde::{Deserialize, Serialize};

use super::{Page, Store, StoreError, StoreResult, json, page_of, parse_json, rfc3339};

/// Which model table, and its two key columns (the version counts per key).
#[derive(Debug, Clone, Copy)]
pub struct ModelTable {
    table: &'static str,
    key: &'static str,
    variant: &'static str,
    id_prefix: &'static str,
}

/// A kind of fitted model the store keeps: its table, and its record decoded from a row.
pub trait ModelRecord: Sized {
    const TABLE: ModelTable;
    fn from_row(row: StoredModel) -> StoreResult<Self>;
}

/// A stored model as its columns hold it.
#[derive(Debug, Clone)]
pub struct StoredModel {
    id: String,
    /// Device (hardware) or data set (accuracy).
    key: String,
    /// Metric (hardware) or space (accuracy).
    variant: Option<String>,
    version: i64,
    fit: String,
    samples: String,
    created_at: String,
}

/// What a hardware model keeps beside its fit.
#[derive(Serialize, Deserialize)]
struct HardwareSamples {
    value_source: String,
    samples: Vec<FitSample>,
}

impl ModelRecord for HardwareModelRecord {
    const TABLE: ModelTable = ModelTable {
        table: "hardware_model",
        key: "device",
        variant: "metric",
        id_prefix: "hw",
    };

    fn from_row(m: StoredModel) -> StoreResult<Self> {
        let extra: HardwareSamples = parse_json(&m.samples, "hardware_model.samples")?;
        let fit: HardwareFit = parse_json(&m.fit, "hardware_model.fit")?;
        Ok(HardwareModelRecord {
            metric: fit.model.metric,
            id: m.id,
            device: m.key,
            version: m.version,
            fit,
            value_source: extra.value_source,
            samples: extra.samples,
            created_at: m.created_at,
        })
    }
}

impl ModelRecord for AccuracyModelRecord {
    const TABLE: ModelTable = ModelTable {
        table: "accuracy_model",
        key: "dataset",
        variant: "space",
        id_prefix: "acc",
    };

    fn from_row(m: StoredModel) -> StoreResult<Self> {
        Ok(AccuracyModelRecord {
            fit: parse_json(&m.fit, "accuracy_model.fit")?,
            samples: parse_json(&m.samples, "accuracy_model.samples")?,
            id: m.id,
            dataset: m.key,
            space: m.variant,
            version: m.version,
            created_at: m.created_at,
        })
    }
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

impl Row {
    fn into_record<T: ModelRecord>(self) -> StoreResult<(i64, T)> {
        let stored = StoredModel {
            id: self.model_id,
            key: self.key,
            variant: self.variant,
            version: self.version,
            fit: self.fit,
            samples: self.samples,
            created_at: rfc3339(self.created_at),
        };
        Ok((self.model_seq, T::from_row(stored)?))
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
    /// Stores a new version of a device's hardware model of `fit.model.metric`.
    pub async fn put_hardware_model(
        &self,
        device: &str,
        fit: &HardwareFit,
        value_source: String,
        samples: Vec<FitSample>,
    ) -> StoreResult<HardwareModelRecord> {
        let metric: &str = fit.model.metric.into();
        let samples = HardwareSamples {
            value_source,
            samples,
        };
        self.put_model(device, Some(metric), json(fit), json(&samples))
            .await
    }

    /// Stores a new version of a data set's accuracy model (of `space`'s architectures only,
    /// when given).
    pub async fn put_accuracy_model(
        &self,
        dataset: &str,
        space: Option<&str>,
        fit: &AccuracyFit,
        samples: &[FitSample],
    ) -> StoreResult<AccuracyModelRecord> {
        self.put_model(dataset, space, json(fit), json(&samples))
            .await
    }

    async fn put_model<T: ModelRecord>(
        &self,
        key: &str,
        variant: Option<&str>,
        fit: String,
        samples: String,
    ) -> StoreResult<T> {
        let table = T::TABLE;
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
                Ok(_) => return self.model(&id).await,
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

    pub async fn model<T: ModelRecord>(&self, id: &str) -> StoreResult<T> {
        let row: Option<Row> = sqlx::query_as(sql!("{} WHERE model_id = $1", T::TABLE.select()))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        match row {
            Some(row) => Ok(row.into_record()?.1),
            None => Err(StoreError::NotFound(format!("model {id}"))),
        }
    }

    /// The newest model id of each variant of `key` (each metric of a device, each space of a
    /// data set), newest first: one query that decodes nothing, for callers that keep decoded
    /// models by id (a stored model never changes).
    pub async fn latest_model_ids<T: ModelRecord>(
        &self,
        key: &str,
    ) -> StoreResult<Vec<(Option<String>, String)>> {
        let table = T::TABLE;
        let rows: Vec<(Option<String>, String)> = sqlx::query_as(sql!(
            "SELECT {v}, model_id FROM {t} WHERE model_seq IN
               (SELECT MAX(model_seq) FROM {t} WHERE {k} = $1 GROUP BY {v})
             ORDER BY model_seq DESC",
            t = table.table,
            k = table.key,
            v = table.variant
        ))
        .bind(key)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(rows)
    }

    /// The newest version for (`key`, `variant`), or for `key` alone when `variant` is None.
    pub async fn latest_model<T: ModelRecord>(
        &self,
        key: &str,
        variant: Option<&str>,
    ) -> StoreResult<Option<T>> {
        let table = T::TABLE;
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
        row.map(|r| Ok(r.into_record()?.1)).transpose()
    }

    pub async fn list_models<T: ModelRecord>(
        &self,
        key: Option<&str>,
        variant: Option<&str>,
        cursor: i64,
        limit: i64,
    ) -> StoreResult<Page<T>> {
        let table = T::TABLE;
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
        let rows = rows
            .into_iter()
            .map(Row::into_record)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(rows, limit))
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
