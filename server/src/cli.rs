//! The `flash` command line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use flash_core::{ArchSpec, Space, metrics, onnx};

use crate::app::{self, Application};
use crate::state::{ApiConfig, AppState};
use crate::store::{Scope, Store, StoreError, redact_url};
use crate::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "flash",
    version,
    about = "FLASH co-design service: hardware-aware neural-architecture search"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(ServeArgs),
    /// Create, revoke and list API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Inspect and export architectures.
    Arch {
        #[command(subcommand)]
        command: ArchCommand,
    },
    /// Show and sample search spaces.
    Space {
        #[command(subcommand)]
        command: SpaceCommand,
    },
    /// The FLASH loop end to end on this machine: service, local agent, sample, measure, fit,
    /// search, re-measure; then keeps serving the dashboard.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to serve on.
    #[arg(long, env = "FLASH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The committed digits accuracy data.
    #[arg(long, default_value = "examples/data/digits-accuracy.json")]
    pub digits_data: PathBuf,
    /// Directory of device profiles (the agent measures with `x86-host`).
    #[arg(long, env = "FLASH_PROFILES_DIR", default_value = "profiles")]
    pub profiles_dir: PathBuf,
    /// The agent binary (default: `flash-agent` next to this binary).
    #[arg(long)]
    pub agent_binary: Option<PathBuf>,
    /// Architectures to sample and measure per space.
    #[arg(long, default_value_t = 25)]
    pub samples: usize,
    /// The space to measure, fit and search (`flash space list` names them). The accuracy
    /// predictor is always the one fitted on the digits data, whose architectures are of
    /// `flash-densenet-digits`: on another space its predictions extrapolate, and the report
    /// says so.
    #[arg(long, default_value = "flash-densenet-digits")]
    pub space: String,
    /// Seconds of timed runs per model.
    #[arg(long, default_value_t = 3.0)]
    pub time_budget_s: f64,
    /// Intra-op threads of every measurement (one is steadiest on a machine shared with other
    /// work; 0 keeps the profile's).
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// Exit after the report instead of serving the dashboard.
    #[arg(long)]
    pub exit: bool,
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Postgres URL (`postgres://user@host/db`). Without it, an embedded SQLite file in
    /// `--data-dir` is used.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory of the embedded store and of the first admin token.
    #[arg(long, env = "FLASH_DATA_DIR", default_value = "./flash-data")]
    pub data_dir: PathBuf,
}

impl StoreArgs {
    pub async fn open(&self) -> Result<Store, StoreError> {
        match &self.database_url {
            Some(url) if !url.is_empty() => Store::connect(url).await,
            _ => Store::open_embedded(&self.data_dir).await,
        }
    }

