//! Errors from finding, loading and instantiating plugins.

use std::path::PathBuf;

/// Why a plugin could not be used. Each renders as one line naming the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin `{name}` not found: no {file} in {dir}{}", not_found_help(suggestion.as_deref()))]
    NotFound {
        name: String,
        file: String,
        dir: PathBuf,
        /// The plugin in `dir` whose name is closest to `name`, if one is close.
        suggestion: Option<String>,
    },
    #[error("{path}: cannot open library: {reason}{}", open_help(reason))]
    Open { path: PathBuf, reason: String },
    #[error(
        "{path}: not an llmbench plugin (no `llmbench_plugin_entry` symbol); a plugin crate calls `export_provider!`, `export_grader!` or `export_reporter!` once and is built with `crate-type = [\"cdylib\"]`"
    )]
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
    /// A bad option, at `path` inside the plugin's `options` (see
    /// `llmbench_plugin_sdk::OptionsError`).
    #[error("plugin `{name}` rejected its options: {}", describe_option(path, message, help.as_deref()))]
    Options {
        name: String,
        path: Vec<String>,
        message: String,
        help: Option<String>,
    },
    /// The instance did not answer which files it read while created (`files-read`).
    #[error("plugin `{name}` did not say which files it read: {reason}")]
    FilesRead { name: String, reason: String },
}

fn not_found_help(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => "; a plugin is built next to llmbench by `cargo build` of its crate, which needs `crate-type = [\"cdylib\"]`".to_owned(),
    }
}

/// The likely fix for a `dlopen` failure, from the loader's own words.
fn open_help(reason: &str) -> &'static str {
    if reason.contains("undefined symbol") || reason.contains("version `") {
        "; rebuild the plugin together with this host (`cargo build --workspace`)"
    } else if reason.contains("invalid ELF header")
        || reason.contains("file too short")
        || reason.contains("not a dynamic")
        || reason.contains("wrong ELF class")
    {
        "; not a shared library: a plugin crate is built with `crate-type = [\"cdylib\"]`"
    } else {
        ""
    }
}

/// `option `pattern`: unknown option (did you mean ...?)`, as the SDK's `OptionsError`.
pub(crate) fn describe_option(path: &[String], message: &str, help: Option<&str>) -> String {
    let mut out = if path.is_empty() {
        message.to_owned()
    } else {
        format!("option `{}`: {message}", dotted(path))
    };
    if let Some(help) = help {
        out.push_str(&format!(" ({help})"));
    }
    out
}

/// `sections[2].name`.
pub fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
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
            Self::Options { .. } => "options",
            Self::FilesRead { .. } => "files_read",
        }
    }
}
