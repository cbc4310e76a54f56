//! The agent's loop: register, heartbeat, claim, fetch, measure, report. Measurement runs on
//! its own thread (an ONNX Runtime session is used by one thread) while this one keeps the
//! job's lease alive. Every report is on disk before it is sent and stays there until the
//! server has answered it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flash_core::measurement::{Energy, Environment, MeasurementResult, ReferenceTiming};
use flash_core::profile::{AgentProfile, Profile, ProtocolDefaults};
use sha2::{Digest, Sha256};

use crate::energy::{self, Meter};
use crate::host;
use crate::measure::{self, MeasureError};
use crate::nvml::Nvml;
use crate::runtime::{Provider, Runtime};
use crate::state::{Outcome, Report, StateDir};
use flash_client::{Ack, ClaimedJob as Job, Client, ClientError, RetryPolicy};

/// Everything the agent runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: String,
    pub token: String,
    pub device: String,
    pub profile: Profile,
    /// The ONNX Runtime library to load.
    pub library: PathBuf,
    pub state_dir: PathBuf,
    /// Exit when there is no job to claim instead of polling.
    pub once: bool,
    /// Exit after this many jobs.
    pub max_jobs: Option<u64>,
    /// Wait between claims when the queue is empty.
    pub poll_interval: Duration,
    pub device_heartbeat_interval: Duration,
    /// Root of sysfs (`/sys`) for energy counters, governor and temperature.
    pub sysfs: PathBuf,
    pub retry: RetryPolicy,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub jobs: u64,
    pub completed: u64,
    pub failed: u64,
    /// Attempts given up because the lease was lost.
    pub abandoned: u64,
    /// Reports still on disk at exit (the server was unreachable).
    pub undelivered: u64,
}

/// Sleeps `total` in short steps, returning early once `stop` is set.
fn sleep_unless(stop: &AtomicBool, total: Duration) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Runs the agent until `shutdown` is set (after finishing and reporting the current job), the
/// queue is empty with `once`, or `max_jobs` jobs are done.
pub fn run(config: &Config, shutdown: &Arc<AtomicBool>) -> anyhow::Result<Summary> {
    let Some(agent_profile) = config.profile.agent() else {
        bail!(
            "profile {} is analytic: the service computes it, no agent runs it",
            config.profile.name
        );
    };
    let runtime = Runtime::load(&config.library)?;
    tracing::info!(library = %runtime.library.display(), version = %runtime.version, providers = ?runtime.providers, "ONNX Runtime loaded");
    let gpu = match Nvml::load() {
        Ok(nvml) => nvml.map(|n| n.info()),
        Err(e) => {
            tracing::warn!(error = %e, "NVML present but unusable; reporting no GPU");
            None
        }
    };
    let descriptor = host::descriptor(&config.profile.name, runtime, gpu);
    let state = StateDir::open(&config.state_dir)
        .with_context(|| format!("state directory {}", config.state_dir.display()))?;
    let client = Client::new(&config.server, &config.token, config.retry);

    loop {
        match client.register(&config.device, &descriptor) {
            Ok(()) => break,
            Err(ClientError::Unavailable(why)) => {
                if shutdown.load(Ordering::Relaxed) {
                    return Ok(Summary::default());
                }
                tracing::warn!(%why, "cannot register yet");
                sleep_unless(shutdown, config.poll_interval);
            }
            Err(e) => return Err(e).context("registering the device"),
        }
    }
    tracing::info!(device = %config.device, profile = %config.profile.name, "registered");

    let mut summary = Summary::default();
    deliver_pending(&client, &state, &mut summary)?;

    let stop_heartbeat = Arc::new(AtomicBool::new(false));
    let heartbeat = {
        let interval = config.device_heartbeat_interval;
        // A missed heartbeat is replaced by the next one: retrying longer than the interval
        // would only delay the agent's exit.
        let retry = RetryPolicy {
            give_up_after: interval.min(config.retry.give_up_after),
            ..config.retry
        };
        let client = Client::new(&config.server, &config.token, retry);
        let (device, stop) = (config.device.clone(), stop_heartbeat.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = client.device_heartbeat(&device) {
                    tracing::warn!(error = %e, "device heartbeat failed");
                }
                sleep_unless(&stop, interval);
            }
        })
    };

    let result = claim_loop(
        config,
        agent_profile,
        runtime,
        &client,
        &state,
        shutdown,
        &mut summary,
    );
    stop_heartbeat.store(true, Ordering::Relaxed);
    let _ = heartbeat.join();
    result?;
    deliver_pending(&client, &state, &mut summary)?;
    summary.undelivered = state.pending()?.len() as u64;
    Ok(summary)
}

