//! The config file as written: serde structs that mirror the TOML one to one.
//!
//! Every field's doc comment is user documentation: the config reference is generated from
//! this file. Values that validation may reject are `Spanned`, so errors can point at them;
//! numbers are read wide (`i64`, `f64`) so that range errors come from validation, in words,
//! rather than from serde.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use toml::Spanned;

/// A benchmark config: run settings, the models to ask (providers) and what to ask them
/// (tasks).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawConfig {
    /// Settings for the whole run.
    #[serde(default)]
    pub run: RawRun,
    /// The models to benchmark, one table per provider: `[providers.NAME]`. The name
    /// (letters, digits, `_`, `.` and `-`) identifies the provider in results and metrics.
    /// At least one is required that is not `judge-only` (a model graders ask, not one
    /// under test).
    #[serde(default)]
    pub providers: Entries<RawProvider>,
    /// What to ask, one table per task: `[tasks.NAME]`. The name follows the same rule as
    /// provider names. At least one is required.
    #[serde(default)]
    pub tasks: Entries<RawTask>,
    /// When `llmbench serve` runs this config's sweep, and where it serves its metrics.
    /// `llmbench run` ignores it, except `name` and `max-error-ratio`, which its
    /// `--push-gateway` push uses.
    pub schedule: Option<Spanned<RawSchedule>>,
}

/// `[schedule]`: a fixed interval or a cron expression, exactly one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawSchedule {
    /// The sweep's name: the `sweep` label of the sweep metrics and the Pushgateway grouping
    /// key (letters, digits, `_`, `.` and `-`). Default: the config file's name without
    /// `.toml`.
    pub name: Option<Spanned<String>>,
    /// Start a sweep every this many seconds (at least 1), counted from the start of the
    /// previous one; the first starts at once, or one interval after the last stored run of
    /// this config started.
    pub interval_seconds: Option<Spanned<f64>>,
    /// Start a sweep at the times a cron expression matches: five fields (minute, hour,
    /// day of month, month, day of week; `0 */6 * * *` is every 6 hours), or six with
    /// seconds first. Names (`MON`, `JAN`), lists, ranges and steps are allowed.
    pub cron: Option<Spanned<String>>,
    /// The IANA time zone `cron` is read in (`Europe/Berlin`), daylight saving time
    /// included. Only with `cron`. Default `UTC`.
    pub timezone: Option<Spanned<String>>,
    /// Delay each start by a random 0 to this many seconds (0 or more), to spread load.
    /// Default 0.
    pub jitter_seconds: Option<Spanned<f64>>,
    /// Where `llmbench serve` serves `/metrics` and `/healthz`: `IP:PORT`. Default
    /// `127.0.0.1:9464`; `--metrics-address` overrides.
    pub metrics_address: Option<Spanned<String>>,
    /// A sweep counts as succeeded (`llmbench_last_success_timestamp_seconds`) when it ran
    /// every sample and at most this fraction of its samples ended in a provider error
    /// (0 to 1). Default 0.1.
    pub max_error_ratio: Option<Spanned<f64>>,
    /// Retention: after each sweep, `llmbench serve` deletes the samples (answers, grades,
    /// attempts) of this config's runs older than the newest N (at least 1), keeping each
    /// run's summary and its per-run aggregates, so the metrics and `llmbench runs` still
    /// count them; reports and exports of a pruned run have no samples, and it cannot be
    /// resumed. With `keep-days` too, a run either keeps is kept. Default: keep every run's
    /// samples.
    pub keep_runs: Option<Spanned<i64>>,
    /// Retention by age: after each sweep, `llmbench serve` deletes the samples of this
    /// config's runs created more than this many days ago (at least 1), as `keep-runs` does.
    /// Default: keep every run's samples.
    pub keep_days: Option<Spanned<i64>>,
}

