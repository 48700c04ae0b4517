//! Integration tests of the model cache, with a fake fetcher instead of pip (no network).

mod cache;
