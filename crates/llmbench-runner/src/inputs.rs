//! What a run stores of its inputs, and the config a resumed run is rebuilt from.
//!
//! A new run stores every file its config was built from ([`run_files`]: the config, prompt
//! files, items files and named datasets' cached files, with their SHA-256); each sample
//! stores the request it sent (`SampleRecord::request`, set by `execute`). A resumed run is
//! rebuilt from those stored copies ([`resume_config`]), never from the files on disk now,
//! so that an items file edited or truncated between a kill and a resume changes nothing.
//!
//! Files a plugin reads itself because its options name them (a grader's harness, extra
//! files or rubric, a replay provider's answers file) are stored too: the host cannot tell a
//! path from any other string in plugin options, so the plugin SDK records what a plugin
//! reads while it is created (`PluginProvider::files_read`), and [`crate::build`] collects
//! them ([`Components::plugin_files`](crate::Components)), stored with role `plugin-file` and
//! the path `ENTRY:PATH` ([`plugin_run_file`]: `providers.NAME` or `tasks.TASK.graders.NAME`,
//! then the path as the plugin resolved it). A resumed run gives each plugin the copies its
//! entry stored ([`stored_plugin_files`], `PluginContext::stored_files`), which it reads
//! instead of the disk; a file it reads that the run has no copy of (a run stored before
//! runs stored the files plugins read) is read from disk, with a warning.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use llmbench_config::{Config, ConfigErrors, SourceRole};
use llmbench_core::FileBytes;
use llmbench_store::{FileRole, RunFile, Store, StoreError, StoredRun};

/// The files a run of `config` stores with it ([`Store::create_run_with_files`]): the same
/// bytes as the config's, shared, not copied (an items file can be 100 MB).
pub fn run_files(config: &Config) -> Vec<RunFile> {
    config
        .files
        .iter()
        .map(|f| RunFile {
            role: match f.role {
                SourceRole::Config => FileRole::Config,
                SourceRole::Prompt => FileRole::Prompt,
                SourceRole::Items => FileRole::Items,
            },
            path: f.path.display().to_string(),
            content: f.content.clone(),
        })
        .collect()
}

/// Where the config of a resumed run came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputsSource {
    /// The run's stored copies of every file it read.
    Stored,
    /// The run was stored before runs stored their files (store schema version 5): its
    /// stored config text, with the prompt and items files it names read from disk as they
    /// are now.
    Disk,
}

/// Why a stored run's config cannot be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored file read back from the store is always in memory: never in practice.
    #[error("cannot read a stored file of run {run_id}: {source}")]
    StoredFile {
        run_id: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the stored config of run {run_id} no longer validates\n{errors}")]
    Config {
        run_id: String,
        errors: ConfigErrors,
    },
}

/// The config run `run_id` ran with, rebuilt from what the store kept: the stored copies of
/// its files when it stored them ([`InputsSource::Stored`]), else its stored config text
/// with the files it names read from disk ([`InputsSource::Disk`], for runs stored before
/// runs stored their files; a warning says so). [`stored_inputs`], then
/// [`StoredInputs::config`].
pub fn resume_config(store: &Store, run_id: &str) -> Result<(Config, InputsSource), InputsError> {
    stored_inputs(store, run_id)?.config()
}

/// What a stored run's config is rebuilt from, as read from the store ([`stored_inputs`]).
/// Building the config from it ([`StoredInputs::config`]) needs no store: `resume` does it
/// beside the store's integrity check, each on one core.
#[derive(Debug, Clone)]
pub struct StoredInputs {
    run: StoredRun,
    path: PathBuf,
    /// The stored copies of the prompt and items files by path; `None` for a run stored
    /// before runs stored their files.
    copies: Option<BTreeMap<PathBuf, Arc<[u8]>>>,
}

/// Reads what run `run_id`'s config is rebuilt from: its config text and the stored copies
/// of the files it read.
pub fn stored_inputs(store: &Store, run_id: &str) -> Result<StoredInputs, InputsError> {
    let stored = store.run(run_id)?;
    // Only the prompt and items files: the config's text is the run's, and the plugins' files
    // (up to 64 MB each) are read by `stored_plugin_files` when the plugins are built.
    let copies = match store.run_stored_files(run_id)? {
        false => None,
        true => {
            let mut copies = BTreeMap::new();
            for role in [FileRole::Prompt, FileRole::Items] {
                for f in store.run_files_of_role(run_id, role)? {
                    let bytes = f
                        .content
                        .to_bytes()
                        .map_err(|source| InputsError::StoredFile {
                            run_id: run_id.to_owned(),
                            source,
                        })?;
                    copies.insert(PathBuf::from(f.path), bytes);
                }
            }
            Some(copies)
        }
    };
    Ok(StoredInputs {
        path: PathBuf::from(&stored.config_path),
        run: stored,
        copies,
    })
}