/// `[run]`: settings for the whole run.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawRun {
    /// Where results are written, relative to the config file's directory. Default: the
    /// `llmbench-results` directory in the current directory.
    pub output_dir: Option<Spanned<String>>,
    /// A shared PostgreSQL results store instead of the SQLite file in `output-dir`:
    /// `postgres://USER@HOST:PORT/DATABASE` (or `postgresql://`), which all the shards of a
    /// sweep can write to at once. It must not hold a password: the password is read from the
    /// environment variable `store-password-env` names, else `PGPASSWORD`. Default: none (the
    /// SQLite file); `--store` overrides. Not with `output-dir`.
    pub store: Option<Spanned<String>>,
    /// The environment variable holding the password of the PostgreSQL `store` (its name, never
    /// the password itself). Default: `PGPASSWORD`, the standard libpq variable.
    pub store_password_env: Option<Spanned<String>>,
    /// How many times each (task, item, provider) is asked. Default 1, at least 1.
    pub repeats: Option<Spanned<i64>>,
    /// The most samples in flight at once, across all providers. Default 4, at least 1.
    pub concurrency: Option<Spanned<i64>>,
    /// Time allowed for one request, in seconds (fractions allowed). Default 300, more than 0.
    pub timeout_seconds: Option<Spanned<f64>>,
    /// How long a stopped run waits for the requests it has already sent, in seconds
    /// (fractions allowed, 0 or more). On the first Ctrl-C or SIGTERM no new sample starts;
    /// answers that arrive within this time are stored, then the requests still waiting are
    /// cancelled: they are not stored, and `llmbench resume` (or the next `llmbench serve`)
    /// sends them again. A second Ctrl-C or SIGTERM cancels them at once. Default 5;
    /// `--grace-seconds` overrides.
    pub grace_seconds: Option<Spanned<f64>>,
    /// Where plugins named without a path are looked up, relative to the config file's
    /// directory. Default: the directory of the `llmbench` executable.
    pub plugin_dir: Option<Spanned<String>>,
    /// Spend cap for one run, in USD (more than 0). A run whose estimated cost exceeds it
    /// refuses to start (unless `--allow-over-budget`); a run that reaches it stops cleanly,
    /// keeping every finished sample. A resumed run counts what its earlier invocations
    /// spent. Default: no cap.
    pub max_cost_usd: Option<Spanned<f64>>,
    /// The k values for which reports show pass@k, the chance that at least one of k
    /// answers passes, estimated without bias from the `repeats` answers of each item:
    /// `pass-at-k = [1, 10]`. Each k is at least 1 and at most `repeats`. Default: none
    /// (reports then show pass@1 when `repeats` is more than 1).
    pub pass_at_k: Option<Vec<Spanned<i64>>>,
}

/// `[providers.NAME]`: one model behind one provider plugin.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawProvider {
    /// The provider plugin: a plugin name (`provider-replay`), looked up in `run.plugin-dir`,
    /// or a path to the library (containing `/` or ending in `.so`), relative to the config
    /// file's directory.
    pub plugin: Spanned<String>,
    /// The model id as the provider knows it (`claude-haiku-4-5`, a model file, ...).
    pub model: Spanned<String>,
    /// Display name in reports. Default: the model id.
    pub label: Option<Spanned<String>>,
    /// The NAME of the environment variable holding the API key (for example
    /// `ANTHROPIC_API_KEY`), never the key itself. Read when the run starts, not here.
    pub api_key_env: Option<Spanned<String>>,
    /// The most requests in flight to this provider at once (at least 1). Default: only the
    /// run's `concurrency` applies.
    pub concurrency: Option<Spanned<i64>>,
    /// Answer length limit in tokens; overrides each task's `max-tokens` (at least 1).
    pub max_tokens: Option<Spanned<i64>>,
    /// At most this many requests start in any 60 s window (at least 1). Default: no limit.
    pub requests_per_minute: Option<Spanned<i64>>,
    /// At most this many input tokens are sent per minute (a token bucket; a request's input
    /// is estimated before it is sent and corrected from its usage after). Default: no limit.
    pub input_tokens_per_minute: Option<Spanned<i64>>,
    /// At most this many output tokens per minute (charged when answers arrive; requests wait
    /// while the bucket is in debt). Default: no limit.
    pub output_tokens_per_minute: Option<Spanned<i64>>,
    /// Back off when the provider answers 429 (halve the request rate) and recover after
    /// successes. Default false.
    pub adaptive_rate_limit: Option<bool>,
    /// Retries after a retryable failure (0 to 10). Default 2, as the official SDKs.
    pub max_retries: Option<Spanned<i64>>,
    /// Sampling temperature, 0 to 2. Default: not sent (the model's default).
    pub temperature: Option<Spanned<f64>>,
    /// Nucleus sampling, 0 to 1. Default: not sent.
    pub top_p: Option<Spanned<f64>>,
    /// Top-k sampling (at least 1). Default: not sent.
    pub top_k: Option<Spanned<i64>>,
    /// Sampling seed (0 or more), for providers that support one; repeat `r` of a sample is
    /// sent `seed + r`, so repeats differ and each is reproducible. Default: not sent.
    pub seed: Option<Spanned<i64>>,
    /// Stop sequences (non-empty strings). Default: none.
    pub stop: Option<Vec<Spanned<String>>>,
    /// Ask for streamed answers, so that time to first token is measured. Default true.
    pub stream: Option<bool>,
    /// Prices used to compute cost. Default: no price, cost is not reported.
    pub price: Option<Spanned<RawPrice>>,
    /// Free-form settings passed to the plugin as JSON; each plugin documents its own.
    pub options: Option<Spanned<toml::Table>>,
    /// This entry is only a judge: a model that graders naming it (`judge = "NAME"`) ask,
    /// not a model under test (it gets no samples). Its plugin, model, key, options, limits,
    /// retries and price apply to the judge's requests as to any provider's, and its spend
    /// counts against `run.max-cost-usd`. Default false.
    pub judge_only: Option<bool>,
}

