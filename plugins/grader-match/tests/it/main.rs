//! Integration tests: the built `grader-match` cdylib, loaded through the plugin host.

mod host;

use std::path::PathBuf;

/// The cdylib cargo built for this package: `target/<profile>/lib<name>.so`, next to the
/// `deps/` directory holding this test executable.
fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    profile_dir.join(llmbench_plugin_host::library_file_name(env!(
        "CARGO_PKG_NAME"
    )))
}
