//! Load test: simulated agents and notebook clients against one in-process server on loopback,
//! first on Postgres, then on the embedded SQLite store. Prints requests/s, p50/p99 and statuses
//! by route, then checks the books: every job queued completed exactly once with exactly one
//! measurement, every completion was acknowledged, the queue is empty. Exits non-zero when the
//! books do not balance or any 5xx was answered.
//!
//! `cargo bench -p flash-server --bench load -- [--seconds 60] [--agents 200] [--notebooks 20]
//! [--store both|postgres|sqlite] [--postgres postgres://postgres@127.0.0.1:5432/postgres]`
//!
//! Every measurement, accuracy and fit it makes is synthetic and labelled as load-test data.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flash_server::store::Scope;
use flash_server::{ApiConfig, AppState, Application, Store};

mod roles;
mod stats;

use roles::{agent, notebook, producer, set_up};
use stats::Stats;

struct Options {
    seconds: f64,
    agents: usize,
    notebooks: usize,
    stores: Vec<String>,
    postgres: String,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 60.0,
        agents: 200,
        notebooks: 20,
        stores: vec!["postgres".into(), "sqlite".into()],
        postgres: "postgres://postgres@127.0.0.1:5432/postgres".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => o.seconds = value().parse().expect("--seconds N"),
            "--agents" => o.agents = value().parse().expect("--agents N"),
            "--notebooks" => o.notebooks = value().parse().expect("--notebooks N"),
            "--store" => {
                o.stores = match value().as_str() {
                    "both" => vec!["postgres".into(), "sqlite".into()],
                    one => vec![one.to_string()],
                }
            }
            "--postgres" => o.postgres = value(),
            // `cargo bench` passes this to every bench binary.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// The books, read from the database: (state, count) of jobs and measurements per job.
async fn books(store: &Store) -> (BTreeMap<String, i64>, HashMap<String, i64>) {
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM job GROUP BY state")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let per_job: Vec<(String, i64)> = sqlx::query_as(
        "SELECT job_id, COUNT(*) FROM measurement WHERE job_id IS NOT NULL GROUP BY job_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    (states.into_iter().collect(), per_job.into_iter().collect())
}

/// One run on `store`; true when the books balance and no 5xx was answered.
fn run(name: &str, open: impl AsyncFnOnce() -> Store, o: &Options) -> bool {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(open());
    let (admin, write, agent_tokens) = rt.block_on(async {
        let admin = store
            .create_token("load-admin", Scope::Admin)
            .await
            .unwrap();
        let write = store
            .create_token("load-notebook", Scope::Write)
            .await
            .unwrap();
        let mut agents = Vec::new();
        for i in 0..o.agents {
            let device = format!("load-agent-{i:03}");
            agents.push((
                store.create_device_token(&device, &device).await.unwrap(),
                device,
            ));
        }
        (admin, write, agents)
    });
    let app = rt
        .block_on(Application::build(
            "127.0.0.1:0".parse().unwrap(),
            AppState::new(store.clone(), ApiConfig::default()),
        ))
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(app.serve(async move {
        let _ = stopped.await;
    }));

    let archs = Arc::new(set_up(&base, &admin));
    let stop = Arc::new(AtomicBool::new(false));
    let registered = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let agents: Vec<_> = agent_tokens
        .into_iter()
        .enumerate()
        .map(|(i, (token, device))| {
            let (base, stop, registered) = (base.clone(), stop.clone(), registered.clone());
            std::thread::spawn(move || agent(&base, &token, &device, &stop, &registered, i as u64))
        })
        .collect();
    let devices: Vec<String> = (0..o.agents)
        .map(|i| format!("load-agent-{i:03}"))
        .collect();
    let produce = {
        let (base, write, archs, stop) = (base.clone(), write.clone(), archs.clone(), stop.clone());
        std::thread::spawn(move || producer(&base, &write, &devices, &archs, &stop, &registered))
    };
    let notebooks: Vec<_> = (0..o.notebooks)
        .map(|n| {
            let (base, write, archs, stop) =
                (base.clone(), write.clone(), archs.clone(), stop.clone());
            std::thread::spawn(move || notebook(&base, &write, &archs, &stop, n))
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(o.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut stats = Stats::default();
    let (s, created) = produce.join().unwrap();
    stats.merge(s);
    for n in notebooks {
        stats.merge(n.join().unwrap());
    }
    let mut acknowledged = Vec::new();
    let mut claimed = 0;
    for a in agents {
        let (s, b) = a.join().unwrap();
        stats.merge(s);
        claimed += b.claimed;
        acknowledged.extend(b.acknowledged);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (states, per_job) = rt.block_on(books(&store));
    let _ = stop_server.send(());
    rt.block_on(server).unwrap().unwrap();

    println!(
        "\n== {name}: {} agents, {} notebooks, {:.0} s of load ({elapsed:.1} s with the drain)",
        o.agents, o.notebooks, o.seconds
    );
    println!(
        "{:<36} {:>9} {:>8} {:>9} {:>9}  statuses",
        "route", "requests", "req/s", "p50 ms", "p99 ms"
    );
    let mut total = 0;
    let mut server_errors = 0;
    for (route, s) in &mut stats.routes {
        s.latencies_ms.sort_by(f64::total_cmp);
        let n = s.latencies_ms.len();
        total += n;
        server_errors += s
            .statuses
            .iter()
            .filter(|(k, _)| **k >= 500)
            .map(|(_, v)| v)
            .sum::<usize>();
        let statuses: Vec<String> = s.statuses.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        println!(
            "{route:<36} {n:>9} {:>8.1} {:>9.2} {:>9.2}  {}",
            n as f64 / elapsed,
            percentile(&s.latencies_ms, 0.5),
            percentile(&s.latencies_ms, 0.99),
            statuses.join(" ")
        );
    }
    println!(
        "{:<36} {total:>9} {:>8.1}   transport errors: {}",
        "all",
        total as f64 / elapsed,
        stats.transport_errors
    );

    // The books.
    let acked: HashSet<&String> = acknowledged.iter().collect();
    let mut problems = Vec::new();
    if server_errors > 0 {
        problems.push(format!("{server_errors} responses were 5xx"));
    }
    if let Some(first) = stats.undecodable.first() {
        problems.push(format!(
            "{} replies did not decode as the API's types, e.g. {first}",
            stats.undecodable.len()
        ));
    }
    let live =
        states.get("queued").copied().unwrap_or(0) + states.get("running").copied().unwrap_or(0);
    if live != 0 {
        problems.push(format!("the queue is not empty: {states:?}"));
    }
    let not_once: Vec<&String> = created
        .iter()
        .filter(|id| per_job.get(*id) != Some(&1))
        .collect();
    if !not_once.is_empty() {
        problems.push(format!(
            "{} jobs without exactly one measurement, e.g. {:?}",
            not_once.len(),
            not_once.first()
        ));
    }
    if per_job.len() != created.len() || per_job.keys().any(|id| !created.contains(id)) {
        problems.push(format!(
            "{} jobs have measurements, {} were created",
            per_job.len(),
            created.len()
        ));
    }
    if acked.len() != created.len() || created.iter().any(|id| !acked.contains(id)) {
        problems.push(format!(
            "{} completions acknowledged for {} jobs",
            acked.len(),
            created.len()
        ));
    }
    if states.get("succeeded").copied().unwrap_or(0) != created.len() as i64 {
        problems.push(format!(
            "job states {states:?} for {} jobs created",
            created.len()
        ));
    }
    println!(
        "books: {} jobs created, {claimed} claims, {} completions acknowledged ({} distinct), {} jobs with one measurement, states {states:?}",
        created.len(),
        acknowledged.len(),
        acked.len(),
        per_job.values().filter(|n| **n == 1).count(),
    );
    if problems.is_empty() {
        println!("books balance; no 5xx");
        true
    } else {
        for p in &problems {
            println!("BOOKS DO NOT BALANCE: {p}");
        }
        false
    }
}

/// A fresh Postgres database for one run, dropped afterwards.
fn with_postgres_database(admin_url: &str, f: impl FnOnce(&str) -> bool) -> bool {
    let name = format!("flash_load_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = |sql: String| {
        rt.block_on(async {
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(admin_url)
                .await
                .expect("Postgres must run (scripts/ensure-postgres.sh)");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        })
    };
    admin(format!("DROP DATABASE IF EXISTS {name}"));
    admin(format!("CREATE DATABASE {name}"));
    let url = match admin_url.rfind('/') {
        Some(i) => format!("{}/{name}", &admin_url[..i]),
        None => panic!("--postgres must name a database"),
    };
    let ok = f(&url);
    admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    ok
}

fn main() {
    let o = options();
    let mut ok = true;
    for store in &o.stores {
        ok &= match store.as_str() {
            "postgres" => with_postgres_database(&o.postgres, |url| {
                run("postgres", async || Store::connect(url).await.unwrap(), &o)
            }),
            "sqlite" => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path();
                run(
                    "sqlite",
                    async || Store::open_embedded(path).await.unwrap(),
                    &o,
                )
            }
            other => panic!("unknown store {other} (postgres, sqlite or both)"),
        };
    }
    if !ok {
        std::process::exit(1);
    }
}
