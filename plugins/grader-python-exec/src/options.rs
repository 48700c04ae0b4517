//! The grader's options: the raw serde form, checked without reading any file
//! ([`check_options`], what `llmbench validate` runs), then turned into [`Settings`] whose
//! fields hold their invariants (files read, with limits; limits in range), and the per-item
//! part (`test`, `entry-point`, `prompt`) read again from each item's rendered options.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use llmbench_plugin_sdk::core::PluginContext;
use llmbench_plugin_sdk::{MAX_OPTION_FILE_BYTES, check_option_file, read_limited};
use serde::Deserialize;

/// What the config says, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct OptionsWire {
    #[serde(default)]
    harness: Option<PathBuf>,
    #[serde(default)]
    test: Option<String>,
    #[serde(default)]
    entry_point: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    code_in_section: Option<String>,
    /// Harness mode: advisory checks count as required.
    #[serde(default)]
    strict: bool,
    #[serde(default = "default_timeout_seconds")]
    timeout_seconds: f64,
    #[serde(default = "default_cpu_seconds")]
    cpu_seconds: u64,
    #[serde(default = "default_memory_mb")]
    memory_mb: u64,
    #[serde(default = "default_max_processes")]
    max_processes: u64,
    #[serde(default = "default_max_output_bytes")]
    max_output_bytes: u64,
    #[serde(default = "default_python")]
    python: String,
    #[serde(default)]
    extra_files: Vec<PathBuf>,
    /// Item-test mode: how many sandboxes are kept started, each waiting for one answer.
    #[serde(default = "default_pool_size")]
    pool_size: u64,
    /// Item-test mode: how long a started sandbox may wait before it is replaced.
    #[serde(default = "default_pool_lifetime_seconds")]
    pool_lifetime_seconds: f64,
}

fn default_timeout_seconds() -> f64 {
    10.0
}
fn default_cpu_seconds() -> u64 {
    10
}
fn default_memory_mb() -> u64 {
    512
}
fn default_max_processes() -> u64 {
    64
}
fn default_max_output_bytes() -> u64 {
    1024 * 1024
}
fn default_python() -> String {
    "python3".to_owned()
}
fn default_pool_size() -> u64 {
    2
}
fn default_pool_lifetime_seconds() -> f64 {
    60.0
}

/// The pool of started sandboxes (item-test mode): each is used for exactly one answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PoolSettings {
    /// How many are kept started; 0: each grading starts its own.
    pub(crate) size: usize,
    /// How long one may wait unused before it is killed and replaced.
    pub(crate) lifetime: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            size: default_pool_size() as usize,
            lifetime: Duration::from_secs_f64(default_pool_lifetime_seconds()),
        }
    }
}

/// The harness's file name in the run directory.
pub(crate) const HARNESS_FILE: &str = "harness.py";
/// The answer's code's file name in the run directory.
pub(crate) const SOLUTION_FILE: &str = "solution.py";
/// The trusted runner's file name in the run directory (item-test mode).
pub(crate) const RUNNER_FILE: &str = "runner.py";
/// The fewest processes and threads an item test needs: the runner, its two readers of the
/// answer's output, and the answer's process.
const MIN_ITEM_TEST_PROCESSES: u64 = 4;
/// The options that may differ between items (rendered from item variables).
const ITEM_OPTIONS: [&str; 3] = ["test", "entry-point", "prompt"];
/// The largest file a sandboxed process may write (`RLIMIT_FSIZE`).
pub(crate) const FILE_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Resource limits of one sandboxed run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Limits {
    pub(crate) wall: Duration,
    pub(crate) cpu_seconds: u64,
    pub(crate) memory_mb: u64,
    pub(crate) max_processes: u64,
    pub(crate) max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            wall: Duration::from_secs_f64(default_timeout_seconds()),
            cpu_seconds: default_cpu_seconds(),
            memory_mb: default_memory_mb(),
            max_processes: default_max_processes(),
            max_output_bytes: default_max_output_bytes() as usize,
        }
    }
}

