//! Storage on Postgres (production, several replicas on one database) or an embedded SQLite file
//! (the default, one node). One set of queries serves both through sqlx's `Any` driver: the SQL
//! is written in the common dialect (`$N` parameters, `ON CONFLICT`, `RETURNING`, partial
//! indexes), and the few differences (the clock, `FOR UPDATE SKIP LOCKED`) come from
//! [`Backend`]. Times are milliseconds since the epoch, read from the database's clock so
//! replicas agree.

/// SQL text assembled only from this module's constant fragments (column lists, the backend's
/// clock), never from input: every value travels as a bound parameter.
macro_rules! sql {
    ($($t:tt)*) => {
        sqlx::AssertSqlSafe(format!($($t)*))
    };
}

mod accuracies;
mod architectures;
mod devices;
mod jobs;
mod measurements;
mod models;
mod refinements;
mod searches;
mod tokens;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub use accuracies::{AccuracyFilter, NewAccuracy};
pub use architectures::{ArchitectureFilter, NewArchitecture};
pub use devices::DeviceFilter;
pub use flash_client::{
    Accuracy, AccuracyModelRecord, Architecture, ClaimedJob, Device, DeviceReference,
    HardwareModelRecord, Job, JobState, Measurement, ReferencePoint, Source,
};
pub use jobs::{Fenced, JobFilter, NewJobs, reference_network};
pub use measurements::{MeasurementFilter, NewMeasurement};
pub use models::{MeasuredArchitecture, ModelRecord};
pub use refinements::{NewRefinement, RoundJobs, RunningRefinement};
pub use searches::{StoredSearch, VerificationRow};
pub use tokens::{Scope, TokenInfo, VerifiedToken};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// SQL for the database's current time in milliseconds since the epoch.
    pub fn now_ms(self) -> &'static str {
        match self {
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        }
    }

    /// Row-locking suffix of a queue claim's inner select (SQLite has one writer at a time, so
    /// its single UPDATE statement is already atomic).
    pub fn skip_locked(self) -> &'static str {
        match self {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Sorts a database error: lost connections and exhausted pools are "unavailable" (the client
    /// may retry), everything else is an internal error.
    fn from_sqlx(e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e)
            }
            other => StoreError::Database(other),
        }
    }

    /// Whether the database refused to write for want of room or of write access (a full disk,
    /// a read-only file or file system): no fault of the request, and worth retrying once an
    /// operator has made room.
    pub fn is_write_refused(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        let code = db.code().unwrap_or_default();
        if code.len() == 5 {
            // Postgres SQLSTATE: read_only_sql_transaction, disk_full, io_error.
            matches!(code.as_ref(), "25006" | "53100" | "58030")
        } else {
            // SQLite result code (extended or not): SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL.
            code.parse::<i64>()
                .is_ok_and(|c| matches!(c & 0xff, 8 | 10 | 13))
        }
    }

    /// Whether the error is a violation of the named unique constraint or index.
    fn is_unique_violation(e: &sqlx::Error, name: &str) -> bool {
        match e {
            sqlx::Error::Database(db) => {
                db.is_unique_violation()
                    && (db.constraint() == Some(name) || db.message().contains(name))
            }
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Renders a stored time for clients (RFC 3339, UTC, milliseconds).
pub fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses an opaque list cursor (the last row's sequence number); None when it is not one.
pub fn parse_cursor(cursor: Option<&str>) -> Option<i64> {
    match cursor {
        None | Some("") => Some(0),
        Some(c) => c.parse::<i64>().ok().filter(|n| *n >= 0),
    }
}

/// A page of a list, with the cursor of the next page when there is one: the API's page.
pub type Page<T> = flash_client::ListPage<T>;

/// Builds a page from up to `limit + 1` rows (the extra row only says that more exist).
fn page_of<T>(mut rows: Vec<(i64, T)>, limit: i64) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|(seq, _)| seq.to_string())
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(_, item)| item).collect(),
        next_cursor,
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `url` (`postgres://...` or `sqlite://...`), runs the migrations and returns
    /// the store.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!(
                    "unsupported database URL (use postgres://... or sqlite://...): {}",
                    redact_url(url)
                )
                .into(),
            )));
        };
        let options = AnyConnectOptions::from_str(url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Postgres => 16,
                Backend::Sqlite => 8,
            })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; busy_timeout queues writers
                        // instead of failing them.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::from_sqlx)?;
        match backend {
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
        }
        let store = Store { pool, backend };
        let refreshed = store.refresh_old_metrics().await?;
        if refreshed > 0 {
            tracing::info!(
                architectures = refreshed,
                "recomputed metrics stored by an earlier version"
            );
        }
        Ok(store)
    }

    /// Opens (creating if needed) the embedded SQLite store in `data_dir`.
    pub async fn open_embedded(data_dir: &Path) -> StoreResult<Store> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Database(sqlx::Error::Configuration(
                format!("cannot create data directory {}: {e}", data_dir.display()).into(),
            ))
        })?;
        // A read-only directory would otherwise surface only as a pool timeout.
        let probe = data_dir.join(".write-probe");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| {
                StoreError::Database(sqlx::Error::Configuration(
                    format!("data directory {} is not writable: {e}", data_dir.display()).into(),
                ))
            })?;
        let path = data_dir.join("flash.sqlite3");
        Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// The database's clock, in milliseconds since the epoch.
    pub async fn now_ms(&self) -> StoreResult<i64> {
        let (now,): (i64,) = sqlx::query_as(sql!("SELECT {}", self.backend.now_ms()))
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(now)
    }
}

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// `$first, $first+1, ...`: the placeholders of an `IN (...)` list of `n` bound values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `query` with every value of an `IN (...)` list bound in order (after whatever the caller
/// bound first), the list whose placeholders [`placeholders`] wrote.
fn bind_all<'q, O, V>(
    values: &'q [V],
    query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>
where
    V: sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Sync + 'q,
{
    values.iter().fold(query, |q, v| q.bind(v))
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("stored types serialise")
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://user:secret@localhost:5432/db"),
            "postgres://user:***@localhost:5432/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn cursors_are_validated() {
        assert_eq!(parse_cursor(None), Some(0));
        assert_eq!(parse_cursor(Some("17")), Some(17));
        assert_eq!(parse_cursor(Some("-1")), None);
        assert_eq!(parse_cursor(Some("x")), None);
    }
}
