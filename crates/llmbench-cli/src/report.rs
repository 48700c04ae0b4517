//! `llmbench report`: a stored run through a [`Reporter`] chosen by `--format`. One path for
//! every format (`llmbench_report::reporters::choose`): `console` and `html` are the built-in
//! reporters, in process; `markdown` is the shipped `reporter-markdown` plugin; any other
//! name is a reporter plugin in the plugin directory, and a value with a path separator (or
//! the library suffix) is the path of one. Plugins are loaded through the plugin host and
//! seen through the same `Reporter` trait as the built-ins.
//!
//! Options reach a reporter plugin as one JSON object built from `--option KEY=VALUE`
//! (repeatable; VALUE is read as JSON when it parses as JSON, else taken as a string). The
//! Markdown plugin also gets `--winner-rule` and `--excerpt-chars`; the built-ins take no
//! `--option`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use llmbench_core::{GradeOutcome, PluginContext, Reporter, RunReport};
use llmbench_plugin_host::{LoadError, PluginKind, PluginReporter};
use llmbench_report::analysis::WinnerRule;
use llmbench_report::html::HtmlReporter;
use llmbench_report::reporters::{MARKDOWN_PLUGIN, ReporterChoice, UnknownFormat, choose};
use llmbench_report::stats::Bootstrap;
use llmbench_report::summary::{
    AnswerOutline, GradesOutline, NamedGrade, SampleLimits, SampleOutline,
};

use crate::common::{
    EXIT_CONFIG, EXIT_PLUGIN, EXIT_STORE, Failure, default_plugin_dir, print, resolve_run,
};

#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// The run (`latest` for the newest).
    #[arg(default_value = "latest")]
    run_id: String,
    /// The directory of the results store. Default: `./llmbench-results`.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    #[command(flatten)]
    store: crate::stores::StoreArgs,
    /// The reporter: `console` (the results table, built in), `markdown` (the article, the
    /// shipped reporter-markdown plugin), `html` (one self-contained page, built in), or any
    /// reporter plugin by name (looked up in the plugin directory) or by the path of its
    /// library.
    #[arg(long, default_value = "console", value_name = "FORMAT")]
    format: String,
    /// Write the report here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Where reporter plugins are looked up. Default: the directory of the llmbench
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
    /// An option for a reporter plugin, `KEY=VALUE` (repeatable). VALUE is read as JSON
    /// when it parses as JSON (`40`, `true`, `"text"`, `[1, 2]`), else taken as a string.
    #[arg(long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
}

/// The reporter `--format` chose, before the run is read.
#[derive(Debug)]
enum Chosen {
    Console,
    Html,
    Plugin(PluginReporter),
}

