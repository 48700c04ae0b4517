//! Raw config to validated [`Config`]: every check, every error collected, nothing loaded
//! but the config's own prompt and items files.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use llmbench_core::{Item, Price, Sampling, VerdictRule};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::dataset::{self, FileErrors, Format};
use crate::de_error::{self, Segment, backticked, display_path};
use crate::error::{ConfigError, ConfigErrorKind, ConfigErrors, Sink, line_column};
use crate::files::{self, Limit};
use crate::items::{self, Located, Mapping, Origin, Subset};
use crate::model::{
    Config, DEFAULT_METRICS_ADDRESS, GraderConfig, PriceConfig, ProviderConfig, RateLimits,
    RunSettings, ScheduleConfig, SourceFile, SourceRole, TaskConfig, Trigger, sweep_name_from_path,
};
use crate::raw::{
    RawConfig, RawGrader, RawItem, RawPrice, RawProvider, RawRule, RawRun, RawSchedule, RawTask,
    RawVerdict,
};
use crate::template;

use ConfigErrorKind as K;

/// Where a named dataset's file is, as far as validation is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DatasetFile {
    /// No dataset has this name.
    Unknown,
    /// Known, and not in the cache yet: it would be here.
    NotFetched(PathBuf),
    /// In the cache, verified when it was put there.
    Fetched(PathBuf),
    /// The cache cannot be found (no home directory): the message.
    Error(String),
}

/// Looks a named dataset up in the local cache (never fetches).
pub(crate) fn cached_dataset(name: &str) -> DatasetFile {
    let Some(dataset) = llmbench_models::dataset(name) else {
        return DatasetFile::Unknown;
    };
    match llmbench_models::cached_dataset(dataset) {
        Ok((path, true)) => DatasetFile::Fetched(path),
        Ok((path, false)) => DatasetFile::NotFetched(path),
        Err(e) => DatasetFile::Error(e.to_string()),
    }
}

/// Parses and validates `source`, the text of the config at `path`.
pub(crate) fn parse(source: &str, path: &Path) -> Result<Config, ConfigErrors> {
    parse_with(source, path, &cached_dataset)
}

/// [`parse`], with every file the config names read from `stored` (keyed by the path
/// resolved against the config's canonical directory, as [`Config::files`] records it)
/// instead of the disk. A file missing from `stored` is an error at the value naming it.
pub(crate) fn parse_stored(
    source: &str,
    path: &Path,
    stored: &BTreeMap<PathBuf, Vec<u8>>,
) -> Result<Config, ConfigErrors> {
    // A dataset is looked up by name; its stored copy stands in for the cache, fetched or not.
    let datasets = |name: &str| match cached_dataset(name) {
        DatasetFile::NotFetched(p) if stored.contains_key(&p) => DatasetFile::Fetched(p),
        other => other,
    };
    parse_from(source, path, &datasets, Some(stored))
}

/// [`parse`], with named datasets looked up by `datasets` (tests point it at a temporary
/// cache).
pub(crate) fn parse_with(
    source: &str,
    path: &Path,
    datasets: &dyn Fn(&str) -> DatasetFile,
) -> Result<Config, ConfigErrors> {
    parse_from(source, path, datasets, None)
}

fn parse_from(
    source: &str,
    path: &Path,
    datasets: &dyn Fn(&str) -> DatasetFile,
    stored: Option<&BTreeMap<PathBuf, Vec<u8>>>,
) -> Result<Config, ConfigErrors> {
    let raw: RawConfig =
        toml::from_str(source).map_err(|e| de_error::translate(&e, path, source))?;

    // Files named in the config are read and shown relative to the path as given (so
    // messages read like the command line), and stored resolved against the canonical one.
    let base = path.parent().unwrap_or(Path::new(""));
    let canonical = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let dir = canonical.parent().unwrap_or(Path::new("")).to_path_buf();

    let mut v = Validator {
        sink: Sink::new(path, source),
        base,
        dir: &dir,
        datasets,
        document: None,
        provider_names: Vec::new(),
        stored,
        files: vec![SourceFile {
            role: SourceRole::Config,
            path: canonical.clone(),
            bytes: Arc::from(source.as_bytes()),
        }],
    };
    let run = v.run(raw.run);
    v.provider_names = raw
        .providers
        .0
        .iter()
        .map(|(name, _)| name.get_ref().clone())
        .collect();
    let under_test = raw
        .providers
        .0
        .iter()
        .filter(|(_, p)| p.judge_only != Some(true))
        .count();
    if under_test == 0 && !raw.providers.0.is_empty() {
        v.sink
            .error(
                K::MissingKey,
                0..0,
                "no providers to benchmark: every provider is `judge-only`",
            )
            .help("add a `[providers.NAME]` table without `judge-only = true` for the model under test");
    }
    if raw.providers.0.is_empty() {
        v.sink
            .error(
                K::MissingKey,
                0..0,
                "no providers: the config must define at least one",
            )
            .help("add a `[providers.NAME]` table with a `plugin` and a `model`");
    }
    if raw.tasks.0.is_empty() {
        v.sink
            .error(
                K::MissingKey,
                0..0,
                "no tasks: the config must define at least one",
            )
            .help("add a `[tasks.NAME]` table with a `prompt`");
    }
    let (judges, providers): (Vec<_>, Vec<_>) = raw
        .providers
        .0
        .into_iter()
        .map(|(name, provider)| {
            let judge_only = provider.judge_only == Some(true);
            (judge_only, v.provider(name, provider))
        })
        .partition(|(judge_only, _)| *judge_only);
    let judges = judges.into_iter().map(|(_, p)| p).collect();
    let providers = providers.into_iter().map(|(_, p)| p).collect();
    let tasks: Vec<_> = raw
        .tasks
        .0
        .into_iter()
        .map(|(name, task)| v.task(name, task))
        .collect();
    let schedule = raw.schedule.map(|s| v.schedule(s, path));

    if !v.sink.errors.is_empty() {
        // Top to bottom: the config's errors first, then each other file's, in the order
        // the files were named.
        let mut errors = v.sink.errors;
        let mut files: Vec<PathBuf> = vec![path.to_path_buf()];
        for e in &errors {
            if !files.contains(&e.path) {
                files.push(e.path.clone());
            }
        }
        errors.sort_by_key(|e| (files.iter().position(|f| *f == e.path), e.line, e.column));
        return Err(ConfigErrors(errors));
    }
    let files = std::mem::take(&mut v.files);
    Ok(Config {
        path: canonical,
        dir,
        source: source.to_owned(),
        run,
        providers,
        judges,
        tasks,
        schedule,
        files,
    })
}

/// Provider, task, grader and item-variable names: `[A-Za-z0-9_.-]+`.
pub(crate) fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

const ID_RULE: &str = "use letters, digits, `_`, `.` and `-`";

fn is_env_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `YYYY-MM-DD`, and a real day.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// Whether a plugin reference is a path to a library rather than a name.
fn is_plugin_path(s: &str) -> bool {
    s.contains('/')
        || s.contains('\\')
        || [".so", ".dylib", ".dll"].iter().any(|ext| s.ends_with(ext))
}

/// Allowed values of a float setting.
#[derive(Debug, Clone, Copy)]
enum FloatRange {
    AtLeast(f64),
    MoreThan(f64),
    Between(f64, f64),
}

impl FloatRange {
    fn contains(self, x: f64) -> bool {
        match self {
            Self::AtLeast(min) => x >= min,
            Self::MoreThan(min) => x > min,
            Self::Between(min, max) => (min..=max).contains(&x),
        }
    }