    fn describe(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => format!("Postgres at {}", redact_url(url)),
            _ => format!(
                "embedded SQLite store {}",
                self.data_dir.join("flash.sqlite3").display()
            ),
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FLASH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Let GET requests for data through without a token.
    #[arg(long, env = "FLASH_PUBLIC_READ")]
    pub public_read: bool,
    /// Log format.
    #[arg(long, env = "FLASH_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,
    /// Largest JSON request body, in bytes.
    #[arg(long, env = "FLASH_JSON_BODY_LIMIT", default_value_t = 1 << 20)]
    pub json_body_limit: usize,
    /// Largest ONNX upload, in bytes.
    #[arg(long, env = "FLASH_ONNX_BODY_LIMIT", default_value_t = 16 << 20)]
    pub onnx_body_limit: usize,
    /// Largest batch request (predictions), in bytes.
    #[arg(long, env = "FLASH_BATCH_BODY_LIMIT", default_value_t = 32 << 20)]
    pub batch_body_limit: usize,
    /// Lease of a claimed job, in seconds (agents heartbeat well within it).
    #[arg(long, env = "FLASH_LEASE_SECONDS", default_value_t = 30)]
    pub lease_seconds: i64,
    /// Attempts a job gets before it fails.
    #[arg(long, env = "FLASH_MAX_ATTEMPTS", default_value_t = 3)]
    pub max_attempts: i64,
    /// API requests served at once; more are answered 429 with `Retry-After` (clients retry).
    #[arg(long, env = "FLASH_MAX_IN_FLIGHT", default_value_t = 512)]
    pub max_in_flight: usize,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (only its hash is stored).
    Create {
        #[arg(long, value_enum)]
        scope: Scope,
        #[arg(long)]
        name: String,
        /// Bind an agent token to this device: it may then register, claim and report for that
        /// device only (recommended for every agent).
        #[arg(long)]
        device: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke the token with this name.
    Revoke {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens (names and scopes, never secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ArchCommand {
    /// Print an architecture's id and metrics as JSON (a spec .json or an .onnx file).
    Inspect { file: PathBuf },
    /// Export a spec to ONNX.
    Export {
        spec: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SpaceCommand {
    /// Print every space: name, family, exact size and description, one a line.
    List,
    /// Print a space: its grid and exact size.
    Show { name: String },
    /// Print sampled specs, one JSON object a line.
    Sample {
        name: String,
        #[arg(short, default_value_t = 25)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Spread evenly over NN-Degree.
        #[arg(long)]
        stratified: bool,
    },
}

/// Writes one line of a command's output to stdout; a closed pipe is an error the caller stops
/// on (`println!` would panic instead).
fn write_out(line: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// Runs a command; errors go to stderr with a non-zero exit.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => runtime().and_then(|rt| rt.block_on(serve(args))),
        Command::Token { command } => runtime().and_then(|rt| rt.block_on(token(command))),
        Command::Openapi => write_out(app::openapi_json().trim_end()).map_err(Into::into),
        Command::Arch { command } => arch(command),
        Command::Space { command } => space(command),
        Command::Demo(args) => runtime().and_then(|rt| rt.block_on(demo(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`flash arch inspect m.json | head`): nothing left to say.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format, "info");
    tracing::info!(store = %args.store.describe(), "opening the store");
    let store = args.store.open().await?;
    ensure_admin_token(&store, &args.store.data_dir).await?;
    let config = ApiConfig {
        json_body_limit: args.json_body_limit,
        onnx_body_limit: args.onnx_body_limit,
        batch_body_limit: args.batch_body_limit,
        public_read: args.public_read,
        lease_seconds: args.lease_seconds.max(1),
        max_attempts: args.max_attempts.clamp(1, 20),
        max_in_flight: args.max_in_flight.max(1),
    };
    let app = Application::build(args.listen, AppState::new(store, config)).await?;
    tracing::info!(address = %app.local_addr(), "listening; API docs at /docs");
    app.serve(app::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let space = find_space(&args.space)?;
    // The demo prints its own progress; keep the service's request logs out of it.
    telemetry::init(LogFormat::Pretty, "warn");
    println!("FLASH demo: service on the {}", args.store.describe());
    let store = args.store.open().await?;
    ensure_admin_token(&store, &args.store.data_dir).await?;
    let admin = demo_admin_token(&store, &args.store.data_dir).await?;
    let agent = crate::demo::agent_token(&store).await?;
    let app = Application::build(args.listen, AppState::new(store, ApiConfig::default()))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.serve(async move {
        tokio::select! {
            _ = app::shutdown_signal() => {},
            _ = stopped => {},
        }
    }));
    crate::services::searching::prepared().await;
    let config = crate::demo::DemoConfig {
        base: base.clone(),
        data_dir: args.store.data_dir.clone(),
        digits_data: args.digits_data,
        profiles_dir: args.profiles_dir,
        agent_binary: match args.agent_binary {
            Some(p) => p,
            None => std::env::current_exe()?.with_file_name("flash-agent"),
        },
        samples: args.samples,
        space,
        protocol: flash_core::measurement::Protocol {
            time_budget_s: Some(args.time_budget_s),
            threads: (args.threads != 0).then_some(args.threads),
            ..Default::default()
        },
    };
    let outcome =
        tokio::task::spawn_blocking(move || crate::demo::run(&config, &admin, &agent)).await?;
    if let Err(e) = outcome {
        let _ = stop.send(());
        let _ = serving.await;
        return Err(e);
    }
    if args.exit {
        let _ = stop.send(());
    } else {
        println!("\nServing {base}/ until Ctrl-C.");
    }
    serving.await??;
    Ok(())
}

/// The admin token in `<data_dir>/admin-token` if it is still valid, else a new one written
/// there.
async fn demo_admin_token(store: &Store, data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("admin-token");
    if let Ok(text) = std::fs::read_to_string(&path)
        && store.verify_token(text.trim()).await?.is_some()
    {
        return Ok(text.trim().to_string());
    }
    let mut random = [0u8; 4];
    getrandom::fill(&mut random)?;
    let token = store
        .create_token(&format!("demo-admin-{}", hex::encode(random)), Scope::Admin)
        .await?;
    write_private(&path, &format!("{token}\n"))?;
    Ok(token)
}

/// On first start (no token at all), creates an admin token, prints it once and writes it to
/// `<data_dir>/admin-token`, readable only by this user.
async fn ensure_admin_token(store: &Store, data_dir: &Path) -> anyhow::Result<()> {
    if store.count_tokens().await? > 0 {
        return Ok(());
    }
    let token = match store.create_token("admin", Scope::Admin).await {
        Ok(token) => token,
        // Another replica created it first.
        Err(StoreError::Conflict(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("admin-token");
    write_private(&path, &format!("{token}\n"))?;
    eprintln!(
        "Created the first admin token (shown once; also saved to {}):\n{token}",
        path.display()
    );
    Ok(())
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())
}

async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            scope,
            name,
            device,
            store,
        } => {
            crate::services::validation::check_name("name", &name)
                .map_err(|e| anyhow::anyhow!("--name {e}"))?;
            let store = store.open().await?;
            let token = match device {
                Some(device) if scope == Scope::Agent => {
                    crate::services::validation::check_device_name(&device)
                        .map_err(|_| anyhow::anyhow!("--device {device:?} is not a device name"))?;
                    store.create_device_token(&name, &device).await?
                }
                Some(_) => anyhow::bail!("--device binds agent tokens only (--scope agent)"),
                None => store.create_token(&name, scope).await?,
            };
            write_out(&token)?;
        }
        TokenCommand::Revoke { name, store } => {
            if !store.open().await?.revoke_token(&name).await? {
                anyhow::bail!("no live token named {name:?}");
            }
            eprintln!("revoked {name:?}");
        }
        TokenCommand::List { store } => {
            for t in store.open().await?.list_tokens().await? {
                write_out(&serde_json::to_string(&t)?)?;
            }
        }
    }
    Ok(())
}

/// An architecture read from a file: its id, whether it lies in its space, and its metrics.
fn inspect(file: &Path) -> anyhow::Result<serde_json::Value> {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let is_onnx = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    let (id, in_space, space, graph) = if is_onnx {
        let graph = onnx::import(&bytes)?;
        let id = flash_core::identity::architecture_id(graph.canonical_json().as_bytes());
        (id, false, None, graph)
    } else {
        let spec = parse_spec(&bytes, file)?;
        (
            spec.id(),
            spec.in_space(),
            Some(spec.space.clone()),
            spec.to_graph(),
        )
    };
    let m = metrics::compute(&graph);
    let mut value = serde_json::json!({
        "id": id,
        "space": space,
        "in_space": in_space,
        "nn_degree": m.nn_degree,
        "nn_mass": m.nn_mass,
        "params": m.params,
        "macs": m.macs,
        "layers": m.parametrised_layers,
        "nodes": m.nodes,
    });
    value["metrics"] = serde_json::to_value(&m)?;
    Ok(value)
}

fn parse_spec(bytes: &[u8], file: &Path) -> anyhow::Result<ArchSpec> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", file.display()))?;
    ArchSpec::from_json(text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

fn arch(command: ArchCommand) -> anyhow::Result<()> {
    match command {
        ArchCommand::Inspect { file } => {
            write_out(&serde_json::to_string_pretty(&inspect(&file)?)?)?
        }
        ArchCommand::Export { spec, output } => {
            let bytes = std::fs::read(&spec)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", spec.display()))?;
            let spec = parse_spec(&bytes, &spec)?;
            let model = onnx::export_spec(&spec);
            std::fs::write(&output, &model)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", output.display()))?;
            eprintln!(
                "wrote {} ({} bytes, architecture {})",
                output.display(),
                model.len(),
                spec.id()
            );
        }
    }
    Ok(())
}

fn find_space(name: &str) -> anyhow::Result<&'static Space> {
    Space::by_name(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown space {name:?}; known: {}",
            Space::names().join(", ")
        )
    })
}

fn space(command: SpaceCommand) -> anyhow::Result<()> {
    match command {
        SpaceCommand::List => {
            for space in Space::all() {
                let family: &str = space.family.into();
                write_out(&format!(
                    "{:<26} {family:<9} {:>20}  {}",
                    space.name,
                    space.size(),
                    space.description
                ))?;
            }
        }
        SpaceCommand::Show { name } => {
            // What `GET /v1/spaces/{name}` answers.
            let view = flash_client::SpaceView::from(find_space(&name)?);
            write_out(&serde_json::to_string_pretty(&view)?)?;
        }
        SpaceCommand::Sample {
            name,
            n,
            seed,
            stratified,
        } => {
            let space = find_space(&name)?;
            let specs = if stratified {
                space.sample_stratified(n, seed)
            } else {
                space.sample_uniform(n, seed)
            };
            for spec in specs {
                write_out(&spec.canonical_json())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_reads_a_zoo_network_from_its_graph_alone() {
        // torchvision's MobileNetV3-Small, weights left out (core's zoo fixtures).
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/tests/fixtures/zoo/mobilenet_v3_small.onnx");
        let value = inspect(&file).unwrap();
        assert_eq!(value["params"], 2_536_800);
        assert_eq!(value["in_space"], false);
        assert!(
            value["nn_degree"].as_f64().is_some_and(|g| g > 0.0),
            "{value}"
        );
        assert_eq!(value["metrics"]["layers_by_kind"]["mul"], 9);
    }
}
