//! Project automation, run as `cargo xtask <command>` (rust-analyzer's xtask pattern).
//!
//! - `bench [--config FILE] [llmbench run options]`: install what the build needs, build the
//!   host and every plugin in one cargo invocation (so their ABI matches), run the sweep and
//!   print the table. Without `--config`, runs `configs/default.toml`.
//! - `ci`: what CI runs (`.ci/run` calls it): setup, format check, clippy with `-D warnings`,
//!   the build, then the whole test suite (tidy tests included).
//! - `perf [throughput|match|million|local|exec|humaneval|scrape|view|serve-start|wal|store|all]`: benchmark programs, built in
//!   release (see `perf.rs`).
//! - `fuzz [--seconds N] [--seed S] [TARGET]`: every fuzz target of `llmbench-fuzz` (or one)
//!   for N seconds each (default 60), built in release (see `fuzz.rs`).
//! - `codegen [--check]`: write (or check) the generated references, `docs/config.md` and
//!   `docs/plugins/*.md` (see `codegen.rs`).
//! - `new provider|grader|reporter NAME`: a new plugin crate in `plugins/NAME`, with a test
//!   and an example config (see `scaffold.rs`).

#![expect(clippy::print_stderr, reason = "xtask reports progress on stderr")]

mod codegen;
mod fuzz;
mod perf;
mod perf_store;
mod perf_table;
mod perf_view;
mod scaffold;
mod tidy;
mod unused_deps;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "bench" => bench(&rest),
        "ci" => ci(),
        "setup" => setup(),
        "perf" => perf::perf(&rest),
        "fuzz" => fuzz::fuzz(&rest),
        "codegen" => codegen::codegen(&rest),
        "new" => scaffold::new(&rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <bench [--config FILE] [llmbench run options] | ci | setup | perf [throughput|match|million|local|exec|humaneval|scrape|view|serve-start|wal|store|all] | codegen [--check] | new provider|grader|reporter NAME | fuzz [--seconds N] [--seed S] [TARGET]>"
            );
            bail!("unknown command `{command}`")
        }
    }
}

/// The workspace root (xtask lives one level below it).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_owned()
}

pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", render(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{}`", render(cmd)))?;
    if !status.success() {
        bail!("`{}` failed with {status}", render(cmd));
    }
    Ok(())
}

pub(crate) fn render(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Install the system packages the build and tests need (idempotent; says what it installs).
fn setup_group(group: &str) -> anyhow::Result<()> {
    let script = root().join("scripts/install-deps.sh");
    if script.exists() {
        run(Command::new("bash").arg(&script).arg(group))?;
    }
    Ok(())
}

/// Everything the test suite needs.
fn setup() -> anyhow::Result<()> {
    setup_group("all")
}

fn bench(args: &[String]) -> anyhow::Result<()> {
    // The build needs cmake and libclang; the default config's grader needs the sandbox.
    setup_group("build")?;
    setup_group("sandbox")?;
    let mut args = args.to_vec();
    // `llmbench run` takes the config as `CONFIG` or `--config CONFIG`; a positional config
    // is given as the first argument (`cargo xtask bench configs/x.toml ...`).
    let positional = args.first().is_some_and(|a| !a.starts_with('-'));
    if positional {
        args.insert(0, "--config".to_owned());
    }
    if !args
        .iter()
        .any(|a| a == "--config" || a == "-c" || a.starts_with("--config="))
    {
        args.splice(
            0..0,
            ["--config".to_owned(), "configs/default.toml".to_owned()],
        );
    }
    // One build for the host and every plugin: they share the ABI definition and the
    // compiler, so the fingerprint check at load time passes.
    run(cargo().args(["build", "--workspace", "--exclude", "xtask"]))?;
    let exe = root().join("target/debug/llmbench");
    // Fetch (once) and verify the model files the config's local providers use, saying so.
    let config = args
        .iter()
        .position(|a| a == "--config" || a == "-c")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--config=").map(str::to_owned))
        })
        .expect("a config is always given by now");
    run(Command::new(&exe).args(["models", "fetch", "--config", &config])).with_context(|| {
        format!("fetching the models and datasets {config} needs failed; nothing was run")
    })?;
    let mut sweep = Command::new(&exe);
    sweep.arg("run").args(&args);
    eprintln!("$ {}", render(&sweep));
    let status = sweep
        .status()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    if !status.success() {
        bail!("`llmbench run` of {config} failed with {status} (exit codes: `llmbench --help`)");
    }
    Ok(())
}

