//! Validated config types: every field already holds its invariant (ranges checked, paths
//! resolved against the config's directory, templates checked against every item).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use llmbench_core::{
    CompletionRequest, FileContent, Item, Message, Price, Sampling, Task, VerdictRule,
};

use crate::item_table::Items;
use crate::template::render_item;

/// A loaded, validated benchmark config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file, canonicalized when it exists.
    pub path: PathBuf,
    /// The directory relative paths in the config were resolved against.
    pub dir: PathBuf,
    /// The TOML text, as read (kept so that a run can record exactly what it ran).
    pub source: String,
    pub run: RunSettings,
    /// The models under test, in file order.
    pub providers: Vec<ProviderConfig>,
    /// The `judge-only` provider entries, in file order: models that graders ask
    /// ([`GraderConfig::judge`]), which get no samples.
    pub judges: Vec<ProviderConfig>,
    /// In file order.
    pub tasks: Vec<TaskConfig>,
    /// `[schedule]`, when the config has one.
    pub schedule: Option<ScheduleConfig>,
    /// Every file this config was built from, in the order read: the config itself first,
    /// then each prompt file and items file (or named dataset's cached file) once. What a run
    /// stores so that a resumed run, or a report of it, uses exactly these bytes
    /// ([`crate::parse_stored`]) rather than the files on disk later.
    pub files: Vec<SourceFile>,
}

/// What a file a config was built from was read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceRole {
    /// The config file.
    Config,
    /// A task's `prompt-file`.
    Prompt,
    /// A task's `items-file`, or the cached file of a named `dataset`.
    Items,
}

/// One file a config was built from, as read.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub role: SourceRole,
    /// Resolved against the config's (canonical) directory; a dataset's is its cache path.
    /// The key [`crate::parse_stored`] looks the file up by.
    pub path: PathBuf,
    /// The bytes as stored on disk (compressed, for a `.gz` items file); shared, so that
    /// cloning a config does not copy them. A large `.jsonl` items file is read as a stream
    /// and not kept: its content is then where it is on disk, with the size and SHA-256 of
    /// what was read ([`FileContent::Disk`]; a run reads it again to store it, and refuses
    /// it if it changed).
    pub content: FileContent,
}

impl std::fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceFile")
            .field("role", &self.role)
            .field("path", &self.path)
            .field("content", &self.content)
            .finish()
    }
}

impl Config {
    /// Reads into memory every file the config recorded by its place on disk
    /// ([`FileContent::Disk`], a `.jsonl` items file read as a stream): for a config that
    /// starts run after run (`llmbench serve`), so that each run stores and runs the items
    /// read at the start even when the file is edited meanwhile (a file read as a stream is
    /// otherwise read again by each run, and refused once it changed). An error when the file
    /// changed already.
    pub fn hold_files(&mut self) -> std::io::Result<()> {
        for file in &mut self.files {
            if matches!(file.content, FileContent::Disk { .. }) {
                file.content = FileContent::Bytes(file.content.to_bytes()?);
            }
        }
        Ok(())
    }

    /// The sweep's name in metrics: `schedule.name`, else the config file's name without
    /// its extension, with characters other than letters, digits, `_`, `.` and `-` replaced
    /// by `_`.
    pub fn sweep_name(&self) -> String {
        match &self.schedule {
            Some(schedule) => schedule.name.clone(),
            None => sweep_name_from_path(&self.path),
        }
    }

    /// The model under test named `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The provider entry a grader's `judge` names: a `judge-only` one or a model under test.
    pub fn judge(&self, name: &str) -> Option<&ProviderConfig> {
        self.judges
            .iter()
            .chain(&self.providers)
            .find(|p| p.name == name)
    }

    pub fn task(&self, name: &str) -> Option<&TaskConfig> {
        self.tasks.iter().find(|t| t.name == name)
    }
}