/// A file placed in the run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunFile {
    pub(crate) name: String,
    pub(crate) contents: Vec<u8>,
}

/// What the answer's code is run against.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mode {
    /// The task's harness file (read at creation), the same for every item.
    Harness(RunFile),
    /// The item's own test, run by the trusted runner: the options given at creation,
    /// checked, for requests that carry no per-item options (when they are templates such
    /// as `"{{entry_point}}"`, why they cannot be used as they are: each item's rendered
    /// options are checked instead).
    Test(Result<ItemTest, String>),
}

/// What one request runs.
#[derive(Debug)]
pub(crate) enum Run<'a> {
    Harness(&'a RunFile),
    Test(Cow<'a, ItemTest>),
}

/// One item's test (item-test mode), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemTest {
    /// The test program; defines `check(candidate)`.
    pub(crate) test: String,
    /// The function under test: a Python identifier.
    pub(crate) entry_point: String,
    /// The item's code prompt, put before the answer's code; `None` when absent or empty.
    pub(crate) prompt: Option<String>,
}

/// Validated options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) mode: Mode,
    pub(crate) code_in_section: Option<String>,
    /// Advisory checks of a harness count as required.
    pub(crate) strict: bool,
    pub(crate) limits: Limits,
    pub(crate) pool: PoolSettings,
    pub(crate) python: String,
    pub(crate) extra_files: Vec<RunFile>,
    /// The options as given, but for [`ITEM_OPTIONS`]: what every item's rendered options
    /// must repeat.
    fixed: serde_json::Map<String, serde_json::Value>,
}

/// Why the options were refused.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// Not the options' shape: an unknown (misspelt) key, a value of the wrong type.
    #[error(transparent)]
    Parse(#[from] llmbench_plugin_sdk::OptionsError),
    #[error("`{option}` {reason}")]
    Invalid {
        option: &'static str,
        reason: String,
    },
    /// A required option is missing: about the options as a whole, not one key.
    #[error("{0}")]
    Missing(&'static str),
    /// The per-item options cannot be used (as given, or as rendered for an item).
    #[error("{0}")]
    Item(String),
    #[error(
        "`{option}` differs between items; only `test`, `entry-point` and `prompt` may use item variables"
    )]
    Varies { option: String },
    #[error("cannot read {what} {}: {reason}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
}

impl OptionsError {
    /// This error as the SDK reports a bad option: with the option's key as its path (so
    /// that the host points at it in the config), or without a path when it is about the
    /// options as a whole.
    fn into_sdk(self) -> llmbench_plugin_sdk::OptionsError {
        match self {
            Self::Parse(e) => e,
            Self::Invalid { option, reason } => {
                llmbench_plugin_sdk::OptionsError::at(option, reason)
            }
            Self::Varies { option } => llmbench_plugin_sdk::OptionsError::at(
                &option,
                "differs between items; only `test`, `entry-point` and `prompt` may use item variables",
            ),
            other @ (Self::Missing(_) | Self::Item(_) | Self::Read { .. }) => {
                llmbench_plugin_sdk::OptionsError::new(Vec::<String>::new(), other.to_string())
            }
        }
    }
}

/// Check `options` as [`Settings::from_options`] does, but for reading the files they name
/// (each is only looked up: it must be a regular file, relative to `context`'s config
/// directory): what `GraderPlugin::check_options` runs (`llmbench validate`, and the host
/// before creating the grader), so a misspelt key or a missing file is reported at its place.
pub(crate) fn check_options(
    options: &serde_json::Value,
    context: &PluginContext,
) -> Result<(), llmbench_plugin_sdk::OptionsError> {
    let c = Checked::from_options(options).map_err(OptionsError::into_sdk)?;
    if let CheckedMode::Harness(harness) = &c.mode {
        check_option_file(["harness"], &context.resolve(harness))?;
    }
    for (i, (path, _)) in c.extra_files.iter().enumerate() {
        check_option_file(
            ["extra-files".to_owned(), i.to_string()],
            &context.resolve(path),
        )?;
    }
    Ok(())
}

