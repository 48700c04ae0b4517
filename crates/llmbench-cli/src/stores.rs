//! Opening the results store: read commands and `resume` open an existing store and create
//! nothing; only `run` creates one. Both refuse a damaged file (exit 4).

use std::path::Path;

use llmbench_store::{Store, StoreError};

use crate::common::{EXIT_CONFIG, EXIT_STORE, Failure};

/// The store in `dir`, which must exist: `runs`, `report`, `export`, `compare`, `gate` and
/// `resume`. No store there is exit 2 (the arguments name nothing), naming where it looked.
pub(crate) fn open_existing(dir: &Path) -> Result<Store, Failure> {
    Store::open_existing_in_dir(dir).map_err(failure)
}

/// The store in `dir`, created if needed, for writing a new run (`run`). Aggregates are
/// counted in the metrics' buckets.
pub(crate) fn open_for_writing(dir: &Path) -> Result<Store, Failure> {
    let mut store = Store::open_in_dir(dir).map_err(failure)?;
    store.set_histogram_buckets(llmbench_serve::histogram_buckets());
    Ok(store)
}

fn failure(e: StoreError) -> Failure {
    let code = if e.kind() == "not_found" {
        EXIT_CONFIG
    } else {
        EXIT_STORE
    };
    Failure::new(code, e)
}
