//! Searches: the request, the fits they used and the result, plus the jobs that verify winners.

use std::collections::HashMap;

use flash_client::{JobState, Measurement, SearchFits, SearchRequest};
use flash_core::search::SearchResult;

use super::refinements::NewRefinement;
use super::{
    NewArchitecture, NewJobs, Page, Store, StoreError, StoreResult, bind_all, json, page_of,
    parse_json, placeholders, rfc3339,
};

/// A stored search, decoded.
#[derive(Debug, Clone)]
pub struct StoredSearch {
    pub id: String,
    pub request: SearchRequest,
    pub fits: SearchFits,
    pub result: SearchResult,
    pub created_at: String,
}

/// One winner queued for measurement on one device, with what the job produced so far.
#[derive(Debug, Clone)]
pub struct VerificationRow {
    pub architecture_id: String,
    pub device: String,
    pub rank: i64,
    pub job_id: String,
    pub job_state: JobState,
    /// The measurement, once the job succeeded.
    pub measurement: Option<Measurement>,
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

impl Row {
    fn into_search(self) -> StoreResult<(i64, StoredSearch)> {
        Ok((
            self.search_seq,
            StoredSearch {
                request: parse_json(&self.request, "search.request")?,
                fits: parse_json(&self.fits, "search.fits")?,
                result: parse_json(&self.result, "search.result")?,
                id: self.search_id,
                created_at: rfc3339(self.created_at),
            },
        ))
    }
}

const COLUMNS: &str = "search_seq, search_id, request, fits, result, created_at";

impl Store {
    pub async fn put_search(
        &self,
        request: &SearchRequest,
        fits: &SearchFits,
        result: &SearchResult,
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
        .bind(json(request))
        .bind(json(fits))
        .bind(json(result))
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(row.into_search()?.1)
    }

    pub async fn search(&self, id: &str) -> StoreResult<StoredSearch> {
        let row: Option<Row> =
            sqlx::query_as(sql!("SELECT {COLUMNS} FROM search WHERE search_id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
        match row {
            Some(row) => Ok(row.into_search()?.1),
            None => Err(StoreError::NotFound(format!("search {id}"))),
        }
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
        let rows = rows
            .into_iter()
            .map(Row::into_search)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(rows, limit))
    }

    /// Stores the winners and queues their measurement jobs with the rows that tie each job to
    /// the search, all in one transaction: a failure leaves no job without its row. One
    /// `NewJobs` per device; the rank of a winner is its position in that list, from 1.
    /// Verifying again keeps the first rows. With `refinement`, the search's loop starts in the
    /// same transaction, its first round measured by the verification jobs of its winner.
    pub async fn queue_verification(
        &self,
        search_id: &str,
        winners: Vec<NewArchitecture>,
        jobs: &[NewJobs],
        mut refinement: Option<NewRefinement>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        for winner in winners {
            self.insert_architecture(&mut tx, winner).await?;
        }
        for new in jobs {
            for (rank, (job, _)) in self.insert_jobs(&mut tx, new).await?.iter().enumerate() {
                if let Some(r) = &mut refinement
                    && r.first.winner.as_deref() == Some(job.architecture_id.as_str())
                {
                    for check in r.first.checks.iter_mut().filter(|c| c.device == new.device) {
                        check.job_id = job.id.clone();
                    }
                }
                sqlx::query(
                    "INSERT INTO search_verification (search_id, architecture_id, device, job_id, rank)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(search_id)
                .bind(&job.architecture_id)
                .bind(&new.device)
                .bind(&job.id)
                .bind(rank as i64 + 1)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
            }
        }
        if let Some(r) = &refinement {
            self.insert_refinement(&mut tx, search_id, r).await?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    /// The verification rows of each of `search_ids`, by search, ordered by rank and device
    /// (three queries whatever their number).
    pub async fn verifications(
        &self,
        search_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<VerificationRow>>> {
        if search_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT v.search_id, v.architecture_id, v.device, v.rank, v.job_id, j.state
             FROM search_verification v JOIN job j ON j.job_id = v.job_id
             WHERE v.search_id IN ({}) ORDER BY v.search_id, v.rank, v.device",
            placeholders(1, search_ids.len())
        );
        let query = bind_all(
            search_ids,
            sqlx::query_as::<_, (String, String, String, i64, String, String)>(
                sqlx::AssertSqlSafe(sql),
            ),
        );
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        let job_ids: Vec<String> = rows.iter().map(|r| r.4.clone()).collect();
        let mut measurements = self.job_measurements(&job_ids).await?;
        let mut out: HashMap<String, Vec<VerificationRow>> = HashMap::new();
        for (search_id, architecture_id, device, rank, job_id, state) in rows {
            let job_state = state
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("job state {state:?}")))?;
            out.entry(search_id).or_default().push(VerificationRow {
                measurement: measurements.remove(&job_id),
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
