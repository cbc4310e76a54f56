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

use flash_core::measurement::MeasurementResult;
use flash_server::store::Scope;
use flash_server::{ApiConfig, AppState, Application, Store};
use serde_json::{Value, json};

const DATASET: &str = "load-test-synthetic";
const MODEL_DEVICE: &str = "load-test-model-device";
const SOURCE: &str = "load-test (synthetic, not a measurement)";

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

/// Latencies and statuses of one route.
#[derive(Default)]
struct RouteStats {
    latencies_ms: Vec<f64>,
    statuses: BTreeMap<u16, usize>,
}

#[derive(Default)]
struct Stats {
    routes: BTreeMap<&'static str, RouteStats>,
    transport_errors: usize,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        for (route, s) in other.routes {
            let mine = self.routes.entry(route).or_default();
            mine.latencies_ms.extend(s.latencies_ms);
            for (status, n) in s.statuses {
                *mine.statuses.entry(status).or_default() += n;
            }
        }
        self.transport_errors += other.transport_errors;
    }
}

/// One HTTP client (its own keep-alive connection) that records every response by route.
struct Client {
    http: ureq::Agent,
    base: String,
    auth: String,
    stats: Stats,
}

struct Reply {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

impl Client {
    fn new(base: &str, token: &str) -> Client {
        Client {
            http: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into(),
            base: base.to_string(),
            auth: format!("Bearer {token}"),
            stats: Stats::default(),
        }
    }

