//! What the commands share: the [`Failure`] a command ends with and its exit code (short names
//! for [`crate::exit::ExitCode`]), how a failure is printed, logging, the tokio runtime, the
//! CLI's output, and the config, results store, run and plugin directory the arguments name.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use llmbench_store::Store;

use crate::exit;

/// An expected failure with its exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) error: anyhow::Error,
}

impl Failure {
    pub(crate) fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Self {
            code,
            error: error.into(),
        }
    }

    /// Print the failure (`error: ...`, each cause once) and give its exit code.
    pub(crate) fn report(self) -> std::process::ExitCode {
        #[expect(clippy::print_stderr, reason = "the CLI reports its own failure")]
        {
            eprintln!("error: {}", error_text(&self.error));
        }
        std::process::ExitCode::from(self.code)
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self::new(EXIT_FAILED, error)
    }
}

// Short names for the codes of [`exit::ExitCode`], the one list of them.
pub(crate) const EXIT_DONE: u8 = exit::ExitCode::Done.code();
pub(crate) const EXIT_FAILED: u8 = exit::ExitCode::Failed.code();
pub(crate) const EXIT_CONFIG: u8 = exit::ExitCode::Usage.code();
pub(crate) const EXIT_PLUGIN: u8 = exit::ExitCode::Plugin.code();
pub(crate) const EXIT_STORE: u8 = exit::ExitCode::Store.code();
pub(crate) const EXIT_BUDGET: u8 = exit::ExitCode::Budget.code();
pub(crate) const EXIT_NO_ANSWERS: u8 = exit::ExitCode::NoAnswers.code();
pub(crate) const EXIT_INTERRUPTED: u8 = exit::ExitCode::Interrupted.code();
pub(crate) const EXIT_BUSY: u8 = exit::ExitCode::Busy.code();

/// `error` and its causes, `: `-separated like anyhow's `{:#}`, but each cause once: an
/// error whose message already quotes its source (thiserror's `"...: {source}"` with a
/// `source` field) does not print it twice.
fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

pub(crate) fn init_logging(verbose: u8, daemon: bool) {
    let default = match verbose {
        0 if daemon => "warn,llmbench_serve=info",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    multi_thread(None)
}

/// The runtime of a sweep (`run`, `resume`): one worker thread. A sample's work on the host's
/// runtime is light (its request built, the plugins' answers awaited, its record handed to
/// the store's writer thread); the requests, the gradings and the store's writes run on the
/// plugins' runtimes and the writer's own thread. A second worker only added wake-ups between
/// the two: 10,000 plain samples at 0 ms (`perf throughput`'s setup), six alternating runs
/// each, harness CPU 1.43 s with two workers against 1.37 s with one (streamed: 1.95 against
/// 1.83 s), the same wall time, and half the `futex` calls (37,530 against 19,664); at 200 ms
/// (two runs each, plain) 3.98 s against 3.39 s, the same wall time. Blocking
/// work still goes to the blocking pool (`spawn_blocking`, `block_in_place`), as before.
pub(crate) fn sweep_runtime() -> tokio::runtime::Runtime {
    multi_thread(Some(1))
}

/// A multi-thread runtime with `workers` worker threads (tokio's default, one per core, when
/// `None`), I/O and timers enabled.
fn multi_thread(workers: Option<usize>) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
        .enable_all()
        .build()
        .expect("start the tokio runtime")
}

#[expect(clippy::print_stdout, reason = "the CLI's output")]
pub(crate) fn print(text: &str) {
    print!("{text}");
}

pub(crate) fn load_config(path: &Path) -> Result<llmbench_config::Config, Failure> {
    llmbench_config::load(path)
        .map_err(|errors| Failure::new(EXIT_CONFIG, anyhow::anyhow!("invalid config\n{errors}")))
}

pub(crate) fn default_output_dir() -> PathBuf {
    PathBuf::from("llmbench-results")
}

/// Plugins are built next to the executable (`target/<profile>/`), so that is where they
/// are looked for unless told otherwise.
pub(crate) fn default_plugin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_owned))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The id `run_id` names in `store` (`latest`: the newest run). A run the store does not
/// hold is a bad argument (exit 2), not a store failure.
pub(crate) fn resolve_run(store: &Store, run_id: &str) -> Result<String, Failure> {
    if run_id != "latest" {
        return match store.run(run_id) {
            Ok(_) => Ok(run_id.to_owned()),
            Err(e) if e.kind() == "run_not_found" => Err(Failure::new(
                EXIT_CONFIG,
                anyhow::anyhow!(
                    "{e}; `llmbench runs {}` lists the runs it holds",
                    crate::stores::flag_of(store)
                ),
            )),
            Err(e) => Err(Failure::new(EXIT_STORE, e)),
        };
    }
    store
        .latest_run_id()
        .map_err(|e| Failure::new(EXIT_STORE, e))?
        .ok_or_else(|| {
            Failure::new(
                EXIT_CONFIG,
                anyhow::anyhow!("no runs in {}", store.path().display()),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sweep's host runtime has one worker (see [`sweep_runtime`]), whatever the cores.
    #[test]
    fn a_sweep_runs_on_one_worker() {
        assert_eq!(sweep_runtime().metrics().num_workers(), 1);
    }

    /// A thiserror-style error that quotes its source in its message and returns it from
    /// `source()` as well.
    #[derive(Debug)]
    struct Quoting(std::io::Error);

    impl std::fmt::Display for Quoting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "results/llmbench.sqlite: cannot open the results store: {}",
                self.0
            )
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let error = anyhow::Error::new(Quoting(io)).context("cannot list runs");
        assert_eq!(
            error_text(&error),
            "cannot list runs: results/llmbench.sqlite: cannot open the results store: permission denied"
        );
        // Causes that are not quoted are still shown, as with `{:#}`.
        let error = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&error), "outer: inner");
    }
}