    fn describe(self) -> String {
        match self {
            Self::AtLeast(min) => format!("{min} or more"),
            Self::MoreThan(min) => format!("more than {min}"),
            Self::Between(min, max) => format!("between {min} and {max}"),
        }
    }
}

/// A prompt template and where its text lives.
#[derive(Debug)]
enum TemplateSource {
    /// A string value in the config.
    Config { text: String, span: Range<usize> },
    /// A file named by `prompt-file`.
    File { text: String, path: PathBuf },
}

impl TemplateSource {
    fn text(&self) -> &str {
        match self {
            Self::Config { text, .. } | Self::File { text, .. } => text,
        }
    }
}

struct Validator<'a> {
    sink: Sink<'a>,
    /// The config's directory as given: files are read and shown from here.
    base: &'a Path,
    /// The config's canonical directory: paths are stored resolved against it.
    dir: &'a Path,
    /// Where named datasets are.
    datasets: &'a dyn Fn(&str) -> DatasetFile,
    /// The config as a tree of spanned values, parsed on first need: the positions of
    /// strings nested in grader options (serde's `Spanned` gives a table's span, not its
    /// values'). `Some(None)`: it did not parse (it did once already, so never).
    document: Option<Option<Spanned<DeTable<'a>>>>,
    /// The names of all provider entries (`judge-only` ones included), for graders' `judge`.
    provider_names: Vec<String>,
    /// Where files are read from: `None` the disk, else a run's stored copies by resolved
    /// path ([`parse_stored`]).
    stored: Option<&'a BTreeMap<PathBuf, Vec<u8>>>,
    /// The files read so far, each once, in order ([`Config::files`]).
    files: Vec<SourceFile>,
}

/// `fields = { variable = "field" }` as written.
type RawFields = Spanned<crate::raw::Entries<Spanned<String>>>;

/// The source of a task's items, as written.
struct ItemKeys {
    inline: Option<Spanned<Vec<RawItem>>>,
    file: Option<Spanned<String>>,
    dataset: Option<Spanned<String>>,
    id_field: Option<Spanned<String>>,
    fields: Option<RawFields>,
    limit: Option<Spanned<i64>>,
    sample: Option<Spanned<i64>>,
    seed: Option<Spanned<i64>>,
}