fn invalid(option: &'static str, reason: impl Into<String>) -> OptionsError {
    OptionsError::Invalid {
        option,
        reason: reason.into(),
    }
}

fn in_range(option: &'static str, value: u64, min: u64, max: u64) -> Result<u64, OptionsError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            option,
            format!("must be between {min} and {max}, not {value}"),
        ))
    }
}

/// The bytes of a file an option names, at most [`MAX_OPTION_FILE_BYTES`]; a directory, a
/// device (`/dev/zero`), a FIFO or a socket is refused before anything is read.
fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, OptionsError> {
    read_limited(path, MAX_OPTION_FILE_BYTES).map_err(|e| OptionsError::Read {
        what,
        path: path.to_owned(),
        reason: e.reason,
    })
}

/// What the harness mode or the item-test mode needs, before any file is read.
#[derive(Debug)]
enum CheckedMode {
    /// The harness's path, as given (relative to the config directory).
    Harness(PathBuf),
    Test(Result<ItemTest, String>),
}

/// The options checked without reading any file: every invariant of [`Settings`] but the
/// files' contents.
#[derive(Debug)]
struct Checked {
    mode: CheckedMode,
    code_in_section: Option<String>,
    strict: bool,
    limits: Limits,
    pool: PoolSettings,
    python: String,
    /// Each extra file's path as given, and its name in the run directory.
    extra_files: Vec<(PathBuf, String)>,
    fixed: serde_json::Map<String, serde_json::Value>,
}

impl Checked {
    fn from_options(options: &serde_json::Value) -> Result<Self, OptionsError> {
        let fixed = without_item_options(options);
        let o: OptionsWire = llmbench_plugin_sdk::parse_options(options)?;

        let t = o.timeout_seconds;
        if !(t.is_finite() && t > 0.0 && t <= 3600.0) {
            return Err(invalid(
                "timeout-seconds",
                format!("must be more than 0 and at most 3600, not {t}"),
            ));
        }
        let limits = Limits {
            wall: Duration::from_secs_f64(t),
            cpu_seconds: in_range("cpu-seconds", o.cpu_seconds, 1, 3600)?,
            memory_mb: in_range("memory-mb", o.memory_mb, 32, 1024 * 1024)?,
            max_processes: in_range("max-processes", o.max_processes, 1, 100_000)?,
            max_output_bytes: in_range("max-output-bytes", o.max_output_bytes, 1024, 1 << 30)?
                as usize,
        };

        let lifetime = o.pool_lifetime_seconds;
        if !(lifetime.is_finite() && lifetime > 0.0 && lifetime <= 86_400.0) {
            return Err(invalid(
                "pool-lifetime-seconds",
                format!("must be more than 0 and at most 86400, not {lifetime}"),
            ));
        }
        let pool = PoolSettings {
            size: in_range("pool-size", o.pool_size, 0, 64)? as usize,
            lifetime: Duration::from_secs_f64(lifetime),
        };

        let code_in_section = match o.code_in_section {
            Some(name) if !name.chars().any(char::is_alphanumeric) => {
                return Err(invalid(
                    "code-in-section",
                    format!("must name a section, not \"{name}\""),
                ));
            }
            other => other,
        };
        if o.python.trim().is_empty() {
            return Err(invalid("python", "must not be empty"));
        }

        let mode = match (o.harness, o.test) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "harness",
                    "and `test` exclude each other: give the task's harness file or the item's test program",
                ));
            }
            (None, None) => {
                return Err(OptionsError::Missing(
                    "`harness` or `test` is required: the task's harness file, or the item's test program (`test = \"{{test}}\"`)",
                ));
            }
            (Some(harness), None) => {
                for (option, given) in [
                    ("entry-point", o.entry_point.is_some()),
                    ("prompt", o.prompt.is_some()),
                ] {
                    if given {
                        return Err(invalid(option, "goes with `test`, not with `harness`"));
                    }
                }
                CheckedMode::Harness(harness)
            }
            (None, Some(test)) => {
                if o.strict {
                    return Err(invalid(
                        "strict",
                        "goes with `harness` (it makes a harness's advisory checks required), not with `test`",
                    ));
                }
                if limits.max_processes < MIN_ITEM_TEST_PROCESSES {
                    return Err(invalid(
                        "max-processes",
                        format!(
                            "must be at least {MIN_ITEM_TEST_PROCESSES} with `test` (the runner, its two readers of the answer's output, and the answer's process), not {}",
                            limits.max_processes
                        ),
                    ));
                }
                let entry_point = o.entry_point.ok_or(OptionsError::Missing(
                    "`entry-point` is required with `test`: the function the test's `check` is given (`entry-point = \"{{entry_point}}\"`)",
                ))?;
                let given = ItemTest {
                    test,
                    entry_point,
                    prompt: o.prompt,
                };
                // A template (`"{{entry_point}}"`) is checked per item, once rendered.
                let checked = match given.checked() {
                    Ok(item) => Ok(item),
                    Err(e) if is_template(&given) => Err(e.to_string()),
                    Err(e) => return Err(e),
                };
                CheckedMode::Test(checked)
            }
        };

        let mut extra_files: Vec<(PathBuf, String)> = Vec::with_capacity(o.extra_files.len());
        for path in o.extra_files {
            // The name as given (`""` has none), not as resolved (the config directory
            // itself, `/config/`, would be named `config`).
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    invalid(
                        "extra-files",
                        format!("entry {} has no file name", path.display()),
                    )
                })?
                .to_owned();
            if [HARNESS_FILE, SOLUTION_FILE, RUNNER_FILE].contains(&name.as_str()) {
                return Err(invalid(
                    "extra-files",
                    format!(
                        "entry {} would replace the run's own `{name}`",
                        path.display()
                    ),
                ));
            }
            if extra_files.iter().any(|(_, n)| *n == name) {
                return Err(invalid(
                    "extra-files",
                    format!("lists two files named `{name}`"),
                ));
            }
            extra_files.push((path, name));
        }

        Ok(Checked {
            mode,
            code_in_section,
            strict: o.strict,
            limits,
            pool,
            python: o.python,
            extra_files,
            fixed,
        })
    }
}

