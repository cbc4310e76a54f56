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

use flash_client::{Ack, Client, JobRequest, RetryPolicy};
use flash_core::measurement::{DeviceDescriptor, LatencyStats, MeasurementResult};
use flash_server::store::Scope;
use flash_server::{ApiConfig, AppState, Application, Store};
use support::BenchDatabase;

const JOBS: usize = 1000;
const AGENTS: usize = 16;

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
    let (cycles, seconds) = tokio::task::spawn_blocking(move || {
        let client = Client::new(&base, &token, RetryPolicy::default());
        let per_device = JOBS.div_ceil(AGENTS);
        let sample = client
            .sample(
                "flash-densenet",
                &serde_json::from_value(serde_json::json!({"n": per_device, "seed": 9})).unwrap(),
            )
            .unwrap();
        let ids: Vec<String> = sample.items.into_iter().map(|a| a.id).collect();
        let mut queued = 0;
        for d in 0..AGENTS {
            let device = format!("queue-{d}");
            let descriptor = DeviceDescriptor {
                profile: "x86-host".into(),
                ..Default::default()
            };
            client.register(&device, &descriptor).unwrap();
            let n = JOBS / AGENTS + usize::from(d < JOBS % AGENTS);
            client
                .queue_jobs(&JobRequest {
                    architecture_ids: ids[..n].to_vec(),
                    device,
                    protocol: Default::default(),
                    max_attempts: None,
                })
                .unwrap();
            queued += n;
        }
        assert_eq!(queued, JOBS);
        let result = made_up_result();
        let started = Instant::now();
        let agents: Vec<_> = (0..AGENTS)
            .map(|d| {
                let (client, result) = (client.clone(), result.clone());
                std::thread::spawn(move || {
                    let device = format!("queue-{d}");
                    let mut done = 0usize;
                    while let Some(job) = client.claim(&device).expect("claim") {
                        let ack = client.complete(&job.id, job.attempt, &result);
                        assert_eq!(ack.expect("complete"), Ack::Accepted);
                        done += 1;
                    }
                    done
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