fn claim_loop(
    config: &Config,
    agent_profile: &AgentProfile,
    runtime: &'static Runtime,
    client: &Client,
    state: &StateDir,
    shutdown: &AtomicBool,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    while !shutdown.load(Ordering::Relaxed) && config.max_jobs.is_none_or(|m| summary.jobs < m) {
        let job = match client.claim(&config.device) {
            Ok(Some(job)) => job,
            Ok(None) if config.once => return Ok(()),
            Ok(None) => {
                // An idle queue is the moment to deliver reports kept through an outage.
                deliver_pending(client, state, summary)?;
                sleep_unless(shutdown, config.poll_interval);
                continue;
            }
            Err(ClientError::Unavailable(why)) => {
                tracing::warn!(%why, "cannot claim");
                sleep_unless(shutdown, config.poll_interval);
                continue;
            }
            Err(e) => return Err(e).context("claiming a job"),
        };
        summary.jobs += 1;
        tracing::info!(job = %job.id, architecture = %job.architecture_id, attempt = job.attempt, "claimed");
        let Some(outcome) = run_job(config, agent_profile, runtime, client, &job) else {
            summary.abandoned += 1;
            continue;
        };
        let report = Report {
            job_id: job.id.clone(),
            attempt: job.attempt,
            outcome,
        };
        let path = state.save(&report).context("saving the report")?;
        deliver(client, state, &path, &report, summary)?;
        // Leftovers from an outage go out as soon as the server answers again.
        deliver_pending(client, state, summary)?;
    }
    Ok(())
}

/// Sends every report on disk; stops at the first one the server cannot take now.
fn deliver_pending(client: &Client, state: &StateDir, summary: &mut Summary) -> anyhow::Result<()> {
    for (path, report) in state.pending()? {
        if !deliver(client, state, &path, &report, summary)? {
            break;
        }
    }
    Ok(())
}

/// Sends one report; true when the server answered it (and the file is gone).
fn deliver(
    client: &Client,
    state: &StateDir,
    path: &Path,
    report: &Report,
    summary: &mut Summary,
) -> anyhow::Result<bool> {
    let sent = match &report.outcome {
        Outcome::Complete { result } => client.complete(&report.job_id, report.attempt, result),
        Outcome::Fail { error } => client.fail(&report.job_id, report.attempt, error),
    };
    match sent {
        Ok(ack) => {
            match (ack, &report.outcome) {
                (Ack::Accepted, Outcome::Complete { .. }) => summary.completed += 1,
                (Ack::Accepted, Outcome::Fail { .. }) => summary.failed += 1,
                (Ack::LeaseLost, _) => {
                    summary.abandoned += 1;
                    tracing::warn!(job = %report.job_id, attempt = report.attempt, "lease lost before the report; the job runs again");
                }
            }
            tracing::info!(job = %report.job_id, attempt = report.attempt, ?ack, "reported");
            state.remove(path)?;
            Ok(true)
        }
        Err(ClientError::Unavailable(why)) => {
            tracing::warn!(job = %report.job_id, %why, "report kept on disk for later");
            Ok(false)
        }
        Err(e) => {
            // Refused for good: keep the file for the record, out of the delivery queue.
            tracing::error!(job = %report.job_id, error = %e, "report refused");
            std::fs::rename(path, path.with_extension("refused"))?;
            Ok(true)
        }
    }
}

