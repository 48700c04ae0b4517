//! Integration tests of the runner with real plugins loaded from the build directory.

mod build;

use std::path::{Path, PathBuf};

/// `target/<profile>`, where cargo built the plugin cdylibs this crate's dev-dependencies
/// name, next to the `deps/` directory holding this test executable.
pub fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_owned();
    for name in ["grader-regex", "provider-testkit"] {
        let lib = dir.join(llmbench_plugin_host::library_file_name(name));
        assert!(
            lib.exists(),
            "{} is missing: build it with `cargo build -p {name}`",
            lib.display()
        );
    }
    dir
}