impl Validator<'_> {
    fn int(&mut self, name: &str, value: &Spanned<i64>, min: i64, max: i64) -> i64 {
        let x = *value.get_ref();
        if x < min {
            self.sink.error(
                K::InvalidValue,
                value.span(),
                format!("`{name}` must be at least {min}, not {x}"),
            );
            min
        } else if x > max {
            self.sink.error(
                K::InvalidValue,
                value.span(),
                format!("`{name}` must be at most {max}, not {x}"),
            );
            max
        } else {
            x
        }
    }

    fn float(&mut self, name: &str, value: &Spanned<f64>, range: FloatRange) -> f64 {
        let x = *value.get_ref();
        if !x.is_finite() || !range.contains(x) {
            self.sink.error(
                K::InvalidValue,
                value.span(),
                format!("`{name}` must be {}, not {x}", range.describe()),
            );
            return match range {
                FloatRange::AtLeast(min) | FloatRange::Between(min, _) => min,
                FloatRange::MoreThan(min) => min + 1.0,
            };
        }
        x
    }

    fn non_empty(&mut self, name: &str, value: &Spanned<String>) -> String {
        if value.get_ref().trim().is_empty() {
            self.sink.error(
                K::InvalidValue,
                value.span(),
                format!("`{name}` must not be empty"),
            );
        }
        value.get_ref().clone()
    }

    fn id(&mut self, what: &str, name: &Spanned<String>) {
        if !is_id(name.get_ref()) {
            self.sink
                .error(
                    K::InvalidValue,
                    name.span(),
                    format!("invalid {what} name {:?}", name.get_ref()),
                )
                .help(ID_RULE);
        }
    }

    fn path(&mut self, name: &str, value: &Spanned<String>) -> PathBuf {
        self.non_empty(name, value);
        self.dir.join(value.get_ref())
    }

    fn plugin(&mut self, name: &str, value: &Spanned<String>) -> String {
        let plugin = self.non_empty(name, value);
        if !plugin.trim().is_empty() && !is_plugin_path(&plugin) && !is_id(&plugin) {
            self.sink
                .error(
                    K::InvalidValue,
                    value.span(),
                    format!("invalid plugin name {plugin:?} in `{name}`"),
                )
                .help(format!(
                    "{ID_RULE}, or give a path to the library (containing `/` or ending in `.so`)"
                ));
        }
        plugin
    }

    fn options(&mut self, name: &str, table: Option<Spanned<toml::Table>>) -> serde_json::Value {
        let Some(table) = table else {
            return serde_json::Value::Object(serde_json::Map::new());
        };
        let span = table.span();
        match to_json(toml::Value::Table(table.into_inner()), &mut Vec::new()) {
            Ok(json) => json,
            Err(key) => {
                self.sink.error(
                    K::InvalidValue,
                    span,
                    format!(
                        "`{name}.{}` must be a finite number (JSON has no NaN or infinity)",
                        display_path(&key)
                    ),
                );
                serde_json::Value::Null
            }
        }
    }

    /// Reads a file named in the config, within `limit`; the error points at the value
    /// naming it.
    fn read(&mut self, value: &Spanned<String>, limit: Limit) -> Option<(PathBuf, String)> {
        let path = self.base.join(value.get_ref());
        self.read_path(path, value.span(), limit)
    }

    /// Reads a file from disk, or from the stored copies ([`parse_stored`]), and records
    /// it in [`Config::files`] under its path resolved against the config's canonical
    /// directory (`path` is relative to the directory as given, and shown so in messages).
    fn read_path(
        &mut self,
        path: PathBuf,
        span: Range<usize>,
        limit: Limit,
    ) -> Option<(PathBuf, String)> {
        let resolved = self.dir.join(path.strip_prefix(self.base).unwrap_or(&path));
        let recorded = self.files.iter().find(|f| f.path == resolved);
        let bytes: Result<Arc<[u8]>, String> = match (recorded, self.stored) {
            // Read once: a file two tasks name is the same bytes for both.
            (Some(file), _) => Ok(Arc::clone(&file.bytes)),
            (None, None) => files::read_bytes(&path, limit).map(Arc::from),
            (None, Some(stored)) => stored
                .get(&resolved)
                .map(|b| Arc::from(b.as_slice()))
                .ok_or_else(|| {
                    format!(
                        "cannot read {}: the run stored no copy of it (a stored config reads \
                         only the files its run stored, never the disk)",
                        path.display()
                    )
                }),
        };
        let text = bytes.and_then(|bytes| {
            let text = files::decode(&path, &bytes, limit)?;
            if !self.files.iter().any(|f| f.path == resolved) {
                self.files.push(SourceFile {
                    role: if limit.gzip {
                        SourceRole::Items
                    } else {
                        SourceRole::Prompt
                    },
                    path: resolved,
                    bytes,
                });
            }
            Ok(text)
        });
        match text {
            Ok(text) => Some((path, text)),
            Err(message) => {
                self.sink.error(K::Io, span, message);
                None
            }
        }
    }

    fn run(&mut self, raw: RawRun) -> RunSettings {
        let mut run = RunSettings::default();
        if let Some(dir) = &raw.output_dir {
            run.output_dir = Some(self.path("run.output-dir", dir));
        }
        if let Some(dir) = &raw.plugin_dir {
            run.plugin_dir = Some(self.path("run.plugin-dir", dir));
        }
        if let Some(repeats) = &raw.repeats {
            run.repeats = self.int("run.repeats", repeats, 1, u32::MAX.into()) as u32;
        }
        if let Some(concurrency) = &raw.concurrency {
            run.concurrency = self.int("run.concurrency", concurrency, 1, 1 << 20) as usize;
        }
        if let Some(ks) = &raw.pass_at_k {
            let mut pass_at_k = Vec::with_capacity(ks.len());
            for k in ks {
                let value = *k.get_ref();
                if value < 1 {
                    self.sink.error(
                        K::InvalidValue,
                        k.span(),
                        format!("`run.pass-at-k` values must be at least 1, not {value}"),
                    );
                } else if value > i64::from(run.repeats) {
                    self.sink
                        .error(
                            K::InvalidValue,
                            k.span(),
                            format!(
                                "pass@{value} needs at least {value} repeats, and `run.repeats` is {}",
                                run.repeats
                            ),
                        )
                        .help(format!(
                            "set `repeats = {value}` or more in `[run]`, or remove {value} from `pass-at-k`"
                        ));
                } else {
                    pass_at_k.push(value as u32);
                }
            }
            pass_at_k.sort_unstable();
            pass_at_k.dedup();
            run.pass_at_k = pass_at_k;
        }
        if let Some(cap) = &raw.max_cost_usd {
            run.max_cost_usd = Some(self.float("run.max-cost-usd", cap, FloatRange::MoreThan(0.0)));
        }
        if let Some(timeout) = &raw.timeout_seconds {
            let secs = self.float("run.timeout-seconds", timeout, FloatRange::MoreThan(0.0));
            match Duration::try_from_secs_f64(secs) {
                Ok(duration) => run.timeout = duration,
                Err(_) => {
                    self.sink.error(
                        K::InvalidValue,
                        timeout.span(),
                        format!("`run.timeout-seconds` is too large: {secs}"),
                    );
                }
            }
        }
        if let Some(grace) = &raw.grace_seconds {
            let secs = self.float("run.grace-seconds", grace, FloatRange::AtLeast(0.0));
            match Duration::try_from_secs_f64(secs) {
                Ok(duration) => run.grace = duration,
                Err(_) => {
                    self.sink.error(
                        K::InvalidValue,
                        grace.span(),
                        format!("`run.grace-seconds` is too large: {secs}"),
                    );
                }
            }
        }
        run
    }

    fn schedule(&mut self, raw: Spanned<RawSchedule>, path: &Path) -> ScheduleConfig {
        let span = raw.span();
        let raw = raw.into_inner();
        let name = match &raw.name {
            Some(name) => {
                if !is_id(name.get_ref()) {
                    self.sink
                        .error(
                            K::InvalidValue,
                            name.span(),
                            format!("invalid sweep name {:?} in `schedule.name`", name.get_ref()),
                        )
                        .help(ID_RULE);
                }
                name.get_ref().clone()
            }
            None => sweep_name_from_path(path),
        };
        let trigger = match (&raw.interval_seconds, &raw.cron) {
            (Some(_), Some(cron)) => {
                self.sink
                    .error(
                        K::Conflict,
                        cron.span(),
                        "`schedule` has both `interval-seconds` and `cron`",
                    )
                    .help("keep one of them");
                None
            }
            (None, None) => {
                self.sink
                    .error(
                        K::MissingKey,
                        span.clone(),
                        "`schedule` needs `interval-seconds` or `cron`",
                    )
                    .help("add `interval-seconds = 21600` (every 6 hours) or `cron = \"0 */6 * * *\"`");
                None
            }
            (Some(interval), None) => {
                let secs = self.float(
                    "schedule.interval-seconds",
                    interval,
                    FloatRange::AtLeast(1.0),
                );
                match Duration::try_from_secs_f64(secs) {
                    Ok(d) => Some(Trigger::Interval(d)),
                    Err(_) => {
                        self.sink.error(
                            K::InvalidValue,
                            interval.span(),
                            format!("`schedule.interval-seconds` is too large: {secs}"),
                        );
                        None
                    }
                }
            }
            (None, Some(cron)) => self.cron(cron, raw.timezone.as_ref()),
        };
        if let (Some(timezone), None) = (&raw.timezone, &raw.cron) {
            self.sink
                .error(
                    K::Conflict,
                    timezone.span(),
                    "`schedule.timezone` applies only to `cron`",
                )
                .help("remove `timezone`, or use `cron`");
        }
        let jitter = raw.jitter_seconds.as_ref().map_or(Duration::ZERO, |j| {
            let secs = self.float("schedule.jitter-seconds", j, FloatRange::AtLeast(0.0));
            Duration::try_from_secs_f64(secs).unwrap_or_else(|_| {
                self.sink.error(
                    K::InvalidValue,
                    j.span(),
                    format!("`schedule.jitter-seconds` is too large: {secs}"),
                );
                Duration::ZERO
            })
        });
        let default_address = DEFAULT_METRICS_ADDRESS.parse().expect("a valid address");
        let metrics_address =
            raw.metrics_address
                .as_ref()
                .map_or(default_address, |a| match a.get_ref().parse() {
                    Ok(address) => address,
                    Err(_) => {
                        self.sink
                            .error(
                                K::InvalidValue,
                                a.span(),
                                format!(
                                    "`schedule.metrics-address` must be IP:PORT, not {:?}",
                                    a.get_ref()
                                ),
                            )
                            .help(format!("for example \"{DEFAULT_METRICS_ADDRESS}\""));
                        default_address
                    }
                });
        let max_error_ratio = raw.max_error_ratio.as_ref().map_or(0.1, |r| {
            self.float("schedule.max-error-ratio", r, FloatRange::Between(0.0, 1.0))
        });
        ScheduleConfig {
            name,
            // A placeholder when the trigger is invalid: the config is rejected anyway.
            trigger: trigger.unwrap_or(Trigger::Interval(Duration::from_secs(1))),
            jitter,
            metrics_address,
            max_error_ratio,
        }
    }

    fn cron(
        &mut self,
        cron: &Spanned<String>,
        timezone: Option<&Spanned<String>>,
    ) -> Option<Trigger> {
        let expression = cron.get_ref().trim();
        let fields = expression.split_whitespace().count();
        let parsed = if (5..=6).contains(&fields) {
            // croner's messages are sentences ("Component error: Number out of bounds.").
            expression
                .parse::<croner::Cron>()
                .map_err(|e| e.to_string().trim_end_matches('.').to_lowercase())
        } else {
            Err(format!(
                "expected 5 fields (6 with seconds), found {fields}"
            ))
        };
        let parsed = match parsed {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                self.sink
                    .error(
                        K::InvalidValue,
                        cron.span(),
                        format!("invalid cron expression {expression:?} in `schedule.cron`: {e}"),
                    )
                    .help(
                        "minute hour day-of-month month day-of-week, for example \"0 */6 * * *\"",
                    );
                None
            }
        };
        let timezone_name = timezone.map_or("UTC", |t| t.get_ref().as_str()).to_owned();
        let zone = match jiff::tz::TimeZone::get(&timezone_name) {
            Ok(zone) => Some(zone),
            Err(_) => {
                let span = timezone.map_or(cron.span(), |t| t.span());
                let names: Vec<String> =
                    jiff::tz::db().available().map(|n| n.to_string()).collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let error = self.sink.error(
                    K::InvalidValue,
                    span,
                    format!("unknown time zone {timezone_name:?} in `schedule.timezone`"),
                );
                match de_error::suggest(&timezone_name, &refs) {
                    Some(best) => error.help(format!("did you mean `{best}`?")),
                    None => error.help("use an IANA name such as \"Europe/Berlin\" or \"UTC\""),
                }
                None
            }
        };
        Some(Trigger::Cron {
            expression: expression.to_owned(),
            cron: parsed?,
            timezone_name,
            timezone: zone?,
        })
    }

    fn provider(&mut self, key: Spanned<String>, raw: RawProvider) -> ProviderConfig {
        self.id("provider", &key);
        let name = key.get_ref().clone();
        let at = display_path(&[Segment::Key("providers".into()), Segment::Key(name.clone())]);
        let field = |f: &str| format!("{at}.{f}");

        let plugin = self.plugin(&field("plugin"), &raw.plugin);
        let model = self.non_empty(&field("model"), &raw.model);
        let label = match &raw.label {
            Some(label) => self.non_empty(&field("label"), label),
            None => model.clone(),
        };
        let api_key_env = raw
            .api_key_env
            .as_ref()
            .map(|env| self.api_key_env(&field("api-key-env"), env));
        let concurrency = raw
            .concurrency
            .as_ref()
            .map(|c| self.int(&field("concurrency"), c, 1, 1 << 20) as usize);
        let max_tokens = raw
            .max_tokens
            .as_ref()
            .map(|m| self.int(&field("max-tokens"), m, 1, u32::MAX.into()) as u32);
        let per_minute = |this: &mut Self, name: &str, v: &Option<Spanned<i64>>| {
            v.as_ref()
                .map(|v| this.int(&field(name), v, 1, u32::MAX.into()) as u64)
        };
        let rate_limits = RateLimits {
            requests_per_minute: per_minute(self, "requests-per-minute", &raw.requests_per_minute)
                .map(|n| n as u32),
            input_tokens_per_minute: per_minute(
                self,
                "input-tokens-per-minute",
                &raw.input_tokens_per_minute,
            ),
            output_tokens_per_minute: per_minute(
                self,
                "output-tokens-per-minute",
                &raw.output_tokens_per_minute,
            ),
            adaptive: raw.adaptive_rate_limit.unwrap_or(false),
        };
        let max_retries = raw
            .max_retries
            .as_ref()
            .map_or(2, |r| self.int(&field("max-retries"), r, 0, 10) as u32);
        let sampling = Sampling {
            temperature: raw
                .temperature
                .as_ref()
                .map(|t| self.float(&field("temperature"), t, FloatRange::Between(0.0, 2.0))),
            top_p: raw
                .top_p
                .as_ref()
                .map(|p| self.float(&field("top-p"), p, FloatRange::Between(0.0, 1.0))),
            top_k: raw
                .top_k
                .as_ref()
                .map(|k| self.int(&field("top-k"), k, 1, u32::MAX.into()) as u32),
            seed: raw
                .seed
                .as_ref()
                .map(|s| self.int(&field("seed"), s, 0, i64::MAX) as u64),
            stop: raw
                .stop
                .iter()
                .flatten()
                .map(|s| {
                    if s.get_ref().is_empty() {
                        self.sink.error(
                            K::InvalidValue,
                            s.span(),
                            format!("`{}` must not contain empty strings", field("stop")),
                        );
                    }
                    s.get_ref().clone()
                })
                .collect(),
        };
        // No price in the config: the catalog's list price for the model, if it has one.
        let price = self.price_or_catalog(&field("price"), raw.price, Some(&model));
        let options = self.options(&field("options"), raw.options);
        ProviderConfig {
            name,
            plugin,
            model,
            label,
            api_key_env,
            concurrency,
            max_tokens,
            rate_limits,
            max_retries,
            sampling,
            stream: raw.stream.unwrap_or(true),
            price,
            options,
        }
    }

    /// A grader's `judge`: it must name a provider entry.
    fn judge(&mut self, name: &str, judge: &Spanned<String>) {
        let wanted = judge.get_ref();
        if self.provider_names.contains(wanted) {
            return;
        }
        let refs: Vec<&str> = self.provider_names.iter().map(String::as_str).collect();
        let help = match crate::de_error::suggest(wanted, &refs) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!(
                "add a `[providers.{wanted}]` entry for the judge model (with `judge-only = true` to keep it out of the benchmark)"
            ),
        };
        self.sink
            .error(
                K::InvalidValue,
                judge.span(),
                format!("`{name}` names no provider: there is no `[providers.{wanted}]`"),
            )
            .help(help);
    }

    /// The name of the variable holding an API key.
    fn api_key_env(&mut self, name: &str, env: &Spanned<String>) -> String {
        if !is_env_var_name(env.get_ref()) {
            // Never echo the value: it may be the key itself, pasted by mistake.
            self.sink
                .error(
                    K::InvalidValue,
                    env.span(),
                    format!(
                        "`{name}` must be the name of an environment variable (letters, digits and `_`, not starting with a digit)"
                    ),
                )
                .help("name the variable that holds the key, for example `api-key-env = \"ANTHROPIC_API_KEY\"`; never put the key itself in a config");
        }
        env.get_ref().clone()
    }

    /// `price` when given, else the catalog's list price for `model`, if it has one.
    fn price_or_catalog(
        &mut self,
        at: &str,
        raw: Option<Spanned<RawPrice>>,
        model: Option<&str>,
    ) -> Option<PriceConfig> {
        match raw {
            Some(p) => Some(self.price(at, p.into_inner())),
            None => model.and_then(crate::catalog::catalog_price),
        }
    }

    fn price(&mut self, at: &str, raw: RawPrice) -> PriceConfig {
        let field = |f: &str| format!("{at}.{f}");
        let mut usd = |name: &str, value: &Spanned<f64>| {
            self.float(&field(name), value, FloatRange::AtLeast(0.0))
        };
        let input = usd("input-per-mtok", &raw.input_per_mtok);
        let output = usd("output-per-mtok", &raw.output_per_mtok);
        let cache_read = raw
            .cache_read_per_mtok
            .as_ref()
            .map_or(input, |v| usd("cache-read-per-mtok", v));
        let cache_write = raw
            .cache_write_per_mtok
            .as_ref()
            .map_or(input, |v| usd("cache-write-per-mtok", v));
        let as_of = raw.as_of.as_ref().and_then(|value| {
            let text = match value.get_ref() {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Datetime(d) if d.time.is_none() && d.offset.is_none() => {
                    Some(d.to_string())
                }
                _ => None,
            };
            match text {
                Some(text) if is_date(&text) => Some(text),
                _ => {
                    self.sink.error(
                        K::InvalidValue,
                        value.span(),
                        format!(
                            "`{}` must be a date written YYYY-MM-DD, like \"2026-05-22\"",
                            field("as-of")
                        ),
                    );
                    None
                }
            }
        });
        PriceConfig {
            price: Price {
                input_per_mtok: input,
                output_per_mtok: output,
                cache_read_per_mtok: cache_read,
                cache_write_per_mtok: cache_write,
            },
            as_of,
            from_catalog: false,
        }
    }

    fn task(&mut self, key: Spanned<String>, raw: RawTask) -> TaskConfig {
        self.id("task", &key);
        let name = key.get_ref().clone();
        let at = display_path(&[Segment::Key("tasks".into()), Segment::Key(name.clone())]);
        let field = |f: &str| format!("{at}.{f}");

        let prompt = match (&raw.prompt, &raw.prompt_file) {
            (Some(_), Some(file)) => {
                self.sink
                    .error(
                        K::Conflict,
                        file.span(),
                        format!("`{at}` has both `prompt` and `prompt-file`"),
                    )
                    .help("keep one of them");
                None
            }
            (Some(prompt), None) => Some(TemplateSource::Config {
                text: prompt.get_ref().clone(),
                span: prompt.span(),
            }),
            (None, Some(file)) => {
                self.non_empty(&field("prompt-file"), file);
                self.read(file, Limit::PROMPT)
                    .map(|(path, text)| TemplateSource::File { text, path })
            }
            (None, None) => {
                self.sink
                    .error(
                        K::MissingKey,
                        key.span(),
                        format!("missing key `prompt` in `{at}`"),
                    )
                    .help("set `prompt` to a template, or `prompt-file` to a file holding one");
                None
            }
        };
        let system = raw.system.as_ref().map(|s| TemplateSource::Config {
            text: s.get_ref().clone(),
            span: s.span(),
        });
        let max_tokens = raw.max_tokens.as_ref().map_or(1024, |m| {
            self.int(&field("max-tokens"), m, 1, u32::MAX.into()) as u32
        });
        let expected_output_tokens = raw.expected_output_tokens.as_ref().map_or(max_tokens, |m| {
            self.int(&field("expected-output-tokens"), m, 1, u32::MAX.into()) as u32
        });

        let keys = ItemKeys {
            inline: raw.items,
            file: raw.items_file,
            dataset: raw.dataset,
            id_field: raw.id_field,
            fields: raw.fields,
            limit: raw.limit,
            sample: raw.sample,
            seed: raw.seed,
        };
        // Templates are checked against every item, kept by `limit` or `sample` or not: a
        // config that works for one seed works for all.
        let (items, selected) = self.items(&at, &key, keys);
        if let Some(system) = &system {
            self.check_template(&field("system"), system, &items);
        }
        if let Some(prompt) = &prompt {
            let where_ = match prompt {
                TemplateSource::Config { .. } => field("prompt"),
                TemplateSource::File { .. } => field("prompt-file"),
            };
            self.check_template(&where_, prompt, &items);
        }

        let graders = self.graders(&at, &name, raw.graders, &items);
        let verdict = self.verdict(&at, raw.verdict, &graders);
        let task_place = {
            let (line, column) = line_column(self.sink.source, key.span().start);
            format!("{}:{line}:{column}", self.sink.path.display())
        };
        let mut items: Vec<Option<Located>> = items.into_iter().map(Some).collect();
        let (items, item_places): (Vec<Item>, Vec<String>) = selected
            .into_iter()
            .filter_map(|i| items.get_mut(i).and_then(Option::take))
            .map(|l| {
                let place = l
                    .origin
                    .describe(self.sink.path, self.sink.source)
                    .unwrap_or_else(|| task_place.clone());
                (l.item, place)
            })
            .unzip();
        TaskConfig {
            name,
            description: raw.description,
            system: system.map(|s| s.text().to_owned()),
            prompt: prompt.map(|p| p.text().to_owned()).unwrap_or_default(),
            max_tokens,
            expected_output_tokens,
            items,
            item_places,
            graders,
            verdict,
        }
    }

    /// A task's items, all of them (for the template checks), and the indices of those it
    /// runs (`limit`, `sample`), in file order.
    fn items(
        &mut self,
        at: &str,
        key: &Spanned<String>,
        keys: ItemKeys,
    ) -> (Vec<Located>, Vec<usize>) {
        let ItemKeys {
            inline,
            file,
            dataset,
            id_field,
            fields,
            limit,
            sample,
            seed,
        } = keys;
        // At most one source: report the later keys of a pair.
        let mut conflict = false;
        for (later, later_name, earlier) in [
            (
                file.as_ref().map(Spanned::span),
                "items-file",
                inline.as_ref().map(|_| "items"),
            ),
            (
                dataset.as_ref().map(Spanned::span),
                "dataset",
                inline
                    .as_ref()
                    .map(|_| "items")
                    .or(file.as_ref().map(|_| "items-file")),
            ),
        ] {
            if let (Some(span), Some(earlier)) = (later, earlier) {
                self.sink
                    .error(
                        K::Conflict,
                        span,
                        format!("`{at}` has both `{earlier}` and `{later_name}`"),
                    )
                    .help("keep one of them");
                conflict = true;
            }
        }
        let subset = self.subset(at, limit.as_ref(), sample.as_ref(), seed.as_ref());
        let mapping = self.mapping(at, id_field.as_ref(), fields.as_ref());
        let from_file = file.is_some() || dataset.is_some();
        if !from_file {
            let keys: [(&str, Option<Range<usize>>); 5] = [
                ("id-field", id_field.as_ref().map(Spanned::span)),
                ("fields", fields.as_ref().map(Spanned::span)),
                ("limit", limit.as_ref().map(Spanned::span)),
                ("sample", sample.as_ref().map(Spanned::span)),
                ("seed", seed.as_ref().map(Spanned::span)),
            ];
            for (name, span) in keys {
                if let Some(span) = span {
                    self.sink
                        .error(
                            K::Conflict,
                            span,
                            format!("`{at}.{name}` applies only to `items-file` and `dataset`"),
                        )
                        .help("remove it, or read the items from a file");
                }
            }
        }
        if conflict {
            return (Vec::new(), Vec::new());
        }

        let located = if let Some(inline) = inline {
            if inline.get_ref().is_empty() {
                self.sink
                    .error(K::Item, inline.span(), format!("`{at}.items` is empty"))
                    .help("add items, or remove `items` for a single item without variables");
            }
            items::inline(&mut self.sink, &format!("{at}.items"), inline.into_inner())
        } else if let Some(file) = &file {
            self.non_empty(&format!("{at}.items-file"), file);
            let path = self.base.join(file.get_ref());
            self.items_file(
                path,
                file.span(),
                &mapping,
                (id_field.as_ref(), fields.as_ref()),
            )
        } else if let Some(name) = &dataset {
            match self.dataset(name) {
                Some(path) => self.items_file(
                    path,
                    name.span(),
                    &mapping,
                    (id_field.as_ref(), fields.as_ref()),
                ),
                None => Vec::new(),
            }
        } else {
            vec![Located {
                item: Item {
                    id: "default".to_owned(),
                    vars: BTreeMap::new(),
                },
                origin: Origin::Default,
            }]
        };

        let mut seen: HashMap<&str, &Origin> = HashMap::new();
        let mut duplicates = Vec::new();
        for l in &located {
            if let Some(first) = seen.insert(&l.item.id, &l.origin) {
                let mut error = l.origin.error(
                    &self.sink,
                    K::Duplicate,
                    format!(
                        "duplicate item id `{}` in task `{}`",
                        l.item.id,
                        key.get_ref()
                    ),
                );
                if let Some(place) = first.describe(self.sink.path, self.sink.source) {
                    error = error.with_help(format!("the first is at {place}"));
                }
                duplicates.push(error);
            }
        }
        for error in duplicates {
            self.sink.push(error);
        }
        let ids: Vec<&str> = located.iter().map(|l| l.item.id.as_str()).collect();
        let selected = items::select(&ids, subset);
        (located, selected)
    }

    /// `limit`, `sample` and `seed`.
    fn subset(
        &mut self,
        at: &str,
        limit: Option<&Spanned<i64>>,
        sample: Option<&Spanned<i64>>,
        seed: Option<&Spanned<i64>>,
    ) -> Subset {
        let max = i64::from(u32::MAX);
        let limit = limit.map(|l| (self.int(&format!("{at}.limit"), l, 1, max), l.span()));
        let sample = sample.map(|n| self.int(&format!("{at}.sample"), n, 1, max) as usize);
        let seed_value = seed.map_or(0, |s| {
            self.int(&format!("{at}.seed"), s, 0, i64::MAX) as u64
        });
        match (limit, sample) {
            (Some((_, span)), Some(_)) => {
                self.sink
                    .error(
                        K::Conflict,
                        span,
                        format!("`{at}` has both `limit` and `sample`"),
                    )
                    .help("`limit` runs the first N items, `sample` N drawn at random: keep one");
                Subset::All
            }
            (Some((n, _)), None) => {
                if let Some(seed) = seed {
                    self.sink
                        .error(
                            K::Conflict,
                            seed.span(),
                            format!("`{at}.seed` applies only to `sample`"),
                        )
                        .help("remove `seed`, or use `sample`");
                }
                Subset::Limit(n as usize)
            }
            (None, Some(n)) => Subset::Sample {
                n,
                seed: seed_value,
            },
            (None, None) => {
                if let Some(seed) = seed {
                    self.sink
                        .error(
                            K::Conflict,
                            seed.span(),
                            format!("`{at}.seed` applies only to `sample`"),
                        )
                        .help("remove `seed`, or add `sample = N`");
                }
                Subset::All
            }
        }
    }

    /// `id-field` and `fields`.
    fn mapping(
        &mut self,
        at: &str,
        id_field: Option<&Spanned<String>>,
        fields: Option<&RawFields>,
    ) -> Mapping {
        let id_field = id_field.map(|f| self.non_empty(&format!("{at}.id-field"), f));
        let mut mapping = Vec::new();
        for (variable, field) in fields.iter().flat_map(|f| &f.get_ref().0) {
            let name = variable.get_ref();
            if name == template::ID {
                self.sink
                    .error(
                        K::InvalidValue,
                        variable.span(),
                        format!("`{at}.fields` cannot set `id`: `{{{{ id }}}}` is the item's id"),
                    )
                    .help("name the field holding the id with `id-field`");
                continue;
            }
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '{' || c == '}')
            {
                self.sink
                    .error(
                        K::InvalidValue,
                        variable.span(),
                        format!("invalid variable name {name:?} in `{at}.fields`"),
                    )
                    .help("a variable name has no spaces or braces");
                continue;
            }
            let field = self.non_empty(&format!("{at}.fields.{name}"), field);
            mapping.push((name.clone(), field));
        }
        Mapping {
            id_field,
            fields: mapping,
        }
    }

    /// The cached file of the dataset `name`, or an error at `name`.
    fn dataset(&mut self, name: &Spanned<String>) -> Option<PathBuf> {
        let known: Vec<&str> = llmbench_models::DATASETS.iter().map(|d| d.name).collect();
        match (self.datasets)(name.get_ref()) {
            DatasetFile::Fetched(path) => Some(path),
            DatasetFile::NotFetched(path) => {
                let shown = name.get_ref();
                self.sink
                    .error(
                        K::DatasetNotFetched,
                        name.span(),
                        format!(
                            "dataset `{shown}` is not in the local cache: run `llmbench datasets fetch {shown}`"
                        ),
                    )
                    .help(format!(
                        "it is fetched once, verified, and kept at {}",
                        path.display()
                    ));
                None
            }
            DatasetFile::Unknown => {
                let error = self.sink.error(
                    K::InvalidValue,
                    name.span(),
                    format!("unknown dataset {:?}", name.get_ref()),
                );
                match de_error::suggest(name.get_ref(), &known) {
                    Some(best) => error.help(format!(
                        "did you mean `{best}`? The known datasets are {}",
                        backticked(&known)
                    )),
                    None => error.help(format!("the known datasets are {}", backticked(&known))),
                }
                None
            }
            DatasetFile::Error(message) => {
                self.sink.error(
                    K::Io,
                    name.span(),
                    format!("cannot find the dataset cache: {message}"),
                );
                None
            }
        }
    }

    /// The items of the file at `path` (named at `span` of the config), in its format.
    fn items_file(
        &mut self,
        path: PathBuf,
        span: Range<usize>,
        mapping: &Mapping,
        keys: (Option<&Spanned<String>>, Option<&RawFields>),
    ) -> Vec<Located> {
        let (id_field, fields) = keys;
        let Some(format) = Format::of(&path) else {
            self.sink
                .error(
                    K::InvalidValue,
                    span,
                    format!("unknown items file format: {}", path.display()),
                )
                .help(format!("name the file {}", dataset::ACCEPTED));
            return Vec::new();
        };
        let Some((path, text)) = self.read_path(path, span.clone(), Limit::ITEMS) else {
            return Vec::new();
        };
        let before = self.sink.errors.len();
        let mut errors = Vec::new();
        let mut file_errors = FileErrors::new(&path, &mut errors);
        let records = dataset::read(format, &text, &mut file_errors);
        drop(text);
        let mut usable = true;
        if !records.is_empty() {
            // A field named in the config that no item has: one error, at the config.
            if let Some(id_field) = id_field
                && !records
                    .iter()
                    .any(|r| r.fields.contains_key(id_field.get_ref()))
            {
                self.sink.error(
                    K::Item,
                    id_field.span(),
                    format!(
                        "no item in {} has the field `{}` (the `id-field`)",
                        path.display(),
                        id_field.get_ref()
                    ),
                );
                usable = false;
            }
            for (variable, field) in fields.iter().flat_map(|f| &f.get_ref().0) {
                let name = field.get_ref();
                if !records.iter().any(|r| r.fields.contains_key(name)) {
                    let mut names: Vec<&str> = Vec::new();
                    for record in &records {
                        for key in record.fields.keys() {
                            if !names.contains(&key.as_str()) {
                                names.push(key);
                            }
                        }
                    }
                    let error = self.sink.error(
                        K::Item,
                        field.span(),
                        format!(
                            "no item in {} has the field `{name}` (for the variable `{}`)",
                            path.display(),
                            variable.get_ref()
                        ),
                    );
                    match de_error::suggest(name, &names) {
                        Some(best) => error.help(format!("did you mean `{best}`?")),
                        None => error.help(format!("the items have fields {}", backticked(&names))),
                    }
                }
            }
        }
        let located = if usable {
            items::from_records(records, mapping, &mut file_errors)
        } else {
            Vec::new()
        };
        self.sink.errors.append(&mut errors);
        if located.is_empty() && self.sink.errors.len() == before {
            self.sink
                .error(K::Item, span, format!("no items in {}", path.display()));
        }
        located
    }

    /// An error at a byte offset of a template.
    fn template_error(
        &self,
        template: &TemplateSource,
        offset: usize,
        kind: ConfigErrorKind,
        message: String,
    ) -> ConfigError {
        match template {
            TemplateSource::File { text, path } => {
                ConfigError::at(kind, path, text, offset, message)
            }
            TemplateSource::Config { text, span } => {
                // The value's text may differ from its source (quotes, escapes): find the
                // same `{{` in the source by counting the ones before it.
                let nth = text[..offset].matches("{{").count();
                let raw = &self.sink.source[span.clone()];
                let at = raw
                    .match_indices("{{")
                    .nth(nth)
                    .map_or(span.start, |(i, _)| span.start + i);
                ConfigError::at(kind, self.sink.path, self.sink.source, at, message)
            }
        }
    }

    /// Checks a template's syntax and that every item sets its variables; returns whether it
    /// has any (well-formed) placeholder.
    fn check_template(
        &mut self,
        where_: &str,
        template: &TemplateSource,
        items: &[Located],
    ) -> bool {
        let placeholders = match template::placeholders(template.text()) {
            Ok(placeholders) => placeholders,
            Err(e) => {
                let error = self
                    .template_error(
                        template,
                        e.offset,
                        K::Template,
                        format!("{} in `{where_}`", e.message),
                    )
                    .with_help(e.help);
                self.sink.push(error);
                return false;
            }
        };
        let mut checked: Vec<&str> = Vec::new();
        for placeholder in &placeholders {
            let name = placeholder.name.as_str();
            // Every item has an id.
            if checked.contains(&name) || name == template::ID {
                continue;
            }
            checked.push(name);
            let mut missing = items.iter().filter(|l| !l.item.vars.contains_key(name));
            let Some(first) = missing.next() else {
                continue;
            };
            let others = missing.count();
            let id = &first.item.id;
            let place = first
                .origin
                .describe(self.sink.path, self.sink.source)
                .map_or(String::new(), |p| format!(" (at {p})"));
            let more = match others {
                0 => String::new(),
                1 => ", nor by 1 other item".to_owned(),
                n => format!(", nor by {n} other items"),
            };
            let help = match &first.origin {
                Origin::Default => {
                    "the task has no items, so nothing sets it: add `items` or `items-file`"
                        .to_owned()
                }
                _ if first.item.vars.is_empty() => format!("item `{id}` has no variables"),
                _ => {
                    let names: Vec<&str> = first.item.vars.keys().map(String::as_str).collect();
                    format!("item `{id}` has variables {}", backticked(&names))
                }
            };
            let error = self
                .template_error(
                    template,
                    placeholder.span.start,
                    K::Template,
                    format!(
                        "template variable `{name}` in `{where_}` is not set by item `{id}`{place}{more}"
                    ),
                )
                .with_help(help);
            self.sink.push(error);
        }
        !placeholders.is_empty()
    }

    /// Checks the templates in a grader's options (every string holding `{{`) as prompts
    /// are checked, each error at its string; returns whether any uses a variable.
    fn check_option_templates(
        &mut self,
        where_: &str,
        task: &str,
        index: usize,
        options: &serde_json::Value,
        table_span: Range<usize>,
        items: &[Located],
    ) -> bool {
        let mut strings = Vec::new();
        templated_strings(options, &mut Vec::new(), &mut strings);
        let mut uses = false;
        for (path, text) in strings {
            let span = self
                .option_span(task, index, &path)
                .unwrap_or_else(|| table_span.clone());
            let template = TemplateSource::Config { text, span };
            let where_ = format!("{where_}.{}", display_path(&path));
            uses |= self.check_template(&where_, &template, items);
        }
        uses
    }

    /// The span of the value at `path` in the options of grader `index` of task `task`.
    fn option_span(&mut self, task: &str, index: usize, path: &[Segment]) -> Option<Range<usize>> {
        let source = self.sink.source;
        let document = self
            .document
            .get_or_insert_with(|| DeTable::parse(source).ok())
            .as_ref()?;
        let mut value: &Spanned<DeValue<'_>> = document.get_ref().get("tasks")?;
        value = value.get_ref().get(task)?;
        value = value.get_ref().get("graders")?;
        value = value.get_ref().get(index)?;
        value = value.get_ref().get("options")?;
        for segment in path {
            value = match segment {
                Segment::Key(key) => value.get_ref().get(key.as_str())?,
                Segment::Index(i) => value.get_ref().get(*i)?,
            };
        }
        Some(value.span())
    }

    fn graders(
        &mut self,
        at: &str,
        task: &str,
        raw: Vec<RawGrader>,
        items: &[Located],
    ) -> Vec<GraderConfig> {
        let mut graders: Vec<GraderConfig> = Vec::with_capacity(raw.len());
        for (index, grader) in raw.into_iter().enumerate() {
            let gat = format!("{at}.graders[{index}]");
            let field = |f: &str| format!("{gat}.{f}");
            let plugin = self.plugin(&field("plugin"), &grader.plugin);
            let (name, name_span) = match &grader.name {
                Some(name) => {
                    self.id("grader", name);
                    (name.get_ref().clone(), name.span())
                }
                None => {
                    let name = default_grader_name(&plugin);
                    if !plugin.trim().is_empty() && !is_id(&name) {
                        self.sink
                            .error(
                                K::InvalidValue,
                                grader.plugin.span(),
                                format!("cannot name grader `{gat}` after its plugin {plugin:?}"),
                            )
                            .help(format!("set `name` ({ID_RULE})"));
                    }
                    (name, grader.plugin.span())
                }
            };
            if graders.iter().any(|g| g.name == name) {
                self.sink
                    .error(
                        K::Duplicate,
                        name_span,
                        format!("duplicate grader name `{name}` in task `{task}`"),
                    )
                    .help("give each grader of a task its own `name`");
            }
            let weight = grader.weight.as_ref().map_or(1.0, |w| {
                self.float(&field("weight"), w, FloatRange::AtLeast(0.0))
            });
            let api_key_env = grader
                .api_key_env
                .as_ref()
                .map(|env| self.api_key_env(&field("api-key-env"), env));
            let table_span = grader.options.as_ref().map_or(0..0, Spanned::span);
            let options = self.options(&field("options"), grader.options);
            let uses_item_vars = self.check_option_templates(
                &field("options"),
                task,
                index,
                &options,
                table_span,
                items,
            );
            let judge = grader.judge.as_ref().map(|judge| {
                self.judge(&field("judge"), judge);
                judge.get_ref().clone()
            });
            let price = match (&judge, grader.price) {
                (Some(judge), Some(price)) => {
                    self.sink
                        .error(
                            K::Conflict,
                            price.span(),
                            format!("`{}` does not go with `judge`", field("price")),
                        )
                        .help(format!(
                            "the judge's requests are priced with `providers.{judge}.price`; remove this `price`"
                        ));
                    None
                }
                (Some(_), None) => None,
                // A grader that calls a model by itself names it in `options.model`.
                (None, price) => {
                    let model = options.get("model").and_then(serde_json::Value::as_str);
                    self.price_or_catalog(&field("price"), price, model)
                }
            };
            graders.push(GraderConfig {
                name,
                plugin,
                weight,
                judge,
                api_key_env,
                price,
                options,
                uses_item_vars,
            });
        }
        graders
    }

    fn verdict(
        &mut self,
        at: &str,
        raw: Option<RawVerdict>,
        graders: &[GraderConfig],
    ) -> VerdictRule {
        let Some(raw) = raw else {
            return VerdictRule::AllPass;
        };
        let vat = format!("{at}.verdict");
        match (*raw.rule.get_ref(), &raw.threshold) {
            (RawRule::AllPass, None) => VerdictRule::AllPass,
            (RawRule::AllPass, Some(threshold)) => {
                self.sink
                    .error(
                        K::Conflict,
                        threshold.span(),
                        format!("`{vat}.threshold` applies only to the `weighted` rule"),
                    )
                    .help("remove `threshold`, or set `rule = \"weighted\"`");
                VerdictRule::AllPass
            }
            (RawRule::Weighted, threshold) => {
                let threshold = match threshold {
                    Some(t) => self.float(
                        &format!("{vat}.threshold"),
                        t,
                        FloatRange::Between(0.0, 1.0),
                    ),
                    None => {
                        self.sink
                            .error(
                                K::MissingKey,
                                raw.rule.span(),
                                format!("missing key `threshold` in `{vat}`: the `weighted` rule needs one"),
                            )
                            .help("add `threshold = 0.7` (the weighted mean score to reach, 0 to 1)");
                        0.0
                    }
                };
                if !graders.iter().any(|g| g.weight > 0.0) {
                    self.sink.error(
                        K::InvalidValue,
                        raw.rule.span(),
                        format!(
                            "the `weighted` rule of `{vat}` needs a grader with a weight above 0"
                        ),
                    );
                }
                VerdictRule::Weighted {
                    weights: graders.iter().map(|g| g.weight).collect(),
                    threshold,
                }
            }
        }
    }
}

