//! API throughput on loopback: requests per second and p50/p99 latency of
//! `GET /v1/architectures/{id}`, `POST /v1/architectures` (existing) and single predictions
//! (`POST /v1/predictions` of one spec's latency) at 64 concurrent connections, on the embedded
//! SQLite store and on Postgres. Prints figures; asserts nothing.
//!
//! `cargo bench -p flash-server --bench api` (Postgres at 127.0.0.1:5432; set
//! `FLASH_BENCH_SECONDS` to change the 5 s per run, `FLASH_BENCH_SKIP_POSTGRES=1` to skip it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod support;

use flash_server::store::Scope;
use flash_server::{ApiConfig, AppState, Application, Store};
use support::BenchDatabase;

const CONNECTIONS: usize = 64;
const SPEC: &str = r#"{"space":"flash-densenet","input_shape":[3,32,32],"num_classes":10,"cells":[{"width":32,"depth":8,"tc":16},{"width":64,"depth":8,"tc":32},{"width":128,"depth":8,"tc":64}]}"#;

struct Run {
    requests: usize,
    errors: usize,
    seconds: f64,
    latencies_ms: Vec<f64>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// 64 client threads, each with its own keep-alive connection, for `seconds`.
fn load(seconds: f64, request: Arc<dyn Fn(&ureq::Agent) -> bool + Send + Sync>) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (stop, request) = (stop.clone(), request.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let (mut latencies, mut errors) = (Vec::new(), 0usize);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if !request(&agent) {
                        errors += 1;
                    }
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                (latencies, errors)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut run = Run {
        requests: 0,
        errors: 0,
        seconds: 0.0,
        latencies_ms: Vec::new(),
    };
    for t in threads {
        let (lat, err) = t.join().unwrap();
        run.requests += lat.len();
        run.errors += err;
        run.latencies_ms.extend(lat);
    }
    run.seconds = started.elapsed().as_secs_f64();
    run.latencies_ms.sort_by(f64::total_cmp);
    run
}

fn report(store: &str, route: &str, run: &Run) {
    println!(
        "{store:<8} {route:<34} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests, {} errors)",
        run.requests as f64 / run.seconds,
        percentile(&run.latencies_ms, 0.50),
        percentile(&run.latencies_ms, 0.99),
        run.requests,
        run.errors
    );
}

async fn bench_store(name: &str, store: Store, seconds: f64) {
    let token = store.create_token("bench", Scope::Admin).await.unwrap();
    let app = Application::build(
        "127.0.0.1:0".parse().unwrap(),
        AppState::new(store, ApiConfig::default()),
    )
    .await
    .unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.serve(std::future::pending()));
    let auth = format!("Bearer {token}");
    let post = {
        let (base, auth) = (base.clone(), auth.clone());
        Arc::new(move |agent: &ureq::Agent| {
            agent
                .post(&format!("{base}/v1/architectures"))
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(SPEC)
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        })
    };
    // Store it once, then every POST finds it existing.
    let first: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    assert!(post(&first));
    let id = flash_core::ArchSpec::from_json(SPEC).unwrap().id();
    let get = {
        let url = format!("{base}/v1/architectures/{id}");
        Arc::new(move |agent: &ureq::Agent| {
            agent
                .get(&url)
                .header("authorization", &auth)
                .call()
                .map(|mut r| r.status() == 200 && r.body_mut().read_to_vec().is_ok())
                .unwrap_or(false)
        })
    };
    let run = tokio::task::spawn_blocking(move || load(seconds, get))
        .await
        .unwrap();
    report(name, "GET /v1/architectures/{id}", &run);
    let run = tokio::task::spawn_blocking(move || load(seconds, post))
        .await
        .unwrap();
    report(name, "POST /v1/architectures (existing)", &run);
    let predict = predictions(&base, &token);
    let run = tokio::task::spawn_blocking(move || load(seconds, predict))
        .await
        .unwrap();
    report(name, "POST /v1/predictions (one spec)", &run);
}

/// A device with a latency model fitted on 25 made-up measurements, and a request that
/// predicts one architecture's latency on it.
fn predictions(base: &str, token: &str) -> Arc<dyn Fn(&ureq::Agent) -> bool + Send + Sync> {
    let client = flash_client::Client::new(base, token, Default::default());
    client
        .register(
            "bench-cpu",
            &flash_core::measurement::DeviceDescriptor {
                profile: "x86-host".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let sample = client
        .sample(
            "flash-densenet",
            &serde_json::from_value(serde_json::json!({"n": 25, "seed": 3, "stratified": true}))
                .unwrap(),
        )
        .unwrap();
    for a in &sample.items {
        let ms = 1e-8 * a.metrics.macs as f64 + 0.2;
        let samples: Vec<f64> = (0..30).map(|i| ms * (1.0 + i as f64 / 1000.0)).collect();
        let latency = flash_core::measurement::LatencyStats::from_samples(&samples, 5).unwrap();
        client
            .upload_measurement(&flash_client::MeasurementUpload {
                architecture_id: a.id.clone(),
                device: "bench-cpu".into(),
                source: "made-up".into(),
                result: flash_core::measurement::MeasurementResult {
                    latency,
                    energy: None,
                    environment: Default::default(),
                    ratio: None,
                    reference: None,
                },
            })
            .unwrap();
    }
    client
        .fit_hardware_model(&flash_client::HardwareModelRequest {
            device: "bench-cpu".into(),
            metric: flash_core::fit::CostMetric::Latency,
            fit_on: None,
            feature_sets: Vec::new(),
        })
        .unwrap();
    let auth = format!("Bearer {token}");
    let url = format!("{base}/v1/predictions");
    let body = format!(r#"{{"architectures":[{SPEC}],"device":"bench-cpu"}}"#);
    Arc::new(move |agent: &ureq::Agent| {
        agent
            .post(&url)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(&body)
            .map(|mut r| r.status() == 200 && r.body_mut().read_to_vec().is_ok())
            .unwrap_or(false)
    })
}

fn main() {
    let seconds: f64 = std::env::var("FLASH_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("API benchmark: {CONNECTIONS} concurrent connections on loopback, {seconds} s per run, {} CPUs", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let dir = tempfile::tempdir().unwrap();
        bench_store("sqlite", Store::open_embedded(dir.path()).await.unwrap(), seconds).await;
        if std::env::var_os("FLASH_BENCH_SKIP_POSTGRES").is_none() {
            let (db, store) = BenchDatabase::create("flash_bench").await;
            bench_store("postgres", store.clone(), seconds).await;
            db.finish(store).await;
        }
    });
}
