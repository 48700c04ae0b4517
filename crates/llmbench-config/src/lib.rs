//! llmbench's benchmark config: TOML in, validated settings out, with errors that point at
//! the line and column to fix.
//!
//! [`load`] reads a config file and [`parse`] validates its text; [`parse_stored`] validates
//! a stored config with the stored copies of the files it names. Every file a config was
//! built from is kept in [`Config::files`], for a run to store. Parsing goes through raw
//! serde structs that mirror the file (unknown keys are errors: a silent typo would change the
//! experiment), then through validation into [`Config`], whose fields hold their invariants.
//! Validation is pure except for reading the config's own `prompt-file`s and `items-file`s
//! (and the cached file of a named `dataset`, which it never fetches): nothing here loads a
//! plugin, reads an API key, goes to the network or starts a runtime.
//!
//! ```
//! let config = llmbench_config::parse(
//!     r#"
//! [providers.haiku]
//! plugin = "provider-replay"
//! model = "claude-haiku-4-5"
//!
//! [tasks.hello]
//! prompt = "Say hello to {{ name }}."
//! items = [{ id = "world", name = "the world" }]
//! "#,
//!     std::path::Path::new("bench.toml"),
//! )
//! .unwrap();
//! assert_eq!(config.providers[0].label, "claude-haiku-4-5");
//! assert_eq!(config.tasks[0].items.get(0).vars["name"], "the world");
//! ```

mod catalog;
mod dataset;
mod de_error;
mod error;
mod files;
mod item_table;
mod items;
mod model;
mod raw;
mod template;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use catalog::{CATALOG_TOML, catalog_price};
pub use error::{ConfigError, ConfigErrorKind, ConfigErrors};
pub use files::{MAX_ITEMS_FILE_BYTES, MAX_PROMPT_FILE_BYTES};
pub use item_table::{ItemView, Items, Name};
pub use model::{
    Config, DEFAULT_METRICS_ADDRESS, GraderConfig, PriceConfig, ProviderConfig, RateLimits,
    RunSettings, ScheduleConfig, SourceFile, SourceRole, TaskConfig, Trigger,
};
pub use template::{
    option_variables, render, render_item, render_options, rendered_len, with_item_defaults,
};

/// Reads and validates the config at `path`, and the prompt and items files it names.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::file(
            ConfigErrorKind::Io,
            path,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    parse(&source, path)
}

/// Validates `source`, the text of the config at `path`.
///
/// `path` names the file in errors, and relative paths in the config (prompt and items
/// files, which are read here, and `output-dir` and `plugin-dir`) are relative to its
/// directory. It need not exist when the config names no files.
pub fn parse(source: &str, path: &Path) -> Result<Config, ConfigErrors> {
    validate::parse(source, path)
}

/// Validates `source`, the text of the config at `path`, reading every file it names from
/// `files` instead of the disk: what a run stored of its inputs ([`Config::files`]), so that
/// a resumed run (or a report) uses exactly what the run was started with, whatever the
/// files on disk hold now.
///
/// `files` maps each file's path, resolved against the config's canonical directory as
/// [`SourceFile::path`] records it, to its bytes as they were on disk (shared: the config's
/// [`SourceFile::bytes`] are these, not a copy). A file the config
/// names that `files` lacks is an error (kind `io`) at the value naming it; nothing is read
/// from disk. The same limits and decoding apply as to files read from disk.
pub fn parse_stored(
    source: &str,
    path: &Path,
    files: &BTreeMap<PathBuf, Arc<[u8]>>,
) -> Result<Config, ConfigErrors> {
    validate::parse_stored(source, path, files)
}
