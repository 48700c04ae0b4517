//! `cargo xtask new provider|grader|reporter NAME`: a new plugin crate that builds, passes
//! its tests and runs green at once, for a plugin author to change.
//!
//! It writes `plugins/NAME/` (the manifest: `cdylib` + `rlib`, dependencies from the
//! workspace, workspace lints; `src/lib.rs`, a documented skeleton of the trait; and
//! `tests/it/main.rs`, which loads the built library through the plugin host: the generic
//! conformance checks for a provider, a calibration set of answers and verdicts for a
//! grader, a rendered run for a reporter) and `configs/examples/NAME.toml`, a config that
//! uses it (with recorded answers beside it for a grader or a reporter). The files come from
//! `xtask/templates/<kind>/`, embedded in this binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::root;

const USAGE: &str = "\
usage: cargo xtask new <provider|grader|reporter> NAME

Creates a working plugin crate in plugins/NAME (NAME starts with the kind: provider-mine,
grader-mine, reporter-mine; lowercase letters, digits and `-`), with tests, and an example
config in configs/examples/NAME.toml. Then:

    cargo test -p NAME
    cargo xtask bench --config configs/examples/NAME.toml";

/// The kinds of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Provider,
    Grader,
    Reporter,
}

impl Kind {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "provider" => Some(Self::Provider),
            "grader" => Some(Self::Grader),
            "reporter" => Some(Self::Reporter),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Grader => "grader",
            Self::Reporter => "reporter",
        }
    }

    /// The template files: (name in the template directory, contents).
    fn templates(self) -> &'static [(&'static str, &'static str)] {
        macro_rules! templates {
            ($dir:literal: $($file:literal),*) => {
                &[$(($file, include_str!(concat!("../templates/", $dir, "/", $file)))),*]
            };
        }
        match self {
            Self::Provider => {
                templates!("provider": "Cargo.toml.in", "lib.rs.in", "main.rs.in", "config.toml.in")
            }
            Self::Grader => templates!("grader": "Cargo.toml.in", "lib.rs.in", "main.rs.in",
                "config.toml.in", "answers.jsonl.in"),
            Self::Reporter => templates!("reporter": "Cargo.toml.in", "lib.rs.in", "main.rs.in",
                "config.toml.in", "answers.jsonl.in"),
        }
    }

    /// The plugins (besides the new one) its example config runs with.
    fn config_plugins(self) -> &'static [&'static str] {
        match self {
            Self::Provider => &["grader-regex"],
            Self::Grader => &["provider-replay"],
            Self::Reporter => &["provider-replay", "grader-regex"],
        }
    }
}

/// Where a template file goes, relative to the workspace root.
fn destination(template: &str, name: &str) -> PathBuf {
    let plugin = Path::new("plugins").join(name);
    match template {
        "Cargo.toml.in" => plugin.join("Cargo.toml"),
        "lib.rs.in" => plugin.join("src/lib.rs"),
        "main.rs.in" => plugin.join("tests/it/main.rs"),
        "config.toml.in" => PathBuf::from(format!("configs/examples/{name}.toml")),
        "answers.jsonl.in" => PathBuf::from(format!("configs/examples/{name}.answers.jsonl")),
        other => unreachable!("no destination for template {other}"),
    }
}

/// `cargo xtask new ...`.
#[expect(clippy::print_stdout, reason = "`--help` prints the usage on stdout")]
pub(crate) fn new(args: &[String]) -> anyhow::Result<()> {
    let (kind, name) = match args {
        [flag] if flag == "--help" || flag == "-h" || flag == "help" => {
            println!("{USAGE}");
            return Ok(());
        }
        [kind, name] => match Kind::parse(kind) {
            Some(kind) => (kind, name.as_str()),
            None => {
                eprintln!("{USAGE}");
                bail!("unknown plugin kind `{kind}`: provider, grader or reporter")
            }
        },
        _ => {
            eprintln!("{USAGE}");
            bail!("expected a kind and a name");
        }
    };
    let root = root();
    let written = create(&root, kind, name)?;
    for path in &written {
        eprintln!("created {}", path.display());
    }
    format_sources(&root, &written);
    eprintln!(
        "its example config also uses: {}",
        kind.config_plugins().join(", ")
    );
    eprintln!(
        "\nnext:\n    cargo test -p {name}\n    cargo xtask bench --config configs/examples/{name}.toml\n\
         then make it yours: plugins/{name}/src/lib.rs says what to change."
    );
    Ok(())
}