/// `price = { ... }`: what the model costs, in USD per million tokens (all 0 or more).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawPrice {
    /// Input (prompt) tokens.
    pub input_per_mtok: Spanned<f64>,
    /// Output (answer) tokens.
    pub output_per_mtok: Spanned<f64>,
    /// Tokens read from the prompt cache. Default: the input price.
    pub cache_read_per_mtok: Option<Spanned<f64>>,
    /// Tokens written to the prompt cache. Default: the input price.
    pub cache_write_per_mtok: Option<Spanned<f64>>,
    /// The date these prices were checked, `YYYY-MM-DD` (a string or a TOML date). Prices
    /// change; reports show this date next to costs.
    pub as_of: Option<Spanned<toml::Value>>,
}

/// `[tasks.NAME]`: a prompt template and the items it is rendered with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawTask {
    /// What the task checks, for reports.
    pub description: Option<String>,
    /// System prompt template (see `prompt` for the template syntax). Default: none.
    pub system: Option<Spanned<String>>,
    /// The user prompt template. `{{ name }}` is replaced by the item's variable `name`;
    /// every variable used must be set by every item. Exactly one of `prompt` and
    /// `prompt-file` is required.
    pub prompt: Option<Spanned<String>>,
    /// A file holding the prompt template, relative to the config file's directory.
    pub prompt_file: Option<Spanned<String>>,
    /// Answer length limit in tokens. Default 1024, at least 1.
    pub max_tokens: Option<Spanned<i64>>,
    /// The answer length expected on average, in tokens, for the cost estimate made before a
    /// run (at least 1). Default: `max-tokens` (an upper bound).
    pub expected_output_tokens: Option<Spanned<i64>>,
    /// The items, inline: `items = [{ id = "a", code = "..." }]`. Each is a table of
    /// variables (strings; numbers and booleans are converted to text; arrays and tables to
    /// compact JSON text, such as `["Paris","paris"]`). `id` names the item (default
    /// `item-N`, counting from 1) and must be unique within the task; `{{ id }}` in a
    /// template is the item's id. At most one of `items`, `items-file` and `dataset`; with
    /// none, the task has one item, `default`, with no variables.
    pub items: Option<Spanned<Vec<RawItem>>>,
    /// The items from a file, relative to the config file's directory. The format follows
    /// the extension: `.jsonl` (one JSON object per line, blank lines skipped), `.json` (an
    /// array of objects), `.csv` or `.tsv` (a header row naming the fields, then one item per
    /// row; every value is text), each optionally gzip-compressed (`items.jsonl.gz`). Field
    /// values become variables as in `items`; `null` is an error. An item's id is its `id`
    /// field (see `id-field`), else the first 16 hex digits of the SHA-256 of its fields
    /// (so reordering the file keeps ids). At most 256 MiB, after decompression.
    pub items_file: Option<Spanned<String>>,
    /// A named, pinned dataset instead of `items-file`: `dataset = "humaneval"` (164 Python
    /// problems; use with `id-field = "task_id"`). Its file is fetched once into the local
    /// cache (`llmbench datasets fetch humaneval`) and verified against its SHA-256.
    pub dataset: Option<Spanned<String>>,
    /// For `items-file` and `dataset`: the field that holds each item's id, such as
    /// `id-field = "task_id"`. Every item must have it; it is not also a variable (`{{ id }}`
    /// is). Default: `id`, for the items that have it; the others get a content hash.
    pub id_field: Option<Spanned<String>>,
    /// For `items-file` and `dataset`: template variables taken from differently named
    /// fields, `fields = { question = "input", expected = "target" }` (variable = field).
    /// The field then appears only under the variable's name; other fields keep theirs.
    /// Every field named must be in at least one item.
    pub fields: Option<Spanned<Entries<Spanned<String>>>>,
    /// For `items-file` and `dataset`: run only the first N items, in file order (at least
    /// 1). Not with `sample`.
    pub limit: Option<Spanned<i64>>,
    /// For `items-file` and `dataset`: run N items drawn at random (at least 1), the same N
    /// on every machine for a given `seed`: those whose SHA-256 of (`seed`, id) is smallest,
    /// run in file order. Not with `limit`.
    pub sample: Option<Spanned<i64>>,
    /// The seed of `sample` (0 or more). Default 0.
    pub seed: Option<Spanned<i64>>,
    /// How answers are graded: `[[tasks.NAME.graders]]`, in order.
    #[serde(default)]
    pub graders: Vec<RawGrader>,
    /// How the grades combine into a pass or fail per sample. Default: every grader must
    /// pass.
    pub verdict: Option<RawVerdict>,
}