impl Settings {
    /// Check the options and read the files they name (relative to the config directory).
    pub(crate) fn from_options(
        options: serde_json::Value,
        context: &PluginContext,
    ) -> Result<Self, OptionsError> {
        let c = Checked::from_options(&options)?;
        let mode = match c.mode {
            CheckedMode::Harness(harness) => Mode::Harness(RunFile {
                name: HARNESS_FILE.to_owned(),
                contents: read("the harness", &context.resolve(&harness))?,
            }),
            CheckedMode::Test(item) => Mode::Test(item),
        };
        let extra_files = c
            .extra_files
            .into_iter()
            .map(|(path, name)| {
                let contents = read("an extra file", &context.resolve(&path))?;
                Ok(RunFile { name, contents })
            })
            .collect::<Result<_, OptionsError>>()?;
        Ok(Settings {
            mode,
            code_in_section: c.code_in_section,
            strict: c.strict,
            limits: c.limits,
            pool: c.pool,
            python: c.python,
            extra_files,
            fixed: c.fixed,
        })
    }

    /// What to run for a request whose rendered options are `rendered` (`None`: the
    /// options given at creation). Cheap: no file is read, and only the per-item options
    /// are taken from `rendered`; every other option must be as given at creation.
    pub(crate) fn run_for(
        &self,
        rendered: Option<&serde_json::Value>,
    ) -> Result<Run<'_>, OptionsError> {
        let Some(rendered) = rendered else {
            return match &self.mode {
                Mode::Harness(harness) => Ok(Run::Harness(harness)),
                Mode::Test(Ok(item)) => Ok(Run::Test(Cow::Borrowed(item))),
                Mode::Test(Err(reason)) => Err(OptionsError::Item(reason.clone())),
            };
        };
        let serde_json::Value::Object(object) = rendered else {
            return Err(OptionsError::Item(format!(
                "the rendered options are not a table: {rendered}"
            )));
        };
        let keys = object.keys().chain(self.fixed.keys());
        for key in keys.filter(|k| !ITEM_OPTIONS.contains(&k.as_str())) {
            if object.get(key) != self.fixed.get(key) {
                return Err(OptionsError::Varies {
                    option: key.clone(),
                });
            }
        }
        if let Mode::Harness(harness) = &self.mode {
            return Ok(Run::Harness(harness));
        }
        let text = |option: &'static str| -> Result<Option<String>, OptionsError> {
            match object.get(option) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(invalid(option, format!("must be a string, not {other}"))),
            }
        };
        let item = ItemTest {
            test: text("test")?.unwrap_or_default(),
            entry_point: text("entry-point")?.unwrap_or_default(),
            prompt: text("prompt")?,
        };
        Ok(Run::Test(Cow::Owned(item.checked()?)))
    }
}

