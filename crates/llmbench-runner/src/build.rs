//! Loading and instantiating the plugins a config names.

use std::path::Path;
use std::sync::Arc;

use llmbench_config::{Config, GraderConfig, PriceConfig, ProviderConfig, TaskConfig};
use llmbench_core::{Grader, PluginContext, Provider, Sampling, Secret};
use llmbench_plugin_host::{JudgeModel, LoadError, PluginGrader, PluginProvider};
use llmbench_store::RunFile;
use tokio::sync::Semaphore;

use crate::inputs::{
    StoredPluginFiles, grader_entry, plugin_run_file, provider_entry, warn_unstored,
};

use crate::judge::{GraderModels, JudgeRouter};
use crate::ratelimit::Limiter;

/// A provider ready to serve, with its settings from the config.
#[derive(Clone)]
pub struct ProviderSlot {
    pub name: String,
    pub model: String,
    pub label: String,
    pub provider: Arc<dyn Provider>,
    /// The per-provider concurrency limit (unbounded below the global limit when unset).
    pub limit: Option<Arc<Semaphore>>,
    pub price: Option<PriceConfig>,
    pub max_tokens: Option<u32>,
    pub sampling: Sampling,
    pub stream: bool,
    /// Retries after a retryable failure.
    pub max_retries: u32,
    pub(crate) limiter: Option<Arc<Limiter>>,
}

impl std::fmt::Debug for ProviderSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSlot")
            .field("name", &self.name)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// A task with its graders, in config order.
#[derive(Clone)]
pub struct TaskSlot {
    pub task: Arc<TaskConfig>,
    pub graders: Vec<(String, Arc<dyn Grader>)>,
}

impl std::fmt::Debug for TaskSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSlot")
            .field("task", &self.task.name)
            .finish_non_exhaustive()
    }
}

/// Everything a sweep runs with.
#[derive(Debug, Clone)]
pub struct Components {
    /// The models under test.
    pub providers: Vec<ProviderSlot>,
    pub tasks: Vec<TaskSlot>,
    /// The provider entries graders ask (`judge-only` ones, and models under test named by a
    /// grader's `judge`, sharing their slots), served while a run executes.
    pub(crate) judges: Arc<JudgeRouter>,
    /// The files the plugins read while created (an answers file, a harness, a rubric), as
    /// a new run stores them ([`crate::plugin_run_file`]), in the order built. Take them
    /// (`std::mem::take`) to store them: the components live as long as the run.
    pub plugin_files: Vec<RunFile>,
}

/// Why a config's components could not be built. Names the config entry at fault.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    // The load error is part of the message, so it is not also a `#[source]` (nor a field
    // named `source`): a chain printed with `{:#}` shows it once.
    #[error("{at}: {error}")]
    Plugin {
        at: String,
        /// Boxed: a load error is large, and this error is returned on every path.
        error: Box<LoadError>,
    },
    #[error("{at}: environment variable `{env}` (named by `api-key-env`) is not set")]
    MissingApiKey { at: String, env: String },
    /// Graders refused the options rendered for some items (`GraderPlugin::check_item`):
    /// one line each, `ITEM-PLACE: item `ID`: grader `NAME`: REASON`, at most
    /// [`MAX_ITEM_FAILURES_SHOWN`] of `total`.
    #[error("{}", describe_item_failures(failures, *total))]
    ItemOptions { failures: Vec<String>, total: usize },
    /// A grader did not say which options it reads from each item
    /// (`GraderPlugin::item_defaults`).
    #[error("{at}: the grader did not say which options it reads from each item: {reason}")]
    ItemDefaults { at: String, reason: String },
}

/// How many refused items a [`BuildError::ItemOptions`] lists.
const MAX_ITEM_FAILURES_SHOWN: usize = 20;

fn describe_item_failures(failures: &[String], total: usize) -> String {
    let mut text = format!(
        "{total} item{} cannot be graded with {} options:",
        if total == 1 { "" } else { "s" },
        if total == 1 { "its" } else { "their" }
    );
    for failure in failures {
        text.push_str("\n  ");
        text.push_str(failure);
    }
    if total > failures.len() {
        text.push_str(&format!("\n  ... and {} more", total - failures.len()));
    }
    text
}

