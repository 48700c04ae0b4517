//! Test support shared by the tests of every crate and plugin: [`built_plugin`] and
//! [`plugin_dir`], the one way a test finds a plugin library that cargo built. Both refuse
//! (panic, saying which `cargo build -p` fixes it) a library older than any source file it is
//! built from, so a test never loads a stale plugin.
//!
//! Where cargo puts a plugin's library (`lib<name>.so`, with the platform's
//! [`DLL_PREFIX`](std::env::consts::DLL_PREFIX) and
//! [`DLL_SUFFIX`](std::env::consts::DLL_SUFFIX)): every build writes it to
//! `target/<profile>/deps/`; cargo hard-links it up to `target/<profile>/` (next to
//! `llmbench`, the default plugin directory) only when the package is named on the command
//! line (`cargo build -p NAME`, `cargo build --workspace`). `cargo test` builds the plugins a
//! test needs (its own package, its dev-dependencies) as dependencies, so those stay in
//! `deps/`, and the copy above may be an old one.
//!
//! What "stale" means: a source file the library is built from was modified after the
//! library was written (cargo's own rule: it compares the same modification times). The
//! source files come from cargo's dep-info, so they are exactly the files cargo watches:
//! - `target/<profile>/lib<name>.d`, which cargo writes with the hard link: every source
//!   file of the plugin and of the path dependencies it is built from (`llmbench-core`,
//!   `-plugin-abi`, `-plugin-sdk` and the plugin's own, such as `llmbench-outline`);
//! - `target/<profile>/deps/<name>.d`, which rustc writes with every build of the library:
//!   the plugin's own source files, current even when the first file is older.
//!
//! Without the first (a plugin never built by name), the files under `src/` and the
//! `build.rs` of the plugin and of its path dependencies are read from the manifests instead
//! (`[dependencies]` and `[build-dependencies]`, `workspace = true` resolved in the root
//! manifest). That is a superset of what the build read (a module behind a disabled feature
//! counts too), so it can only refuse more, never accept a stale library.

pub mod postgres;