/// Check `name` for a plugin of `kind`: `<kind>-<lowercase letters, digits and ->`.
pub(crate) fn check_name(kind: Kind, name: &str) -> anyhow::Result<()> {
    let prefix = format!("{}-", kind.name());
    let Some(rest) = name.strip_prefix(&prefix) else {
        bail!(
            "a {} plugin's name starts with `{prefix}` (like `{prefix}mine`), not `{name}`",
            kind.name()
        );
    };
    let valid = rest.starts_with(|c: char| c.is_ascii_lowercase())
        && rest
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !rest.ends_with('-')
        && !rest.contains("--");
    if !valid {
        bail!(
            "`{name}`: after `{prefix}`, a name is lowercase letters, digits and single `-`, \
             starting with a letter"
        );
    }
    Ok(())
}

/// The type a plugin's code defines: `grader-has-word` is `HasWordGrader`.
fn type_name(kind: Kind, name: &str) -> String {
    let rest = &name[kind.name().len() + 1..];
    let mut out = String::new();
    for word in rest.split('-') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    let mut suffix = kind.name().to_owned();
    suffix[..1].make_ascii_uppercase();
    out + &suffix
}

/// Write the plugin `name` of `kind` into the workspace at `root`; returns the files
/// written, relative to `root`. Refuses to overwrite anything.
pub(crate) fn create(root: &Path, kind: Kind, name: &str) -> anyhow::Result<Vec<PathBuf>> {
    check_name(kind, name)?;
    let plugin_dir = root.join("plugins").join(name);
    if plugin_dir.exists() {
        bail!("{} already exists", plugin_dir.display());
    }
    let files: Vec<(PathBuf, String)> = kind
        .templates()
        .iter()
        .map(|(template, text)| {
            let text = text
                .replace("__NAME__", name)
                .replace("__CRATE__", &name.replace('-', "_"))
                .replace("__TYPE__", &type_name(kind, name));
            (destination(template, name), text)
        })
        .collect();
    for (path, _) in &files {
        if root.join(path).exists() {
            bail!("{} already exists", root.join(path).display());
        }
    }
    let mut written = Vec::new();
    for (path, text) in files {
        let full = root.join(&path);
        let dir = full.parent().expect("a destination is in a directory");
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(&full, text).with_context(|| format!("cannot write {}", full.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Format the new Rust files as `cargo fmt` would (the type name changes line lengths).
/// Best effort: without rustfmt the files are still valid, and CI's format check says so.
fn format_sources(root: &Path, written: &[PathBuf]) {
    let sources: Vec<PathBuf> = written
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| root.join(p))
        .collect();
    let status = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(&sources)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("note: rustfmt did not run; run `cargo fmt` before committing");
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, SystemTime};

    use super::*;

    #[test]
    fn names_must_start_with_their_kind() {
        assert!(check_name(Kind::Provider, "provider-mine").is_ok());
        assert!(check_name(Kind::Grader, "grader-has-word2").is_ok());
        for (kind, bad) in [
            (Kind::Provider, "grader-mine"),
            (Kind::Provider, "provider-"),
            (Kind::Grader, "grader-Mine"),
            (Kind::Grader, "grader-a--b"),
            (Kind::Reporter, "reporter-x-"),
            (Kind::Reporter, "reporter-1x"),
            (Kind::Reporter, "mine"),
        ] {
            assert!(check_name(kind, bad).is_err(), "{bad}");
        }
        assert_eq!(type_name(Kind::Grader, "grader-has-word"), "HasWordGrader");
        assert_eq!(type_name(Kind::Provider, "provider-x"), "XProvider");
    }

    #[test]
    fn every_template_is_used_and_every_placeholder_filled() {
        for kind in [Kind::Provider, Kind::Grader, Kind::Reporter] {
            let dir = root().join("xtask/templates").join(kind.name());
            let on_disk = std::fs::read_dir(&dir).unwrap().count();
            assert_eq!(on_disk, kind.templates().len(), "{}", dir.display());
            let scratch = tempdir("templates");
            let name = format!("{}-check", kind.name());
            for path in create(&scratch, kind, &name).unwrap() {
                let text = std::fs::read_to_string(scratch.join(&path)).unwrap();
                assert!(!text.contains("__"), "{}: placeholder left", path.display());
            }
            assert!(create(&scratch, kind, &name).is_err(), "overwrote {name}");
            std::fs::remove_dir_all(&scratch).unwrap();
        }
    }

    /// A fresh directory under the target dir (no tempfile dependency for one use).
    fn tempdir(what: &str) -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = root()
            .join("target/xtask-tmp")
            .join(format!("{what}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// What of the workspace the scaffold test copies: enough to build the host and the
    /// plugins (crate sources include `configs/catalog`), nothing built.
    const COPIED: &[&str] = &[
        "Cargo.toml",
        "Cargo.lock",
        ".cargo",
        "crates",
        "plugins",
        "xtask",
        "configs/catalog",
    ];

    /// Copy `from` to `to`, keeping modification times (so that cargo, which decides by
    /// them, finds an unchanged crate of the previous copy fresh), skipping `target` and
    /// hidden directories.
    fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
        let meta = std::fs::metadata(from).with_context(|| format!("{}", from.display()))?;
        if meta.is_dir() {
            std::fs::create_dir_all(to)?;
            for entry in std::fs::read_dir(from)? {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name == "target" || (name.starts_with('.') && name != ".cargo") {
                    continue;
                }
                copy_tree(&entry.path(), &to.join(&*name))?;
            }
        } else {
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::copy(from, to)
                .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
            std::fs::File::options()
                .write(true)
                .open(to)?
                .set_modified(meta.modified()?)?;
        }
        Ok(())
    }

    /// Run `cmd`, which must succeed; its standard output.
    fn run(cmd: &mut Command) -> String {
        let shown = format!("{cmd:?}");
        let started = Instant::now();
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
        assert!(
            output.status.success(),
            "{shown} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("{:>6.1}s {shown}", started.elapsed().as_secs_f64());
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The acceptance test: in a copy of the workspace, create a plugin of each kind, build
    /// it with the host, run its tests, and run its example config green with the built
    /// `llmbench` (and render that run with the new reporter).
    ///
    /// The copy lives at a fixed place, `target/scaffold-test/workspace`, re-copied each run
    /// with the files' times kept, and builds into `target/scaffold-test/target`: after the
    /// first run (a cold build of the host), only what changed and the new plugins are
    /// compiled. Only `llmbench-cli`, the new plugins and the plugins their configs use are
    /// built (not `provider-local`, so not llama.cpp). `--offline`: every dependency is
    /// already in the lock file and the local registry cache.
    #[test]
    fn scaffolded_plugins_build_test_and_run_green() {
        let started = Instant::now();
        let real = root();
        let scratch = real.join("target/scaffold-test");
        let workspace = scratch.join("workspace");
        if workspace.exists() {
            std::fs::remove_dir_all(&workspace).unwrap();
        }
        for part in COPIED {
            copy_tree(&real.join(part), &workspace.join(part)).unwrap();
        }
        let kinds = [Kind::Provider, Kind::Grader, Kind::Reporter];
        let names: Vec<String> = kinds
            .iter()
            .map(|k| format!("{}-scaffolded", k.name()))
            .collect();
        for (kind, name) in kinds.iter().zip(&names) {
            let written = create(&workspace, *kind, name).unwrap();
            format_sources(&workspace, &written);
        }
        eprintln!(
            "{:>6.1}s copied and scaffolded",
            started.elapsed().as_secs_f64()
        );

        let target = scratch.join("target");
        let cargo = || {
            let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cmd.current_dir(&workspace)
                .env("CARGO_TARGET_DIR", &target)
                .arg("--offline");
            cmd
        };
        let mut build = cargo();
        build.args(["build", "-p", "llmbench-cli"]);
        let mut test = cargo();
        test.args(["test"]);
        for (kind, name) in kinds.iter().zip(&names) {
            build.args(["-p", name]);
            test.args(["-p", name]);
            for plugin in kind.config_plugins() {
                build.args(["-p", plugin]);
            }
        }
        run(&mut build);
        run(&mut test);

        let llmbench = target.join("debug/llmbench");
        for name in &names {
            let config = workspace.join(format!("configs/examples/{name}.toml"));
            let results = scratch.join("runs").join(name);
            if results.exists() {
                std::fs::remove_dir_all(&results).unwrap();
            }
            std::fs::create_dir_all(&results).unwrap();
            let table = run(Command::new(&llmbench)
                .current_dir(&results)
                .arg("run")
                .arg("--config")
                .arg(&config));
            // Green: both samples of each example config answered and passed.
            assert!(table.contains("2/2 pass"), "{name}:\n{table}");
            if name.starts_with("reporter-") {
                let report = run(Command::new(&llmbench).current_dir(&results).args([
                    "report",
                    "--format",
                    name,
                    "--option",
                    "title=Who ran",
                ]));
                assert!(
                    report.starts_with("Who ran (run ")
                        && report.contains(
                            "- recorded: Recorded answers (recorded): 2 answered, 2 passed"
                        ),
                    "{report}"
                );
            }
        }
        eprintln!(
            "scaffold acceptance test: {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
}
