//! The closed loops of searches (migration 0006): each loop's state and its rounds. A replica
//! advancing a loop leases it first, so that two replicas never advance the same round.

use std::collections::HashMap;

use flash_client::{Refinement, RefinementRound, RefinementState};
use flash_core::measurement::Protocol;

use super::{
    NewArchitecture, NewJobs, Store, StoreError, StoreResult, bind_all, json, parse_json,
    placeholders,
};

/// A loop to start with a search's verification: its first round, whose checks get the job
/// ids of the winner's verification jobs.
pub struct NewRefinement {
    pub max_rounds: u32,
    pub protocol: Protocol,
    pub first: RefinementRound,
}

/// A loop as the server advances it.
pub struct RunningRefinement {
    pub max_rounds: u32,
    pub protocol: Protocol,
    pub rounds: Vec<RefinementRound>,
}

/// What a new round measures: its winner (stored unless known) and a job per looped device.
pub struct RoundJobs {
    pub winner: NewArchitecture,
    pub jobs: Vec<NewJobs>,
}

impl Store {
    /// Inside a transaction: the refinement row and its first round.
    pub(super) async fn insert_refinement(
        &self,
        conn: &mut sqlx::AnyConnection,
        search_id: &str,
        new: &NewRefinement,
    ) -> StoreResult<()> {
        sqlx::query(sql!(
            "INSERT INTO refinement (search_id, max_rounds, protocol, state, updated_at)
             VALUES ($1, $2, $3, 'running', {now})",
            now = self.backend.now_ms()
        ))
        .bind(search_id)
        .bind(i64::from(new.max_rounds))
        .bind(json(&new.protocol))
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?;
        self.insert_round_row(conn, search_id, &new.first).await
    }

    async fn insert_round_row(
        &self,
        conn: &mut sqlx::AnyConnection,
        search_id: &str,
        round: &RefinementRound,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO refinement_round (search_id, round, record) VALUES ($1, $2, $3)")
            .bind(search_id)
            .bind(i64::from(round.round))
            .bind(json(round))
            .execute(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Whether a search already has a loop (a second `refine` is refused).
    pub async fn has_refinement(&self, search_id: &str) -> StoreResult<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT search_id FROM refinement WHERE search_id = $1")
                .bind(search_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
        Ok(row.is_some())
    }

    /// The searches whose loop is running and not leased by a replica now.
    pub async fn running_refinements(&self) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(sql!(
            "SELECT search_id FROM refinement WHERE state = 'running'
               AND (lease_until IS NULL OR lease_until < {now}) ORDER BY updated_at",
            now = self.backend.now_ms()
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Takes the loop for `lease_ms`; false when another replica holds it or it has ended.
    pub async fn lease_refinement(&self, search_id: &str, lease_ms: i64) -> StoreResult<bool> {
        let now = self.backend.now_ms();
        let result = sqlx::query(sql!(
            "UPDATE refinement SET lease_until = {now} + $2
             WHERE search_id = $1 AND state = 'running' AND (lease_until IS NULL OR lease_until < {now})"
        ))
        .bind(search_id)
        .bind(lease_ms)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(result.rows_affected() == 1)
    }

    /// Gives the lease back without a change (the round is still being measured).
    pub async fn release_refinement(&self, search_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE refinement SET lease_until = NULL WHERE search_id = $1")
            .bind(search_id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// A loop with its rounds, for the replica advancing it.
    pub async fn refinement(&self, search_id: &str) -> StoreResult<Option<RunningRefinement>> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT max_rounds, protocol FROM refinement WHERE search_id = $1")
                .bind(search_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
        let Some((max_rounds, protocol)) = row else {
            return Ok(None);
        };
        let ids = [search_id.to_string()];
        let rounds = self.rounds_of(&ids).await?.remove(search_id);
        Ok(Some(RunningRefinement {
            max_rounds: u32::try_from(max_rounds).unwrap_or(u32::MAX),
            protocol: parse_json(&protocol, "refinement.protocol")?,
            rounds: rounds.unwrap_or_default(),
        }))
    }

    /// The loops of `search_ids` (two queries whatever their number).
    pub async fn refinements(
        &self,
        search_ids: &[String],
    ) -> StoreResult<HashMap<String, Refinement>> {
        if search_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT search_id, max_rounds, state FROM refinement WHERE search_id IN ({})",
            placeholders(1, search_ids.len())
        );
        let query = bind_all(
            search_ids,
            sqlx::query_as::<_, (String, i64, String)>(sqlx::AssertSqlSafe(sql)),
        );
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        let mut rounds = self.rounds_of(search_ids).await?;
        rows.into_iter()
            .map(|(id, max_rounds, state)| {
                let state = state.parse::<RefinementState>().map_err(|_| {
                    StoreError::Corrupt(format!("refinement {id}: unknown state {state:?}"))
                })?;
                let refinement = Refinement {
                    state,
                    max_rounds: u32::try_from(max_rounds).unwrap_or(u32::MAX),
                    rounds: rounds.remove(&id).unwrap_or_default(),
                };
                Ok((id, refinement))
            })
            .collect()
    }

    async fn rounds_of(
        &self,
        search_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<RefinementRound>>> {
        let sql = format!(
            "SELECT search_id, record FROM refinement_round WHERE search_id IN ({})
             ORDER BY search_id, round",
            placeholders(1, search_ids.len())
        );
        let query = bind_all(
            search_ids,
            sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql)),
        );
        let mut out: HashMap<String, Vec<RefinementRound>> = HashMap::new();
        for (id, record) in query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?
        {
            out.entry(id)
                .or_default()
                .push(parse_json(&record, "refinement_round.record")?);
        }
        Ok(out)
    }

    /// Records a measured round, and either the next round with its jobs (its checks get their
    /// job ids) or the loop's end, in one transaction; the lease is given back.
    pub async fn advance_refinement(
        &self,
        search_id: &str,
        finished: &RefinementRound,
        next: Option<(RefinementRound, RoundJobs)>,
        state: RefinementState,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        sqlx::query("UPDATE refinement_round SET record = $3 WHERE search_id = $1 AND round = $2")
            .bind(search_id)
            .bind(i64::from(finished.round))
            .bind(json(finished))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        if let Some((mut round, RoundJobs { winner, jobs })) = next {
            let winner_id = winner.id.clone();
            self.insert_architecture(&mut tx, winner).await?;
            for new in &jobs {
                for (job, _) in self.insert_jobs(&mut tx, new).await? {
                    if job.architecture_id == winner_id {
                        for check in round.checks.iter_mut().filter(|c| c.device == new.device) {
                            check.job_id = job.id.clone();
                        }
                    }
                }
            }
            self.insert_round_row(&mut tx, search_id, &round).await?;
        }
        sqlx::query(sql!(
            "UPDATE refinement SET state = $2, lease_until = NULL, updated_at = {now}
             WHERE search_id = $1",
            now = self.backend.now_ms()
        ))
        .bind(search_id)
        .bind(state.to_string())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        tx.commit().await.map_err(StoreError::from_sqlx)
    }
}
