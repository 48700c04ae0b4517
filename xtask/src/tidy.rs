//! Tidy tests: checks of the codebase itself (rust-analyzer's habit). They run with
//! `cargo test --workspace`.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::root;

    fn manifests(dir: &str) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .expect("read dir")
            .map(|e| e.expect("dir entry").path().join("Cargo.toml"))
            .filter(|p| p.exists())
            .collect();
        out.sort();
        out
    }

    fn parse(path: &Path) -> toml::Table {
        toml::from_str(&std::fs::read_to_string(path).expect("read manifest"))
            .expect("valid manifest")
    }

    #[test]
    fn every_crate_inherits_workspace_lints() {
        let mut all = manifests("crates");
        all.extend(manifests("plugins"));
        all.push(root().join("xtask/Cargo.toml"));
        assert!(all.len() > 5, "found only {all:?}");
        for path in all {
            let manifest = parse(&path);
            let inherits = manifest
                .get("lints")
                .and_then(|l| l.get("workspace"))
                .and_then(toml::Value::as_bool)
                .unwrap_or(false);
            assert!(
                inherits,
                "{}: missing `[lints] workspace = true`",
                path.display()
            );
        }
    }

    #[test]
    fn every_plugin_is_a_cdylib_named_by_its_directory() {
        let plugins = manifests("plugins");
        assert!(!plugins.is_empty());
        for path in plugins {
            let manifest = parse(&path);
            let types = manifest
                .get("lib")
                .and_then(|l| l.get("crate-type"))
                .and_then(toml::Value::as_array)
                .cloned()
                .unwrap_or_default();
            assert!(
                types.iter().any(|t| t.as_str() == Some("cdylib")),
                "{}: a plugin must have `crate-type = [\"cdylib\", ...]`",
                path.display()
            );
            let dir = path
                .parent()
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
                .expect("dir name");
            let name = manifest
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(toml::Value::as_str);
            assert_eq!(
                name,
                Some(dir),
                "{}: package name must equal its directory",
                path.display()
            );
        }
    }

    #[test]
    fn every_internal_crate_is_named_by_its_directory() {
        for path in manifests("crates") {
            let dir = path
                .parent()
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
                .expect("dir name");
            let name = parse(&path)
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str().map(str::to_owned));
            assert_eq!(name.as_deref(), Some(dir), "{}", path.display());
            assert!(
                dir.starts_with("llmbench-"),
                "{}: internal crates are prefixed `llmbench-`",
                path.display()
            );
        }
    }

    #[test]
    fn every_rust_file_starts_with_a_module_doc() {
        let mut files = Vec::new();
        for dir in ["crates", "plugins", "xtask"] {
            collect_rs(&root().join(dir), &mut files);
        }
        assert!(files.len() > 10);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            assert!(
                text.starts_with("//!"),
                "{}: must start with a `//!` doc comment",
                file.display()
            );
        }
    }

    fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if name != "target" && name != "fixtures" && !name.starts_with('.') {
                    collect_rs(&path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_dependency_is_declared_once_in_the_workspace() {
        let mut all = manifests("crates");
        all.extend(manifests("plugins"));
        all.push(root().join("xtask/Cargo.toml"));
        for path in all {
            let manifest = parse(&path);
            for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
                let Some(deps) = manifest.get(section).and_then(toml::Value::as_table) else {
                    continue;
                };
                for (name, spec) in deps {
                    let inherited = spec
                        .get("workspace")
                        .and_then(toml::Value::as_bool)
                        .unwrap_or(false);
                    assert!(
                        inherited,
                        "{}: `{name}` in [{section}] must be `{name}.workspace = true` (declare it once in the root Cargo.toml)",
                        path.display()
                    );
                }
            }
        }
    }
}
