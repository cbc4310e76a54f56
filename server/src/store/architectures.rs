//! Stored architectures: a spec of a space or an imported ONNX graph, with its metrics.

pub use flash_client::{Architecture, Source};
use flash_core::{ArchSpec, Metrics};

use super::{
    Page, Store, StoreError, StoreResult, bind_all, json, page_of, parse_json, placeholders,
    rfc3339,
};

/// What is stored for a new architecture (computed by the caller from a spec or ONNX bytes).
pub struct NewArchitecture {
    pub id: String,
    pub source: Source,
    pub space: Option<String>,
    pub in_space: bool,
    pub spec: Option<ArchSpec>,
    /// The uploaded model, kept as sent (specs are exported on demand instead).
    pub onnx: Option<Vec<u8>>,
    pub metrics: Metrics,
}

impl NewArchitecture {
    /// What is stored for a spec (its metrics computed from its graph).
    pub fn from_spec(spec: ArchSpec) -> NewArchitecture {
        let metrics = flash_core::metrics::compute(&spec.to_graph());
        NewArchitecture {
            id: spec.id(),
            source: Source::Spec,
            space: Some(spec.space.clone()),
            in_space: spec.in_space(),
            spec: Some(spec),
            onnx: None,
            metrics,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct ArchitectureFilter {
    pub space: Option<String>,
    pub in_space: Option<bool>,
    pub nn_degree_min: Option<f64>,
    pub nn_degree_max: Option<f64>,
    pub params_max: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    architecture_seq: i64,
    architecture_id: String,
    source: String,
    space: Option<String>,
    in_space: i64,
    spec: Option<String>,
    metrics: String,
    created_at: i64,
}

const COLUMNS: &str =
    "architecture_seq, architecture_id, source, space, in_space, spec, metrics, created_at";

impl Row {
    fn into_architecture(self) -> StoreResult<(i64, Architecture)> {
        Ok((
            self.architecture_seq,
            Architecture {
                source: if self.source == "onnx" {
                    Source::Onnx
                } else {
                    Source::Spec
                },
                spec: self
                    .spec
                    .as_deref()
                    .map(|s| parse_json(s, "architecture.spec"))
                    .transpose()?,
                metrics: parse_json(&self.metrics, "architecture.metrics")?,
                id: self.architecture_id,
                space: self.space,
                in_space: self.in_space != 0,
                created_at: rfc3339(self.created_at),
            },
        ))
    }
}

impl Store {
    /// Inserts the architecture unless it exists; whether it was new.
    pub(super) async fn insert_architecture(
        &self,
        conn: &mut sqlx::AnyConnection,
        new: NewArchitecture,
    ) -> StoreResult<bool> {
        let result = sqlx::query(sql!(
            "INSERT INTO architecture (architecture_id, source, space, in_space, spec, onnx, metrics, nn_degree, params, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {})
             ON CONFLICT (architecture_id) DO NOTHING",
            self.backend.now_ms()
        ))
        .bind(&new.id)
        .bind(<&str>::from(new.source))
        .bind(&new.space)
        .bind(i64::from(new.in_space))
        .bind(new.spec.as_ref().map(json))
        .bind(new.onnx)
        .bind(json(&new.metrics))
        .bind(new.metrics.nn_degree)
        .bind(new.metrics.params as i64)
        .execute(conn)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(result.rows_affected() == 1)
    }

    /// Recomputes the metrics of architectures stored before a change to how metrics are
    /// computed; each task runs at start until it has once completed, which `maintenance`
    /// records. The pending tasks share one pass over the rows any of them selects. Returns how
    /// many rows it rewrote.
    /// - `stage-metrics`: rows without per-stage counts (their stage features would read as zeros
    ///   in fits and predictions);
    /// - `block-mass`: imported networks (no spec), whose NN-Mass now counts residual blocks by
    ///   the reference rule per block kind;
    /// - `downsampling-degree`: imported networks, whose NN-Degree no longer counts skip links
    ///   into a downsampling convolution (cell specs never had any).
    pub(super) async fn refresh_old_metrics(&self) -> StoreResult<usize> {
        const TASKS: [(&str, &str); 3] = [
            ("stage-metrics", r#"metrics NOT LIKE '%"stages":[{%'"#),
            ("block-mass", "spec IS NULL"),
            ("downsampling-degree", "spec IS NULL"),
        ];
        let done: Vec<(String,)> = sqlx::query_as("SELECT task FROM maintenance")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        let pending: Vec<(&str, &str)> = TASKS
            .into_iter()
            .filter(|(task, _)| !done.iter().any(|(d,)| d == task))
            .collect();
        if pending.is_empty() {
            return Ok(0);
        }
        // The filters are the constant TASKS above, never input.
        let filter = pending
            .iter()
            .map(|(_, f)| format!("({f})"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let rows: Vec<(String, Option<String>, Option<Vec<u8>>)> = sqlx::query_as(sql!(
            "SELECT architecture_id, spec, onnx FROM architecture WHERE {filter}"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        for (id, spec, onnx) in &rows {
            let graph = match (spec, onnx) {
                (Some(spec), _) => parse_json::<ArchSpec>(spec, "architecture.spec")?.to_graph(),
                (None, Some(bytes)) => flash_core::onnx::import(bytes).map_err(|e| {
                    StoreError::Corrupt(format!("architecture {id}: stored ONNX: {e}"))
                })?,
                (None, None) => {
                    return Err(StoreError::Corrupt(format!(
                        "architecture {id} has neither a spec nor a model"
                    )));
                }
            };
            let metrics = flash_core::metrics::compute(&graph);
            sqlx::query(
                "UPDATE architecture SET metrics = $2, nn_degree = $3 WHERE architecture_id = $1",
            )
            .bind(id)
            .bind(json(&metrics))
            .bind(metrics.nn_degree)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        for (task, _) in pending {
            sqlx::query(sql!(
                "INSERT INTO maintenance (task, done_at) VALUES ($1, {now}) ON CONFLICT DO NOTHING",
                now = self.backend.now_ms()
            ))
            .bind(task)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        Ok(rows.len())
    }

    /// Stores the architecture unless it exists; returns it and whether it was new.
    pub async fn put_architecture(
        &self,
        new: NewArchitecture,
    ) -> StoreResult<(Architecture, bool)> {
        let id = new.id.clone();
        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        let inserted = self.insert_architecture(&mut conn, new).await?;
        drop(conn);
        Ok((self.architecture(&id).await?, inserted))
    }

    /// Stores many architectures in one transaction (all or none); returns them in order.
    pub async fn put_architectures(
        &self,
        list: Vec<NewArchitecture>,
    ) -> StoreResult<Vec<Architecture>> {
        let ids: Vec<String> = list.iter().map(|a| a.id.clone()).collect();
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        for new in list {
            self.insert_architecture(&mut tx, new).await?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        let stored = self.architectures_by_ids(&ids).await?;
        ids.iter()
            .map(|id| {
                stored.get(id).cloned().ok_or_else(|| {
                    StoreError::Corrupt(format!("architecture {id} vanished after its insert"))
                })
            })
            .collect()
    }

    pub async fn architecture(&self, id: &str) -> StoreResult<Architecture> {
        let row: Option<Row> = sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM architecture WHERE architecture_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        match row {
            Some(row) => Ok(row.into_architecture()?.1),
            None => Err(StoreError::NotFound(format!("architecture {id}"))),
        }
    }

    /// The uploaded ONNX bytes of an imported architecture (None for spec architectures).
    pub async fn architecture_onnx(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT onnx FROM architecture WHERE architecture_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
        row.map(|(onnx,)| onnx)
            .ok_or_else(|| StoreError::NotFound(format!("architecture {id}")))
    }

    pub async fn list_architectures(
        &self,
        filter: &ArchitectureFilter,
        cursor: i64,
        limit: i64,
    ) -> StoreResult<Page<Architecture>> {
        let rows: Vec<Row> = sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM architecture
             WHERE architecture_seq > $1
               AND (CAST($2 AS TEXT) IS NULL OR space = $2)
               AND (CAST($3 AS BIGINT) IS NULL OR in_space = $3)
               AND nn_degree >= $4 AND nn_degree <= $5
               AND (CAST($6 AS BIGINT) IS NULL OR params <= $6)
             ORDER BY architecture_seq LIMIT $7"
        ))
        .bind(cursor)
        .bind(&filter.space)
        .bind(filter.in_space.map(i64::from))
        // Absent bounds are infinite: sqlx's Any driver binds a NULL float with the wrong type.
        .bind(filter.nn_degree_min.unwrap_or(f64::NEG_INFINITY))
        .bind(filter.nn_degree_max.unwrap_or(f64::INFINITY))
        .bind(filter.params_max)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let rows = rows
            .into_iter()
            .map(Row::into_architecture)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(rows, limit))
    }
}

impl Store {
    /// The stored architectures among `ids` (missing ones are simply absent).
    pub async fn architectures_by_ids(
        &self,
        ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, Architecture>> {
        let mut out = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let query = bind_all(
                chunk,
                sqlx::query_as::<_, Row>(sql!(
                    "SELECT {COLUMNS} FROM architecture WHERE architecture_id IN ({})",
                    placeholders(1, chunk.len())
                )),
            );
            for row in query
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
            {
                let (_, a) = row.into_architecture()?;
                out.insert(a.id.clone(), a);
            }
        }
        Ok(out)
    }
}
