//! The labels that name a model under test ([`ModelLabels`]), and a sample's `result`.
//!
//! Turning a config or a stored run into these labels, and samples into observations, is
//! done above this crate (`llmbench-serve`): this crate knows the table and the registry,
//! not the config, the runner or the store.

use std::path::Path;

use llmbench_core::{SampleRecord, SampleStatus};

/// The labels that name a model under test: its provider family, its provider entry in the
/// config and the model id asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelLabels {
    /// `gen_ai_provider_name`: see [`provider_family`].
    pub family: String,
    /// `provider`: the provider entry's name in the config (a sample key's `provider`).
    pub provider: String,
    /// `gen_ai_request_model`.
    pub model: String,
}

impl ModelLabels {
    /// The labels of a provider entry the config no longer names: family `unknown`.
    pub fn unknown(provider: &str, model: &str) -> Self {
        Self {
            family: "unknown".to_owned(),
            provider: provider.to_owned(),
            model: model.to_owned(),
        }
    }
}

/// The provider family of a provider plugin, for `gen_ai_provider_name`: the plugin's name
/// without its `provider-` prefix (`provider-openai` -> `openai`). A path names the plugin by
/// its library file (`../target/debug/libprovider_local.so` -> `local`).
pub fn provider_family(plugin: &str) -> String {
    let is_path = plugin.contains('/')
        || plugin.contains('\\')
        || [".so", ".dylib", ".dll"]
            .iter()
            .any(|e| plugin.ends_with(e));
    let name = if is_path {
        let stem = Path::new(plugin)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        stem.strip_prefix("lib").map(str::to_owned).unwrap_or(stem)
    } else {
        plugin.to_owned()
    };
    let family = name
        .strip_prefix("provider-")
        .or_else(|| name.strip_prefix("provider_"))
        .unwrap_or(&name);
    if family.is_empty() {
        "unknown".to_owned()
    } else {
        family.to_owned()
    }
}

/// A sample's `result` label: `pass`, `fail`, or `error` for a sample without an answer or a
/// verdict.
pub fn sample_result(record: &SampleRecord) -> &'static str {
    match (&record.status, &record.verdict) {
        (SampleStatus::Done, Some(v)) if v.pass => "pass",
        (SampleStatus::Done, Some(_)) => "fail",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_families() {
        assert_eq!(provider_family("provider-openai"), "openai");
        assert_eq!(provider_family("provider-anthropic"), "anthropic");
        assert_eq!(
            provider_family("../target/debug/libprovider_local.so"),
            "local"
        );
        assert_eq!(provider_family("my-plugin"), "my-plugin");
        assert_eq!(provider_family("provider-"), "unknown");
    }
}
