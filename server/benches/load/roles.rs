//! The simulated users: agents that claim and complete jobs, a producer that queues them,
//! notebooks that list, predict and search, and the set-up that gives them fits to use.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flash_client::{
    AccuracyModelRequest, AccuracyUpload, Ack, Architecture, DeviceConstraint,
    HardwareModelRequest, Job, JobRequest, ListPage, Measurement, MeasurementUpload,
    PredictionRequest, SearchRecord, SearchRequest,
};
use flash_core::fit::CostMetric;
use flash_core::measurement::{DeviceDescriptor, MeasurementResult};
use flash_core::search::Objective;

use crate::stats::{Observed, Stats};

pub const DATASET: &str = "load-test-synthetic";
pub const MODEL_DEVICE: &str = "load-test-model-device";
const SOURCE: &str = "load-test (synthetic, not a measurement)";

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

fn descriptor(what: &str) -> DeviceDescriptor {
    DeviceDescriptor {
        profile: "x86-host".into(),
        cpu_model: Some(what.into()),
        ..Default::default()
    }
}

/// What a simulated agent saw: jobs it claimed and jobs whose completion was acknowledged.
#[derive(Default)]
pub struct AgentBooks {
    pub claimed: usize,
    pub acknowledged: Vec<String>,
}

/// Registers, heartbeats its device every second, claims, "runs" for 20..120 ms, heartbeats the
/// job, completes; until `stop` and then until the queue has nothing for it.
pub fn agent(
    base: &str,
    token: &str,
    device: &str,
    stop: &AtomicBool,
    registered: &AtomicUsize,
    seed: u64,
) -> (Stats, AgentBooks) {
    let c = Observed::new(base, token);
    let mut books = AgentBooks::default();
    let registration = c
        .client
        .register(device, &descriptor("load-test simulated agent"));
    assert!(
        registration.is_ok(),
        "{device}: registration failed: {registration:?}"
    );
    registered.fetch_add(1, Ordering::SeqCst);
    let mut rng = flash_core::rng::SplitMix64::new(seed);
    let mut last_heartbeat = Instant::now();
    let mut idle_after_stop = 0;
    loop {
        if last_heartbeat.elapsed() >= Duration::from_secs(1) {
            c.note("device heartbeat", c.client.device_heartbeat(device));
            last_heartbeat = Instant::now();
        }
        match c.client.claim(device) {
            Ok(Some(job)) => {
                books.claimed += 1;
                std::thread::sleep(Duration::from_millis(20 + rng.next_u64() % 100));
                c.note(
                    "job heartbeat",
                    c.client.job_heartbeat(&job.id, job.attempt),
                );
                let p50 = 1.0 + (rng.next_u64() % 1000) as f64 / 100.0;
                // The client retries a completion until the server answers: it must land
                // exactly once.
                match c
                    .client
                    .complete(&job.id, job.attempt, &synthetic_result(p50))
                {
                    Ok(Ack::Accepted) => books.acknowledged.push(job.id),
                    other => eprintln!("{device}: job {} not acknowledged: {other:?}", job.id),
                }
            }
            Ok(None) => {
                if stop.load(Ordering::Relaxed) {
                    idle_after_stop += 1;
                    if idle_after_stop >= 3 {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                eprintln!("{device}: claim failed: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    (c.into_stats(), books)
}

/// Queues jobs for the agents' devices, a few architectures at a time, until `stop`; returns
/// the ids of the jobs it created.
pub fn producer(
    base: &str,
    token: &str,
    devices: &[String],
    archs: &[String],
    stop: &AtomicBool,
    registered: &AtomicUsize,
) -> (Stats, HashSet<String>) {
    let c = Observed::new(base, token);
    let mut created = HashSet::new();
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
            let request = JobRequest {
                architecture_ids: (0..2)
                    .map(|k| archs[(round * 2 + k + i) % archs.len()].clone())
                    .collect(),
                device: device.clone(),
                protocol: Default::default(),
                max_attempts: None,
            };
            if let Some(jobs) = c.note("POST /v1/jobs", c.client.queue_jobs(&request)) {
                created.extend(jobs.items.into_iter().map(|j| j.id));
            }
        }
        round += 1;
        // Keep roughly a round of work queued per device.
        std::thread::sleep(Duration::from_millis(500));
    }
    (c.into_stats(), created)
}

/// Lists, predictions and now and then a search, until `stop`; every reply is decoded as the
/// API's types.
pub fn notebook(base: &str, token: &str, archs: &[String], stop: &AtomicBool, n: usize) -> Stats {
    let c = Observed::new(base, token);
    let client = &c.client;
    let mut i = n;
    while !stop.load(Ordering::Relaxed) {
        match i % 8 {
            0 => drop(c.note(
                "architectures",
                client.get::<ListPage<Architecture>>("/v1/architectures?limit=50"),
            )),
            1 => drop(c.note(
                "devices",
                client.get::<ListPage<flash_client::Device>>("/v1/devices?limit=100"),
            )),
            2 => drop(c.note(
                "jobs",
                client.get::<ListPage<Job>>("/v1/jobs?state=queued&limit=100"),
            )),
            3 => drop(c.note(
                "measurements",
                client.get::<ListPage<Measurement>>("/v1/measurements?limit=100"),
            )),
            4 => drop(c.note("accuracies", client.accuracies(DATASET))),
            5 | 6 => {
                let request = PredictionRequest {
                    architectures: archs
                        .iter()
                        .skip(i % 7)
                        .step_by(3)
                        .take(16)
                        .map(|id| serde_json::Value::String(id.clone()))
                        .collect(),
                    device: Some(MODEL_DEVICE.into()),
                    dataset: Some(DATASET.into()),
                };
                drop(c.note("predictions", client.predict(&request)));
            }
            _ if i % 40 == 7 => drop(c.note("search", client.search(&search_request()))),
            _ => drop(c.note(
                "searches",
                client.get::<ListPage<SearchRecord>>("/v1/searches?limit=20"),
            )),
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    c.into_stats()
}

fn search_request() -> SearchRequest {
    SearchRequest {
        space: flash_core::Space::default_space().name.to_string(),
        dataset: DATASET.into(),
        accuracy_model: None,
        devices: vec![DeviceConstraint {
            device: MODEL_DEVICE.into(),
            max_latency_ms: None,
            max_energy_mj: None,
            max_area_mm2: None,
            latency_model: None,
            energy_model: None,
        }],
        max_params: None,
        max_macs: None,
        objective: Objective::MaxAccuracy,
        confidence: None,
    }
}

/// Architectures for jobs, and a hardware model and an accuracy model fitted on made-up,
/// labelled load-test figures so that predictions and searches have fits to use.
pub fn set_up(base: &str, admin: &str) -> Vec<String> {
    let c = Observed::new(base, admin).client;
    let specs = flash_core::Space::default_space().sample_uniform(60, 2024);
    let ids: Vec<String> = specs
        .iter()
        .map(|spec| c.put_architecture(spec).expect("set-up: architecture").id)
        .collect();
    c.register(
        MODEL_DEVICE,
        &descriptor("load-test model device (synthetic)"),
    )
    .expect("set-up: model device");
    for (i, id) in ids.iter().take(16).enumerate() {
        // Made-up figures: a smooth law of the index, only so that fits exist.
        let latency = 1.0 + i as f64 * 0.37 + (i % 3) as f64 * 0.05;
        c.upload_measurement(&MeasurementUpload {
            architecture_id: id.clone(),
            device: MODEL_DEVICE.into(),
            source: SOURCE.into(),
            result: synthetic_result(latency),
        })
        .expect("set-up: measurement");
        c.record_accuracy(&AccuracyUpload {
            architecture_id: id.clone(),
            dataset: DATASET.into(),
            accuracy: 0.5 + 0.02 * i as f64 - 0.003 * (i % 4) as f64,
            epochs: None,
            notes: Some(SOURCE.into()),
        })
        .expect("set-up: accuracy");
    }
    c.fit_hardware_model(&HardwareModelRequest {
        device: MODEL_DEVICE.into(),
        metric: CostMetric::Latency,
        fit_on: None,
        feature_sets: Vec::new(),
    })
    .expect("set-up: hardware model");
    c.fit_accuracy_model(&AccuracyModelRequest {
        dataset: DATASET.into(),
        space: None,
        forms: Vec::new(),
    })
    .expect("set-up: accuracy model");
    ids
}