pub(crate) fn run(args: ReportArgs) -> Result<u8, Failure> {
    let rule: WinnerRule = args
        .winner_rule
        .parse()
        .map_err(|e: String| Failure::new(EXIT_CONFIG, anyhow::anyhow!(e)))?;
    let options =
        plugin_options(&args.options).map_err(|e| Failure::new(EXIT_CONFIG, anyhow::anyhow!(e)))?;
    let plugin_dir = args.plugin_dir.clone().unwrap_or_else(default_plugin_dir);
    // The one choice of reporter, made before the store is read so that a bad format fails
    // as a bad argument.
    let chosen = match choose(&args.format) {
        choice @ (ReporterChoice::Console | ReporterChoice::Html) => {
            if let Some(key) = options.keys().next() {
                return Err(Failure::new(
                    EXIT_CONFIG,
                    anyhow::anyhow!(
                        "the built-in `{}` reporter takes no --option (got `{key}`); options are for reporter plugins",
                        args.format
                    ),
                ));
            }
            if choice == ReporterChoice::Html {
                Chosen::Html
            } else {
                Chosen::Console
            }
        }
        ReporterChoice::Plugin(spec) => {
            let mut all = serde_json::Map::new();
            if spec == MARKDOWN_PLUGIN {
                all.insert("winner-rule".into(), rule.as_str().into());
                all.insert("excerpt-chars".into(), args.excerpt_chars.into());
            }
            all.extend(options);
            Chosen::Plugin(plugin_reporter(spec, &plugin_dir, &all.into())?)
        }
    };
    let store = crate::stores::Location::resolve(&args.store, args.output_dir.as_deref(), None)?
        .open_existing()?;
    let run_id = resolve_run(&store, &args.run_id)?;
    let report = read_bounded(
        &store,
        &run_id,
        SampleLimits::default(),
        &Bootstrap::default(),
    )
    .map_err(|e| Failure::new(EXIT_STORE, e))?;
    let reporter: Box<dyn Reporter> = match chosen {
        Chosen::Console => Box::new(llmbench_report::ConsoleReporter::default()),
        Chosen::Html => {
            // The page shows each item's prompt as the run stored it when it sent it.
            let (prompts, prompts_note) = prompts(&report);
            Box::new(HtmlReporter {
                winner_rule: rule,
                prompts,
                prompts_note,
                ..HtmlReporter::default()
            })
        }
        Chosen::Plugin(plugin) => Box::new(plugin),
    };
    let text = reporter.render(&report).map_err(|e| {
        // Built-ins do not fail; a plugin's failure is a plugin failure.
        Failure::new(
            EXIT_PLUGIN,
            anyhow::anyhow!("reporter `{}` failed: {}", args.format, e.message),
        )
    })?;
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

/// The run as reporters see it, in memory bounded whatever its size: the summary of every
/// sample (one streaming pass, no texts) and at most `limits` samples in full, failing ones
/// first (`llmbench_report::summary`). A run of at most `limits.full` samples keeps them all.
///
/// The pass reads the samples in the order the file holds them (three sequential scans, no
/// join through the indexes and no sort: `llmbench_store`'s `report_reads`), which the
/// summary and the selection do not depend on; when the file's tables are not in step (or
/// the store is PostgreSQL), the run is read again in report order.
pub(crate) fn read_bounded(
    store: &llmbench_store::Store,
    run_id: &str,
    limits: SampleLimits,
    bootstrap: &Bootstrap,
) -> Result<RunReport, llmbench_store::StoreError> {
    let info = store.run_info(run_id)?;
    let in_step = std::cell::Cell::new(false);
    let mut grades: Vec<NamedGrade> = Vec::new();
    let report = llmbench_report::summary::bounded_report_of_outlines(
        info.clone(),
        limits,
        bootstrap,
        |each| {
            let complete = store.for_each_sample_outline_in_storage_order(run_id, |row| {
                grades.clear();
                grades.extend(row.grades.iter().map(|g| NamedGrade {
                    grader: g.grader,
                    pass: g.outcome == GradeOutcome::Pass,
                    kind: g.kind,
                    cost_usd: g.cost_usd,
                }));
                each(&SampleOutline {
                    task: row.task,
                    item: row.item,
                    provider: row.provider,
                    repeat: row.repeat,
                    status: row.status,
                    error: row.error.map(|(kind, status)| (kind.as_str(), status)),
                    answer: row.answer.map(|a| AnswerOutline {
                        latency: a.latency,
                        time_to_first_token: a.time_to_first_token,
                        total_input_tokens: a.usage.total_input(),
                        output_tokens: a.usage.output_tokens,
                    }),
                    cost_usd: row.cost_usd,
                    verdict: row.verdict,
                    grades: GradesOutline::Named {
                        names: row.grader_names,
                        grades: &grades,
                    },
                });
                Ok(())
            })?;
            in_step.set(complete);
            Ok(())
        },
        |keys| {
            if in_step.get() {
                store.samples_by_key(run_id, keys)
            } else {
                Ok(Vec::new())
            }
        },
    )?;
    if in_step.get() {
        return Ok(report);
    }
    tracing::debug!(run_id, "reading the run again in report order");
    llmbench_report::summary::bounded_report(
        info,
        limits,
        bootstrap,
        |each| {
            store.for_each_sample_outline(run_id, |s| {
                each(&s);
                Ok(())
            })
        },
        |keys| store.samples_by_key(run_id, keys),
    )
}

/// `--option KEY=VALUE`s as the JSON object a reporter plugin is created with.
fn plugin_options(pairs: &[String]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut options = serde_json::Map::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--option takes KEY=VALUE, got `{pair}`"))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("--option takes KEY=VALUE, got `{pair}` (no key)"));
        }
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        if options.insert(key.to_owned(), value).is_some() {
            return Err(format!("--option `{key}` is given twice"));
        }
    }
    Ok(options)
}

