//! `llmbench`: benchmark language models on real tasks.
//!
//! Exit codes are the [`exit::ExitCode`] enum (the README's table is generated from it).

mod compare;
mod datasets;
mod exit;
mod export;
mod gate;
mod merge;
mod models;
mod outcome;
mod plan;
mod progress;
mod replay;
mod report;
mod runs;
mod shard;
mod status;
mod stores;
mod sweep;
mod validate;
mod view;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};
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
        #[command(flatten)]
        config: ConfigArg,
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
        #[command(flatten)]
        shard: shard::ShardArgs,
    },
    /// Import the stores of a sharded sweep's shards into one store (merging twice changes
    /// nothing; a sample stored differently by two of them is refused).
    Merge(merge::MergeArgs),
    /// A sharded run's progress per shard: planned, done, failed, last sample time; which
    /// shards have not started or stopped early.
    Status(status::StatusArgs),
    /// Run the config's sweep on its `[schedule]`, serving /metrics and /healthz, until
    /// SIGTERM or Ctrl-C (then the running sweep is checkpointed and resumed next time).
    Serve {
        #[command(flatten)]
        config: ConfigArg,
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
        #[command(flatten)]
        grace: sweep::GraceArg,
    },
    /// Continue an interrupted run: finished samples are kept, the others are run.
    Resume {
        /// The run to continue (`llmbench runs` lists them); its config is the one stored
        /// with it.
        run_id: String,
        #[command(flatten)]
        dirs: Dirs,
    },
    /// A run's report: the console table, Markdown (the article), a self-contained HTML page,
    /// or what any reporter plugin renders (`--format NAME|PATH`).
    Report(report::ReportArgs),
    /// Per model and task, how pass rate, p95 latency and cost changed from run A to run B,
    /// each marked significant or not.
    Compare(compare::CompareArgs),
    /// Check a run against a baseline with tolerance bands; exit 5 when a check fails (for CI).
    Gate(gate::GateArgs),
    /// How many samples per model tell two pass rates apart.
    Plan(plan::PlanArgs),
    /// Write every sample of a run as JSON Lines or CSV (or, with `--per-item`, one row per
    /// task, item and provider with pass@k).
    Export {
        /// The run (`latest` for the newest).
        #[arg(default_value = "latest")]
        run_id: String,
        /// JSON Lines (one object per sample) or CSV (with a header).
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// The directory of the results store. Default: `./llmbench-results`.
        #[arg(long)]
        output_dir: Option<PathBuf>,
        /// One row per (task, item, provider) instead of per sample: its samples, `n` graded
        /// samples, `c` passed, and pass@k for each k (empty/null when n < k).
        #[arg(long)]
        per_item: bool,
        /// The k of pass@k for `--per-item`, e.g. `1,10`. Default: the run's `[run] pass-at-k`,
        /// else 1.
        #[arg(long, value_name = "K,...", value_delimiter = ',', requires = "per_item",
              value_parser = clap::value_parser!(u32).range(1..))]
        pass_at_k: Vec<u32>,
    },
    /// Serve a local web app over a results store: runs, reports with live progress,
    /// samples with their evidence, comparisons (read-only, on 127.0.0.1 by default).
    View(view::ViewArgs),
    /// List the runs in a results store.
    Runs {
        /// The directory of the results store. Default: `./llmbench-results`.
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
    /// List the plugins in a plugin directory, with their versions (exit 3 when a library
    /// there fails to load).
    Plugins {
        /// The plugin directory. Default: the directory of the llmbench executable.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Check a config file and its plugins' options without running anything.
    Validate {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Fetch or list the model files of in-process providers (cached under
    /// `$XDG_CACHE_HOME/llmbench/models`, checked against their SHA-256).
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Fetch or list the named datasets configs use (`dataset = "humaneval"`; cached under
    /// `$XDG_CACHE_HOME/llmbench/datasets`, checked against their SHA-256).
    Datasets(datasets::DatasetsArgs),
    /// Serve a local Anthropic- or OpenAI-compatible protocol server with deterministic
    /// answers and fault injection (for demos and trying configs without a key).
    MockServer {
        /// The protocol served: Anthropic's Messages API or OpenAI's Chat Completions.
        #[arg(long, value_parser = ["anthropic", "openai"])]
        protocol: String,
        /// The port on 127.0.0.1 (0 picks a free one, printed at start).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Server settings, `key=value` (see crates/llmbench-mockserver/README.md), e.g.
        /// `--set ttft-ms=200 --set fault=429;retry-after=2@0.1`. No API key is required
        /// unless `--set require-api-key=true` (any key) or `--set api-key=KEY` (that key).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Download and verify the models a config's local providers use (default: the
    /// default model), and the named datasets its tasks use.
    Fetch {
        #[command(flatten)]
        config: OptionalConfigArg,
    },
    /// List the cached model files.
    List,
}

/// The config file, as `CONFIG` or `--config CONFIG` (either, not both).
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct ConfigArg {
    /// The config file (TOML).
    #[arg(value_name = "CONFIG")]
    path: Option<PathBuf>,
    /// The config file (TOML); the same as giving it without `--config`.
    #[arg(long = "config", short = 'c', value_name = "CONFIG")]
    flag: Option<PathBuf>,
}

impl ConfigArg {
    fn into_path(self) -> PathBuf {
        self.path
            .or(self.flag)
            .expect("clap requires CONFIG or --config")
    }
}

/// An optional config file, as `CONFIG` or `--config CONFIG` (not both).
#[derive(Debug, clap::Args)]
#[group(required = false, multiple = false)]
struct OptionalConfigArg {
    /// The config file (TOML) whose models and datasets are fetched. Default: the default
    /// model.
    #[arg(value_name = "CONFIG")]
    path: Option<PathBuf>,
    /// The config file (TOML); the same as giving it without `--config`.
    #[arg(long = "config", short = 'c', value_name = "CONFIG")]
    flag: Option<PathBuf>,
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
    #[command(flatten)]
    grace: sweep::GraceArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// JSON Lines: one object per row.
    Jsonl,
    /// Comma-separated values, with a header row.
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
        Self::new(EXIT_FAILED, error)
    }
}

// Short names for the codes of [`exit::ExitCode`], the one list of them.
pub(crate) const EXIT_DONE: u8 = exit::ExitCode::Done.code();
pub(crate) const EXIT_FAILED: u8 = exit::ExitCode::Failed.code();
pub(crate) const EXIT_CONFIG: u8 = exit::ExitCode::Usage.code();
pub(crate) const EXIT_PLUGIN: u8 = exit::ExitCode::Plugin.code();
pub(crate) const EXIT_STORE: u8 = exit::ExitCode::Store.code();
pub(crate) const EXIT_BUDGET: u8 = exit::ExitCode::Budget.code();
pub(crate) const EXIT_NO_ANSWERS: u8 = exit::ExitCode::NoAnswers.code();
pub(crate) const EXIT_INTERRUPTED: u8 = exit::ExitCode::Interrupted.code();
pub(crate) const EXIT_BUSY: u8 = exit::ExitCode::Busy.code();

fn main() -> std::process::ExitCode {
    let matches = command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(failure) => {
            #[expect(clippy::print_stderr, reason = "the CLI reports its own failure")]
            {
                eprintln!("error: {}", error_text(&failure.error));
            }
            std::process::ExitCode::from(failure.code)
        }
    }
}

/// The command line as clap parses it: the derived [`Cli`], with the exit codes in `--help`
/// and the help of the flags `resume` shares with `run` said for `resume`.
fn command() -> clap::Command {
    Cli::command()
        .after_long_help(exit::ExitCode::help())
        .mut_subcommand("resume", |resume| {
            resume
                .mut_arg("output_dir", |a| {
                    a.help("Where the results store holding the run lives. Default: `./llmbench-results`")
                })
                .mut_arg("plugin_dir", |a| {
                    a.help("Where plugins are looked up. Default: the `plugin-dir` of the config stored with the run, else the directory of the llmbench executable")
                })
                .mut_arg("allow_over_budget", |a| {
                    a.help("Continue even if the estimated cost of the rest exceeds the stored config's `max-cost-usd` (the cap still stops the run when it is reached)")
                })
        })
}

/// `error` and its causes, `: `-separated like anyhow's `{:#}`, but each cause once: an
/// error whose message already quotes its source (thiserror's `"...: {source}"` with a
/// `source` field) does not print it twice.
fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
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
            shard,
        } => {
            let config = config.into_path();
            datasets::fetch_missing_for_run(&config)?;
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
            validate::check_plugins(&config, dirs.plugin_dir.as_deref())?;
            runtime().block_on(shard::run(config, dirs, push_gateway, shard))
        }
        Command::Serve {
            config,
            output_dir,
            plugin_dir,
            metrics_address,
            grace,
        } => {
            let mut config = load_config(&config.into_path())?;
            grace.apply(&mut config);
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
                    // Another `serve` of the sweep, or another process running its run.
                    e @ llmbench_serve::ServeError::Locked { .. } => Failure::new(EXIT_BUSY, e),
                    llmbench_serve::ServeError::Store(e) if e.kind() == "run_busy" => {
                        Failure::new(EXIT_BUSY, e)
                    }
                    e @ llmbench_serve::ServeError::Store(_) => Failure::new(EXIT_STORE, e),
                    e => Failure::new(1, e),
                })?;
                Ok(EXIT_DONE)
            })
        }
        Command::Resume { run_id, dirs } => runtime().block_on(sweep::resume(run_id, dirs)),
        Command::Report(args) => report::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Gate(args) => gate::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Status(args) => status::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Datasets(args) => datasets::run(args),
        Command::Export {
            run_id,
            format,
            output,
            output_dir,
            per_item,
            pass_at_k,
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
            let to = output
                .as_ref()
                .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
            let rows = if per_item {
                let report = store
                    .report(&run_id)
                    .map_err(|e| Failure::new(EXIT_STORE, e))?;
                let ks = export::ks(&report, &pass_at_k);
                export::write_per_item(&report, &ks, format, &mut out)
                    .map_err(|e| anyhow::anyhow!("cannot write {to}: {e}"))?
            } else {
                store
                    .export(&run_id, format, &mut out)
                    .map_err(|e| Failure::new(EXIT_STORE, e))?
            };
            out.flush()
                .map_err(|e| anyhow::anyhow!("cannot write {to}: {e}"))?;
            tracing::info!(rows, "exported");
            Ok(EXIT_DONE)
        }
        Command::View(args) => view::run(args),
        Command::Runs { output_dir } => {
            let store = open_store(&output_dir.unwrap_or_else(default_output_dir))?;
            print(&runs::render(&store)?);
            Ok(EXIT_DONE)
        }
        Command::Plugins { dir } => {
            let dir = dir.unwrap_or_else(default_plugin_dir);
            let entries = llmbench_plugin_host::list_dir(&dir)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?;
            let mut text = format!("plugins in {}:\n", dir.display());
            let libraries = entries.len();
            let mut broken = 0;
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
                    Err(e) => {
                        broken += 1;
                        text.push_str(&format!("  {file}: {e}\n"));
                    }
                }
            }
            print(&text);
            if broken > 0 {
                return Err(Failure::new(
                    EXIT_PLUGIN,
                    anyhow::anyhow!(
                        "{broken} of {libraries} libraries in {} failed to load (listed above)",
                        dir.display()
                    ),
                ));
            }
            Ok(EXIT_DONE)
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
            // For trying configs without a key: no key is asked for unless `--set
            // require-api-key=true` or `--set api-key=KEY` says so.
            config.api_key = llmbench_mockserver::ApiKeyCheck::NotRequired;
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
            Ok(EXIT_DONE)
        }
        Command::Models { command } => match command {
            ModelsCommand::Fetch { config } => {
                let config = config.path.or(config.flag);
                if let Some(config) = &config {
                    datasets::fetch_for_config(config)?;
                }
                models::fetch(config.as_deref())
            }
            ModelsCommand::List => models::list(),
        },
        Command::Validate { config } => validate::run(&config.into_path()),
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

