//! Devices: registered by their agents (or an operator), online while they heartbeat.

use flash_client::Device;
use flash_core::measurement::DeviceDescriptor;

use super::{
    Page, Store, StoreError, StoreResult, bind_all, json, page_of, parse_json, placeholders,
    rfc3339,
};

/// A device counts as online when it heartbeated within this window.
pub const ONLINE_WINDOW_MS: i64 = 60_000;

#[derive(Debug, Default, Clone)]
pub struct DeviceFilter {
    pub profile: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    device_seq: i64,
    name: String,
    profile: String,
    descriptor: String,
    created_at: i64,
    updated_at: i64,
    last_heartbeat_at: Option<i64>,
    now_ms: i64,
    current_job: Option<String>,
    queued_jobs: i64,
}

impl Row {
    fn into_device(self) -> StoreResult<(i64, Device)> {
        Ok((
            self.device_seq,
            Device {
                online: self
                    .last_heartbeat_at
                    .is_some_and(|t| self.now_ms - t <= ONLINE_WINDOW_MS),
                last_heartbeat_at: self.last_heartbeat_at.map(rfc3339),
                descriptor: parse_json(&self.descriptor, "device.descriptor")?,
                name: self.name,
                profile: self.profile,
                current_job: self.current_job,
                queued_jobs: self.queued_jobs,
                created_at: rfc3339(self.created_at),
                updated_at: rfc3339(self.updated_at),
            },
        ))
    }
}

impl Store {
    fn device_select(&self) -> String {
        format!(
            "SELECT d.device_seq, d.name, d.profile, d.descriptor, d.created_at, d.updated_at,
                    d.last_heartbeat_at, {now} AS now_ms,
                    (SELECT j.job_id FROM job j WHERE j.device = d.name AND j.state = 'running'
                       ORDER BY j.job_seq LIMIT 1) AS current_job,
                    (SELECT COUNT(*) FROM job j WHERE j.device = d.name AND j.state = 'queued') AS queued_jobs
             FROM device d",
            now = self.backend.now_ms()
        )
    }

    /// Creates or updates a device (registration counts as a heartbeat); whether it was new.
    pub async fn put_device(
        &self,
        name: &str,
        descriptor: &DeviceDescriptor,
    ) -> StoreResult<(Device, bool)> {
        let now = self.backend.now_ms();
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        let created = sqlx::query(sql!(
            "INSERT INTO device (name, profile, descriptor, created_at, updated_at, last_heartbeat_at)
             VALUES ($1, $2, $3, {now}, {now}, {now}) ON CONFLICT (name) DO NOTHING"
        ))
        .bind(name)
        .bind(&descriptor.profile)
        .bind(json(descriptor))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?
        .rows_affected()
            == 1;
        if !created {
            sqlx::query(sql!(
                "UPDATE device SET profile = $2, descriptor = $3, updated_at = {now}, last_heartbeat_at = {now}
                 WHERE name = $1"
            ))
            .bind(name)
            .bind(&descriptor.profile)
            .bind(json(descriptor))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok((self.device(name).await?, created))
    }

    pub async fn device(&self, name: &str) -> StoreResult<Device> {
        let row: Option<Row> = sqlx::query_as(sql!("{} WHERE d.name = $1", self.device_select()))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        match row {
            Some(row) => Ok(row.into_device()?.1),
            None => Err(StoreError::NotFound(format!("device {name}"))),
        }
    }

    /// The profile of each named device that exists, by name (one query).
    pub async fn device_profiles(
        &self,
        names: &[String],
    ) -> StoreResult<std::collections::HashMap<String, String>> {
        if names.is_empty() {
            return Ok(Default::default());
        }
        let sql = format!(
            "SELECT name, profile FROM device WHERE name IN ({})",
            placeholders(1, names.len())
        );
        let query = bind_all(
            names,
            sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql)),
        );
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(rows.into_iter().collect())
    }

    pub async fn device_exists(&self, name: &str) -> StoreResult<bool> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT device_seq FROM device WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(row.is_some())
    }

    pub async fn heartbeat_device(&self, name: &str) -> StoreResult<Device> {
        let n = sqlx::query(sql!(
            "UPDATE device SET last_heartbeat_at = {} WHERE name = $1",
            self.backend.now_ms()
        ))
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("device {name}")));
        }
        self.device(name).await
    }

    pub async fn list_devices(
        &self,
        filter: &DeviceFilter,
        cursor: i64,
        limit: i64,
    ) -> StoreResult<Page<Device>> {
        let rows: Vec<Row> = sqlx::query_as(sql!(
            "{} WHERE d.device_seq > $1 AND (CAST($2 AS TEXT) IS NULL OR d.profile = $2)
             ORDER BY d.device_seq LIMIT $3",
            self.device_select()
        ))
        .bind(cursor)
        .bind(&filter.profile)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let rows = rows
            .into_iter()
            .map(Row::into_device)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(rows, limit))
    }
}
