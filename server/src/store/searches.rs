//! Searches: the request, the fits they used and the result, plus the jobs that verify winners.

use super::{Page, Store, StoreError, StoreResult, rfc3339};

/// A stored search; `request`, `fits` and `result` are JSON the API layer decodes.
#[derive(Debug, Clone)]
pub struct StoredSearch {
    pub id: String,
    pub request: String,
    pub fits: String,
    pub result: String,
    pub created_at: String,
}

/// One winner queued for measurement on one device, with what the job produced so far.
#[derive(Debug, Clone)]
pub struct VerificationRow {
    pub architecture_id: String,
    pub device: String,
    pub rank: i64,
    pub job_id: String,
    pub job_state: String,
    /// The measurement, once the job succeeded.
    pub measurement: Option<super::Measurement>,
}

#[derive(sqlx::FromRow)]
struct Row {
    search_seq: i64,
    search_id: String,
    request: String,
    fits: String,
    result: String,
    created_at: i64,
}

impl From<Row> for (i64, StoredSearch) {
    fn from(r: Row) -> Self {
        (
            r.search_seq,
            StoredSearch {
                id: r.search_id,
                request: r.request,
                fits: r.fits,
                result: r.result,
                created_at: rfc3339(r.created_at),
            },
        )
    }
}

const COLUMNS: &str = "search_seq, search_id, request, fits, result, created_at";

impl Store {
    pub async fn put_search(
        &self,
        request: String,
        fits: String,
        result: String,
    ) -> StoreResult<StoredSearch> {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).expect("the operating system provides randomness");
        let id = format!("search_{}", hex::encode(random));
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO search (search_id, request, fits, result, created_at) VALUES ($1, $2, $3, $4, {})
             RETURNING {COLUMNS}",
            self.backend.now_ms()
        ))
        .bind(&id)
        .bind(request)
        .bind(fits)
        .bind(result)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(<(i64, StoredSearch)>::from(row).1)
    }

    pub async fn search(&self, id: &str) -> StoreResult<StoredSearch> {
        let row: Option<Row> =
            sqlx::query_as(sql!("SELECT {COLUMNS} FROM search WHERE search_id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
        row.map(|r| <(i64, StoredSearch)>::from(r).1)
            .ok_or_else(|| StoreError::NotFound(format!("search {id}")))
    }

    pub async fn list_searches(&self, cursor: i64, limit: i64) -> StoreResult<Page<StoredSearch>> {
        let rows: Vec<Row> = sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM search WHERE search_seq > $1 ORDER BY search_seq LIMIT $2"
        ))
        .bind(cursor)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(Page::from_rows(
            rows.into_iter().map(Into::into).collect(),
            limit,
        ))
    }

    /// Records that `job_id` verifies winner `architecture_id` (of rank `rank`) on `device`;
    /// verifying again keeps the first record.
    pub async fn add_verification(
        &self,
        search_id: &str,
        architecture_id: &str,
        device: &str,
        job_id: &str,
        rank: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO search_verification (search_id, architecture_id, device, job_id, rank)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(search_id)
        .bind(architecture_id)
        .bind(device)
        .bind(job_id)
        .bind(rank)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn verifications(&self, search_id: &str) -> StoreResult<Vec<VerificationRow>> {
        let rows: Vec<(String, String, i64, String, String)> = sqlx::query_as(
            "SELECT v.architecture_id, v.device, v.rank, v.job_id, j.state
             FROM search_verification v JOIN job j ON j.job_id = v.job_id
             WHERE v.search_id = $1 ORDER BY v.rank, v.device",
        )
        .bind(search_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let mut out = Vec::with_capacity(rows.len());
        for (architecture_id, device, rank, job_id, job_state) in rows {
            out.push(VerificationRow {
                measurement: self.job_measurement(&job_id).await?,
                architecture_id,
                device,
                rank,
                job_id,
                job_state,
            });
        }
        Ok(out)
    }
}
