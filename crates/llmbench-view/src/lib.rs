//! `llmbench view`: a small web app over a results store, served on loopback.
//!
//! Pages (every one a deep link; filters are query parameters):
//! - `/`: every run with its config, sweep, start, status, models, samples done/planned, pass
//!   rate and cost; filters by config, sweep and date; two runs picked to compare.
//! - `/runs/ID`: the run's HTML report (the same code as `llmbench report --format html`),
//!   with live progress while the run goes on (polled, no reload).
//! - `/runs/ID/samples`: the run's samples, filtered by model, task, item, verdict, grader
//!   outcome and error kind, with full-text search in answers; paginated.
//! - `/runs/ID/samples/SAMPLE`: one sample: the request as sent, the answer, every grade with
//!   its evidence and kind, every attempt.
//! - `/runs/ID/item?task=T&item=I`: every model's answers to one item, side by side.
//! - `/compare?a=RUN&b=RUN`: per model and task, the change in pass rate, latency and cost
//!   with `llmbench compare`'s tests, and the samples whose verdict changed.
//!
//! Safe by construction: the store is opened as an existing file and only read; everything
//! is served from the binary (no CDN); every response carries a strict
//! Content-Security-Policy (scripts only from this server, no inline script); all stored text
//! is escaped; on a loopback address requests naming another host are refused (no DNS
//! rebinding).

mod assets;
mod compare;
mod layout;
mod pages;
mod query;
mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use llmbench_store::{Store, StoreError};

pub use server::{Page, serve};

/// Where `llmbench view` listens unless told otherwise (port 0: a free one).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8765";

/// What can stop `llmbench view`.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// The app: the store it reads, and what it remembers about runs.
#[derive(Debug)]
pub struct App {
    store: Mutex<Store>,
    /// Sweep names by run id: a run's config never changes.
    sweeps: Mutex<HashMap<String, String>>,
}

impl App {
    /// The app over the existing store at `path` (refused when there is none: nothing is
    /// created).
    pub fn open(path: &Path) -> Result<App, ViewError> {
        App::new(Store::open_existing(path)?)
    }

    /// The app over an open store, which it makes refuse every write from then on.
    pub fn new(store: Store) -> Result<App, ViewError> {
        store.make_query_only()?;
        Ok(App {
            store: Mutex::new(store),
            sweeps: Mutex::default(),
        })
    }

    /// The store's file.
    pub fn store_path(&self) -> PathBuf {
        self.store().path().to_owned()
    }

    pub(crate) fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sweep a run belongs to: its config's `schedule.name`, else the config file's name
    /// without extension (as `llmbench serve` and the metrics name it).
    pub(crate) fn sweep_of(&self, store: &Store, run_id: &str, config_path: &str) -> String {
        if let Some(name) = self
            .sweeps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(run_id)
        {
            return name.clone();
        }
        let scheduled = store.run(run_id).ok().and_then(|run| {
            let config: toml::Table = run.config_toml.parse().ok()?;
            let name = config.get("schedule")?.get("name")?.as_str()?.to_owned();
            Some(name)
        });
        let name = scheduled.unwrap_or_else(|| sweep_name_from_path(config_path));
        self.sweeps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(run_id.to_owned(), name.clone());
        name
    }
}

/// A config file's name without its extension, made a valid id: the same rule as
/// `llmbench_config::Config::sweep_name` (written again here: the config crate's version
/// needs a loaded config, and a stored run has only its text).
fn sweep_name_from_path(path: &str) -> String {
    let stem = Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_names_come_from_the_config_file_name() {
        assert_eq!(
            sweep_name_from_path("configs/nightly run.toml"),
            "nightly_run"
        );
        assert_eq!(sweep_name_from_path("/a/b/bench.toml"), "bench");
    }
}
