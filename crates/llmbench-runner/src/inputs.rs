//! What a run stores of its inputs, and the config a resumed run is rebuilt from.
//!
//! A new run stores every file its config was built from ([`run_files`]: the config, prompt
//! files, items files and named datasets' cached files, with their SHA-256); each sample
//! stores the request it sent (`SampleRecord::request`, set by `execute`). A resumed run is
//! rebuilt from those stored copies ([`resume_config`]), never from the files on disk now,
//! so that an items file edited or truncated between a kill and a resume changes nothing.
//!
//! Not covered: files a plugin reads itself because its options name them (a grader's
//! harness or rubric, a replay provider's answers file). The host cannot tell a path from
//! any other string in plugin options, and plugins read them in their own process space;
//! a resumed run's plugins read those files as they are on disk at the resume.

use std::collections::BTreeMap;
use std::path::PathBuf;

use llmbench_config::{Config, ConfigErrors, SourceRole};
use llmbench_store::{FileRole, RunFile, Store, StoreError};

/// The files a run of `config` stores with it ([`Store::create_run_with_files`]).
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
            bytes: f.bytes.to_vec(),
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
    #[error("the stored config of run {run_id} no longer validates\n{errors}")]
    Config {
        run_id: String,
        errors: ConfigErrors,
    },
}

/// The config run `run_id` ran with, rebuilt from what the store kept: the stored copies of
/// its files when it stored them ([`InputsSource::Stored`]), else its stored config text
/// with the files it names read from disk ([`InputsSource::Disk`], for runs stored before
/// runs stored their files; a warning says so).
pub fn resume_config(store: &Store, run_id: &str) -> Result<(Config, InputsSource), InputsError> {
    let stored = store.run(run_id)?;
    let files = store.run_files(run_id)?;
    let path = PathBuf::from(&stored.config_path);
    let invalid = |errors| InputsError::Config {
        run_id: run_id.to_owned(),
        errors,
    };
    if files.is_empty() {
        tracing::warn!(
            run = run_id,
            "run {run_id} was stored before runs stored their inputs: its prompt and items files are read from disk as they are now"
        );
        let config = llmbench_config::parse(&stored.config_toml, &path).map_err(invalid)?;
        return Ok((config, InputsSource::Disk));
    }
    let copies: BTreeMap<PathBuf, Vec<u8>> = files
        .into_iter()
        .filter(|f| f.role != FileRole::Config)
        .map(|f| (PathBuf::from(f.path), f.bytes))
        .collect();
    let config =
        llmbench_config::parse_stored(&stored.config_toml, &path, &copies).map_err(invalid)?;
    Ok((config, InputsSource::Stored))
}