/// Fetches and measures one job while heartbeating its lease. `None` when the lease was lost
/// or the model could not be fetched for now (the lease then expires and the job is re-queued).
fn run_job(
    config: &Config,
    agent_profile: &AgentProfile,
    runtime: &'static Runtime,
    client: &Client,
    job: &Job,
) -> Option<Outcome> {
    let model = match fetch_model(client, job) {
        Ok(bytes) => bytes,
        Err(ClientError::Unavailable(why)) => {
            tracing::warn!(job = %job.id, %why, "model download failed; leaving the job to its lease");
            return None;
        }
        Err(e) => {
            return Some(Outcome::Fail {
                error: format!("downloading the model: {e}"),
            });
        }
    };
    let protocol = agent_profile.protocol.with_overrides(Some(&job.protocol));
    let reference = job
        .reference
        .as_ref()
        .filter(|_| protocol.paired)
        .map(|r| Reference::of_spec(&r.spec));
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let worker = {
        let (cancel, energy) = (cancel.clone(), agent_profile.clone());
        let sysfs = config.sysfs.clone();
        std::thread::Builder::new()
            .name("inference".into())
            .spawn(move || {
                let _ = tx.send(measure_model(
                    runtime,
                    &model,
                    reference.as_ref(),
                    &protocol,
                    &energy,
                    &sysfs,
                    &cancel,
                ));
            })
            .expect("spawning the inference thread")
    };
    let interval = Duration::from_secs(job.lease_seconds.max(3) as u64 / 3);
    // A job heartbeat that cannot get through is replaced by the next one: retrying longer
    // would hold a finished result in memory instead of on disk.
    let mut beat = client.clone();
    beat.retry.give_up_after = interval.min(client.retry.give_up_after);
    let outcome = loop {
        match rx.recv_timeout(interval) {
            Ok(outcome) => break outcome,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                match beat.job_heartbeat(&job.id, job.attempt) {
                    Ok(Ack::Accepted) => {}
                    Ok(Ack::LeaseLost) => {
                        tracing::warn!(job = %job.id, attempt = job.attempt, "lease lost; abandoning the job");
                        cancel.store(true, Ordering::Relaxed);
                    }
                    Err(e) => tracing::warn!(job = %job.id, error = %e, "job heartbeat failed"),
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err("the inference thread stopped without a result".to_string());
            }
        }
    };
    let _ = worker.join();
    if cancel.load(Ordering::Relaxed) {
        return None;
    }
    Some(match outcome {
        Ok(result) => {
            tracing::info!(job = %job.id, p50_ms = result.latency.p50_ms, n = result.latency.n, "measured");
            Outcome::Complete {
                result: Box::new(result),
            }
        }
        Err(error) => {
            tracing::warn!(job = %job.id, %error, "measurement failed");
            Outcome::Fail { error }
        }
    })
}

/// The job's model: the server's ONNX file, checked against core's export of the spec when
/// the job has one (both are the same bytes); the export alone when the download fails.
fn fetch_model(client: &Client, job: &Job) -> Result<Vec<u8>, ClientError> {
    let exported = job.spec.as_ref().map(flash_core::onnx::export_spec);
    match (client.model(&job.architecture_id), exported) {
        (Ok(downloaded), Some(exported)) => {
            if Sha256::digest(&downloaded) != Sha256::digest(&exported) {
                tracing::warn!(job = %job.id, "the server's model differs from the spec's export; measuring the server's");
            }
            Ok(downloaded)
        }
        (Ok(downloaded), None) => Ok(downloaded),
        (Err(e), Some(exported)) => {
            tracing::warn!(job = %job.id, error = %e, "model download failed; measuring the spec's export");
            Ok(exported)
        }
        (Err(e), None) => Err(e),
    }
}

/// The reference network a measurement is paired with.
#[derive(Debug, Clone)]
pub struct Reference {
    pub architecture_id: String,
    /// Its ONNX model.
    pub model: Vec<u8>,
}

impl Reference {
    /// The reference exported from its spec by core (the bytes the server would send).
    pub fn of_spec(spec: &flash_core::ArchSpec) -> Reference {
        Reference {
            architecture_id: spec.id(),
            model: flash_core::onnx::export_spec(spec),
        }
    }
}

