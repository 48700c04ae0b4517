//! `llmbench`: benchmark language models on real tasks.
//!
//! Exit codes: 0 done; 1 unexpected failure; 2 invalid config or arguments; 3 a plugin could
//! not be loaded; 4 the results store failed; 5 a gate failed (`llmbench gate`: a check was
//! beyond its tolerance, a model was missing, or the run did not finish); 6 stopped by the spend cap (`max-cost-usd`:
//! refused to start over budget, or reached it mid-way; what finished is stored); 130
//! interrupted (what finished is stored; resume with `llmbench resume <run-id>`).

mod compare;
mod gate;
mod models;
mod plan;
mod progress;
mod replay;
mod report;
mod sweep;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use llmbench_store::{ExportFormat, Store};

/// Benchmark language models on real tasks: correctness, latency, tokens and cost.
#[derive(Debug, Parser)]
#[command(name = "llmbench", version, about)]
struct Cli {
    /// More logging (-v info, -vv debug, -vvv trace). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a benchmark sweep described by a config file, then print the results table.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        dirs: Dirs,
        /// Override the config's `repeats`.
        #[arg(long)]
        repeats: Option<u32>,
        /// Answer every provider from this recorded-answers file (provider-replay's JSONL
        /// format) instead of calling it: re-grade saved answers without paying again.
        #[arg(long)]
        replay: Option<PathBuf>,
        /// After the sweep, push its metrics to this Prometheus Pushgateway
        /// (`http://host:9091`), grouped as job `llmbench` and the sweep's name.
        #[arg(long, value_name = "URL")]
        push_gateway: Option<String>,
    },
    /// Run the config's sweep on its `[schedule]`, serving /metrics and /healthz, until
    /// SIGTERM or Ctrl-C (then the running sweep is checkpointed and resumed next time).
    Serve {
        #[arg(long, short)]
        config: PathBuf,
        /// Where the results store lives. Default: the config's `output-dir`, else
        /// `./llmbench-results`.
        #[arg(long)]
        output_dir: Option<PathBuf>,
        /// Where plugins named in the config are looked up. Default: the config's
        /// `plugin-dir`, else the directory of the llmbench executable.
        #[arg(long)]
        plugin_dir: Option<PathBuf>,
        /// Serve metrics here (`IP:PORT`; port 0 picks a free one) instead of the config's
        /// `schedule.metrics-address`.
        #[arg(long, value_name = "ADDRESS")]
        metrics_address: Option<std::net::SocketAddr>,
    },
    /// Continue an interrupted run: finished samples are kept, the others are run.
    Resume {
        run_id: String,
        #[command(flatten)]
        dirs: Dirs,
    },
    /// A run's report: the console table, Markdown (the article) or a self-contained HTML page.
    Report(report::ReportArgs),
    /// Per model and task, how pass rate, p95 latency and cost changed from run A to run B,
    /// each marked significant or not.
    Compare(compare::CompareArgs),
    /// Check a run against a baseline with tolerance bands; exit 5 when a check fails (for CI).
    Gate(gate::GateArgs),
    /// How many samples per model tell two pass rates apart.
    Plan(plan::PlanArgs),
    /// Write every sample of a run as JSON Lines or CSV.
    Export {
        #[arg(default_value = "latest")]
        run_id: String,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
    /// List the runs in a results store.
    Runs {
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
    /// List the plugins in a plugin directory, with their versions.
    Plugins {
        /// Default: the directory of the llmbench executable.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Check a config file without running anything.
    Validate { config: PathBuf },
    /// Fetch or list the model files of in-process providers (cached under
    /// `$XDG_CACHE_HOME/llmbench/models`, checked against their SHA-256).
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Serve a local Anthropic- or OpenAI-compatible protocol server with deterministic
    /// answers and fault injection (for demos and trying configs without a key).
    MockServer {
        #[arg(long, value_parser = ["anthropic", "openai"])]
        protocol: String,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Server settings, `key=value` (see crates/llmbench-mockserver/README.md), e.g.
        /// `--set ttft-ms=200 --set fault=429;retry-after=2@0.1`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Download and verify the models a config's local providers use (default: the
    /// default model).
    Fetch {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// List the cached model files.
    List,
}

#[derive(Debug, clap::Args)]
struct Dirs {
    /// Where the results store lives. Default: the config's `output-dir`, else
    /// `./llmbench-results`.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// Where plugins named in the config are looked up. Default: the config's `plugin-dir`,
    /// else the directory of the llmbench executable.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Start even if the estimated cost exceeds the config's `max-cost-usd` (the cap still
    /// stops the run when it is reached).
    #[arg(long)]
    allow_over_budget: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
}

/// An expected failure with its exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    pub(crate) fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Self {
            code,
            error: error.into(),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self::new(1, error)
    }
}

pub(crate) const EXIT_CONFIG: u8 = 2;
pub(crate) const EXIT_PLUGIN: u8 = 3;
pub(crate) const EXIT_STORE: u8 = 4;
pub(crate) const EXIT_BUDGET: u8 = 6;
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            #[expect(clippy::print_stderr, reason = "the CLI reports its own failure")]
            {
                eprintln!("error: {:#}", failure.error);
            }
            ExitCode::from(failure.code)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the tokio runtime")
}

fn run(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Run {
            config,
            dirs,
            repeats,
            replay,
            push_gateway,
        } => {
            let mut config = match replay {
                None => load_config(&config)?,
                Some(answers) => replay::load_replayed(&config, &answers)?,
            };
            if let Some(r) = repeats {
                if r == 0 {
                    return Err(Failure::new(
                        EXIT_CONFIG,
                        anyhow::anyhow!("--repeats must be at least 1"),
                    ));
                }
                config.run.repeats = r;
            }
            runtime().block_on(sweep::run_new(config, dirs, push_gateway))
        }
        Command::Serve {
            config,
            output_dir,
            plugin_dir,
            metrics_address,
        } => {
            let config = load_config(&config)?;
            let options = llmbench_serve::ServeOptions {
                output_dir: output_dir
                    .or_else(|| config.run.output_dir.clone())
                    .unwrap_or_else(default_output_dir),
                plugin_dir: plugin_dir
                    .or_else(|| config.run.plugin_dir.clone())
                    .unwrap_or_else(default_plugin_dir),
                metrics_address,
            };
            runtime().block_on(async {
                let stop = llmbench_serve::stop_on_signals()?;
                llmbench_serve::serve(config, options, stop, |address| {
                    print(&format!(
                        "llmbench serve: metrics on http://{address}/metrics\n"
                    ));
                })
                .await
                .map_err(|e| match e {
                    llmbench_serve::ServeError::NoSchedule { .. } => Failure::new(EXIT_CONFIG, e),
                    e @ llmbench_serve::ServeError::Store(_) => Failure::new(EXIT_STORE, e),
                    e => Failure::new(1, e),
                })?;
                Ok(0)
            })
        }
        Command::Resume { run_id, dirs } => runtime().block_on(sweep::resume(run_id, dirs)),
        Command::Report(args) => report::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Gate(args) => gate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Export {
            run_id,
            format,
            output,
            output_dir,
        } => {
            let store = open_store(&output_dir.unwrap_or_else(default_output_dir))?;
            let run_id = resolve_run(&store, &run_id)?;
            let format = match format {
                Format::Jsonl => ExportFormat::Jsonl,
                Format::Csv => ExportFormat::Csv,
            };
            let mut out: Box<dyn std::io::Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let rows = store
                .export(&run_id, format, &mut out)
                .map_err(|e| Failure::new(EXIT_STORE, e))?;
            out.flush()?;
            tracing::info!(rows, "exported");
            Ok(0)
        }
        Command::Runs { output_dir } => {
            let store = open_store(&output_dir.unwrap_or_else(default_output_dir))?;
            let mut text = String::new();
            for r in store.list_runs().map_err(|e| Failure::new(EXIT_STORE, e))? {
                text.push_str(&format!(
                    "{}  {:<11}  {}/{} samples, {} errors  {}\n",
                    r.id, r.status, r.done, r.planned_samples, r.errors, r.created_at
                ));
            }
            print(&text);
            Ok(0)
        }
        Command::Plugins { dir } => {
            let dir = dir.unwrap_or_else(default_plugin_dir);
            let entries = llmbench_plugin_host::list_dir(&dir)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?;
            let mut text = format!("plugins in {}:\n", dir.display());
            for (path, meta) in entries {
                let file = path.file_name().unwrap_or_default().to_string_lossy();
                match meta {
                    Ok(m) => text.push_str(&format!(
                        "  {:<22} {:<9} {:<8} sdk {}  {}  ({file})\n",
                        m.name,
                        m.kind.as_str(),
                        m.version,
                        m.sdk_version,
                        m.rustc_version
                    )),
                    Err(e) => text.push_str(&format!("  {file}: {e}\n")),
                }
            }
            print(&text);
            Ok(0)
        }
        Command::MockServer {
            protocol,
            port,
            settings,
        } => {
            let protocol = protocol
                .parse()
                .map_err(|e| Failure::new(EXIT_CONFIG, anyhow::anyhow!("{e}")))?;
            let mut config = llmbench_mockserver::MockConfig::new(protocol);
            config.port = port;
            for setting in &settings {
                let (key, value) = setting.split_once('=').ok_or_else(|| {
                    Failure::new(
                        EXIT_CONFIG,
                        anyhow::anyhow!("--set takes KEY=VALUE, got `{setting}`"),
                    )
                })?;
                config.set(key, value).map_err(|e| {
                    Failure::new(EXIT_CONFIG, anyhow::anyhow!("--set {setting}: {e}"))
                })?;
            }
            runtime().block_on(llmbench_mockserver::run_until(
                config,
                |addr| {
                    print(&format!(
                        "mock {} server listening on http://{addr} (Ctrl-C stops it)\n",
                        protocol.as_str()
                    ))
                },
                async {
                    let _ = tokio::signal::ctrl_c().await;
                },
            ))?;
            Ok(0)
        }
        Command::Models { command } => match command {
            ModelsCommand::Fetch { config } => models::fetch(config.as_deref()),
            ModelsCommand::List => models::list(),
        },
        Command::Validate { config } => {
            let config = load_config(&config)?;
            let samples: usize = config.tasks.iter().map(|t| t.items.len()).sum::<usize>()
                * config.providers.len()
                * config.run.repeats as usize;
            print(&format!(
                "{}: ok ({} providers, {} tasks, {} samples per sweep)\n",
                config.path.display(),
                config.providers.len(),
                config.tasks.len(),
                samples
            ));
            Ok(0)
        }
    }
}

