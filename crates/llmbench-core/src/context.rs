//! What a plugin instance is told about where it runs, besides its own options.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A secret (an API key). Its `Debug` and `Display` never show the value, so it cannot leak
/// through logs or error messages by accident; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Context given to a plugin when it is created (Vector's `SinkContext` pattern: fields can
/// be added without breaking plugins).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginContext {
    /// The directory of the config file; relative paths in options are relative to it.
    pub config_dir: PathBuf,
    /// The name this instance has in the config (`providers.<name>`, a grader's `name`).
    pub instance_name: String,
    /// The API key, read by the host from the environment variable the config names.
    pub api_key: Option<Secret>,
}

impl PluginContext {
    /// Resolve a path from the options against the config directory.
    pub fn resolve(&self, path: impl AsRef<std::path::Path>) -> PathBuf {
        self.config_dir.join(path)
    }
}