impl BuildError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Plugin { error, .. } => error.kind(),
            Self::MissingApiKey { .. } => "missing_api_key",
            Self::ItemOptions { .. } => "item_options",
            Self::ItemDefaults { .. } => "item_defaults",
        }
    }
}

/// Load every plugin the config names from `plugin_dir` (or the paths it gives) and create
/// one instance per provider and per grader entry. Plugin creation may block (a model load),
/// so it runs on the blocking pool.
///
/// The files the plugins read while created are in [`Components::plugin_files`], for a new
/// run to store.
pub async fn build(config: &Config, plugin_dir: &Path) -> Result<Components, BuildError> {
    build_with(config, plugin_dir, None).await
}

/// [`build`] for resuming a run: each plugin is created with the copies its entry stored of
/// the files it read when the run started (`PluginContext::stored_files`), and reads those
/// instead of the files on disk now. A file it reads without a stored copy is read from
/// disk, with a warning.
pub async fn build_resumed(
    config: &Config,
    plugin_dir: &Path,
    stored: &StoredPluginFiles,
) -> Result<Components, BuildError> {
    build_with(config, plugin_dir, Some(stored)).await
}

async fn build_with(
    config: &Config,
    plugin_dir: &Path,
    stored: Option<&StoredPluginFiles>,
) -> Result<Components, BuildError> {
    let mut plugin_files = Vec::new();
    let mut providers = Vec::new();
    for p in &config.providers {
        providers.push(provider_slot(config, p, plugin_dir, stored, &mut plugin_files).await?);
    }
    // Judges: the `judge-only` entries, and the models under test, whose slots (limits
    // included) their samples and the graders that name them share.
    let mut judge_slots = providers.clone();
    for p in &config.judges {
        judge_slots.push(provider_slot(config, p, plugin_dir, stored, &mut plugin_files).await?);
    }
    let judges = Arc::new(JudgeRouter::new(judge_slots));
    let runtime = tokio::runtime::Handle::current();
    let mut tasks = Vec::new();
    let mut item_failures = ItemFailures::default();
    for t in &config.tasks {
        let mut graders: Vec<(String, Arc<dyn Grader>)> = Vec::new();
        for (i, g) in t.graders.iter().enumerate() {
            let at = format!("tasks.{}.graders[{i}] ({})", t.name, g.name);
            let entry = grader_entry(&t.name, &g.name);
            let context = PluginContext {
                config_dir: config.dir.clone(),
                instance_name: g.name.clone(),
                api_key: read_api_key(&at, g.api_key_env.as_deref())?,
                stored_files: stored.map(|s| s.for_entry(&entry)).unwrap_or_default(),
            };
            let (spec, options, dir, base) = (
                g.plugin.clone(),
                g.options.clone(),
                plugin_dir.to_owned(),
                config.dir.clone(),
            );
            // A grader's `judge` names an entry validation checked; its requests go through
            // the router.
            let judge = g.judge.as_ref().map(|name| JudgeModel {
                provider: name.clone(),
                model: judges
                    .slot(name)
                    .map_or_else(String::new, |s| s.model.clone()),
                access: Arc::new(GraderModels {
                    judge: name.clone(),
                    router: Arc::clone(&judges),
                }),
                runtime: runtime.clone(),
            });
            let (grader, read) = blocking(move || {
                let plugin = llmbench_plugin_host::load(&llmbench_plugin_host::resolve(
                    &spec, &dir, &base,
                )?)?;
                let grader = match judge {
                    Some(judge) => PluginGrader::with_judge(&plugin, &options, &context, judge),
                    None => PluginGrader::new(&plugin, &options, &context),
                }?;
                let read = grader.files_read()?;
                Ok((grader, read))
            })
            .await
            .map_err(|error| BuildError::Plugin {
                at: at.clone(),
                error: Box::new(error),
            })?;
            note_files(stored, &entry, read, &mut plugin_files);
            let defaults = grader
                .item_defaults()
                .await
                .map_err(|reason| BuildError::ItemDefaults { at, reason })?;
            check_items(t, g, &defaults, &grader, &mut item_failures).await;
            graders.push((g.name.clone(), Arc::new(grader)));
        }
        tasks.push(TaskSlot {
            task: Arc::new(t.clone()),
            graders,
        });
    }
    if item_failures.total > 0 {
        return Err(BuildError::ItemOptions {
            failures: item_failures.shown,
            total: item_failures.total,
        });
    }
    Ok(Components {
        providers,
        tasks,
        judges,
        plugin_files,
    })
}

