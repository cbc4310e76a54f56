//! Test support: fresh stores on both backends, an in-process app with tokens of every scope.
#![allow(dead_code)]

pub mod http;
pub mod live;

use std::sync::atomic::{AtomicU32, Ordering};

use flash_server::store::Scope;
use flash_server::{ApiConfig, AppState, Store};

/// The Postgres server the tests use (trust auth, as in CI).
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh Postgres database, dropped when the guard is.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "flash_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(POSTGRES_ADMIN_URL)
            .await
            .expect("Postgres must run on 127.0.0.1:5432 for these tests (scripts/ensure-postgres.sh starts it)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        TestDatabase {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Dropping needs async IO; do it on a runtime of its own so it works inside or outside one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) =
                    <sqlx::AnyConnection as sqlx::Connection>::connect(POSTGRES_ADMIN_URL).await
                {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A store on a backend, with what keeps it alive.
pub struct TestStore {
    pub backend: &'static str,
    pub store: Store,
    _db: Option<TestDatabase>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite_store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_embedded(dir.path()).await.unwrap();
    TestStore {
        backend: "sqlite",
        store,
        _db: None,
        _dir: Some(dir),
    }
}

pub async fn postgres_store() -> TestStore {
    let db = TestDatabase::create().await;
    let store = Store::connect(&db.url).await.unwrap();
    TestStore {
        backend: "postgres",
        store,
        _db: Some(db),
        _dir: None,
    }
}

/// One fresh store per backend: the same assertions run on both.
pub async fn stores() -> Vec<TestStore> {
    vec![sqlite_store().await, postgres_store().await]
}

/// Tokens of every scope for a store.
pub struct Tokens {
    pub read: String,
    pub write: String,
    pub agent: String,
    pub admin: String,
}

impl Tokens {
    pub async fn create(store: &Store) -> Tokens {
        Tokens {
            read: store.create_token("t-read", Scope::Read).await.unwrap(),
            write: store.create_token("t-write", Scope::Write).await.unwrap(),
            agent: store.create_token("t-agent", Scope::Agent).await.unwrap(),
            admin: store.create_token("t-admin", Scope::Admin).await.unwrap(),
        }
    }

    pub fn of(&self, scope: &str) -> &str {
        match scope {
            "read" => &self.read,
            "write" => &self.write,
            "agent" => &self.agent,
            _ => &self.admin,
        }
    }
}

pub fn app(store: Store) -> axum::Router {
    flash_server::app::router(AppState::new(store, ApiConfig::default()))
}

pub const EXAMPLE_SPEC: &str = r#"{"space":"flash-densenet","input_shape":[3,32,32],"num_classes":10,"cells":[{"width":32,"depth":8,"tc":16},{"width":64,"depth":8,"tc":32},{"width":128,"depth":8,"tc":64}]}"#;

/// A small valid measurement result.
pub fn result(p50: f64) -> flash_core::measurement::MeasurementResult {
    let samples: Vec<f64> = (0..30)
        .map(|i| p50 * (1.0 + (i as f64 - 15.0) / 1000.0))
        .collect();
    flash_core::measurement::MeasurementResult {
        latency: flash_core::measurement::LatencyStats::from_samples(&samples, 5).unwrap(),
        energy: None,
        environment: Default::default(),
        ratio: None,
        reference: None,
    }
}

/// A paired measurement result: raw `p50` ms, the run-by-run `ratio` to the reference network
/// `reference_id`, whose p50 in the same window was `reference_p50` ms.
pub fn paired_result(
    p50: f64,
    ratio: f64,
    reference_id: &str,
    reference_p50: f64,
) -> flash_core::measurement::MeasurementResult {
    use flash_core::measurement::{RatioStats, ReferenceTiming};
    let mut r = result(p50);
    r.ratio = Some(RatioStats {
        n: 30,
        p50: ratio,
        ci_low: ratio * 0.995,
        ci_high: ratio * 1.005,
    });
    let mut latency = result(reference_p50).latency;
    latency.p50_ms = reference_p50;
    r.reference = Some(ReferenceTiming {
        architecture_id: reference_id.into(),
        latency,
    });
    r
}

/// A `flash serve` process on a free port, killed when dropped.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub base: String,
}

impl ServerProcess {
    /// Starts `flash serve --listen 127.0.0.1:0 <args>` and waits until it listens.
    pub fn start(args: &[&str]) -> ServerProcess {
        ServerProcess::start_on("127.0.0.1:0", args)
    }

    /// Starts `flash serve --listen <listen> <args>` and waits until it listens.
    pub fn start_on(listen: &str, args: &[&str]) -> ServerProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flash"))
            .args(["serve", "--listen", listen, "--log-format", "json"])
            .args(args)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start flash serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if !sent
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(addr) = v["address"].as_str()
                {
                    let _ = tx.send(addr.to_string());
                    sent = true;
                }
            }
        });
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("flash serve did not start listening");
        ServerProcess {
            child,
            base: format!("http://{addr}"),
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        send_signal(self.child.id(), "TERM");
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

fn send_signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status();
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `flash <args>` to completion and returns its stdout.
pub fn flash_cli(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flash"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "flash {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The repository root.
pub fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The agent binary, built beside `flash` (built here if this test runs alone).
pub fn agent_binary() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_flash")).with_file_name("flash-agent");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "flash-agent"])
            .current_dir(repo())
            .status()
            .unwrap();
        assert!(status.success(), "building flash-agent failed");
    }
    path
}

/// Starts a real agent for `device` (profile x86-host) polling quickly.
pub fn start_agent(
    base: &str,
    token: &str,
    device: &str,
    state: &std::path::Path,
) -> std::process::Child {
    start_agent_with(base, token, device, state, &[])
}

/// Starts a real agent as `start_agent` does, with more arguments.
pub fn start_agent_with(
    base: &str,
    token: &str,
    device: &str,
    state: &std::path::Path,
    extra: &[&str],
) -> std::process::Child {
    std::process::Command::new(agent_binary())
        .args([
            "--server",
            base,
            "--token",
            token,
            "--device",
            device,
            "--profile",
            "x86-host",
        ])
        .args(["--poll-interval-s", "0.2", "--heartbeat-interval-s", "1"])
        .arg("--profiles-dir")
        .arg(repo().join("profiles"))
        .arg("--state-dir")
        .arg(state)
        .args(extra)
        .current_dir(repo())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start flash-agent")
}
