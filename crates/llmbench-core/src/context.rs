//! What a plugin instance is told about where it runs, besides its own options.

use std::collections::BTreeMap;
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
    /// Copies of files this instance read when its run started, by the path as the plugin
    /// resolved it then: given when a run is resumed, so that the plugin reads what the run
    /// started with (an answers file, a harness, a rubric) and not the file on disk now. The
    /// SDK's `read_limited` serves them while the plugin is created. Empty otherwise.
    pub stored_files: BTreeMap<String, FileBytes>,
}

/// A file's bytes, which cross the plugin boundary in JSON as one base64 string (a JSON
/// array of numbers would be four times larger). `Debug` shows only the length.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FileBytes(pub Vec<u8>);

impl fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileBytes({} bytes)", self.0.len())
    }
}

impl Serialize for FileBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for FileBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

impl PluginContext {
    /// Resolve a path from the options against the config directory.
    pub fn resolve(&self, path: impl AsRef<std::path::Path>) -> PathBuf {
        self.config_dir.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_files_cross_as_base64_and_default_to_none() {
        let mut context = PluginContext::default();
        context
            .stored_files
            .insert("/a/answers.jsonl".into(), FileBytes(b"hi\n\xff".to_vec()));
        let json = serde_json::to_value(&context).unwrap();
        assert_eq!(json["stored_files"]["/a/answers.jsonl"], "aGkK/w==");
        let back: PluginContext = serde_json::from_value(json).unwrap();
        assert_eq!(back, context);
        // A host that sends no copies (or an older one) gives none.
        let old: PluginContext =
            serde_json::from_str(r#"{"config_dir": "/x", "instance_name": "a"}"#).unwrap();
        assert!(old.stored_files.is_empty());
        let bad = serde_json::from_str::<FileBytes>(r#""not base64!""#).unwrap_err();
        assert!(bad.to_string().contains("Invalid"), "{bad}");
        assert_eq!(format!("{:?}", FileBytes(vec![1, 2])), "FileBytes(2 bytes)");
    }
}
