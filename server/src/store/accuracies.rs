//! Trained accuracies of architectures on data sets (the accuracy predictor's data).

use flash_client::Accuracy;

use super::{Page, Store, StoreError, StoreResult, page_of, rfc3339};

pub struct NewAccuracy {
    pub architecture_id: String,
    pub dataset: String,
    pub accuracy: f64,
    pub epochs: Option<i64>,
    pub notes: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct AccuracyFilter {
    pub dataset: Option<String>,
    pub architecture_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    accuracy_seq: i64,
    architecture_id: String,
    dataset: String,
    accuracy: f64,
    epochs: Option<i64>,
    notes: Option<String>,
    created_at: i64,
}

impl From<Row> for (i64, Accuracy) {
    fn from(r: Row) -> Self {
        (
            r.accuracy_seq,
            Accuracy {
                id: r.accuracy_seq.to_string(),
                architecture_id: r.architecture_id,
                dataset: r.dataset,
                accuracy: r.accuracy,
                epochs: r.epochs,
                notes: r.notes,
                created_at: rfc3339(r.created_at),
            },
        )
    }
}

const COLUMNS: &str = "accuracy_seq, architecture_id, dataset, accuracy, epochs, notes, created_at";

impl Store {
    pub async fn add_accuracy(&self, new: NewAccuracy) -> StoreResult<Accuracy> {
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO accuracy (architecture_id, dataset, accuracy, epochs, notes, created_at)
             VALUES ($1, $2, $3, $4, $5, {}) RETURNING {COLUMNS}",
            self.backend.now_ms()
        ))
        .bind(&new.architecture_id)
        .bind(&new.dataset)
        .bind(new.accuracy)
        .bind(new.epochs)
        .bind(&new.notes)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(<(i64, Accuracy)>::from(row).1)
    }

    pub async fn list_accuracies(
        &self,
        filter: &AccuracyFilter,
        cursor: i64,
        limit: i64,
    ) -> StoreResult<Page<Accuracy>> {
        let rows: Vec<Row> = sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM accuracy WHERE accuracy_seq > $1
               AND (CAST($2 AS TEXT) IS NULL OR dataset = $2)
               AND (CAST($3 AS TEXT) IS NULL OR architecture_id = $3)
             ORDER BY accuracy_seq LIMIT $4"
        ))
        .bind(cursor)
        .bind(&filter.dataset)
        .bind(&filter.architecture_id)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(page_of(rows.into_iter().map(Into::into).collect(), limit))
    }
}