fn ci() -> anyhow::Result<()> {
    setup()?;
    warn_if_disk_is_short();
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    // Lints fail the build here (the workspace lints only warn while editing). The unused
    // dependency check and the dependency rules are tidy tests, run with the tests below.
    run(ci_cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // Build first: end-to-end tests load the plugins next to the `llmbench` binary
    // (target/debug), where `cargo build` puts them and `cargo test` may not. `--all-targets`
    // resolves features as `cargo test` does (dev-dependencies included), so the test step
    // reuses every artifact instead of compiling a second copy of tokio, hyper, reqwest...
    // under other features (in a clean clone its test step now compiles nothing).
    run(ci_cargo().args(["build", "--workspace", "--all-targets"]))?;
    run(ci_cargo().args(["test", "--workspace", "--no-fail-fast"]))?;
    Ok(())
}

/// Free space `target/` needs for the suite in a clean clone: it ended at 3.5 GB there
/// (2026-12-07: 2.4 GB of debug build, 1 GB of the scaffold test's own build, the venv).
const CI_DISK_BYTES: u64 = 6 << 30;

/// Says so before building when the disk under `target/` has less free space than the suite
/// needs: out of space, the build fails deep in a linker or rustc with "Bus error" or "No
/// space left on device", long after the cause could have been read.
fn warn_if_disk_is_short() {
    let target = root().join("target");
    let _ = std::fs::create_dir_all(&target);
    let Some(free) = free_bytes(&target) else {
        return;
    };
    if free < CI_DISK_BYTES {
        eprintln!(
            "warning: {:.1} GiB free under {}; the suite needs about {} GiB there in a clean \
             clone (its build and the tests' own scratch builds). Free some space if it \
             fails with \"No space left on device\" or a linker's \"Bus error\".",
            free as f64 / f64::from(1u32 << 30),
            target.display(),
            CI_DISK_BYTES >> 30,
        );
    }
}

/// Space available to this user on the file system holding `path`. By hand: std has no
/// `statvfs`, and `libc` is already here (a crate such as `fs4` for one call would add to the
/// build it warns about).
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` is zeroed plain data that the call fills in; `c_path` is a valid
    // NUL-terminated string that outlives the call.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above; both pointers are valid for the call.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    (rc == 0).then_some(stat.f_bavail * stat.f_frsize)
}

/// `cargo` for the suite's build and test steps: without rustc's incremental cache (unless the
/// caller set `CARGO_INCREMENTAL`). In a clean clone, as CI runs it, that cache is written once
/// and never read (in a working tree used for weeks it had grown to 9.7 GB beside 5.6 GB of
/// build output), and CI machines' disks can be small.
fn ci_cargo() -> Command {
    let mut cmd = cargo();
    if std::env::var_os("CARGO_INCREMENTAL").is_none() {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

#[cfg(test)]
mod tests {
    /// The free space read by `statvfs` is what `df` reports for the same file system (within
    /// what other writers may change between the two reads).
    #[test]
    fn free_space_is_what_df_reports() {
        let root = super::root();
        let ours = super::free_bytes(&root).expect("statvfs of the repository");
        let out = std::process::Command::new("df")
            .args(["-Pk"])
            .arg(&root)
            .output()
            .expect("df");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().nth(1).expect("df's line");
        let kib: u64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
        let theirs = kib * 1024;
        assert!(
            ours.abs_diff(theirs) < 1 << 30,
            "statvfs {ours} bytes, df {theirs} bytes"
        );
    }
}