/// Find, load and instantiate the reporter plugin `spec` (a name in `plugin_dir` or a path).
///
/// A name that is not a reporter plugin in `plugin_dir` is an unknown format (exit 2, with
/// the formats there are); the shipped Markdown plugin missing, or a library that cannot be
/// loaded, is a plugin failure (exit 3); options the plugin refuses are bad arguments (exit 2).
fn plugin_reporter(
    spec: &str,
    plugin_dir: &Path,
    options: &serde_json::Value,
) -> Result<PluginReporter, Failure> {
    let path = match llmbench_plugin_host::resolve(spec, plugin_dir, Path::new(".")) {
        Ok(path) => path,
        Err(LoadError::NotFound { .. }) if spec != MARKDOWN_PLUGIN => {
            return Err(unknown_format(spec, None, plugin_dir));
        }
        Err(e) => return Err(Failure::new(EXIT_PLUGIN, e)),
    };
    let plugin = llmbench_plugin_host::load(&path).map_err(|e| Failure::new(EXIT_PLUGIN, e))?;
    let kind = plugin.meta().kind;
    if kind != PluginKind::Reporter {
        let other = (kind.as_str().to_owned(), plugin.path().to_owned());
        return Err(unknown_format(spec, Some(other), plugin_dir));
    }
    PluginReporter::new(&plugin, options, &PluginContext::default()).map_err(|e| match e {
        LoadError::Options { .. } | LoadError::Create { .. } => Failure::new(EXIT_CONFIG, e),
        e => Failure::new(EXIT_PLUGIN, e),
    })
}

/// Exit 2: `spec` names no reporter. Lists the reporter plugins in `plugin_dir` (loading
/// each library there to read its kind; only on this error path).
fn unknown_format(spec: &str, other_kind: Option<(String, PathBuf)>, plugin_dir: &Path) -> Failure {
    let plugins = llmbench_plugin_host::list_dir(plugin_dir)
        .map(|entries| {
            entries
                .into_iter()
                .filter_map(|(_, meta)| meta.ok())
                .filter(|meta| meta.kind == PluginKind::Reporter)
                .map(|meta| meta.name)
                .collect()
        })
        .unwrap_or_default();
    Failure::new(
        EXIT_CONFIG,
        UnknownFormat::new(spec, other_kind, plugin_dir.to_owned(), plugins),
    )
}

type Prompts = BTreeMap<(String, String), llmbench_core::CompletionRequest>;

/// The request each (task, item) sent, as the run stored it with its samples (never rebuilt
/// from the prompt and items files, which may have changed since); or why there are none:
/// runs stored before requests were recorded show no prompts rather than guessed ones.
fn prompts(report: &RunReport) -> (Prompts, Option<String>) {
    let mut prompts = Prompts::new();
    let mut missing = 0usize;
    for s in &report.samples {
        match &s.request {
            Some(request) => {
                prompts
                    .entry((s.key.task.clone(), s.key.item.clone()))
                    .or_insert_with(|| request.clone());
            }
            None => missing += 1,
        }
    }
    let note = (prompts.is_empty() && missing > 0).then(|| {
        "this run was stored before runs recorded the requests they sent (store schema 5), \
         and prompts are not rebuilt from files that may have changed since"
            .to_owned()
    });
    (prompts, note)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_are_json_when_they_parse_as_json() {
        let options = plugin_options(&pairs(&[
            "excerpt-chars=40",
            "title=Nightly run",
            "strict=true",
            "quoted=\"7\"",
            "ks=[1, 10]",
            "empty=",
            "expr=a=b",
        ]))
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(options),
            serde_json::json!({
                "excerpt-chars": 40,
                "title": "Nightly run",
                "strict": true,
                "quoted": "7",
                "ks": [1, 10],
                "empty": "",
                "expr": "a=b",
            })
        );
        assert!(plugin_options(&[]).unwrap().is_empty());
    }

    #[test]
    fn bad_options_are_refused() {
        assert_eq!(
            plugin_options(&pairs(&["verbose"])).unwrap_err(),
            "--option takes KEY=VALUE, got `verbose`"
        );
        assert_eq!(
            plugin_options(&pairs(&["=1"])).unwrap_err(),
            "--option takes KEY=VALUE, got `=1` (no key)"
        );
        assert_eq!(
            plugin_options(&pairs(&["a=1", "a=2"])).unwrap_err(),
            "--option `a` is given twice"
        );
    }

    #[test]
    fn a_missing_plugin_name_is_an_unknown_format_but_a_missing_markdown_plugin_fails_to_load() {
        let empty = tempfile::tempdir().unwrap();
        let options = serde_json::json!({});
        let e = plugin_reporter("reporter-mine", empty.path(), &options).unwrap_err();
        assert_eq!(e.code, EXIT_CONFIG);
        let text = format!("{:#}", e.error);
        assert!(
            text.starts_with("unknown report format `reporter-mine`\n"),
            "{text}"
        );
        assert!(
            text.contains("built-in formats: console, markdown, html"),
            "{text}"
        );
        let e = plugin_reporter(MARKDOWN_PLUGIN, empty.path(), &options).unwrap_err();
        assert_eq!(e.code, EXIT_PLUGIN);
        assert!(format!("{:#}", e.error).contains("reporter-markdown"));
    }
}