    /// One request; None on a transport error.
    fn send(
        &mut self,
        route: &'static str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Option<Reply> {
        let url = format!("{}{path}", self.base);
        let started = Instant::now();
        let result = match (method, body) {
            ("GET", _) => self
                .http
                .get(&url)
                .header("authorization", &self.auth)
                .call(),
            ("PUT", Some(b)) => self
                .http
                .put(&url)
                .header("authorization", &self.auth)
                .send_json(b),
            (_, Some(b)) => self
                .http
                .post(&url)
                .header("authorization", &self.auth)
                .send_json(b),
            (_, None) => self
                .http
                .post(&url)
                .header("authorization", &self.auth)
                .send_empty(),
        };
        let mut resp = match result {
            Ok(r) => r,
            Err(_) => {
                self.stats.transport_errors += 1;
                return None;
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = if status == 204 {
            Value::Null
        } else {
            resp.body_mut()
                .with_config()
                .limit(64 << 20)
                .read_json()
                .unwrap_or(Value::Null)
        };
        let s = self.stats.routes.entry(route).or_default();
        s.latencies_ms
            .push(started.elapsed().as_secs_f64() * 1000.0);
        *s.statuses.entry(status).or_default() += 1;
        Some(Reply {
            status,
            retry_after,
            body,
        })
    }

    /// Retries 429, 503 and transport errors (after `Retry-After`) until `give_up`.
    fn send_retrying(
        &mut self,
        route: &'static str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        give_up: Instant,
    ) -> Option<Reply> {
        loop {
            let wait = match self.send(route, method, path, body) {
                Some(r) if matches!(r.status, 429 | 503) => r.retry_after.unwrap_or(1),
                Some(r) => return Some(r),
                None => 1,
            };
            if Instant::now() > give_up {
                return None;
            }
            std::thread::sleep(Duration::from_secs(wait));
        }
    }
}

/// A measurement result of `p50` ms, marked as synthetic.
fn synthetic_result(p50: f64) -> MeasurementResult {
    let samples: Vec<f64> = (0..30)
        .map(|i| p50 * (1.0 + (i as f64 - 15.0) / 1000.0))
        .collect();
    let mut result = MeasurementResult {
        latency: flash_core::measurement::LatencyStats::from_samples(&samples, 5).unwrap(),
        energy: None,
        environment: Default::default(),
        ratio: None,
        reference: None,
    };
    result.environment.provider = Some(SOURCE.into());
    result
}

/// What a simulated agent saw: jobs it claimed and jobs whose completion was acknowledged.
#[derive(Default)]
struct AgentBooks {
    claimed: usize,
    acknowledged: Vec<String>,
}

/// Registers, heartbeats its device every second, claims, "runs" for 20..120 ms, heartbeats the
/// job, completes; until `stop` and then until the queue has nothing for it.
fn agent(
    base: &str,
    token: &str,
    device: &str,
    stop: &AtomicBool,
    registered: &AtomicUsize,
    seed: u64,
) -> (Stats, AgentBooks) {
    let mut c = Client::new(base, token);
    let mut books = AgentBooks::default();
    let far = Instant::now() + Duration::from_secs(3600);
    let descriptor = json!({"profile": "x86-host", "cpu_model": "load-test simulated agent"});
    let r = c.send_retrying(
        "PUT /v1/devices/{name}",
        "PUT",
        &format!("/v1/devices/{device}"),
        Some(&descriptor),
        far,
    );
    assert!(
        r.is_some_and(|r| r.status < 300),
        "{device}: registration failed"
    );
    registered.fetch_add(1, Ordering::SeqCst);
    let mut rng = flash_core::rng::SplitMix64::new(seed);
    let mut last_heartbeat = Instant::now();
    let mut idle_after_stop = 0;
    loop {
        if last_heartbeat.elapsed() >= Duration::from_secs(1) {
            c.send_retrying(
                "POST /v1/devices/{name}/heartbeat",
                "POST",
                &format!("/v1/devices/{device}/heartbeat"),
                None,
                far,
            );
            last_heartbeat = Instant::now();
        }
        let claim = c.send_retrying(
            "POST /v1/jobs/claim",
            "POST",
            "/v1/jobs/claim",
            Some(&json!({"device": device})),
            far,
        );
        let Some(claim) = claim else { continue };
        match claim.status {
            200 => {
                books.claimed += 1;
                let id = claim.body["id"].as_str().unwrap().to_string();
                let attempt = claim.body["attempt"].as_i64().unwrap();
                std::thread::sleep(Duration::from_millis(20 + rng.next_u64() % 100));
                let hb = json!({"attempt": attempt});
                c.send_retrying(
                    "POST /v1/jobs/{id}/heartbeat",
                    "POST",
                    &format!("/v1/jobs/{id}/heartbeat"),
                    Some(&hb),
                    far,
                );
                let p50 = 1.0 + (rng.next_u64() % 1000) as f64 / 100.0;
                let done = json!({"attempt": attempt, "result": synthetic_result(p50)});
                // A completion is retried until it is acknowledged: it must land exactly once.
                match c.send_retrying(
                    "POST /v1/jobs/{id}/complete",
                    "POST",
                    &format!("/v1/jobs/{id}/complete"),
                    Some(&done),
                    far,
                ) {
                    Some(r) if r.status == 200 => books.acknowledged.push(id),
                    other => eprintln!(
                        "{device}: job {id} not acknowledged: {:?}",
                        other.map(|r| (r.status, r.body))
                    ),
                }
            }
            204 => {
                if stop.load(Ordering::Relaxed) {
                    idle_after_stop += 1;
                    if idle_after_stop >= 3 {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            other => {
                eprintln!("{device}: claim answered {other}: {}", claim.body);
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    (c.stats, books)
}

/// Queues jobs for the agents' devices, a few architectures at a time, until `stop`; returns
/// the ids of the jobs it created.
fn producer(
    base: &str,
    token: &str,
    devices: &[String],
    archs: &[String],
    stop: &AtomicBool,
    registered: &AtomicUsize,
) -> (Stats, HashSet<String>) {
    let mut c = Client::new(base, token);
    let mut created = HashSet::new();
    let far = Instant::now() + Duration::from_secs(3600);
    let mut round = 0usize;
    // Jobs only for registered devices.
    while registered.load(Ordering::SeqCst) < devices.len() {
        std::thread::sleep(Duration::from_millis(20));
    }
    while !stop.load(Ordering::Relaxed) {
        for (i, device) in devices.iter().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let ids: Vec<&String> = (0..2)
                .map(|k| &archs[(round * 2 + k + i) % archs.len()])
                .collect();
            let body = json!({"architecture_ids": ids, "device": device});
            if let Some(r) = c.send_retrying("POST /v1/jobs", "POST", "/v1/jobs", Some(&body), far)
                && r.status == 201
            {
                for job in r.body["items"].as_array().unwrap() {
                    created.insert(job["id"].as_str().unwrap().to_string());
                }
            }
        }
        round += 1;
        // Keep roughly a round of work queued per device.
        std::thread::sleep(Duration::from_millis(500));
    }
    (c.stats, created)
}

/// Lists, predictions and now and then a search, until `stop`.
fn notebook(base: &str, token: &str, archs: &[String], stop: &AtomicBool, n: usize) -> Stats {
    let mut c = Client::new(base, token);
    let far = Instant::now() + Duration::from_secs(3600);
    let mut i = n;
    while !stop.load(Ordering::Relaxed) {
        match i % 8 {
            0 => c.send_retrying(
                "GET /v1/architectures",
                "GET",
                "/v1/architectures?limit=50",
                None,
                far,
            ),
            1 => c.send_retrying("GET /v1/devices", "GET", "/v1/devices?limit=100", None, far),
            2 => c.send_retrying(
                "GET /v1/jobs",
                "GET",
                "/v1/jobs?state=queued&limit=100",
                None,
                far,
            ),
            3 => c.send_retrying(
                "GET /v1/measurements",
                "GET",
                "/v1/measurements?limit=100",
                None,
                far,
            ),
            4 => c.send_retrying(
                "GET /v1/accuracies",
                "GET",
                &format!("/v1/accuracies?dataset={DATASET}"),
                None,
                far,
            ),
            5 | 6 => {
                let ids: Vec<&String> = archs.iter().skip(i % 7).step_by(3).take(16).collect();
                let body =
                    json!({"architectures": ids, "device": MODEL_DEVICE, "dataset": DATASET});
                c.send_retrying(
                    "POST /v1/predictions",
                    "POST",
                    "/v1/predictions",
                    Some(&body),
                    far,
                )
            }
            _ if i % 40 == 7 => {
                let body = json!({"dataset": DATASET, "devices": [{"device": MODEL_DEVICE}]});
                c.send_retrying(
                    "POST /v1/searches",
                    "POST",
                    "/v1/searches",
                    Some(&body),
                    far,
                )
            }
            _ => c.send_retrying(
                "GET /v1/searches",
                "GET",
                "/v1/searches?limit=20",
                None,
                far,
            ),
        };
        i += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    c.stats
}

/// Architectures for jobs, and a hardware model and an accuracy model fitted on made-up,
/// labelled load-test figures so that predictions and searches have fits to use.
fn set_up(base: &str, admin: &str) -> Vec<String> {
    let mut c = Client::new(base, admin);
    let far = Instant::now() + Duration::from_secs(600);
    let mut post = |route: &'static str, path: &str, body: Value| {
        let r = c
            .send_retrying(route, "POST", path, Some(&body), far)
            .expect("set-up request");
        assert!(r.status < 300, "{path}: {} {}", r.status, r.body);
        r.body
    };
    let specs = flash_core::Space::default_space().sample_uniform(60, 2024);
    let mut ids = Vec::new();
    for spec in &specs {
        let a = post(
            "POST /v1/architectures",
            "/v1/architectures",
            serde_json::to_value(spec).unwrap(),
        );
        ids.push(a["id"].as_str().unwrap().to_string());
    }
    let r = c.send_retrying(
        "PUT /v1/devices/{name}",
        "PUT",
        &format!("/v1/devices/{MODEL_DEVICE}"),
        Some(&json!({"profile": "x86-host", "cpu_model": "load-test model device (synthetic)"})),
        far,
    );
    assert!(r.is_some_and(|r| r.status < 300));
    let mut post = |route: &'static str, path: &str, body: Value| {
        let r = c
            .send_retrying(route, "POST", path, Some(&body), far)
            .expect("set-up request");
        assert!(r.status < 300, "{path}: {} {}", r.status, r.body);
        r.body
    };
    for (i, id) in ids.iter().take(16).enumerate() {
        // Made-up figures: a smooth law of the index, only so that fits exist.
        let latency = 1.0 + i as f64 * 0.37 + (i % 3) as f64 * 0.05;
        post(
            "POST /v1/measurements",
            "/v1/measurements",
            json!({"architecture_id": id, "device": MODEL_DEVICE, "source": SOURCE, "result": synthetic_result(latency)}),
        );
        post(
            "POST /v1/accuracies",
            "/v1/accuracies",
            json!({"architecture_id": id, "dataset": DATASET, "accuracy": 0.5 + 0.02 * i as f64 - 0.003 * (i % 4) as f64, "notes": SOURCE}),
        );
    }
    post(
        "POST /v1/hardware-models",
        "/v1/hardware-models",
        json!({"device": MODEL_DEVICE, "metric": "latency"}),
    );
    post(
        "POST /v1/accuracy-models",
        "/v1/accuracy-models",
        json!({"dataset": DATASET}),
    );
    ids
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