/// Measures `model` under `protocol` on this thread: latency (paired with `reference` when
/// given), then energy, then environment. Both sessions share the thread and the options.
pub fn measure_model(
    runtime: &Runtime,
    model: &[u8],
    reference: Option<&Reference>,
    protocol: &ProtocolDefaults,
    profile: &AgentProfile,
    sysfs: &Path,
    cancel: &AtomicBool,
) -> Result<MeasurementResult, String> {
    let provider = Provider::parse(&protocol.provider)
        .ok_or_else(|| format!("unknown provider {:?}", protocol.provider))?;
    let mut session = runtime
        .model(model, protocol.threads, provider)
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let (latency, ratio, reference) = match reference {
        Some(reference) => {
            let mut paired = runtime
                .model(&reference.model, protocol.threads, provider)
                .map_err(|e| format!("the reference network {}: {e}", reference.architecture_id))?;
            let timing = measure::measure_paired(
                protocol,
                || session.run(),
                || paired.run(),
                || t0.elapsed(),
                cancel,
            )
            .map_err(|e| e.to_string())?;
            tracing::debug!(stop = ?timing.stop, n = timing.ratio.n, relative_ci = timing.ratio.relative_ci(), "timed, paired");
            (
                timing.stats,
                Some(timing.ratio),
                Some(ReferenceTiming {
                    architecture_id: reference.architecture_id.clone(),
                    latency: timing.reference,
                }),
            )
        }
        None => {
            let timing = measure::measure(protocol, || session.run(), || t0.elapsed(), cancel)
                .map_err(|e| e.to_string())?;
            tracing::debug!(stop = ?timing.stop, n = timing.stats.n, relative_ci = timing.stats.relative_ci(), "timed");
            (timing.stats, None, None)
        }
    };

    let energy = match Meter::open(&profile.energy, sysfs) {
        Ok(Some(meter)) => {
            let window = Duration::from_secs_f64(profile.energy.window_s);
            match measure_energy(&meter, window, &mut session, cancel) {
                Ok(energy) => energy,
                Err(MeasureError::Cancelled) => return Err("measurement cancelled".into()),
                Err(e @ (MeasureError::Run(_) | MeasureError::ZeroTime(_))) => {
                    tracing::warn!(error = %e, "energy window failed; using the power model");
                    energy::estimated(&profile.power_model, latency.p50_ms, protocol.threads)
                }
            }
        }
        Ok(None) => energy::estimated(&profile.power_model, latency.p50_ms, protocol.threads),
        Err(e) => {
            tracing::info!(sensor = ?profile.energy.sensor, error = %e, "no energy sensor; the energy is estimated");
            energy::estimated(&profile.power_model, latency.p50_ms, protocol.threads)
        }
    };

    Ok(MeasurementResult {
        latency,
        energy: Some(energy),
        environment: Environment {
            threads: Some(protocol.threads),
            provider: Some(provider.ort_name().to_string()),
            ort_version: Some(runtime.version.clone()),
            onnx_sha256: Some(hex::encode(Sha256::digest(model))),
            governor: host::governor(sysfs),
            temperature_c: host::temperature_c(sysfs),
            load_average: host::load_average(),
        },
        ratio,
        reference,
    })
}

fn measure_energy(
    meter: &Meter,
    window: Duration,
    session: &mut crate::runtime::Model,
    cancel: &AtomicBool,
) -> Result<Energy, MeasureError<String>> {
    let started = meter
        .start()
        .map_err(|e| MeasureError::Run(e.to_string()))?;
    let t0 = Instant::now();
    let ran = measure::run_for(
        window,
        || session.run().map_err(|e| e.to_string()),
        || t0.elapsed(),
        cancel,
    );
    // Stop the meter whatever happened, so a sampling thread never outlives its window.
    let joules = meter.stop(started);
    let (count, took) = ran?;
    let joules = joules.map_err(|e| MeasureError::Run(e.to_string()))?;
    Ok(energy::measured(meter, joules, count, took))
}