/// `[run]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    /// Resolved against the config's directory; `None`: the caller's default.
    pub output_dir: Option<PathBuf>,
    /// A PostgreSQL store URL (`postgres://` or `postgresql://`, without a password); `None`:
    /// the SQLite file in `output_dir`.
    pub store: Option<String>,
    /// The environment variable the store's password is read from; `None`: `PGPASSWORD`.
    pub store_password_env: Option<String>,
    /// At least 1.
    pub repeats: u32,
    /// At least 1.
    pub concurrency: usize,
    /// More than zero.
    pub timeout: Duration,
    /// How long a stopped run waits for the samples in flight before cancelling them.
    pub grace: Duration,
    /// Resolved against the config's directory; `None`: next to the executable.
    pub plugin_dir: Option<PathBuf>,
    /// More than zero.
    pub max_cost_usd: Option<f64>,
    /// The k values of pass@k that reports show: sorted, unique, each from 1 to `repeats`.
    /// Empty unless the config sets `pass-at-k`.
    pub pass_at_k: Vec<u32>,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            output_dir: None,
            store: None,
            store_password_env: None,
            repeats: 1,
            concurrency: 4,
            timeout: Duration::from_secs(300),
            grace: Duration::from_secs(5),
            plugin_dir: None,
            max_cost_usd: None,
            pass_at_k: Vec::new(),
        }
    }
}

/// `[providers.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    /// A valid id (`[A-Za-z0-9_.-]+`).
    pub name: String,
    /// As written: a plugin name, or a path relative to [`Config::dir`]. The plugin host
    /// resolves it.
    pub plugin: String,
    /// Not empty.
    pub model: String,
    /// The display name: `label`, or the model id.
    pub label: String,
    /// The name of the environment variable holding the API key (a valid variable name).
    pub api_key_env: Option<String>,
    /// At least 1.
    pub concurrency: Option<usize>,
    /// At least 1; overrides the task's.
    pub max_tokens: Option<u32>,
    /// Request and token rate limits.
    pub rate_limits: RateLimits,
    /// 0 to 10.
    pub max_retries: u32,
    /// Ranges checked.
    pub sampling: Sampling,
    pub stream: bool,
    pub price: Option<PriceConfig>,
    /// The plugin's options (a JSON object, maybe empty).
    pub options: serde_json::Value,
}

/// How fast requests may go to one provider. All limits at least 1 when set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub requests_per_minute: Option<u32>,
    pub input_tokens_per_minute: Option<u64>,
    pub output_tokens_per_minute: Option<u64>,
    pub adaptive: bool,
}

/// A provider's prices and when they were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceConfig {
    /// All finite and non-negative.
    pub price: Price,
    /// `YYYY-MM-DD`, a real date.
    pub as_of: Option<String>,
    /// Taken from the price catalog because the config gave no price.
    pub from_catalog: bool,
}

/// `[tasks.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskConfig {
    /// A valid id (`[A-Za-z0-9_.-]+`).
    pub name: String,
    pub description: Option<String>,
    /// System prompt template; its variables are set by every item.
    pub system: Option<String>,
    /// User prompt template (read from `prompt-file` if that was given); its variables are
    /// set by every item.
    pub prompt: String,
    /// At least 1.
    pub max_tokens: u32,
    /// At least 1; `max_tokens` unless set.
    pub expected_output_tokens: u32,
    /// At least one; ids unique. Only those `limit` or `sample` keep, in file order, with
    /// where each was defined ([`Items::place`]). Stored compactly and shared, so that
    /// cloning a task (the runner keeps one per run) does not copy them: each item is
    /// decoded when asked for ([`Items::get`]), so that a task of a million items does not
    /// hold a million maps.
    pub items: Items,
    /// Names unique within the task.
    pub graders: Vec<GraderConfig>,
    /// For `Weighted`, `weights` are the graders' weights in order.
    pub verdict: VerdictRule,
}