/// An existing store, for reading (and `resume`); see [`stores`].
pub(crate) fn open_store(dir: &Path) -> Result<Store, Failure> {
    stores::open_existing(dir)
}

/// The id `run_id` names in `store` (`latest`: the newest run). A run the store does not
/// hold is a bad argument (exit 2), not a store failure.
fn resolve_run(store: &Store, run_id: &str) -> Result<String, Failure> {
    if run_id != "latest" {
        return match store.run(run_id) {
            Ok(_) => Ok(run_id.to_owned()),
            Err(e) if e.kind() == "run_not_found" => Err(Failure::new(
                EXIT_CONFIG,
                anyhow::anyhow!(
                    "{e}; `llmbench runs --output-dir {}` lists the runs it holds",
                    store
                        .path()
                        .parent()
                        .map_or_else(|| ".".to_owned(), |d| d.display().to_string())
                ),
            )),
            Err(e) => Err(Failure::new(EXIT_STORE, e)),
        };
    }
    store
        .latest_run_id()
        .map_err(|e| Failure::new(EXIT_STORE, e))?
        .ok_or_else(|| {
            Failure::new(
                EXIT_CONFIG,
                anyhow::anyhow!("no runs in {}", store.path().display()),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every (sub)command, with its command path.
    fn all_args(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in cmd.get_arguments() {
            out.push((path.to_owned(), arg.clone()));
        }
        for sub in cmd.get_subcommands() {
            all_args(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn every_argument_has_help() {
        let mut cmd = command();
        cmd.build();
        let mut args = Vec::new();
        all_args(&cmd, "llmbench", &mut args);
        assert!(args.len() > 40, "walked {} arguments", args.len());
        let missing: Vec<String> = args
            .iter()
            .filter(|(_, a)| !matches!(a.get_id().as_str(), "help" | "version"))
            .filter(|(_, a)| a.get_help().is_none_or(|h| h.to_string().trim().is_empty()))
            .map(|(path, a)| format!("{path} {}", a.get_id()))
            .collect();
        assert!(
            missing.is_empty(),
            "arguments without help text: {missing:?}"
        );
    }

    #[test]
    fn a_config_is_given_either_way_but_not_twice() {
        for sub in ["run", "validate", "serve"] {
            for args in [
                vec![sub, "c.toml"],
                vec![sub, "--config", "c.toml"],
                vec![sub, "-c", "c.toml"],
            ] {
                let cli = Cli::try_parse_from(std::iter::once("llmbench").chain(args.clone()))
                    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
                let path = match cli.command {
                    Command::Run { config, .. }
                    | Command::Serve { config, .. }
                    | Command::Validate { config } => config.into_path(),
                    other => panic!("{other:?}"),
                };
                assert_eq!(path, Path::new("c.toml"), "{args:?}");
            }
            let both = Cli::try_parse_from(["llmbench", sub, "a.toml", "--config", "b.toml"]);
            assert!(both.is_err(), "{sub}: both forms at once must be refused");
            let none = Cli::try_parse_from(["llmbench", sub]);
            assert!(none.is_err(), "{sub}: a config is required");
        }
        for args in [
            vec!["models", "fetch", "c.toml"],
            vec!["models", "fetch", "--config", "c.toml"],
        ] {
            let cli = Cli::try_parse_from(std::iter::once("llmbench").chain(args.clone())).unwrap();
            let Command::Models {
                command: ModelsCommand::Fetch { config },
            } = cli.command
            else {
                panic!("{args:?}")
            };
            assert_eq!(
                config.path.or(config.flag).as_deref(),
                Some(Path::new("c.toml"))
            );
        }
        assert!(Cli::try_parse_from(["llmbench", "models", "fetch"]).is_ok());
        assert!(
            Cli::try_parse_from(["llmbench", "models", "fetch", "a.toml", "-c", "b.toml"]).is_err()
        );
    }

    /// A thiserror-style error that quotes its source in its message and returns it from
    /// `source()` as well.
    #[derive(Debug)]
    struct Quoting(std::io::Error);

    impl std::fmt::Display for Quoting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "results/llmbench.sqlite: cannot open the results store: {}",
                self.0
            )
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let error = anyhow::Error::new(Quoting(io)).context("cannot list runs");
        assert_eq!(
            error_text(&error),
            "cannot list runs: results/llmbench.sqlite: cannot open the results store: permission denied"
        );
        // Causes that are not quoted are still shown, as with `{:#}`.
        let error = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&error), "outer: inner");
    }
}
