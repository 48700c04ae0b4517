//! `llmbench report`: a stored run as the console table (built in), Markdown (the
//! `reporter-markdown` plugin, loaded through the plugin host like any reporter) or a
//! self-contained HTML page (built in).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use llmbench_core::{PluginContext, Reporter, Task as _};
use llmbench_report::analysis::WinnerRule;
use llmbench_report::html::HtmlReporter;

use crate::{
    EXIT_CONFIG, EXIT_PLUGIN, EXIT_STORE, Failure, default_output_dir, default_plugin_dir,
    open_store, print, resolve_run,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ReportFormat {
    /// The results table and failures, for a terminal.
    Console,
    /// The article: table, per-model evidence, comparisons, winner (the reporter-markdown plugin).
    Markdown,
    /// One self-contained page with charts and every sample.
    Html,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// The run (`latest` for the newest).
    #[arg(default_value = "latest")]
    run_id: String,
    #[arg(long)]
    output_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "console")]
    format: ReportFormat,
    /// Write the report here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Where the reporter-markdown plugin is looked up. Default: the directory of the llmbench
    /// executable.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// How the winner is chosen (markdown, html): cheapest-not-worse, fastest-not-worse or
    /// highest-pass-rate.
    #[arg(long, default_value = "cheapest-not-worse")]
    winner_rule: String,
    /// The most characters of an answer quoted per model (markdown).
    #[arg(long, default_value_t = 600)]
    excerpt_chars: usize,
}

pub(crate) fn run(args: ReportArgs) -> Result<u8, Failure> {
    let rule: WinnerRule = args
        .winner_rule
        .parse()
        .map_err(|e: String| Failure::new(EXIT_CONFIG, anyhow::anyhow!(e)))?;
    let store = open_store(&args.output_dir.unwrap_or_else(default_output_dir))?;
    let run_id = resolve_run(&store, &args.run_id)?;
    let report = store
        .report(&run_id)
        .map_err(|e| Failure::new(EXIT_STORE, e))?;
    let text = match args.format {
        ReportFormat::Console => llmbench_report::ConsoleReporter.render(&report)?,
        ReportFormat::Markdown => {
            let plugin_dir = args.plugin_dir.unwrap_or_else(default_plugin_dir);
            let reporter = markdown_plugin(&plugin_dir, rule, args.excerpt_chars)?;
            reporter
                .render(&report)
                .map_err(|e| Failure::new(EXIT_PLUGIN, anyhow::anyhow!("{}", e.message)))?
        }
        ReportFormat::Html => {
            let stored = store
                .run(&run_id)
                .map_err(|e| Failure::new(EXIT_STORE, e))?;
            let (prompts, prompts_note) = prompts(&stored.config_toml, &stored.config_path);
            let reporter = HtmlReporter {
                winner_rule: rule,
                prompts,
                prompts_note,
                ..HtmlReporter::default()
            };
            reporter.render(&report)?
        }
    };
    match &args.output {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
            file.write_all(text.as_bytes())
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "report written");
        }
        None => print(&text),
    }
    Ok(0)
}

/// Load the `reporter-markdown` plugin from `plugin_dir` and instantiate it.
fn markdown_plugin(
    plugin_dir: &Path,
    rule: WinnerRule,
    excerpt_chars: usize,
) -> Result<llmbench_plugin_host::PluginReporter, Failure> {
    let fail = |e: llmbench_plugin_host::LoadError| Failure::new(EXIT_PLUGIN, e);
    let path = llmbench_plugin_host::resolve("reporter-markdown", plugin_dir, Path::new("."))
        .map_err(fail)?;
    let plugin = llmbench_plugin_host::load(&path).map_err(fail)?;
    let options = serde_json::json!({
        "winner-rule": rule.as_str(),
        "excerpt-chars": excerpt_chars,
    });
    llmbench_plugin_host::PluginReporter::new(&plugin, &options, &PluginContext::default())
        .map_err(fail)
}

type Prompts = BTreeMap<(String, String), llmbench_core::CompletionRequest>;

/// The rendered request of every (task, item), rebuilt from the config snapshot the run
/// stored; or why it could not be.
fn prompts(config_toml: &str, config_path: &str) -> (Prompts, Option<String>) {
    match llmbench_config::parse(config_toml, Path::new(config_path)) {
        Ok(config) => {
            let mut prompts = Prompts::new();
            for task in &config.tasks {
                for item in task.items() {
                    prompts.insert((task.name.clone(), item.id.clone()), task.render(item));
                }
            }
            (prompts, None)
        }
        Err(errors) => {
            let first = errors
                .iter()
                .next()
                .map_or_else(String::new, |e| format!(": {e}"));
            (
                Prompts::new(),
                Some(format!(
                    "the run's stored config no longer loads ({} error{}{first})",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                )),
            )
        }
    }
}
