//! The command line: [`Cli`] and its [`Command`]s, and the argument groups several commands
//! share. A command's own flags live with the command (`run::RunArgs`, `export::ExportArgs`,
//! ...); `main` dispatches each [`Command`] to its module.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::{
    compare, datasets, exit, export, gate, merge, mock_server, models, plan, plugins, report, run,
    runs, serve, status, sweep, view,
};

/// Benchmark language models on real tasks: correctness, latency, tokens and cost.
#[derive(Debug, Parser)]
#[command(name = "llmbench", version, about)]
pub(crate) struct Cli {
    /// More logging (-v info, -vv debug, -vvv trace). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a benchmark sweep described by a config file, then print the results table.
    Run(run::RunArgs),
    /// Import the stores of a sharded sweep's shards into one store (merging twice changes
    /// nothing; a sample stored differently by two of them is refused).
    Merge(merge::MergeArgs),
    /// A sharded run's progress per shard: planned, done, failed, last sample time; which
    /// shards have not started or stopped early.
    Status(status::StatusArgs),
    /// Run the config's sweep on its `[schedule]`, serving /metrics and /healthz, until
    /// SIGTERM or Ctrl-C (then the running sweep is checkpointed and resumed next time).
    Serve(serve::ServeArgs),
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
    Export(export::ExportArgs),
    /// Serve a local web app over a results store: runs, reports with live progress,
    /// samples with their evidence, comparisons (read-only, on 127.0.0.1 by default).
    View(view::ViewArgs),
    /// List the runs in a results store.
    Runs(runs::RunsArgs),
    /// List the plugins in a plugin directory, with their versions (exit 3 when a library
    /// there fails to load).
    Plugins(plugins::PluginsArgs),
    /// Check a config file and its plugins' options without running anything.
    Validate {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Fetch or list the model files of in-process providers (cached under
    /// `$XDG_CACHE_HOME/llmbench/models`, checked against their SHA-256).
    Models {
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Fetch or list the named datasets configs use (`dataset = "humaneval"`; cached under
    /// `$XDG_CACHE_HOME/llmbench/datasets`, checked against their SHA-256).
    Datasets(datasets::DatasetsArgs),
    /// Serve a local Anthropic- or OpenAI-compatible protocol server with deterministic
    /// answers and fault injection (for demos and trying configs without a key).
    MockServer(mock_server::MockServerArgs),
}

/// The config file, as `CONFIG` or `--config CONFIG` (either, not both).
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ConfigArg {
    /// The config file (TOML).
    #[arg(value_name = "CONFIG")]
    path: Option<PathBuf>,
    /// The config file (TOML); the same as giving it without `--config`.
    #[arg(long = "config", short = 'c', value_name = "CONFIG")]
    flag: Option<PathBuf>,
}

impl ConfigArg {
    pub(crate) fn into_path(self) -> PathBuf {
        self.path
            .or(self.flag)
            .expect("clap requires CONFIG or --config")
    }
}

/// An optional config file, as `CONFIG` or `--config CONFIG` (not both).
#[derive(Debug, clap::Args)]
#[group(required = false, multiple = false)]
pub(crate) struct OptionalConfigArg {
    /// The config file (TOML) whose models and datasets are fetched. Default: the default
    /// model.
    #[arg(value_name = "CONFIG")]
    path: Option<PathBuf>,
    /// The config file (TOML); the same as giving it without `--config`.
    #[arg(long = "config", short = 'c', value_name = "CONFIG")]
    flag: Option<PathBuf>,
}

impl OptionalConfigArg {
    pub(crate) fn into_path(self) -> Option<PathBuf> {
        self.path.or(self.flag)
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Dirs {
    /// Where the results store lives. Default: the config's `output-dir`, else
    /// `./llmbench-results`.
    #[arg(long)]
    pub(crate) output_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) store: crate::stores::StoreArgs,
    /// Where plugins named in the config are looked up. Default: the config's `plugin-dir`,
    /// else the directory of the llmbench executable.
    #[arg(long)]
    pub(crate) plugin_dir: Option<PathBuf>,
    /// Start even if the estimated cost exceeds the config's `max-cost-usd` (the cap still
    /// stops the run when it is reached).
    #[arg(long)]
    pub(crate) allow_over_budget: bool,
    #[command(flatten)]
    pub(crate) grace: sweep::GraceArg,
}

/// The command line as clap parses it: the derived [`Cli`], with the exit codes in `--help`
/// and the help of the flags `resume` shares with `run` said for `resume`.
pub(crate) fn command() -> clap::Command {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

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
                    Command::Run(run::RunArgs { config, .. })
                    | Command::Serve(serve::ServeArgs { config, .. })
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
                command: models::ModelsCommand::Fetch { config },
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
}
