//! Raw config to validated [`Config`]: every check, every error collected, nothing loaded
//! but the config's own prompt and items files.
//!
//! One file per config section, each adding its checks to the shared [`Validator`]
//! (`checker`): `run`, `schedule`, `providers` (judges included), `prices`, and a task's
//! `tasks`, `items`, `templates` and `graders` (with the verdict).

mod checker;
mod graders;
mod items;
mod prices;
mod providers;
mod run;
mod schedule;
mod tasks;
mod templates;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::de_error;
use crate::error::{ConfigErrorKind, ConfigErrors, Sink};
use crate::model::{Config, SourceFile, SourceRole};
use crate::raw::RawConfig;

use checker::Validator;
pub(crate) use checker::to_json;

use ConfigErrorKind as K;

/// Where a named dataset's file is, as far as validation is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DatasetFile {
    /// No dataset has this name.
    Unknown,
    /// Known, and not in the cache yet: it would be here.
    NotFetched(PathBuf),
    /// In the cache, verified when it was put there.
    Fetched(PathBuf),
    /// The cache cannot be found (no home directory): the message.
    Error(String),
}

/// Looks a named dataset up in the local cache (never fetches).
pub(crate) fn cached_dataset(name: &str) -> DatasetFile {
    let Some(dataset) = llmbench_models::dataset(name) else {
        return DatasetFile::Unknown;
    };
    match llmbench_models::cached_dataset(dataset) {
        Ok((path, true)) => DatasetFile::Fetched(path),
        Ok((path, false)) => DatasetFile::NotFetched(path),
        Err(e) => DatasetFile::Error(e.to_string()),
    }
}

/// Parses and validates `source`, the text of the config at `path`.
pub(crate) fn parse(source: &str, path: &Path) -> Result<Config, ConfigErrors> {
    parse_with(source, path, &cached_dataset)
}

/// [`parse`], with every file the config names read from `stored` (keyed by the path
/// resolved against the config's canonical directory, as [`Config::files`] records it)
/// instead of the disk. A file missing from `stored` is an error at the value naming it.
pub(crate) fn parse_stored(
    source: &str,
    path: &Path,
    stored: &BTreeMap<PathBuf, Arc<[u8]>>,
) -> Result<Config, ConfigErrors> {
    // A dataset is looked up by name; its stored copy stands in for the cache, fetched or not.
    let datasets = |name: &str| match cached_dataset(name) {
        DatasetFile::NotFetched(p) if stored.contains_key(&p) => DatasetFile::Fetched(p),
        other => other,
    };
    parse_from(source, path, &datasets, Some(stored))
}

/// [`parse`], with named datasets looked up by `datasets` (tests point it at a temporary
/// cache).
pub(crate) fn parse_with(
    source: &str,
    path: &Path,
    datasets: &dyn Fn(&str) -> DatasetFile,
) -> Result<Config, ConfigErrors> {
    parse_from(source, path, datasets, None)
}

fn parse_from(
    source: &str,
    path: &Path,
    datasets: &dyn Fn(&str) -> DatasetFile,
    stored: Option<&BTreeMap<PathBuf, Arc<[u8]>>>,
) -> Result<Config, ConfigErrors> {
    let raw: RawConfig =
        toml::from_str(source).map_err(|e| de_error::translate(&e, path, source))?;

    // Files named in the config are read and shown relative to the path as given (so
    // messages read like the command line), and stored resolved against the canonical one.
    let base = path.parent().unwrap_or(Path::new(""));
    let canonical = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let dir = canonical.parent().unwrap_or(Path::new("")).to_path_buf();

    let mut v = Validator {
        sink: Sink::new(path, source),
        base,
        dir: &dir,
        datasets,
        document: None,
        provider_names: Vec::new(),
        stored,
        files: vec![SourceFile {
            role: SourceRole::Config,
            path: canonical.clone(),
            content: llmbench_core::FileContent::Bytes(Arc::from(source.as_bytes())),
        }],
    };
    let run = v.run(raw.run);
    v.provider_names = raw
        .providers
        .0
        .iter()
        .map(|(name, _)| name.get_ref().clone())
        .collect();
    let under_test = raw
        .providers
        .0
        .iter()
        .filter(|(_, p)| p.judge_only != Some(true))
        .count();
    if under_test == 0 && !raw.providers.0.is_empty() {
        v.sink
            .error(
                K::MissingKey,
                0..0,
                "no providers to benchmark: every provider is `judge-only`",
            )
            .help("add a `[providers.NAME]` table without `judge-only = true` for the model under test");
    }
    if raw.providers.0.is_empty() {
        v.sink
            .error(
                K::MissingKey,
                0..0,
                "no providers: the config must define at least one",
            )
            .help("add a `[providers.NAME]` table with a `plugin` and a `model`");
    }
    if raw.tasks.0.is_empty() {
        v.sink
            .error(
                K::MissingKey,
                0..0,
                "no tasks: the config must define at least one",
            )
            .help("add a `[tasks.NAME]` table with a `prompt`");
    }
    let (judges, providers): (Vec<_>, Vec<_>) = raw
        .providers
        .0
        .into_iter()
        .map(|(name, provider)| {
            let judge_only = provider.judge_only == Some(true);
            (judge_only, v.provider(name, provider))
        })
        .partition(|(judge_only, _)| *judge_only);
    let judges = judges.into_iter().map(|(_, p)| p).collect();
    let providers = providers.into_iter().map(|(_, p)| p).collect();
    let tasks: Vec<_> = raw
        .tasks
        .0
        .into_iter()
        .map(|(name, task)| v.task(name, task))
        .collect();
    let schedule = raw.schedule.map(|s| v.schedule(s, path));

    if !v.sink.errors.is_empty() {
        // Top to bottom: the config's errors first, then each other file's, in the order
        // the files were named.
        let mut errors = v.sink.errors;
        let mut files: Vec<PathBuf> = vec![path.to_path_buf()];
        for e in &errors {
            if !files.contains(&e.path) {
                files.push(e.path.clone());
            }
        }
        errors.sort_by_key(|e| (files.iter().position(|f| *f == e.path), e.line, e.column));
        return Err(ConfigErrors(errors));
    }
    let files = std::mem::take(&mut v.files);
    Ok(Config {
        path: canonical,
        dir,
        source: source.to_owned(),
        run,
        providers,
        judges,
        tasks,
        schedule,
        files,
    })
}