use std::collections::BTreeSet;
use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The library of plugin `package` (`provider-replay`) that cargo built last for the running
/// test's profile: `target/<profile>/lib<name>.so` or, when `cargo test` rebuilt it without
/// copying it up, `target/<profile>/deps/lib<name>.so` (the newer of the two).
///
/// # Panics
///
/// When neither exists, or when the newer one is older than a source file it is built from;
/// the message names the file and the fix (`cargo build -p <package>`).
pub fn built_plugin(package: &str) -> PathBuf {
    Layout::current()
        .built_plugin(package)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `target/<profile>`, the directory `cargo build` puts plugins in and the `llmbench` binary's
/// default plugin directory, for tests that give a plugin directory rather than a library
/// (to the runner, or to `llmbench --plugin-dir`): every plugin in `packages` must be there
/// and up to date (the copy in `deps/` does not count: a directory is searched by name).
///
/// # Panics
///
/// When a plugin is missing there or is older than a source file it is built from; the
/// message names the file and the fix (`cargo build -p <package> ...`).
pub fn plugin_dir(packages: &[&str]) -> PathBuf {
    Layout::current()
        .plugin_dir(packages)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `provider-replay` -> `libprovider_replay.so` (the platform's prefix and suffix). The same
/// rule as `llmbench_plugin_host::library_file_name`, repeated here so that a test needing
/// only this crate does not link the plugin host.
fn library_file_name(package: &str) -> String {
    format!("{DLL_PREFIX}{}{DLL_SUFFIX}", crate_name(package))
}

fn crate_name(package: &str) -> String {
    package.replace('-', "_")
}

/// Where the workspace and the running test's build output are.
#[derive(Debug)]
struct Layout {
    /// The workspace root: relative paths in dep-info files are relative to it.
    root: PathBuf,
    /// `target/<profile>`.
    profile: PathBuf,
}

impl Layout {
    /// This workspace, and the profile directory of the running test executable (which cargo
    /// puts in `target/<profile>/deps/`).
    fn current() -> Self {
        let exe = std::env::current_exe().expect("the test executable's path");
        let profile = exe
            .parent()
            .filter(|deps| deps.file_name().is_some_and(|n| n == "deps"))
            .and_then(Path::parent)
            .unwrap_or_else(|| {
                panic!(
                    "{}: a test executable lives in target/<profile>/deps/",
                    exe.display()
                )
            })
            .to_owned();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        Self {
            root: root.canonicalize().unwrap_or(root),
            profile,
        }
    }

    fn built_plugin(&self, package: &str) -> Result<PathBuf, String> {
        let file = library_file_name(package);
        // On a tie (the usual case: one file, hard-linked) `max_by_key` keeps the last, the
        // copy in `target/<profile>/`.
        let (built, library) = [
            self.profile.join("deps").join(&file),
            self.profile.join(&file),
        ]
        .into_iter()
        .filter_map(|path| Some((modified(&path)?, path)))
        .max_by_key(|(built, _)| *built)
        .ok_or_else(|| {
            format!(
                "{file} is in neither {} nor its deps/: build it with `cargo build -p {package}`",
                self.profile.display()
            )
        })?;
        self.check_fresh(package, &library, built, &format!("-p {package}"))?;
        Ok(library)
    }

    fn plugin_dir(&self, packages: &[&str]) -> Result<PathBuf, String> {
        let fix = packages
            .iter()
            .map(|p| format!("-p {p}"))
            .collect::<Vec<_>>()
            .join(" ");
        for package in packages {
            let library = self.profile.join(library_file_name(package));
            let built = modified(&library).ok_or_else(|| {
                format!(
                    "{} is missing: build it with `cargo build {fix}`",
                    library.display()
                )
            })?;
            self.check_fresh(package, &library, built, &fix)?;
        }
        Ok(self.profile.clone())
    }

    /// Refuse `library` (written at `built`) when a source file of `package` or of its path
    /// dependencies is newer. `fix` is what to pass to `cargo build` to rebuild it.
    fn check_fresh(
        &self,
        package: &str,
        library: &Path,
        built: SystemTime,
        fix: &str,
    ) -> Result<(), String> {
        for source in self.sources(package)? {
            if modified(&source).is_some_and(|changed| changed > built) {
                return Err(format!(
                    "{} is stale: {} changed after it was built; rebuild it with `cargo build {fix}`",
                    library.display(),
                    source.display()
                ));
            }
        }
        Ok(())
    }

    /// The source files the library of `package` is built from (see the module docs).
    fn sources(&self, package: &str) -> Result<Vec<PathBuf>, String> {
        let name = crate_name(package);
        let mut sources =
            match std::fs::read_to_string(self.profile.join(format!("{DLL_PREFIX}{name}.d"))) {
                Ok(text) => dep_info_sources(&text, &self.root),
                Err(_) => self.manifest_sources(package)?,
            };
        if let Ok(text) =
            std::fs::read_to_string(self.profile.join("deps").join(format!("{name}.d")))
        {
            sources.extend(dep_info_sources(&text, &self.root));
        }
        Ok(sources)
    }

    /// The files under `src/` and the `build.rs` of `package` (in `plugins/` or `crates/`)
    /// and of every path dependency it is built from, by its manifests.
    fn manifest_sources(&self, package: &str) -> Result<Vec<PathBuf>, String> {
        let workspace = read_manifest(&self.root.join("Cargo.toml"))?;
        let inherited = workspace
            .get("workspace")
            .and_then(|w| w.get("dependencies"))
            .and_then(toml::Value::as_table);
        let start = ["plugins", "crates"]
            .iter()
            .map(|group| self.root.join(group).join(package))
            .find(|dir| dir.join("Cargo.toml").is_file())
            .ok_or_else(|| {
                format!(
                    "no package `{package}` in {}/plugins or {0}/crates",
                    self.root.display()
                )
            })?;
        let mut crates = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(dir) = todo.pop() {
            let dir = dir.canonicalize().unwrap_or(dir);
            if !crates.insert(dir.clone()) {
                continue;
            }
            let manifest = read_manifest(&dir.join("Cargo.toml"))?;
            for (name, spec) in dependency_tables(&manifest).into_iter().flatten() {
                let inherits = spec.get("workspace").and_then(toml::Value::as_bool) == Some(true);
                let path = if inherits {
                    inherited
                        .and_then(|deps| deps.get(name))
                        .and_then(|spec| spec.get("path"))
                        .and_then(toml::Value::as_str)
                        .map(|path| self.root.join(path))
                } else {
                    spec.get("path")
                        .and_then(toml::Value::as_str)
                        .map(|path| dir.join(path))
                };
                todo.extend(path);
            }
        }
        let mut sources = Vec::new();
        for dir in crates {
            sources.push(dir.join("build.rs"));
            files_under(&dir.join("src"), &mut sources);
        }
        Ok(sources)
    }
}

fn read_manifest(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `[dependencies]`, `[build-dependencies]` and their `[target.'cfg(..)'.*]` forms: what the
/// library itself is built from (dev-dependencies are not).
fn dependency_tables(manifest: &toml::Table) -> Vec<&toml::Table> {
    const SECTIONS: [&str; 2] = ["dependencies", "build-dependencies"];
    let targets = manifest
        .get("target")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|targets| targets.values());
    std::iter::once(manifest)
        .chain(targets.filter_map(toml::Value::as_table))
        .flat_map(|table| SECTIONS.iter().filter_map(|s| table.get(*s)?.as_table()))
        .collect()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The prerequisites of every rule in a Makefile-style dep-info file (`target: a.rs b.rs`,
/// spaces in names escaped as `\ `), relative ones resolved against `root`. Comment lines
/// (rustc's `# env-dep:`) and rules without prerequisites are skipped.
fn dep_info_sources(text: &str, root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        // `: ` ends the target (a Windows drive's `C:\` has no space after the colon).
        let Some((_, prerequisites)) = line.split_once(": ") else {
            continue;
        };
        let mut word = String::new();
        let mut chars = prerequisites.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => word.push(chars.next().unwrap_or(' ')),
                c if c.is_whitespace() => {
                    if !word.is_empty() {
                        out.push(root.join(std::mem::take(&mut word)));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            out.push(root.join(word));
        }
    }
    out
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A workspace with `crates/core` (a path dependency, inherited from the root manifest)
    /// and `plugins/p` built from it, and a `target/debug/deps/`.
    fn workspace() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\n[workspace.dependencies]\ncore = { path = \"crates/core\" }\nserde = \"1\"\n",
        );
        write("crates/core/Cargo.toml", "[package]\nname = \"core\"\n");
        write("crates/core/src/lib.rs", "//! core\n");
        write("crates/core/src/feature_gated.rs", "//! off\n");
        write(
            "plugins/p/Cargo.toml",
            "[package]\nname = \"p\"\n[dependencies]\ncore.workspace = true\nserde.workspace = true\n[dev-dependencies]\ntestonly = { path = \"../testonly\" }\n",
        );
        write("plugins/p/src/lib.rs", "//! p\n");
        write(
            "plugins/testonly/Cargo.toml",
            "[package]\nname = \"testonly\"\n",
        );
        write("plugins/testonly/src/lib.rs", "//! test only\n");
        std::fs::create_dir_all(root.join("target/debug/deps")).unwrap();
        let layout = Layout {
            root: root.clone(),
            profile: root.join("target/debug"),
        };
        (dir, layout)
    }

    /// A fixed moment plus `minutes`: every file's time is set explicitly.
    fn at(minutes: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 60 * minutes)
    }

    fn touch(path: &Path, time: SystemTime) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.set_modified(time).unwrap();
    }

    /// Every source file of the workspace written at `at(minutes)`.
    fn sources_at(layout: &Layout, minutes: u64) {
        for file in [
            "crates/core/src/lib.rs",
            "crates/core/src/feature_gated.rs",
            "plugins/p/src/lib.rs",
            "plugins/testonly/src/lib.rs",
        ] {
            touch(&layout.root.join(file), at(minutes));
        }
    }

    fn lib(layout: &Layout, deps: bool) -> PathBuf {
        let dir = if deps {
            layout.profile.join("deps")
        } else {
            layout.profile.clone()
        };
        dir.join(library_file_name("p"))
    }

    #[test]
    fn names_the_library_with_the_platform_prefix_and_suffix() {
        assert_eq!(
            library_file_name("provider-replay"),
            format!("{DLL_PREFIX}provider_replay{DLL_SUFFIX}")
        );
    }

    #[test]
    fn a_missing_library_is_refused_with_the_build_command() {
        let (_dir, layout) = workspace();
        let e = layout.built_plugin("p").unwrap_err();
        assert!(e.contains(&library_file_name("p")), "{e}");
        assert!(e.contains("`cargo build -p p`"), "{e}");
        let e = layout.plugin_dir(&["p", "q"]).unwrap_err();
        assert!(e.contains("`cargo build -p p -p q`"), "{e}");
    }

    #[test]
    fn takes_the_newer_copy_when_cargo_test_did_not_copy_it_up() {
        let (_dir, layout) = workspace();
        sources_at(&layout, 0);
        touch(&lib(&layout, false), at(1));
        touch(&lib(&layout, true), at(2));
        assert_eq!(layout.built_plugin("p").unwrap(), lib(&layout, true));
        touch(&lib(&layout, true), at(1));
        assert_eq!(layout.built_plugin("p").unwrap(), lib(&layout, false));
    }

    #[test]
    fn refuses_a_library_older_than_a_path_dependency_by_the_manifests() {
        let (_dir, layout) = workspace();
        sources_at(&layout, 0);
        touch(&lib(&layout, false), at(1));
        assert!(layout.built_plugin("p").is_ok());
        // a dev-dependency is not what the library is built from
        touch(&layout.root.join("plugins/testonly/src/lib.rs"), at(2));
        assert!(layout.built_plugin("p").is_ok());
        touch(&layout.root.join("crates/core/src/lib.rs"), at(2));
        let e = layout.built_plugin("p").unwrap_err();
        assert!(e.contains("is stale"), "{e}");
        assert!(e.contains("crates/core/src/lib.rs"), "{e}");
        assert!(e.contains("`cargo build -p p`"), "{e}");
    }

    #[test]
    fn cargo_dep_info_decides_which_files_count() {
        let (_dir, layout) = workspace();
        sources_at(&layout, 0);
        let core = layout.root.join("crates/core/src/lib.rs");
        std::fs::write(
            layout.profile.join(format!("{DLL_PREFIX}p.d")),
            format!(
                "{}: {} {}\n",
                lib(&layout, false).display(),
                core.display(),
                layout.root.join("plugins/p/src/lib.rs").display()
            ),
        )
        .unwrap();
        touch(&lib(&layout, false), at(1));
        // not in the build (a module behind a disabled feature): does not count
        touch(&layout.root.join("crates/core/src/feature_gated.rs"), at(2));
        assert!(layout.built_plugin("p").is_ok());
        // rustc's own dep-info of the latest build adds a new module of the plugin
        let new = layout.root.join("plugins/p/src/new.rs");
        touch(&new, at(2));
        assert!(layout.built_plugin("p").is_ok());
        std::fs::write(
            layout.profile.join("deps/p.d"),
            "target/debug/deps/p.d: plugins/p/src/lib.rs plugins/p/src/new.rs\n\nplugins/p/src/new.rs:\n# env-dep:CARGO_PKG_NAME=p\n",
        )
        .unwrap();
        let e = layout.built_plugin("p").unwrap_err();
        assert!(e.contains("plugins/p/src/new.rs"), "{e}");
        touch(&new, at(0));
        touch(&core, at(2));
        assert!(layout.built_plugin("p").unwrap_err().contains("core"));
    }

    #[test]
    fn a_plugin_dir_needs_fresh_copies_in_the_profile_dir_itself() {
        let (_dir, layout) = workspace();
        sources_at(&layout, 1);
        touch(&lib(&layout, false), at(0));
        touch(&lib(&layout, true), at(2));
        assert_eq!(layout.built_plugin("p").unwrap(), lib(&layout, true));
        let e = layout.plugin_dir(&["p"]).unwrap_err();
        assert!(e.contains("is stale"), "{e}");
        touch(&lib(&layout, false), at(2));
        assert_eq!(layout.plugin_dir(&["p"]).unwrap(), layout.profile);
    }

    #[test]
    fn reads_dep_info_with_escaped_spaces_and_relative_paths() {
        let root = Path::new("/w");
        let text = "/t/libp.rlib: /a\\ b/x.rs rel/y.rs\n\nrel/y.rs:\n# env-dep:X=1\n";
        assert_eq!(
            dep_info_sources(text, root),
            [PathBuf::from("/a b/x.rs"), PathBuf::from("/w/rel/y.rs")]
        );
    }

    #[test]
    fn the_running_test_lives_in_a_profile_deps_dir() {
        let layout = Layout::current();
        assert!(layout.profile.join("deps").is_dir());
        assert!(layout.root.join("Cargo.toml").is_file());
    }
}
