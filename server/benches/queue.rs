//! Job-queue throughput (SPEC.md section 9): 1,000 queued jobs over 16 devices, one simulated
//! agent per device claiming a job and completing it with a made-up result at once (no
//! measurement work), through the HTTP API on loopback. Prints claim -> complete cycles per
//! second on the embedded SQLite store and on Postgres, and checks the books (every job
//! completed once). Target on Postgres: >= 500 cycles/s.
//!
//! `cargo bench -p flash-server --bench queue` (Postgres at 127.0.0.1:5432;
//! `FLASH_BENCH_SKIP_POSTGRES=1` skips it).

use std::time::Instant;

mod support;

use flash_core::measurement::{LatencyStats, MeasurementResult};
use flash_server::store::Scope;
use flash_server::{ApiConfig, AppState, Application, Store};
use serde_json::{Value, json};
use support::BenchDatabase;

const JOBS: usize = 1000;
const AGENTS: usize = 16;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, auth: &str, body: &Value) -> (u16, Value) {
    let mut r = agent
        .post(url)
        .header("authorization", auth)
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A measurement result of 1 ms, the same for every job: the queue does no measuring here.
fn made_up_result() -> MeasurementResult {
    let samples: Vec<f64> = (0..30).map(|i| 1.0 + i as f64 / 1000.0).collect();
    MeasurementResult {
        latency: LatencyStats::from_samples(&samples, 5).unwrap(),
        energy: None,
        environment: Default::default(),
        ratio: None,
        reference: None,
    }
}

async fn bench_store(name: &str, store: Store) {
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
    let (base2, auth2) = (base.clone(), auth.clone());
    let (cycles, seconds) = tokio::task::spawn_blocking(move || {
        let (base, auth) = (base2, auth2);
        let setup = agent();
        let per_device = JOBS.div_ceil(AGENTS);
        let (s, sample) = post(
            &setup,
            &format!("{base}/v1/spaces/flash-densenet/samples"),
            &auth,
            &json!({"n": per_device, "seed": 9}),
        );
        assert_eq!(s, 201, "{sample}");
        let ids: Vec<Value> = sample["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].clone())
            .collect();
        let mut queued = 0;
        for d in 0..AGENTS {
            let device = format!("queue-{d}");
            let r = setup
                .put(&format!("{base}/v1/devices/{device}"))
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(r#"{"profile":"x86-host"}"#)
                .unwrap();
            assert!(r.status().is_success());
            let n = JOBS / AGENTS + usize::from(d < JOBS % AGENTS);
            let (s, created) = post(
                &setup,
                &format!("{base}/v1/jobs"),
                &auth,
                &json!({"architecture_ids": ids[..n], "device": device}),
            );
            assert_eq!(s, 201, "{created}");
            queued += n;
        }
        assert_eq!(queued, JOBS);
        let result = serde_json::to_value(made_up_result()).unwrap();
        let started = Instant::now();
        let agents: Vec<_> = (0..AGENTS)
            .map(|d| {
                let (base, auth, result) = (base.clone(), auth.clone(), result.clone());
                std::thread::spawn(move || {
                    let http = agent();
                    let device = format!("queue-{d}");
                    let mut done = 0usize;
                    loop {
                        let (s, job) = post(
                            &http,
                            &format!("{base}/v1/jobs/claim"),
                            &auth,
                            &json!({"device": device}),
                        );
                        if s == 204 {
                            return done;
                        }
                        assert_eq!(s, 200, "claim: {job}");
                        let (s, m) = post(
                            &http,
                            &format!("{base}/v1/jobs/{}/complete", job["id"].as_str().unwrap()),
                            &auth,
                            &json!({"attempt": job["attempt"], "result": result}),
                        );
                        assert_eq!(s, 200, "complete: {m}");
                        done += 1;
                    }
                })
            })
            .collect();
        let cycles: usize = agents.into_iter().map(|a| a.join().unwrap()).sum();
        (cycles, started.elapsed().as_secs_f64())
    })
    .await
    .unwrap();
    assert_eq!(cycles, JOBS, "every job completed once");
    println!(
        "{name:<8} {cycles} claim -> complete cycles by {AGENTS} agents in {seconds:.2} s: {:>6.0} cycles/s",
        cycles as f64 / seconds
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "queue benchmark: {JOBS} jobs, {AGENTS} agents (one device each), HTTP on loopback, {} CPUs",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        );
        let dir = tempfile::tempdir().unwrap();
        bench_store("sqlite", Store::open_embedded(dir.path()).await.unwrap()).await;
        if std::env::var_os("FLASH_BENCH_SKIP_POSTGRES").is_none() {
            let (db, store) = BenchDatabase::create("flash_queue_bench").await;
            bench_store("postgres", store.clone()).await;
            db.finish(store).await;
        }
    });
}
