//! Integration tests of the runner with real plugins loaded from the build directory.

mod build;
mod plugin_files;

use std::path::PathBuf;

/// `target/<profile>`, where cargo built the plugin cdylibs this crate's dev-dependencies
/// name, next to the `deps/` directory holding this test executable.
pub fn plugin_dir() -> PathBuf {
    llmbench_testsupport::plugin_dir(&["grader-regex", "provider-replay", "provider-testkit"])
}