impl ItemTest {
    /// These options checked as final values: a non-empty test, an entry point that is a
    /// Python identifier; an empty prompt is no prompt.
    fn checked(&self) -> Result<ItemTest, OptionsError> {
        if self.test.trim().is_empty() {
            return Err(invalid("test", "is empty: the item has no test program"));
        }
        if !is_identifier(&self.entry_point) {
            return Err(invalid(
                "entry-point",
                format!(
                    "must be a Python identifier (the name of the function under test), not {:?}",
                    self.entry_point
                ),
            ));
        }
        Ok(ItemTest {
            test: self.test.clone(),
            entry_point: self.entry_point.clone(),
            prompt: self.prompt.clone().filter(|p| !p.is_empty()),
        })
    }
}

/// Whether any of the item options holds a `{{` (a template rendered per item).
fn is_template(item: &ItemTest) -> bool {
    [
        Some(&item.test),
        Some(&item.entry_point),
        item.prompt.as_ref(),
    ]
    .into_iter()
    .flatten()
    .any(|s| llmbench_plugin_sdk::core::template::has_placeholder(s))
}

/// A Python identifier (letters, digits and underscores, not starting with a digit), and
/// not a keyword.
fn is_identifier(s: &str) -> bool {
    const KEYWORDS: [&str; 35] = [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && !KEYWORDS.contains(&s)
}

/// `options` as an object without the per-item options (empty when not an object: then
/// parsing refuses it anyway).
fn without_item_options(options: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    let mut fixed = options.as_object().cloned().unwrap_or_default();
    for key in ITEM_OPTIONS {
        fixed.remove(key);
    }
    fixed
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn context(dir: &Path) -> PluginContext {
        PluginContext {
            config_dir: dir.to_owned(),
            ..PluginContext::default()
        }
    }

    fn dir_with_harness() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("task")).unwrap();
        std::fs::write(dir.path().join("task/harness.py"), "print('{}')").unwrap();
        std::fs::write(dir.path().join("task/data.json"), "[1]").unwrap();
        dir
    }

    #[test]
    fn defaults_and_relative_paths() {
        let dir = dir_with_harness();
        let s = Settings::from_options(
            json!({ "harness": "task/harness.py", "extra-files": ["task/data.json"] }),
            &context(dir.path()),
        )
        .unwrap();
        assert_eq!(
            s.mode,
            Mode::Harness(RunFile {
                name: "harness.py".into(),
                contents: b"print('{}')".to_vec()
            })
        );
        assert_eq!(s.limits, Limits::default());
        assert_eq!(s.limits.wall, Duration::from_secs(10));
        assert_eq!(s.python, "python3");
        assert_eq!(s.code_in_section, None);
        assert_eq!(
            s.extra_files,
            vec![RunFile {
                name: "data.json".into(),
                contents: b"[1]".to_vec()
            }]
        );
    }

    #[test]
    fn all_options() {
        let dir = dir_with_harness();
        let s = Settings::from_options(
            json!({
                "harness": "task/harness.py",
                "code-in-section": "Fix",
                "timeout-seconds": 2.5,
                "cpu-seconds": 3,
                "memory-mb": 256,
                "max-processes": 8,
                "max-output-bytes": 4096,
                "python": "/usr/bin/python3",
            }),
            &context(dir.path()),
        )
        .unwrap();
        assert_eq!(s.code_in_section.as_deref(), Some("Fix"));
        assert_eq!(
            s.limits,
            Limits {
                wall: Duration::from_millis(2500),
                cpu_seconds: 3,
                memory_mb: 256,
                max_processes: 8,
                max_output_bytes: 4096,
            }
        );
        assert_eq!(s.python, "/usr/bin/python3");
    }

    #[track_caller]
    fn refused(options: serde_json::Value) -> String {
        let dir = dir_with_harness();
        Settings::from_options(options, &context(dir.path()))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_pool_has_defaults_and_bounds() {
        let dir = dir_with_harness();
        let s = Settings::from_options(
            json!({ "test": "def check(c):\n    assert c()\n", "entry-point": "f" }),
            &context(dir.path()),
        )
        .unwrap();
        assert_eq!(s.pool, PoolSettings::default());
        assert_eq!(s.pool.size, 2);
        assert_eq!(s.pool.lifetime, Duration::from_secs(60));
        let s = Settings::from_options(
            json!({ "test": "def check(c):\n    assert c()\n", "entry-point": "f",
                    "pool-size": 0, "pool-lifetime-seconds": 0.5 }),
            &context(dir.path()),
        )
        .unwrap();
        assert_eq!(
            s.pool,
            PoolSettings {
                size: 0,
                lifetime: Duration::from_millis(500)
            }
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "pool-size": 65 })),
            "`pool-size` must be between 0 and 64, not 65"
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "pool-lifetime-seconds": 0 })),
            "`pool-lifetime-seconds` must be more than 0 and at most 86400, not 0"
        );
    }

    #[test]
    fn bad_options_are_refused_with_the_reason() {
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "timeout_seconds": 1 })),
            "option `timeout_seconds`: unknown option `timeout_seconds` (did you mean `timeout-seconds`?)"
        );
        assert_eq!(
            refused(json!({})),
            "`harness` or `test` is required: the task's harness file, or the item's test program (`test = \"{{test}}\"`)"
        );
        let missing = refused(json!({ "harness": "task/nope.py" }));
        assert!(
            missing.starts_with("cannot read the harness ")
                && missing.contains("task/nope.py: No such file"),
            "{missing}"
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "timeout-seconds": 0 })),
            "`timeout-seconds` must be more than 0 and at most 3600, not 0"
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "max-processes": 0 })),
            "`max-processes` must be between 1 and 100000, not 0"
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "code-in-section": " ## " })),
            "`code-in-section` must name a section, not \" ## \""
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "extra-files": ["task/harness.py"] })),
            "`extra-files` entry task/harness.py would replace the run's own `harness.py`"
        );
        assert_eq!(
            refused(json!({
                "harness": "task/harness.py",
                "extra-files": ["task/data.json", "data.json"],
            })),
            "`extra-files` lists two files named `data.json`"
        );
    }

    #[test]
    fn files_are_read_with_limits() {
        for (options, what) in [
            (json!({ "harness": "/dev/zero" }), "the harness /dev/zero"),
            (
                json!({ "harness": "task/harness.py", "extra-files": ["/dev/zero"] }),
                "an extra file /dev/zero",
            ),
        ] {
            assert_eq!(
                refused(options),
                format!("cannot read {what}: it is not a regular file (a device, pipe or socket)")
            );
        }
        let dir = dir_with_harness();
        let e = Settings::from_options(json!({ "harness": "task" }), &context(dir.path()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "cannot read the harness {}: it is a directory",
                dir.path().join("task").display()
            )
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "extra-files": ["task/.."] })),
            "`extra-files` entry task/.. has no file name"
        );
    }

    #[test]
    fn check_options_reads_no_file_and_names_the_option() {
        let dir = dir_with_harness();
        let check = |options: serde_json::Value| check_options(&options, &context(dir.path()));
        // The files must be there, as regular files; only `create` reads them.
        assert_eq!(
            check(json!({ "harness": "task/harness.py", "extra-files": ["task/data.json"] })),
            Ok(())
        );
        let e = check(json!({ "harness": "task/nonexistent.py" })).unwrap_err();
        assert_eq!(e.path, ["harness"]);
        assert_eq!(
            e.message,
            format!(
                "no file at {}",
                dir.path().join("task/nonexistent.py").display()
            )
        );
        let e = check(
            json!({ "harness": "task/harness.py", "extra-files": ["task/data.json", "/dev/zero"] }),
        )
        .unwrap_err();
        assert_eq!(e.path, ["extra-files", "1"]);
        assert_eq!(
            e.message,
            "/dev/zero is not a regular file (a device, pipe or socket)"
        );
        let e = check(json!({ "harness": "task" })).unwrap_err();
        assert_eq!(e.path, ["harness"]);
        assert!(
            e.message.ends_with("is a directory, not a file"),
            "{}",
            e.message
        );
        assert_eq!(check(json!({ "test": TEST, "entry-point": "f" })), Ok(()));
        let e = check(json!({ "harness": "h.py", "extra_file": ["x"] })).unwrap_err();
        assert_eq!(e.path, ["extra_file"]);
        assert_eq!(e.message, "unknown option `extra_file`");
        assert_eq!(e.help.as_deref(), Some("did you mean `extra-files`?"));
        let e = check(json!({ "harness": "h.py", "memory-mb": 1 })).unwrap_err();
        assert_eq!(e.path, ["memory-mb"]);
        assert_eq!(e.message, "must be between 32 and 1048576, not 1");
        let e = check(json!({ "harness": 3 })).unwrap_err();
        assert_eq!(e.path, ["harness"]);
        // A missing key is about the table as a whole.
        let e = check(json!({})).unwrap_err();
        assert!(e.path.is_empty(), "{e:?}");
        assert!(
            e.message.starts_with("`harness` or `test` is required: "),
            "{}",
            e.message
        );
        let e = check(json!({ "test": TEST })).unwrap_err();
        assert!(e.path.is_empty(), "{e:?}");
        // A template is checked per item, not here.
        assert_eq!(
            check(json!({ "test": "{{test}}", "entry-point": "{{entry_point}}" })),
            Ok(())
        );
    }

    const TEST: &str = "def check(candidate):\n    assert candidate(1) == 2\n";

    fn item_options() -> serde_json::Value {
        json!({ "test": "{{test}}", "entry-point": "{{entry_point}}", "prompt": "{{prompt}}", "timeout-seconds": 5 })
    }

    fn rendered(test: &str, entry: &str, prompt: &str) -> serde_json::Value {
        json!({ "test": test, "entry-point": entry, "prompt": prompt, "timeout-seconds": 5 })
    }

    #[track_caller]
    fn item_settings(options: serde_json::Value) -> Settings {
        let dir = dir_with_harness();
        Settings::from_options(options, &context(dir.path())).unwrap()
    }

    #[track_caller]
    fn test_of(run: Run<'_>) -> ItemTest {
        match run {
            Run::Test(item) => item.into_owned(),
            Run::Harness(_) => panic!("harness mode"),
        }
    }

    #[test]
    fn item_options_are_templates_checked_per_item() {
        let s = item_settings(item_options());
        assert_eq!(s.limits.wall, Duration::from_secs(5));
        // As given, the templates are no entry point: only rendered options can be used.
        assert_eq!(
            s.run_for(None).unwrap_err().to_string(),
            "`entry-point` must be a Python identifier (the name of the function under test), not \"{{entry_point}}\""
        );
        let item = test_of(
            s.run_for(Some(&rendered(TEST, "inc", "def inc(x):\n")))
                .unwrap(),
        );
        assert_eq!(
            item,
            ItemTest {
                test: TEST.into(),
                entry_point: "inc".into(),
                prompt: Some("def inc(x):\n".into()),
            }
        );
        // An empty prompt is no prompt.
        assert_eq!(
            test_of(s.run_for(Some(&rendered(TEST, "_f2", ""))).unwrap()).prompt,
            None
        );
    }

    #[test]
    fn bad_items_are_refused_with_the_option() {
        let s = item_settings(item_options());
        let refuse = |v: serde_json::Value| s.run_for(Some(&v)).unwrap_err().to_string();
        assert_eq!(
            refuse(rendered(" \n", "inc", "")),
            "`test` is empty: the item has no test program"
        );
        for entry in ["", "2x", "inc(", "a.b", "class", "has space"] {
            assert_eq!(
                refuse(rendered(TEST, entry, "")),
                format!(
                    "`entry-point` must be a Python identifier (the name of the function under test), not {entry:?}"
                )
            );
        }
        assert_eq!(
            refuse(json!({ "test": TEST, "entry-point": "f", "prompt": "", "timeout-seconds": 9 })),
            "`timeout-seconds` differs between items; only `test`, `entry-point` and `prompt` may use item variables"
        );
        assert_eq!(
            refuse(
                json!({ "test": TEST, "entry-point": "f", "timeout-seconds": 5, "python": "x" })
            ),
            "`python` differs between items; only `test`, `entry-point` and `prompt` may use item variables"
        );
        assert_eq!(
            refuse(json!({ "test": 3, "entry-point": "f", "timeout-seconds": 5 })),
            "`test` must be a string, not 3"
        );
        assert_eq!(
            refuse(json!("text")),
            "the rendered options are not a table: \"text\""
        );
    }

    #[test]
    fn literal_item_options_are_checked_at_creation() {
        let s = item_settings(json!({ "test": TEST, "entry-point": "inc" }));
        let item = test_of(s.run_for(None).unwrap());
        assert_eq!(item.entry_point, "inc");
        assert_eq!(item.prompt, None);
        assert_eq!(
            refused(json!({ "test": TEST, "entry-point": "not an identifier" })),
            "`entry-point` must be a Python identifier (the name of the function under test), not \"not an identifier\""
        );
        assert_eq!(
            refused(json!({ "test": "", "entry-point": "f" })),
            "`test` is empty: the item has no test program"
        );
    }

    #[test]
    fn modes_exclude_each_other() {
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "test": TEST, "entry-point": "f" })),
            "`harness` and `test` exclude each other: give the task's harness file or the item's test program"
        );
        assert_eq!(
            refused(json!({ "test": TEST })),
            "`entry-point` is required with `test`: the function the test's `check` is given (`entry-point = \"{{entry_point}}\"`)"
        );
        assert_eq!(
            refused(json!({ "test": TEST, "entry-point": "f", "max-processes": 3 })),
            "`max-processes` must be at least 4 with `test` (the runner, its two readers of the answer's output, and the answer's process), not 3"
        );
        assert_eq!(
            refused(json!({ "harness": "task/harness.py", "prompt": "x" })),
            "`prompt` goes with `test`, not with `harness`"
        );
        let dir = dir_with_harness();
        std::fs::write(dir.path().join("task/runner.py"), "").unwrap();
        let e = Settings::from_options(
            json!({ "test": TEST, "entry-point": "f", "extra-files": ["task/runner.py"] }),
            &context(dir.path()),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`extra-files` entry task/runner.py would replace the run's own `runner.py`"
        );
    }

    #[test]
    fn harness_mode_accepts_rendered_options_that_do_not_vary() {
        let options = json!({ "harness": "task/harness.py", "timeout-seconds": 2 });
        let s = item_settings(options.clone());
        assert!(matches!(
            s.run_for(Some(&options)).unwrap(),
            Run::Harness(_)
        ));
        assert_eq!(
            s.run_for(Some(
                &json!({ "harness": "task/other.py", "timeout-seconds": 2 })
            ))
            .unwrap_err()
            .to_string(),
            "`harness` differs between items; only `test`, `entry-point` and `prompt` may use item variables"
        );
    }
}
