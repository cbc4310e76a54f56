//! What the server benchmarks share: a throwaway Postgres database on 127.0.0.1:5432.

use flash_server::Store;

/// A database created for one benchmark run; `finish` drops it.
pub struct BenchDatabase {
    name: String,
    admin: sqlx::AnyConnection,
}

impl BenchDatabase {
    /// Creates `<prefix>_<pid>` and opens a store on it (migrated).
    pub async fn create(prefix: &str) -> (BenchDatabase, Store) {
        sqlx::any::install_default_drivers();
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .await
        .expect("Postgres at 127.0.0.1:5432");
        let name = format!("{prefix}_{}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let store = Store::connect(&format!("postgres://postgres@127.0.0.1:5432/{name}"))
            .await
            .unwrap();
        (BenchDatabase { name, admin }, store)
    }

    /// Closes `store` and drops the database.
    pub async fn finish(mut self, store: Store) {
        store.pool().close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .unwrap();
    }
}