/// Keeps the files entry `entry`'s plugin read for the run to store, and on resume warns
/// about those it read without a stored copy.
fn note_files(
    stored: Option<&StoredPluginFiles>,
    entry: &str,
    read: Vec<(String, Vec<u8>)>,
    plugin_files: &mut Vec<RunFile>,
) {
    if let Some(stored) = stored {
        warn_unstored(stored, entry, &read);
    }
    plugin_files.extend(
        read.into_iter()
            .map(|(path, bytes)| plugin_run_file(entry, &path, bytes)),
    );
}

/// Load and instantiate the plugin of provider entry `p`, with its limits.
async fn provider_slot(
    config: &Config,
    p: &ProviderConfig,
    plugin_dir: &Path,
    stored: Option<&StoredPluginFiles>,
    plugin_files: &mut Vec<RunFile>,
) -> Result<ProviderSlot, BuildError> {
    let at = format!("providers.{}", p.name);
    let entry = provider_entry(&p.name);
    let api_key = read_api_key(&at, p.api_key_env.as_deref())?;
    let context = PluginContext {
        config_dir: config.dir.clone(),
        instance_name: p.name.clone(),
        api_key,
        stored_files: stored.map(|s| s.for_entry(&entry)).unwrap_or_default(),
    };
    let (spec, options, dir, base) = (
        p.plugin.clone(),
        p.options.clone(),
        plugin_dir.to_owned(),
        config.dir.clone(),
    );
    let (provider, read) = blocking(move || {
        let plugin =
            llmbench_plugin_host::load(&llmbench_plugin_host::resolve(&spec, &dir, &base)?)?;
        let provider = PluginProvider::new(&plugin, &options, &context)?;
        let read = provider.files_read()?;
        Ok((provider, read))
    })
    .await
    .map_err(|error| BuildError::Plugin {
        at,
        error: Box::new(error),
    })?;
    note_files(stored, &entry, read, plugin_files);
    Ok(ProviderSlot {
        name: p.name.clone(),
        model: p.model.clone(),
        label: p.label.clone(),
        provider: Arc::new(provider),
        limit: p.concurrency.map(|n| Arc::new(Semaphore::new(n))),
        price: p.price.clone(),
        max_tokens: p.max_tokens,
        sampling: p.sampling.clone(),
        stream: p.stream,
        max_retries: p.max_retries,
        limiter: Limiter::new(&p.rate_limits).map(Arc::new),
    })
}

/// Items whose options a grader refused: the first few as lines, and how many in all.
#[derive(Debug, Default)]
struct ItemFailures {
    shown: Vec<String>,
    total: usize,
}

