//! Errors from finding, loading and instantiating plugins.

use std::path::PathBuf;

/// Why a plugin could not be used. Each renders as one line naming the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin `{name}` not found: no {file} in {dir}")]
    NotFound {
        name: String,
        file: String,
        dir: PathBuf,
    },
    #[error("{path}: cannot open library: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path}: not an llmbench plugin (no `llmbench_plugin_entry` symbol)")]
    NoEntry { path: PathBuf },
    #[error("{path}: not an llmbench plugin ({reason})")]
    Foreign { path: PathBuf, reason: String },
    #[error(
        "{path}: plugin ABI mismatch ({reason}); rebuild the plugin together with this host, e.g. `cargo xtask bench` or `cargo build --workspace`"
    )]
    Mismatch { path: PathBuf, reason: String },
    #[error(
        "{path}: plugin was built with panic = \"abort\"; plugins must use panic = \"unwind\" so a panic cannot take down the host"
    )]
    PanicAbort { path: PathBuf },
    #[error("{path}: plugin `{name}` is a {actual} plugin, but a {expected} was configured")]
    WrongKind {
        path: PathBuf,
        name: String,
        actual: &'static str,
        expected: &'static str,
    },
    #[error("plugin `{name}` rejected its options: {reason}")]
    Create { name: String, reason: String },
}

impl LoadError {
    /// A bounded label for metrics and exit codes.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Open { .. } => "open",
            Self::NoEntry { .. } | Self::Foreign { .. } => "foreign",
            Self::Mismatch { .. } => "abi_mismatch",
            Self::PanicAbort { .. } => "panic_abort",
            Self::WrongKind { .. } => "wrong_kind",
            Self::Create { .. } => "create",
        }
    }
}