impl StoredInputs {
    /// The run as stored (its planned sample count, config text, ...).
    pub fn run(&self) -> &StoredRun {
        &self.run
    }

    /// The config, parsed and validated from the stored copies (reading every item: about a
    /// second for a million).
    pub fn config(&self) -> Result<(Config, InputsSource), InputsError> {
        let run_id = &self.run.id;
        let invalid = |errors| InputsError::Config {
            run_id: run_id.clone(),
            errors,
        };
        let Some(copies) = &self.copies else {
            tracing::warn!(
                run = run_id,
                "run {run_id} was stored before runs stored their inputs: its prompt and items files are read from disk as they are now"
            );
            let config =
                llmbench_config::parse(&self.run.config_toml, &self.path).map_err(invalid)?;
            return Ok((config, InputsSource::Disk));
        };
        let config = llmbench_config::parse_stored(&self.run.config_toml, &self.path, copies)
            .map_err(invalid)?;
        Ok((config, InputsSource::Stored))
    }
}

/// The name a provider entry's plugin files are stored under: `providers.NAME` (judge-only
/// entries too).
pub(crate) fn provider_entry(name: &str) -> String {
    format!("providers.{name}")
}

/// The name a grader entry's plugin files are stored under: `tasks.TASK.graders.NAME`.
pub(crate) fn grader_entry(task: &str, name: &str) -> String {
    format!("tasks.{task}.graders.{name}")
}

/// A file the plugin of config entry `entry` read while created, as a run stores it: role
/// `plugin-file`, path `ENTRY:PATH` (the `run_files` table has no other column for the entry;
/// entry names never hold a `:`).
pub fn plugin_run_file(entry: &str, path: &str, bytes: Vec<u8>) -> RunFile {
    RunFile {
        role: FileRole::PluginFile,
        path: format!("{entry}:{path}"),
        content: bytes.into(),
    }
}

/// The copies of the files a stored run's plugins read, by config entry
/// ([`stored_plugin_files`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredPluginFiles {
    run_id: String,
    by_entry: BTreeMap<String, BTreeMap<String, FileBytes>>,
}

impl StoredPluginFiles {
    /// The run they were stored with.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The copies entry `entry`'s plugin is created with (`PluginContext::stored_files`):
    /// path as the plugin resolved it -> bytes.
    pub fn for_entry(&self, entry: &str) -> BTreeMap<String, FileBytes> {
        self.by_entry.get(entry).cloned().unwrap_or_default()
    }

    /// How many copies there are, over all entries.
    pub fn len(&self) -> usize {
        self.by_entry.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The files run `run_id`'s plugins read when it started (role `plugin-file`), for resuming
/// it; none for a run stored before runs stored them.
pub fn stored_plugin_files(store: &Store, run_id: &str) -> Result<StoredPluginFiles, StoreError> {
    let mut by_entry: BTreeMap<String, BTreeMap<String, FileBytes>> = BTreeMap::new();
    for file in store.run_files_of_role(run_id, FileRole::PluginFile)? {
        let Some((entry, path)) = file.path.split_once(':') else {
            tracing::warn!(
                run = run_id,
                "ignoring stored plugin file `{}`: no entry name before its path",
                file.path
            );
            continue;
        };
        by_entry.entry(entry.to_owned()).or_default().insert(
            path.to_owned(),
            FileBytes(
                file.content
                    .to_bytes()
                    .map_err(|e| StoreError::RunFile {
                        path: store.path().to_path_buf(),
                        detail: e.to_string(),
                    })?
                    .to_vec(),
            ),
        );
    }
    Ok(StoredPluginFiles {
        run_id: run_id.to_owned(),
        by_entry,
    })
}

/// Warns about each file entry `entry`'s plugin read on resume that `stored` has no copy of:
/// that one came from disk as it is now.
pub(crate) fn warn_unstored(stored: &StoredPluginFiles, entry: &str, read: &[(String, Vec<u8>)]) {
    let copies = stored.by_entry.get(entry);
    for (path, _) in read {
        if copies.is_none_or(|c| !c.contains_key(path)) {
            tracing::warn!(
                run = stored.run_id(),
                "{entry}: the plugin read {path} from disk as it is now: run {} stored no copy of it (runs stored before they kept the files plugins read have none)",
                stored.run_id()
            );
        }
    }
}
