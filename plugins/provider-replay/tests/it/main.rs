//! Integration tests: the built `provider-replay` cdylib, loaded through the plugin host.

mod host;

use std::path::PathBuf;

/// This package's cdylib, as cargo last built it (refused if stale: see
/// `llmbench_testsupport::built_plugin`).
fn library() -> PathBuf {
    llmbench_testsupport::built_plugin(env!("CARGO_PKG_NAME"))
}