/// When `grader`'s options use item variables (or it has item defaults), render them for
/// every item of `task` as the plugin will for each grade request
/// ([`llmbench_config::with_item_defaults`]) and ask the grader whether it can use them, so
/// that a dataset value it cannot grade against (a non-number for a numeric match) stops the
/// run before any sample, naming the item's place. Options without variables cost nothing
/// here. Items that agree on every variable the options name render the same options: those
/// are rendered and checked once ([`DistinctRenderings`], which reads the values in place,
/// decoding only the first item of each rendering), and sent a chunk per plugin call
/// ([`PluginGrader::check_items`]), not all at once.
async fn check_items(
    task: &TaskConfig,
    config: &GraderConfig,
    defaults: &serde_json::Map<String, serde_json::Value>,
    grader: &PluginGrader,
    failures: &mut ItemFailures,
) {
    if !config.uses_item_vars && defaults.is_empty() {
        return;
    }
    let items = &task.items;
    let names = llmbench_config::option_variables(&config.options, defaults);
    let mut distinct = DistinctRenderings::new(items, &names);
    // For each item, the index of its rendering among the distinct ones.
    let mut rendering = Vec::with_capacity(items.len());
    let mut renderings = Vec::new();
    for index in 0..items.len() {
        let (of, new) = distinct.index(items, index);
        if new {
            let item = items.get(index);
            let options = llmbench_config::with_item_defaults(&config.options, defaults, &item);
            renderings.push((of, options));
        }
        rendering.push(of);
    }
    let refused: std::collections::HashMap<usize, String> =
        grader.check_items(renderings).await.into_iter().collect();
    if refused.is_empty() {
        return;
    }
    for (index, of) in rendering.iter().enumerate() {
        let Some(reason) = refused.get(of) else {
            continue;
        };
        failures.total += 1;
        if failures.shown.len() < MAX_ITEM_FAILURES_SHOWN {
            let place = match task.item_place(index) {
                place if place.is_empty() => format!("tasks.{}", task.name),
                place => place,
            };
            failures.shown.push(format!(
                "{place}: item `{}`: grader `{}`: {reason}",
                task.items.id(index),
                config.name
            ));
        }
    }
}

/// The values of the variables a grader's options name, in [`DistinctRenderings::names`]
/// order (`None`: the item lacks it).
type Values = Vec<Option<String>>;

/// Items told apart by the values of the variables a grader's options name: an item gets
/// the index of the first item that agreed with it on all of them (an absent variable is a
/// value of its own). Only the values of distinct items are kept.
struct DistinctRenderings {
    /// The variables, each looked up once among the items' names.
    names: Vec<llmbench_config::Name>,
    /// By hash of the values: the distinct value lists with that hash, and their indices.
    seen: std::collections::HashMap<u64, Vec<(Values, usize)>>,
    count: usize,
}

impl DistinctRenderings {
    fn new(items: &llmbench_config::Items, names: &[String]) -> Self {
        Self {
            names: names.iter().map(|name| items.name(name)).collect(),
            seen: std::collections::HashMap::new(),
            count: 0,
        }
    }

    /// The index of item `index`'s rendering, and whether it is new. The values are read
    /// where the items keep them ([`llmbench_config::Items::view`]): no item is decoded.
    fn index(&mut self, items: &llmbench_config::Items, index: usize) -> (usize, bool) {
        use std::hash::{Hash, Hasher};
        items.view(index, |item| {
            let value = |name: &llmbench_config::Name| item.value_of(*name);
            // `DefaultHasher::new()` has fixed keys: equal values hash alike across items.
            let mut hasher = std::hash::DefaultHasher::new();
            self.names
                .iter()
                .for_each(|name| value(name).hash(&mut hasher));
            let same = self.seen.entry(hasher.finish()).or_default();
            let found = same.iter().find(|(known, _)| {
                known
                    .iter()
                    .map(Option::as_deref)
                    .eq(self.names.iter().map(value))
            });
            if let Some((_, of)) = found {
                return (*of, false);
            }
            let of = self.count;
            self.count += 1;
            same.push((
                self.names
                    .iter()
                    .map(|n| value(n).map(str::to_owned))
                    .collect(),
                of,
            ));
            (of, true)
        })
    }
}

/// The key in the environment variable `env` names, if it names one; `at` is the config
/// entry, for the error when the variable is unset or empty.
fn read_api_key(at: &str, env: Option<&str>) -> Result<Option<Secret>, BuildError> {
    let Some(env) = env else {
        return Ok(None);
    };
    match std::env::var(env) {
        Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
        _ => Err(BuildError::MissingApiKey {
            at: at.to_owned(),
            env: env.to_owned(),
        }),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LoadError> + Send + 'static,
) -> Result<T, LoadError> {
    tokio::task::spawn_blocking(f)
        .await
        .expect("plugin loading does not panic: the host catches plugin panics")
}