/// A grader's default name: its plugin name, or for a path the library's file name without
/// `lib` and the extension.
fn default_grader_name(plugin: &str) -> String {
    if !is_plugin_path(plugin) {
        return plugin.to_owned();
    }
    let stem = Path::new(plugin)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.strip_prefix("lib").map(str::to_owned).unwrap_or(stem)
}

/// Every string in `value` that holds `{{`, with its key path.
fn templated_strings(
    value: &serde_json::Value,
    path: &mut Vec<Segment>,
    out: &mut Vec<(Vec<Segment>, String)>,
) {
    match value {
        serde_json::Value::String(s) if s.contains("{{") => out.push((path.clone(), s.clone())),
        serde_json::Value::Array(values) => {
            for (i, v) in values.iter().enumerate() {
                path.push(Segment::Index(i));
                templated_strings(v, path, out);
                path.pop();
            }
        }
        serde_json::Value::Object(object) => {
            for (k, v) in object {
                path.push(Segment::Key(k.clone()));
                templated_strings(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// TOML to JSON. Dates become strings. `Err` is the key path of a NaN or infinity.
pub(crate) fn to_json(
    value: toml::Value,
    path: &mut Vec<Segment>,
) -> Result<serde_json::Value, Vec<Segment>> {
    use serde_json::Value as J;
    Ok(match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => match serde_json::Number::from_f64(f) {
            Some(n) => J::Number(n),
            None => return Err(path.clone()),
        },
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(array) => {
            let mut out = Vec::with_capacity(array.len());
            for (i, v) in array.into_iter().enumerate() {
                path.push(Segment::Index(i));
                out.push(to_json(v, path)?);
                path.pop();
            }
            J::Array(out)
        }
        toml::Value::Table(table) => {
            let mut out = serde_json::Map::new();
            for (k, v) in table {
                path.push(Segment::Key(k.clone()));
                out.insert(k, to_json(v, path)?);
                path.pop();
            }
            J::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_id("claude-haiku-4.5_x"));
        assert!(!is_id(""));
        assert!(!is_id("a b"));
        assert!(!is_id("é"));
    }

    #[test]
    fn env_var_names() {
        assert!(is_env_var_name("ANTHROPIC_API_KEY"));
        assert!(is_env_var_name("_x1"));
        assert!(!is_env_var_name("1X"));
        assert!(!is_env_var_name("sk-ant-api03-xyz"));
        assert!(!is_env_var_name(""));
    }

    #[test]
    fn dates() {
        assert!(is_date("2026-05-22"));
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2026-02-29"));
        assert!(!is_date("1900-02-29"));
        assert!(is_date("2000-02-29"));
        assert!(!is_date("2026-13-01"));
        assert!(!is_date("2026-5-22"));
        assert!(!is_date("2026-05-22T00:00"));
        assert!(!is_date("+026-05-22"));
    }

    #[test]
    fn grader_names_default_to_the_plugin() {
        assert_eq!(default_grader_name("grader-regex"), "grader-regex");
        assert_eq!(
            default_grader_name("../target/debug/libgrader_regex.so"),
            "grader_regex"
        );
    }

    /// A config whose task reads the named dataset `name`, looked up by `lookup`.
    fn with_dataset(
        name: &str,
        extra: &str,
        lookup: &dyn Fn(&str) -> DatasetFile,
    ) -> Result<Config, String> {
        let source = format!(
            "[providers.p]\nplugin = \"provider-replay\"\nmodel = \"m\"\n[tasks.t]\nprompt = \"{{{{ prompt }}}}\"\ndataset = \"{name}\"\n{extra}"
        );
        parse_with(&source, Path::new("x.toml"), lookup).map_err(|e| e.to_string())
    }

    #[test]
    fn named_datasets_resolve_or_say_how_to_fetch() {
        let dir = tempfile::tempdir().unwrap();
        let cached = dir.path().join("b796127e635a67f9-HumanEval.jsonl.gz");
        let lookup = |name: &str| match name {
            "humaneval" if cached.is_file() => DatasetFile::Fetched(cached.clone()),
            "humaneval" => DatasetFile::NotFetched(cached.clone()),
            _ => DatasetFile::Unknown,
        };
        let e = with_dataset("humaneval", "", &lookup).unwrap_err();
        assert!(
            e.starts_with("x.toml:6:11: dataset `humaneval` is not in the local cache: run `llmbench datasets fetch humaneval`"),
            "{e}"
        );
        let errors = parse_with(
            "[providers.p]\nplugin = \"x\"\nmodel = \"m\"\n[tasks.t]\nprompt = \"a\"\ndataset = \"humaneval\"\n",
            Path::new("x.toml"),
            &lookup,
        )
        .unwrap_err();
        assert_eq!(errors.0[0].kind, K::DatasetNotFetched);
        assert_eq!(errors.0[0].kind(), "dataset_not_fetched");

        let e = with_dataset("human-eval", "", &lookup).unwrap_err();
        assert_eq!(
            e,
            "x.toml:6:11: unknown dataset \"human-eval\"\n  help: did you mean `humaneval`? The known datasets are `humaneval`"
        );
        let e = with_dataset("humaneval", "items-file = \"i.jsonl\"\n", &lookup).unwrap_err();
        assert!(
            e.starts_with("x.toml:6:11: `tasks.t` has both `items-file` and `dataset`"),
            "{e}"
        );

        // Fetched: read as `.jsonl.gz`, with HumanEval's ids.
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(
            &mut encoder,
            b"{\"task_id\": \"HumanEval/0\", \"prompt\": \"def a():\"}\n{\"task_id\": \"HumanEval/1\", \"prompt\": \"def b():\"}\n",
        )
        .unwrap();
        std::fs::write(&cached, encoder.finish().unwrap()).unwrap();
        let config =
            with_dataset("humaneval", "id-field = \"task_id\"\nlimit = 1\n", &lookup).unwrap();
        let task = &config.tasks[0];
        assert_eq!(task.items.len(), 1);
        assert_eq!(task.items[0].id, "HumanEval/0");
        assert_eq!(task.items[0].vars["prompt"], "def a():");
        assert_eq!(task.item_places[0], format!("{}:1", cached.display()));
    }

    #[test]
    fn options_become_json_and_reject_nan() {
        let table: toml::Table =
            toml::from_str("a = 1\nb = [1.5, \"x\"]\nc = { d = 1979-05-27 }\n").unwrap();
        assert_eq!(
            to_json(toml::Value::Table(table), &mut Vec::new()).unwrap(),
            serde_json::json!({"a": 1, "b": [1.5, "x"], "c": {"d": "1979-05-27"}})
        );
        let table: toml::Table = toml::from_str("a = { b = [1, { c = nan }] }\n").unwrap();
        let path = to_json(toml::Value::Table(table), &mut Vec::new()).unwrap_err();
        assert_eq!(display_path(&path), "a.b[1].c");
    }
}