/// One inline item: its variables, with spans for errors.
pub(crate) type RawItem = Spanned<Entries<Spanned<toml::Value>>>;

/// `[[tasks.NAME.graders]]`: one grader plugin and its settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawGrader {
    /// Name in results, unique within the task. Default: the plugin name.
    pub name: Option<Spanned<String>>,
    /// The grader plugin: a plugin name (`grader-regex`) or a path, as for providers.
    pub plugin: Spanned<String>,
    /// Weight in a `weighted` verdict, 0 or more. Default 1.
    pub weight: Option<Spanned<f64>>,
    /// An advisory grader reports a quality the task's prompt does not ask for: its failure
    /// lowers the sample's score and is shown in the evidence (`advisory: ...`), but never
    /// turns a pass into a fail. Default false: the grader is required (the strict reading).
    pub advisory: Option<bool>,
    /// For a grader that asks a model (`grader-llm-judge`): the provider entry that serves
    /// as its judge, `judge = "NAME"` for `[providers.NAME]` (usually one marked
    /// `judge-only`). The judge's requests go through the runner with that entry's limits,
    /// retries and price; their spend is recorded on the grade, apart from the model under
    /// test, and counts against `run.max-cost-usd`.
    pub judge: Option<Spanned<String>>,
    /// For a grader that calls a model by itself (not through `judge`): the NAME of the
    /// environment variable holding its API key, as for providers. Read when the run starts.
    pub api_key_env: Option<Spanned<String>>,
    /// What the model of a grader that calls one by itself costs, as a provider's `price`;
    /// its spend is recorded apart from the model under test and counts against
    /// `run.max-cost-usd`. Not with `judge` (the judge entry's `price` applies). Default: the
    /// catalog's price for `options.model`, if it has one; else the spend is not priced.
    pub price: Option<Spanned<RawPrice>>,
    /// Free-form settings passed to the plugin as JSON; each plugin documents its own. Any
    /// string in them, at any depth, may use the item's variables as a prompt does
    /// (`expected = "{{ answer }}"`, `{{ id }}` included); the grader then gets them
    /// rendered for each item.
    pub options: Option<Spanned<toml::Table>>,
}

/// `[tasks.NAME.verdict]`: how grades combine.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawVerdict {
    /// `all-pass`: every grader must pass. `weighted`: the weighted mean of the grader scores
    /// must reach `threshold`.
    pub rule: Spanned<RawRule>,
    /// For `weighted` only (required there): the score to reach, 0 to 1.
    pub threshold: Option<Spanned<f64>>,
}

/// The verdict rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawRule {
    AllPass,
    Weighted,
}

/// A TOML table read as a list of (key, value) pairs in file order, with the keys' spans.
///
/// `toml::map::Map` only deserializes `toml::Value`s, and a `BTreeMap` would lose the order
/// (providers and tasks are reported in file order).
#[derive(Debug)]
pub(crate) struct Entries<V>(pub Vec<(Spanned<String>, V)>);

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
            type Value = Entries<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}
