//! A tidy test for unused dependencies (what `cargo-machete` does, kept as a test so that it
//! needs no extra tool): every dependency a crate declares is named somewhere in the code
//! that can use it.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::root;

    /// Dependencies that are used without being named in code, and why.
    const NOT_NAMED_IN_CODE: &[(&str, &str, &str)] = &[
        (
            "llmbench-fuzz",
            "llmbench-plugin-sdk",
            "plugins/provider-replay/src/answers.rs is compiled into the fuzz crate with #[path]",
        ),
        (
            "llmbench-fuzz",
            "serde",
            "plugins/provider-replay/src/answers.rs is compiled into the fuzz crate with #[path]",
        ),
        (
            "llmbench-fuzz",
            "thiserror",
            "plugins/provider-replay/src/answers.rs is compiled into the fuzz crate with #[path]",
        ),
        (
            "provider-local",
            "llama-cpp-sys-2",
            "pins the engine's exact version and its features; used through llama-cpp-2",
        ),
    ];

    /// The source files a dependency table can be used from.
    fn sources_for(krate: &Path, table: &str) -> Vec<PathBuf> {
        let dirs: &[&str] = match table {
            "dependencies" => &["src"],
            "build-dependencies" => &[],
            // Tests, benches and examples, and `#[cfg(test)]` code in src.
            _ => &["src", "tests", "benches", "examples"],
        };
        let mut files = Vec::new();
        for dir in dirs {
            collect(&krate.join(dir), &mut files);
        }
        if table != "dependencies" && krate.join("build.rs").exists() {
            files.push(krate.join("build.rs"));
        }
        if table == "dependencies" && krate.join("build.rs").exists() {
            // A normal dependency may be named only by code that build.rs generates.
            files.push(krate.join("build.rs"));
        }
        files
    }

    fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    fn is_plugin(name: &str) -> bool {
        root()
            .join("plugins")
            .join(name)
            .join("Cargo.toml")
            .exists()
    }

    fn named(ident: &str, text: &str) -> bool {
        text.match_indices(ident).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + ident.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            !word(before) && !word(after)
        })
    }

    #[test]
    fn every_declared_dependency_is_used() {
        let mut crates = Vec::new();
        for dir in ["crates", "plugins"] {
            for entry in std::fs::read_dir(root().join(dir)).expect("read dir") {
                let path = entry.expect("dir entry").path();
                if path.join("Cargo.toml").exists() {
                    crates.push(path);
                }
            }
        }
        crates.push(root().join("xtask"));
        crates.sort();
        let mut unused = Vec::new();
        for krate in &crates {
            let manifest: toml::Table = toml::from_str(
                &std::fs::read_to_string(krate.join("Cargo.toml")).expect("read manifest"),
            )
            .expect("valid manifest");
            let package = manifest["package"]["name"].as_str().expect("package name");
            for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
                let Some(deps) = manifest.get(table).and_then(toml::Value::as_table) else {
                    continue;
                };
                let texts: Vec<String> = sources_for(krate, table)
                    .iter()
                    .map(|f| std::fs::read_to_string(f).expect("read source"))
                    .collect();
                for (name, spec) in deps {
                    let real = spec
                        .get("package")
                        .and_then(toml::Value::as_str)
                        .unwrap_or(name);
                    // A plugin as a dev-dependency is there to be built (tests load its
                    // library); it is never named in code.
                    if table == "dev-dependencies" && is_plugin(real) {
                        continue;
                    }
                    if NOT_NAMED_IN_CODE
                        .iter()
                        .any(|(p, d, _)| *p == package && *d == name)
                    {
                        continue;
                    }
                    let ident = name.replace('-', "_");
                    if !texts.iter().any(|t| named(&ident, t)) {
                        unused.push(format!("{package}: [{table}] {name}"));
                    }
                }
            }
        }
        assert!(
            unused.is_empty(),
            "dependencies declared but never named in the code that can use them \
             (remove them, or add them to NOT_NAMED_IN_CODE with the reason):\n  {}",
            unused.join("\n  ")
        );
    }

    #[test]
    fn names_are_matched_as_whole_words() {
        assert!(named("serde_json", "let v = serde_json::json!({});"));
        assert!(!named("serde", "use serde_json::Value;"));
        assert!(named("serde", "#[derive(serde::Deserialize)]"));
    }
}
