//! The grader's options: the raw serde form, checked and turned into [`Settings`] whose
//! fields hold their invariants (files read, limits in range).

use std::path::{Path, PathBuf};
use std::time::Duration;

use llmbench_plugin_sdk::core::PluginContext;
use serde::Deserialize;

/// What the config says, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct OptionsWire {
    harness: PathBuf,
    #[serde(default)]
    code_in_section: Option<String>,
    #[serde(default = "default_timeout_seconds")]
    timeout_seconds: f64,
    #[serde(default = "default_cpu_seconds")]
    cpu_seconds: u64,
    #[serde(default = "default_memory_mb")]
    memory_mb: u64,
    #[serde(default = "default_max_processes")]
    max_processes: u64,
    #[serde(default = "default_max_output_bytes")]
    max_output_bytes: u64,
    #[serde(default = "default_python")]
    python: String,
    #[serde(default)]
    extra_files: Vec<PathBuf>,
}

fn default_timeout_seconds() -> f64 {
    10.0
}
fn default_cpu_seconds() -> u64 {
    10
}
fn default_memory_mb() -> u64 {
    512
}
fn default_max_processes() -> u64 {
    64
}
fn default_max_output_bytes() -> u64 {
    1024 * 1024
}
fn default_python() -> String {
    "python3".to_owned()
}

/// The harness's file name in the run directory.
pub(crate) const HARNESS_FILE: &str = "harness.py";
/// The answer's code's file name in the run directory.
pub(crate) const SOLUTION_FILE: &str = "solution.py";
/// The largest file a sandboxed process may write (`RLIMIT_FSIZE`).
pub(crate) const FILE_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Resource limits of one sandboxed run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Limits {
    pub(crate) wall: Duration,
    pub(crate) cpu_seconds: u64,
    pub(crate) memory_mb: u64,
    pub(crate) max_processes: u64,
    pub(crate) max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            wall: Duration::from_secs_f64(default_timeout_seconds()),
            cpu_seconds: default_cpu_seconds(),
            memory_mb: default_memory_mb(),
            max_processes: default_max_processes(),
            max_output_bytes: default_max_output_bytes() as usize,
        }
    }
}

/// A file placed in the run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunFile {
    pub(crate) name: String,
    pub(crate) contents: Vec<u8>,
}

/// Validated options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) harness: RunFile,
    pub(crate) code_in_section: Option<String>,
    pub(crate) limits: Limits,
    pub(crate) python: String,
    pub(crate) extra_files: Vec<RunFile>,
}