#[expect(clippy::print_stdout, reason = "the CLI's output")]
pub(crate) fn print(text: &str) {
    print!("{text}");
}

pub(crate) fn load_config(path: &Path) -> Result<llmbench_config::Config, Failure> {
    llmbench_config::load(path)
        .map_err(|errors| Failure::new(EXIT_CONFIG, anyhow::anyhow!("invalid config\n{errors}")))
}

pub(crate) fn default_output_dir() -> PathBuf {
    PathBuf::from("llmbench-results")
}

/// Plugins are built next to the executable (`target/<profile>/`), so that is where they
/// are looked for unless told otherwise.
pub(crate) fn default_plugin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_owned))
        .unwrap_or_else(|| PathBuf::from("."))
}

pub(crate) fn open_store(dir: &Path) -> Result<Store, Failure> {
    Store::open_in_dir(dir).map_err(|e| Failure::new(EXIT_STORE, e))
}

fn resolve_run(store: &Store, run_id: &str) -> Result<String, Failure> {
    if run_id != "latest" {
        return Ok(run_id.to_owned());
    }
    store
        .latest_run_id()
        .map_err(|e| Failure::new(EXIT_STORE, e))?
        .ok_or_else(|| {
            Failure::new(
                EXIT_STORE,
                anyhow::anyhow!("no runs in {}", store.path().display()),
            )
        })
}
