//! Validated config types: every field already holds its invariant (ranges checked, paths
//! resolved against the config's directory, templates checked against every item).

use std::path::PathBuf;
use std::time::Duration;

use llmbench_core::{CompletionRequest, Item, Message, Price, Sampling, Task, VerdictRule};

use crate::template::render;

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
    /// In file order.
    pub providers: Vec<ProviderConfig>,
    /// In file order.
    pub tasks: Vec<TaskConfig>,
}

impl Config {
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
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
    /// At least 1.
    pub repeats: u32,
    /// At least 1.
    pub concurrency: usize,
    /// More than zero.
    pub timeout: Duration,
    /// Resolved against the config's directory; `None`: next to the executable.
    pub plugin_dir: Option<PathBuf>,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            output_dir: None,
            repeats: 1,
            concurrency: 4,
            timeout: Duration::from_secs(300),
            plugin_dir: None,
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
    /// Ranges checked.
    pub sampling: Sampling,
    pub stream: bool,
    pub price: Option<PriceConfig>,
    /// The plugin's options (a JSON object, maybe empty).
    pub options: serde_json::Value,
}

/// A provider's prices and when they were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceConfig {
    /// All finite and non-negative.
    pub price: Price,
    /// `YYYY-MM-DD`, a real date.
    pub as_of: Option<String>,
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
    /// At least one; ids unique.
    pub items: Vec<Item>,
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
    /// The plugin's options (a JSON object, maybe empty).
    pub options: serde_json::Value,
}

impl Task for TaskConfig {
    fn id(&self) -> &str {
        &self.name
    }

    fn items(&self) -> &[Item] {
        &self.items
    }

    /// The request for `item`: templates filled in, default sampling, streaming, and an
    /// empty model id that the runner replaces with the provider's.
    fn render(&self, item: &Item) -> CompletionRequest {
        CompletionRequest {
            model: String::new(),
            system: self.system.as_ref().map(|s| render(s, &item.vars)),
            messages: vec![Message::user(render(&self.prompt, &item.vars))],
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
