//! `flash-agent`: measures architectures for the FLASH service on this device.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use flash_agent::agent::{self, Config};
use flash_agent::runtime::{self, Provider, Runtime};
use flash_client::RetryPolicy;
use flash_core::Space;
use flash_core::profile::Profile;

/// Claims measurement jobs from the FLASH service, measures each model with ONNX Runtime under
/// the device profile's protocol, and reports latency, energy and environment.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Base URL of the service (`http://host:8080`).
    #[arg(long, env = "FLASH_SERVER", required_unless_present = "measure")]
    server: Option<String>,
    /// Bearer token with the agent scope.
    #[arg(
        long,
        env = "FLASH_TOKEN",
        hide_env_values = true,
        required_unless_present = "measure"
    )]
    token: Option<String>,
    /// Name this device registers under.
    #[arg(long, env = "FLASH_DEVICE", required_unless_present = "measure")]
    device: Option<String>,
    /// Measure this ONNX file under the profile's protocol, print the result as JSON and exit
    /// (no server).
    #[arg(long, value_name = "ONNX_FILE", conflicts_with_all = ["server", "once", "max_jobs"])]
    measure: Option<PathBuf>,
    /// Intra-op threads for --measure, instead of the profile's.
    #[arg(long, requires = "measure")]
    threads: Option<u32>,
    /// Most seconds of warm-up and of timed runs for --measure, instead of the profile's.
    #[arg(long, requires = "measure")]
    time_budget_s: Option<f64>,
    /// Device profile: a name in the profiles directory (`x86-host`) or a path to a .toml file.
    #[arg(long, env = "FLASH_PROFILE")]
    profile: String,
    /// Directory of profiles.
    #[arg(long, env = "FLASH_PROFILES_DIR", default_value = "profiles")]
    profiles_dir: PathBuf,
    /// Where finished reports wait until the server acknowledges them.
    #[arg(long, env = "FLASH_AGENT_STATE_DIR", default_value = ".flash-agent")]
    state_dir: PathBuf,
    /// Exit when there is no job to claim instead of polling.
    #[arg(long)]
    once: bool,
    /// Exit after this many jobs.
    #[arg(long)]
    max_jobs: Option<u64>,
    /// Seconds between claims while the queue is empty.
    #[arg(long, default_value_t = 5.0)]
    poll_interval_s: f64,
    /// Seconds between device heartbeats.
    #[arg(long, default_value_t = 15.0)]
    heartbeat_interval_s: f64,
    /// Seconds to keep retrying an unreachable server before keeping state and moving on.
    #[arg(long, default_value_t = 120.0)]
    retry_for_s: f64,
    /// Root of sysfs, for energy counters, governor and temperature.
    #[arg(long, default_value = "/sys", hide = true)]
    sysfs: PathBuf,
}

fn load_profile(name: &str, dir: &Path) -> anyhow::Result<Profile> {
    let path = if name.ends_with(".toml") || name.contains('/') {
        PathBuf::from(name)
    } else {
        dir.join(format!("{name}.toml"))
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading profile {}", path.display()))?;
    Profile::parse(&text).with_context(|| format!("profile {}", path.display()))
}

/// `--measure`: one measurement of a local file, printed to stdout.
fn measure_file(
    file: &Path,
    profile: &Profile,
    library: &Path,
    threads: Option<u32>,
    time_budget_s: Option<f64>,
    sysfs: &Path,
) -> anyhow::Result<()> {
    let agent_profile = profile.agent().context("an agent profile")?;
    let model = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let mut protocol = agent_profile.protocol.clone();
    protocol.threads = threads.unwrap_or(protocol.threads);
    if let Some(budget) = time_budget_s {
        protocol.time_budget_s = seconds("time-budget-s", budget)?.as_secs_f64();
    }
    let runtime = Runtime::load(library)?;
    // Paired as the agent's jobs are, with the default space's reference network.
    let reference = protocol
        .paired
        .then(|| agent::Reference::of_spec(&Space::default_space().reference_spec()));
    let result = agent::measure_model(
        runtime,
        &model,
        reference.as_ref(),
        &protocol,
        agent_profile,
        sysfs,
        &AtomicBool::new(false),
    )
    .map_err(anyhow::Error::msg)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

fn seconds(name: &str, s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("--{name} must be a positive number of seconds"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLASH_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flash-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let profile = load_profile(&args.profile, &args.profiles_dir)?;
    let Some(agent_profile) = profile.agent() else {
        anyhow::bail!(
            "profile {} is analytic: the service computes it, no agent runs it",
            profile.name
        );
    };
    let wants_gpu = Provider::parse(&agent_profile.protocol.provider) == Some(Provider::Cuda);
    let library = runtime::locate_library_here(wants_gpu)?;
    if let Some(file) = &args.measure {
        return measure_file(
            file,
            &profile,
            &library,
            args.threads,
            args.time_budget_s,
            &args.sysfs,
        );
    }
    let config = Config {
        server: args.server.unwrap_or_default(),
        token: args.token.unwrap_or_default(),
        device: args.device.unwrap_or_default(),
        profile,
        library,
        state_dir: args.state_dir,
        once: args.once,
        max_jobs: args.max_jobs,
        poll_interval: seconds("poll-interval-s", args.poll_interval_s)?,
        device_heartbeat_interval: seconds("heartbeat-interval-s", args.heartbeat_interval_s)?,
        sysfs: args.sysfs,
        retry: RetryPolicy {
            give_up_after: seconds("retry-for-s", args.retry_for_s)?,
            ..RetryPolicy::default()
        },
    };
    // First SIGINT/SIGTERM: stop claiming, finish and report the current job. A second one
    // exits at once (the report, if any, is already on disk).
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, shutdown.clone())?;
        signal_hook::flag::register(signal, shutdown.clone())?;
    }
    let summary = agent::run(&config, &shutdown)?;
    tracing::info!(?summary, "stopped");
    Ok(())
}
