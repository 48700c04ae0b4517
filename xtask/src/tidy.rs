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

    /// Tests do not race the clock (issue 12.7): no wall-clock upper bound under 5 s
    /// (`elapsed < Duration::from_millis(300)`) in integration tests or the conformance
    /// checks. Use the order of events, a server-side counter, or a bound of 5 s and more
    /// that is at least five times the expected time; lower bounds are fine.
    #[test]
    fn no_test_bounds_the_time_below_five_seconds() {
        let mut files = Vec::new();
        for group in ["crates", "plugins"] {
            for entry in std::fs::read_dir(root().join(group)).expect("read dir") {
                let tests = entry.expect("dir entry").path().join("tests");
                if tests.is_dir() {
                    collect_rs(&tests, &mut files);
                }
            }
        }
        collect_rs(&root().join("crates/llmbench-conformance/src"), &mut files);
        assert!(files.len() > 10, "found only {files:?}");
        let mut found = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            for (i, line) in text.lines().enumerate() {
                if upper_bound_seconds(line).is_some_and(|s| s < 5.0) {
                    found.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "wall-clock upper bounds under 5 s (flaky on a loaded machine):\n{}",
            found.join("\n")
        );
    }

    /// The literal bound, in seconds, of `< Duration::from_secs(2)` (`from_millis`,
    /// `from_secs_f64`, `<=` too) or `as_secs_f64() < 1.5` on `line`.
    fn upper_bound_seconds(line: &str) -> Option<f64> {
        let number = |text: &str| -> Option<f64> {
            let digits: String = text
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '_' || *c == '.')
                .filter(|c| *c != '_')
                .collect();
            digits.parse().ok()
        };
        line.match_indices('<').find_map(|(at, _)| {
            let before = line[..at].trim_end();
            let after = line[at + 1..].trim_start_matches('=').trim_start();
            if before.ends_with("as_secs_f64()") {
                return number(after);
            }
            let after = after.strip_prefix("std::time::").unwrap_or(after);
            [
                ("Duration::from_secs_f64(", 1.0),
                ("Duration::from_secs(", 1.0),
                ("Duration::from_millis(", 1e-3),
            ]
            .iter()
            .find_map(|(call, unit)| Some(number(after.strip_prefix(call)?)? * unit))
        })
    }

    #[test]
    fn upper_bounds_are_read_from_a_line() {
        assert_eq!(
            upper_bound_seconds("assert!(t.elapsed() < Duration::from_millis(1_500));"),
            Some(1.5)
        );
        assert_eq!(
            upper_bound_seconds("    <= std::time::Duration::from_secs(2),"),
            Some(2.0)
        );
        assert_eq!(upper_bound_seconds("x.as_secs_f64() < 4.0"), Some(4.0));
        assert_eq!(
            upper_bound_seconds("ttft >= Duration::from_millis(400)"),
            None
        );
        assert_eq!(
            upper_bound_seconds("let v: Vec<Duration> = Vec::new();"),
            None
        );
        assert_eq!(upper_bound_seconds("elapsed < LIMIT"), None);
    }

    // The dependency rules of ARCHITECTURE.md ("Code map and dependency rules"), checked on
    // `cargo metadata`. Normal and build dependencies are checked strictly; dev-dependencies
    // against a looser list (tests may build plugins, use test-support crates, read configs).

    /// Each library crate of `crates/` and what it may depend on among the workspace's crates.
    /// The CLI, xtask and the plugins have their own rules (below).
    const LIBRARIES: &[(&str, &[&str])] = &[
        ("llmbench-core", &[]),
        ("llmbench-plugin-abi", &[]),
        ("llmbench-outline", &[]),
        ("llmbench-models", &[]),
        ("llmbench-mockserver", &["llmbench-core"]),
        ("llmbench-testsupport", &[]),
        (
            "llmbench-plugin-sdk",
            &["llmbench-core", "llmbench-plugin-abi"],
        ),
        (
            "llmbench-plugin-host",
            &["llmbench-core", "llmbench-plugin-abi"],
        ),
        ("llmbench-http", &["llmbench-core"]),
        (
            "llmbench-provider-openai",
            &["llmbench-plugin-sdk", "llmbench-http"],
        ),
        (
            "llmbench-provider-anthropic",
            &["llmbench-plugin-sdk", "llmbench-http"],
        ),
        // Datasets named in a config are looked up in the model and dataset cache.
        ("llmbench-config", &["llmbench-core", "llmbench-models"]),
        ("llmbench-store", &["llmbench-core"]),
        ("llmbench-report", &["llmbench-core"]),
        // The table, the registry and the docs only: no config, runner or store.
        ("llmbench-metrics", &["llmbench-core"]),
        (
            "llmbench-runner",
            &[
                "llmbench-core",
                "llmbench-config",
                "llmbench-plugin-abi",
                "llmbench-plugin-host",
                "llmbench-store",
                "llmbench-metrics",
            ],
        ),
        (
            "llmbench-serve",
            &[
                "llmbench-core",
                "llmbench-config",
                "llmbench-runner",
                "llmbench-store",
                "llmbench-metrics",
            ],
        ),
        // `llmbench view`: reads the store, renders with the report's code.
        (
            "llmbench-view",
            &["llmbench-core", "llmbench-store", "llmbench-report"],
        ),
        (
            "llmbench-conformance",
            &[
                "llmbench-core",
                "llmbench-plugin-host",
                "llmbench-mockserver",
                "llmbench-testsupport",
            ],
        ),
        // Fuzzes `grader-match` through its library API (the one plugin-as-library edge).
        (
            "llmbench-fuzz",
            &[
                "llmbench-core",
                "llmbench-config",
                "llmbench-http",
                "llmbench-plugin-sdk",
                "grader-match",
            ],
        ),
    ];

    /// Libraries only tests use: nothing but tests (dev-dependencies) depend on them, except
    /// `llmbench-mockserver`, which the CLI's `mock-server` command serves too.
    const TEST_SUPPORT: &[&str] = &[
        "llmbench-conformance",
        "llmbench-testsupport",
        "llmbench-mockserver",
    ];

    /// Libraries nothing else may depend on, not even tests.
    const LEAVES: &[&str] = &["llmbench-cli", "xtask", "llmbench-fuzz"];

    /// Besides `llmbench-plugin-sdk`, the shared libraries a plugin links, plugin by plugin.
    /// Every pair must be in use (a test fails on a stale one), so this list is the truth.
    const PLUGIN_LIBRARIES: &[(&str, &str)] = &[
        // An answer's sections and code blocks, read the same way by the graders that need them.
        ("grader-match", "llmbench-outline"),
        ("grader-sections", "llmbench-outline"),
        ("grader-python-exec", "llmbench-outline"),
        // Model files fetched into the verified cache.
        ("provider-local", "llmbench-models"),
        // The Markdown report renders the per-model analysis the console and HTML share.
        ("reporter-markdown", "llmbench-report"),
        // The hosted-model providers' code lives in libraries these plugins only export.
        // (`grader-llm-judge` links none: its judge is a provider entry the host calls.)
        ("provider-openai", "llmbench-provider-openai"),
        ("provider-anthropic", "llmbench-provider-anthropic"),
    ];

    /// What tests may use besides what the crate itself may: plugins (built so that their
    /// libraries exist), test-support crates, the plugin host (to load a plugin), the config
    /// (to read a config or check a default) and the model cache (to fetch test models).
    const DEV_EXTRA: &[&str] = &[
        "llmbench-conformance",
        "llmbench-testsupport",
        "llmbench-mockserver",
        "llmbench-plugin-host",
        "llmbench-config",
        "llmbench-models",
    ];

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum DepKind {
        Normal,
        Dev,
        Build,
    }

    impl DepKind {
        fn as_str(self) -> &'static str {
            match self {
                Self::Normal => "dependency",
                Self::Dev => "dev-dependency",
                Self::Build => "build-dependency",
            }
        }
    }

    /// A workspace crate and its dependencies on other workspace crates.
    #[derive(Debug)]
    struct Package {
        name: String,
        plugin: bool,
        deps: Vec<(String, DepKind)>,
    }

    /// The workspace's crates from `cargo metadata` output: a crate under `plugins/` is a
    /// plugin.
    fn packages(metadata: &serde_json::Value) -> Vec<Package> {
        let list = metadata["packages"].as_array().expect("packages");
        let names: Vec<&str> = list.iter().filter_map(|p| p["name"].as_str()).collect();
        list.iter()
            .map(|p| {
                let manifest = p["manifest_path"].as_str().unwrap_or_default();
                let deps = p["dependencies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|d| d["path"].is_string())
                    .filter_map(|d| {
                        let name = d["name"].as_str()?;
                        let kind = match d["kind"].as_str() {
                            Some("dev") => DepKind::Dev,
                            Some("build") => DepKind::Build,
                            _ => DepKind::Normal,
                        };
                        names.contains(&name).then(|| (name.to_owned(), kind))
                    })
                    .collect();
                Package {
                    name: p["name"].as_str().expect("package name").to_owned(),
                    plugin: Path::new(manifest)
                        .parent()
                        .and_then(Path::parent)
                        .and_then(Path::file_name)
                        .is_some_and(|d| d == "plugins"),
                    deps,
                }
            })
            .collect()
    }

    /// What `package` may depend on (normal and build dependencies); `None` for a crate no
    /// rule covers.
    fn allowed(package: &Package, all: &[Package]) -> Option<Vec<String>> {
        if package.plugin {
            let mut out = vec!["llmbench-plugin-sdk".to_owned()];
            out.extend(
                PLUGIN_LIBRARIES
                    .iter()
                    .filter(|(plugin, _)| *plugin == package.name)
                    .map(|(_, lib)| (*lib).to_owned()),
            );
            return Some(out);
        }
        if package.name == "llmbench-cli" || package.name == "xtask" {
            // On top: any library but the ones only tests use (the mock server is a command).
            return Some(
                all.iter()
                    .filter(|p| !p.plugin && !LEAVES.contains(&p.name.as_str()))
                    .filter(|p| {
                        p.name == "llmbench-mockserver" || !TEST_SUPPORT.contains(&p.name.as_str())
                    })
                    .map(|p| p.name.clone())
                    .collect(),
            );
        }
        LIBRARIES
            .iter()
            .find(|(name, _)| *name == package.name)
            .map(|(_, deps)| deps.iter().map(|d| (*d).to_owned()).collect())
    }

    /// Every edge that breaks the rules, and every crate no rule covers, one message each.
    fn violations(all: &[Package]) -> Vec<String> {
        let mut errors = Vec::new();
        for package in all {
            let Some(allowed) = allowed(package, all) else {
                errors.push(format!(
                    "{}: no dependency rule for this crate; add it to xtask/src/tidy.rs and to ARCHITECTURE.md (\"Code map and dependency rules\")",
                    package.name
                ));
                continue;
            };
            for (dep, kind) in &package.deps {
                let ok = match kind {
                    DepKind::Normal | DepKind::Build => allowed.contains(dep),
                    DepKind::Dev => {
                        !LEAVES.contains(&dep.as_str())
                            && (allowed.contains(dep)
                                || *dep == package.name
                                || DEV_EXTRA.contains(&dep.as_str())
                                || all.iter().any(|p| p.plugin && p.name == *dep))
                    }
                };
                if !ok {
                    let allowed = if allowed.is_empty() {
                        "nothing of ours".to_owned()
                    } else {
                        allowed.join(", ")
                    };
                    errors.push(format!(
                        "forbidden edge {} -> {dep} ({}); {} may depend on {allowed}{}",
                        package.name,
                        kind.as_str(),
                        package.name,
                        if *kind == DepKind::Dev {
                            ", and in tests on plugins and test-support crates"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
        errors
    }

    /// Rules about crates or plugin edges that no longer exist.
    fn stale_rules(all: &[Package]) -> Vec<String> {
        let mut errors = Vec::new();
        for (name, _) in LIBRARIES {
            if !all.iter().any(|p| p.name == *name) {
                errors.push(format!("rule for {name}, which is not in the workspace"));
            }
        }
        for (plugin, lib) in PLUGIN_LIBRARIES {
            let used = all.iter().any(|p| {
                p.name == *plugin && p.deps.iter().any(|(d, k)| d == lib && *k != DepKind::Dev)
            });
            if !used {
                errors.push(format!(
                    "PLUGIN_LIBRARIES allows {plugin} -> {lib}, which {plugin} no longer uses: remove it"
                ));
            }
        }
        errors
    }

    #[test]
    fn crates_depend_only_on_what_the_architecture_allows() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(root())
            .output()
            .expect("run cargo metadata");
        assert!(
            out.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let metadata: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
        let all = packages(&metadata);
        assert!(all.len() > 20, "found only {} crates", all.len());
        assert!(all.iter().filter(|p| p.plugin).count() > 5);
        let mut errors = violations(&all);
        errors.extend(stale_rules(&all));
        assert!(
            errors.is_empty(),
            "dependency rules (ARCHITECTURE.md, \"Code map and dependency rules\"):\n  {}",
            errors.join("\n  ")
        );
    }

    /// A fixture crate's dependencies: name and `cargo metadata` kind (`None`, `dev`, `build`).
    type FixtureDeps<'a> = &'a [(&'a str, Option<&'a str>)];

    /// The rules catch forbidden edges, and name them (a check that cannot fail checks nothing).
    #[test]
    fn the_dependency_rules_catch_forbidden_edges() {
        let package = |name: &str, dir: &str, deps: &[(&str, Option<&str>)]| {
            let deps: Vec<serde_json::Value> = deps
                .iter()
                .map(|(dep, kind)| {
                    serde_json::json!({
                        "name": dep, "kind": kind, "path": format!("/ws/x/{dep}")
                    })
                })
                .collect();
            serde_json::json!({
                "name": name,
                "manifest_path": format!("/ws/{dir}/{name}/Cargo.toml"),
                "dependencies": deps,
            })
        };
        let graph = |bad: &[(&str, &str, FixtureDeps)]| {
            let mut list = vec![
                package("llmbench-core", "crates", &[("serde", None)]),
                package("llmbench-runner", "crates", &[("llmbench-core", None)]),
                package("llmbench-store", "crates", &[("llmbench-core", None)]),
                package("llmbench-plugin-sdk", "crates", &[("llmbench-core", None)]),
                package("grader-regex", "plugins", &[("llmbench-plugin-sdk", None)]),
                package(
                    "llmbench-cli",
                    "crates",
                    &[("llmbench-runner", None), ("grader-regex", Some("dev"))],
                ),
            ];
            for (name, dir, deps) in bad {
                list.retain(|p| p["name"] != *name);
                list.push(package(name, dir, deps));
            }
            packages(&serde_json::json!({ "packages": list }))
        };
        // The good graph passes (serde is not ours: not checked).
        assert_eq!(violations(&graph(&[])), Vec::<String>::new());
        let cases: &[(&str, &str, FixtureDeps, &str)] = &[
            (
                "llmbench-metrics",
                "crates",
                &[("llmbench-core", None), ("llmbench-runner", None)],
                "forbidden edge llmbench-metrics -> llmbench-runner (dependency)",
            ),
            (
                "llmbench-core",
                "crates",
                &[("llmbench-store", Some("build"))],
                "forbidden edge llmbench-core -> llmbench-store (build-dependency)",
            ),
            (
                "grader-regex",
                "plugins",
                &[("llmbench-plugin-sdk", None), ("llmbench-store", None)],
                "forbidden edge grader-regex -> llmbench-store (dependency)",
            ),
            (
                "grader-regex",
                "plugins",
                &[("llmbench-runner", Some("dev"))],
                "forbidden edge grader-regex -> llmbench-runner (dev-dependency)",
            ),
            (
                "llmbench-cli",
                "crates",
                &[("grader-regex", None)],
                "forbidden edge llmbench-cli -> grader-regex (dependency)",
            ),
            (
                "llmbench-store",
                "crates",
                &[("llmbench-cli", Some("dev"))],
                "forbidden edge llmbench-store -> llmbench-cli (dev-dependency)",
            ),
            (
                "llmbench-newcomer",
                "crates",
                &[],
                "llmbench-newcomer: no dependency rule",
            ),
        ];
        for (name, dir, deps, expected) in cases {
            let errors = violations(&graph(&[(name, dir, deps)]));
            assert!(
                errors.len() == 1 && errors[0].starts_with(expected),
                "{name} {deps:?}: expected `{expected}...`, got {errors:?}"
            );
        }
        // A test may build a plugin; a plugin's test may use the plugin host.
        let fine = graph(&[(
            "grader-regex",
            "plugins",
            &[
                ("llmbench-plugin-sdk", None),
                ("llmbench-plugin-host", Some("dev")),
            ],
        )]);
        assert!(
            violations(&fine)
                .iter()
                .all(|e| !e.contains("grader-regex")),
            "{:?}",
            violations(&fine)
        );
        // A plugin library edge nobody uses any more is reported.
        let stale = stale_rules(&graph(&[]));
        assert!(
            stale
                .iter()
                .any(|e| e.contains("reporter-markdown -> llmbench-report")),
            "{stale:?}"
        );
    }
}