/// Why the options were refused.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("{0}")]
    Parse(#[from] serde_json::Error),
    #[error("`{option}` {reason}")]
    Invalid {
        option: &'static str,
        reason: String,
    },
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn invalid(option: &'static str, reason: impl Into<String>) -> OptionsError {
    OptionsError::Invalid {
        option,
        reason: reason.into(),
    }
}

fn in_range(option: &'static str, value: u64, min: u64, max: u64) -> Result<u64, OptionsError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            option,
            format!("must be between {min} and {max}, not {value}"),
        ))
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, OptionsError> {
    std::fs::read(path).map_err(|source| OptionsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

impl Settings {
    /// Check the options and read the files they name (relative to the config directory).
    pub(crate) fn from_options(
        options: serde_json::Value,
        context: &PluginContext,
    ) -> Result<Self, OptionsError> {
        let o: OptionsWire = serde_json::from_value(options)?;

        let t = o.timeout_seconds;
        if !(t.is_finite() && t > 0.0 && t <= 3600.0) {
            return Err(invalid(
                "timeout-seconds",
                format!("must be more than 0 and at most 3600, not {t}"),
            ));
        }
        let limits = Limits {
            wall: Duration::from_secs_f64(t),
            cpu_seconds: in_range("cpu-seconds", o.cpu_seconds, 1, 3600)?,
            memory_mb: in_range("memory-mb", o.memory_mb, 32, 1024 * 1024)?,
            max_processes: in_range("max-processes", o.max_processes, 1, 100_000)?,
            max_output_bytes: in_range("max-output-bytes", o.max_output_bytes, 1024, 1 << 30)?
                as usize,
        };

        let code_in_section = match o.code_in_section {
            Some(name) if !name.chars().any(char::is_alphanumeric) => {
                return Err(invalid(
                    "code-in-section",
                    format!("must name a section, not \"{name}\""),
                ));
            }
            other => other,
        };
        if o.python.trim().is_empty() {
            return Err(invalid("python", "must not be empty"));
        }

        let harness_path = context.resolve(&o.harness);
        let harness = RunFile {
            name: HARNESS_FILE.to_owned(),
            contents: read("the harness", &harness_path)?,
        };

        let mut extra_files: Vec<RunFile> = Vec::with_capacity(o.extra_files.len());
        for path in &o.extra_files {
            let resolved = context.resolve(path);
            let name = resolved
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    invalid(
                        "extra-files",
                        format!("entry {} has no file name", path.display()),
                    )
                })?
                .to_owned();
            if name == HARNESS_FILE || name == SOLUTION_FILE {
                return Err(invalid(
                    "extra-files",
                    format!(
                        "entry {} would replace the run's own `{name}`",
                        path.display()
                    ),
                ));
            }
            if extra_files.iter().any(|f| f.name == name) {
                return Err(invalid(
                    "extra-files",
                    format!("lists two files named `{name}`"),
                ));
            }
            let contents = read("an extra file", &resolved)?;
            extra_files.push(RunFile { name, contents });
        }

        Ok(Settings {
            harness,
            code_in_section,
            limits,
            python: o.python,
            extra_files,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn context(dir: &Path) -> PluginContext {
        PluginContext {
            config_dir: dir.to_owned(),
            ..PluginContext::default()
        }
    }

    fn dir_with_harness() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("task")).unwrap();
        std::fs::write(dir.path().join("task/harness.py"), "print('{}')").unwrap();
        std::fs::write(dir.path().join("task/data.json"), "[1]").unwrap();
        dir
    }

    #[test]
    fn defaults_and_relative_paths() {
        let dir = dir_with_harness();
        let s = Settings::from_options(
            json!({ "harness": "task/harness.py", "extra-files": ["task/data.json"] }),
            &context(dir.path()),
        )
        .unwrap();
        assert_eq!(s.harness.name, "harness.py");
        assert_eq!(s.harness.contents, b"print('{}')");
        assert_eq!(s.limits, Limits::default());
        assert_eq!(s.limits.wall, Duration::from_secs(10));
        assert_eq!(s.python, "python3");
        assert_eq!(s.code_in_section, None);
        assert_eq!(
            s.extra_files,
            vec![RunFile {
                name: "data.json".into(),
                contents: b"[1]".to_vec()
            }]
        );
    }

    #[test]
    fn all_options() {
        let dir = dir_with_harness();
        let s = Settings::from_options(
            json!({
                "harness": "task/harness.py",
                "code-in-section": "Fix",
                "timeout-seconds": 2.5,
                "cpu-seconds": 3,
                "memory-mb": 256,
                "max-processes": 8,
                "max-output-bytes": 4096,
                "python": "/usr/bin/python3",
            }),
            &context(dir.path()),
        )
        .unwrap();
        assert_eq!(s.code_in_section.as_deref(), Some("Fix"));
        assert_eq!(
            s.limits,
            Limits {
                wall: Duration::from_millis(2500),
                cpu_seconds: 3,
                memory_mb: 256,
                max_processes: 8,
                max_output_bytes: 4096,
            }
        );
        assert_eq!(s.python, "/usr/bin/python3");
    }

    #[track_caller]
    fn refused(options: serde_json::Value) -> String {
        let dir = dir_with_harness();
        Settings::from_options(options, &context(dir.path()))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_options_are_refused_with_the_reason() {
        assert!(
            refused(json!({ "harness": "task/harness.py", "timeout_seconds": 1 }))
                .starts_with("unknown field `timeout_seconds`, expected one of")
        );
        assert_eq!(refused(json!({})), "missing field `harness`");
        let missing = refused(json!({ "harness": "task/nope.py" }));
        assert!(
            missing.starts_with("cannot read the harness ")
                && missing.contains("task/nope.py: No such file"),
            "{missing}"
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "timeout-seconds": 0 })),
            "`timeout-seconds` must be more than 0 and at most 3600, not 0"
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "max-processes": 0 })),
            "`max-processes` must be between 1 and 100000, not 0"
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "code-in-section": " ## " })),
            "`code-in-section` must name a section, not \" ## \""
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "extra-files": ["task/harness.py"] })),
            "`extra-files` entry task/harness.py would replace the run's own `harness.py`"
        );
        assert_eq!(
            refused(json!({
                "harness": "task/harness.py",
                "extra-files": ["task/data.json", "data.json"],
            })),
            "`extra-files` lists two files named `data.json`"
        );
    }
}