/// `[[tasks.NAME.graders]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraderConfig {
    /// Unique within the task.
    pub name: String,
    /// As written: a plugin name or a path relative to [`Config::dir`].
    pub plugin: String,
    /// Finite, 0 or more.
    pub weight: f64,
    /// Advisory: a failure lowers the score and is reported, but does not fail the sample.
    pub advisory: bool,
    /// The provider entry the grader asks as its judge (it exists: see [`Config::judge`]).
    pub judge: Option<String>,
    /// The name of the environment variable holding the API key of a model the grader calls
    /// by itself (a valid variable name).
    pub api_key_env: Option<String>,
    /// The price of a model the grader calls by itself: `price`, or the catalog's for
    /// `options.model`. `None` with a `judge` (whose entry's price applies).
    pub price: Option<PriceConfig>,
    /// The plugin's options (a JSON object, maybe empty). Strings may hold item variables;
    /// see `uses_item_vars`.
    pub options: serde_json::Value,
    /// Whether any string in `options` has a `{{ name }}` placeholder, so that each item's
    /// grading needs the options rendered ([`crate::render_options`]); when false, they are
    /// the same for every item. Computed once when the config is loaded.
    pub uses_item_vars: bool,
}

impl GraderConfig {
    /// The options for `item`: rendered when they use item variables, else `None` (the
    /// grader keeps the options it was created with).
    pub fn options_for(&self, item: &Item) -> Option<serde_json::Value> {
        self.uses_item_vars
            .then(|| crate::template::render_options(&self.options, item))
    }
}

impl TaskConfig {
    /// Where the item at `index` of [`TaskConfig::items`] was defined (`items.jsonl:12`), for
    /// messages; empty when out of range.
    pub fn item_place(&self, index: usize) -> String {
        self.items.place(index).unwrap_or_default()
    }
}

impl Task for TaskConfig {
    fn id(&self) -> &str {
        &self.name
    }

    /// Every item, decoded and kept from the first call on: prefer [`Items::get`] (what the
    /// runner uses), which decodes one at a time.
    fn items(&self) -> &[Item] {
        self.items.all()
    }

    /// The request for `item`: templates filled in, default sampling, streaming, and an
    /// empty model id that the runner replaces with the provider's.
    fn render(&self, item: &Item) -> CompletionRequest {
        CompletionRequest {
            model: String::new(),
            system: self.system.as_ref().map(|s| render_item(s, item)),
            messages: vec![Message::user(render_item(&self.prompt, item))],
            max_tokens: self.max_tokens,
            sampling: Sampling::default(),
            stream: true,
            sample: None,
        }
    }

    fn verdict_rule(&self) -> &VerdictRule {
        &self.verdict
    }
}

/// `[schedule]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleConfig {
    /// A valid id: `name`, or the config file's name without its extension.
    pub name: String,
    pub trigger: Trigger,
    /// The most a start is delayed by, at random.
    pub jitter: Duration,
    pub metrics_address: SocketAddr,
    /// Between 0 and 1.
    pub max_error_ratio: f64,
    /// `keep-runs`: keep the samples of this many newest runs (at least 1); `None` keeps all.
    pub keep_runs: Option<usize>,
    /// `keep-days`: keep the samples of runs created less than this many days ago (at least
    /// 1); `None` keeps all.
    pub keep_days: Option<u32>,
}

/// When sweeps start.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per config, matched by callers: boxing buys nothing"
)]
pub enum Trigger {
    /// Every this long (at least a second), from the previous start.
    Interval(Duration),
    /// When the expression matches, read in `timezone`.
    Cron {
        /// As written.
        expression: String,
        cron: croner::Cron,
        /// The IANA name as written (`UTC` by default).
        timezone_name: String,
        timezone: jiff::tz::TimeZone,
    },
}

/// The default metrics address of `llmbench serve`.
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:9464";

/// A config file's name without its extension, made a valid id.
pub(crate) fn sweep_name_from_path(path: &std::path::Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "llmbench".to_owned()
    } else {
        name
    }
}
