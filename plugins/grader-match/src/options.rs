//! The options, as the config gives them, and their checks: which options each mode takes,
//! the `expected` value each mode can use, and which values may wait for an item's variables.

use std::fmt;
use std::sync::LazyLock;

use llmbench_plugin_sdk::OptionsError;
use llmbench_plugin_sdk::core::template::{has_placeholder, value_has_placeholder};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::choice::ChoiceReader;
use crate::extract::Extract;
use crate::json::Schema;
use crate::number;
use crate::text::{Normalization, Quoted};

/// The default choice letters, compiled once and shared by every spec that does not set
/// `choices` (borrowed, not cloned: a cloned regex starts again with empty match caches).
/// Compiled when a grade or an expected value first reads choice letters, so never in the
/// other modes (its regexes cost more to build than thousands of grades).
static DEFAULT_CHOICES: LazyLock<ChoiceReader> =
    LazyLock::new(|| ChoiceReader::new("ABCD").expect("valid default"));

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Options {
    /// How the answer is compared: `equals`, `contains`, `starts-with` (text), `regex` (the
    /// expected value is a pattern), `numeric`, `choice` (a multiple-choice letter), `json`
    /// (equality and/or a JSON Schema) or `f1` (SQuAD token F1, the score).
    pub mode: Mode,
    /// The reference answer: a string (`"{{ var }}"` is filled per item), a number, or
    /// several accepted answers as an array of strings (or a JSON array in a string); in
    /// `json` mode one JSON document. An item with neither this nor an `expected` variable
    /// gets an error grade. Default: the item's `expected` variable.
    pub expected: Option<Value>,
    /// Compare in lower case (`regex`: the pattern's `i` flag). Modes `equals`, `contains`,
    /// `starts-with`, `regex`. Default `false`.
    pub case_insensitive: Option<bool>,
    /// Strip surrounding whitespace and punctuation such as `.,;:!?"'*_` (not brackets or
    /// signs) before comparing; in `regex`, from the answer only. Modes `equals`,
    /// `contains`, `starts-with`, `regex`. Default `true`.
    pub trim: Option<bool>,
    /// SQuAD's `normalize_answer`: lower case, drop ASCII punctuation and a/an/the, collapse
    /// whitespace. Modes `equals`, `contains`, `starts-with`; always on in `f1`. Default
    /// `false`.
    pub squad_normalize: Option<bool>,
    /// Which part of the answer is compared, taken first: `last-number`, `boxed` (the last
    /// `\boxed{...}`), `answer-line` (after the last `Answer:`), `last-code-block`, or
    /// `{ regex = "...", group = 1 }` (that group of the last match). Default: the whole
    /// answer, except in `numeric` (the last number), `choice` (its own letter reading) and
    /// `json` (the last `json` or untagged fenced block, else the whole answer).
    pub extract: Option<ExtractOption>,
    /// `numeric`: pass when the difference is at most max(`abs-tolerance`,
    /// `rel-tolerance` × the expected value's magnitude). Default 0.
    pub abs_tolerance: Option<f64>,
    /// `numeric`: the relative tolerance (see `abs-tolerance`). Default `1e-9`.
    pub rel_tolerance: Option<f64>,
    /// `choice`: the option letters (distinct ASCII letters, any case). Default `"ABCD"`.
    pub choices: Option<String>,
    /// `json`: the answer must equal `expected` (key order ignored, numbers by value, arrays
    /// in order). Default `true` when an expected value exists.
    pub json_equal: Option<bool>,
    /// `json`: a JSON Schema (drafts 4 to 2020-12) the answer must be valid against, as an
    /// inline table or a JSON string (per item: `"{{schema}}"`). It may refer to itself
    /// only: no file or URL is read. Default: none.
    pub schema: Option<Value>,
    /// `f1`: pass when the F1 is at least this. Default 0.5.
    pub threshold: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
    Equals,
    Contains,
    StartsWith,
    Regex,
    Numeric,
    Choice,
    Json,
    F1,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "equals",
            Self::Contains => "contains",
            Self::StartsWith => "starts-with",
            Self::Regex => "regex",
            Self::Numeric => "numeric",
            Self::Choice => "choice",
            Self::Json => "json",
            Self::F1 => "f1",
        }
    }
}

/// `extract`: a name, or a table `{ regex = "...", group = 1 }`.
#[derive(Debug)]
pub(crate) enum ExtractOption {
    LastNumber,
    Boxed,
    AnswerLine,
    LastCodeBlock,
    Regex(RegexExtract),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegexExtract {
    regex: String,
    group: Option<usize>,
}

const EXTRACT_NAMES: &[&str] = &["last-number", "boxed", "answer-line", "last-code-block"];

impl<'de> Deserialize<'de> for ExtractOption {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExtractVisitor;
        impl<'de> Visitor<'de> for ExtractVisitor {
            type Value = ExtractOption;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "one of \"last-number\", \"boxed\", \"answer-line\", \"last-code-block\", \
                     or a table { regex = \"...\", group = 1 }",
                )
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<ExtractOption, E> {
                Ok(match name {
                    "last-number" => ExtractOption::LastNumber,
                    "boxed" => ExtractOption::Boxed,
                    "answer-line" => ExtractOption::AnswerLine,
                    "last-code-block" => ExtractOption::LastCodeBlock,
                    _ => return Err(E::unknown_variant(name, EXTRACT_NAMES)),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ExtractOption, A::Error> {
                RegexExtract::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ExtractOption::Regex)
            }
        }
        deserializer.deserialize_any(ExtractVisitor)
    }
}

/// The reference answer, read for a mode.
#[derive(Debug, Clone)]
pub(crate) enum Expected {
    /// `equals`, `contains`, `starts-with`, `f1`: the alternatives.
    Texts(Vec<String>),
    /// `numeric`: each alternative as written and its value.
    Numbers(Vec<(String, f64)>),
    /// `choice`: uppercase letters.
    Letters(Vec<char>),
    /// `regex`: the compiled alternatives.
    Patterns(Vec<Regex>),
    /// `json`: one document (an array is a value here, not alternatives).
    Json(Value),
}

/// Everything a grade needs, checked: the settings every item shares, and the values
/// (`expected`, `extract`, `choices`, `schema`) that do not wait for an item.
#[derive(Debug)]
pub(crate) struct Spec {
    pub mode: Mode,
    pub norm: Normalization,
    pub abs_tolerance: f64,
    pub rel_tolerance: f64,
    pub json_equal: Option<bool>,
    pub threshold: f64,
    pub values: Values,
    /// The values that were templates at create: read for each item.
    deferred: Deferred,
}

/// The option values an item may give (through a `{{ var }}`), read.
#[derive(Debug, Default)]
pub(crate) struct Values {
    /// `None` in a spec: the item's `expected` variable is used.
    pub expected: Option<Expected>,
    pub extract: Option<Extract>,
    /// `None` in a spec: the default letters, `ABCD`.
    pub choices: Option<ChoiceReader>,
    pub schema: Option<Schema>,
}

/// The option values that are templates, as written ([`Spec::written`]).
#[derive(Debug, Default)]
pub(crate) struct Written {
    choices: Option<String>,
    regex: Option<String>,
    schema: Option<Value>,
    expected: Option<Value>,
}

/// Which option values were templates at create, so are read per item, rendered for it.
/// Every other value is the same for all items: read once.
#[derive(Debug, Clone, Copy, Default)]
struct Deferred {
    /// Also when `choices` is deferred: the expected letters are checked against them.
    expected: bool,
    schema: bool,
    /// `extract.regex`, with the `extract.group` the config gave.
    extract_regex: Option<Option<usize>>,
    choices: bool,
}

impl Deferred {
    fn any(self) -> bool {
        self.expected || self.schema || self.extract_regex.is_some() || self.choices
    }
}

/// What one grade uses: the spec's settings, and each value as read for the item or, when
/// the item gives none, the spec's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grading<'a> {
    pub mode: Mode,
    pub norm: Normalization,
    pub abs_tolerance: f64,
    pub rel_tolerance: f64,
    pub json_equal: Option<bool>,
    pub threshold: f64,
    /// `None`: the item's `expected` variable is used.
    pub expected: Option<&'a Expected>,
    pub extract: Option<&'a Extract>,
    /// `None`: the default letters ([`Grading::choices`]).
    pub choices: Option<&'a ChoiceReader>,
    pub schema: Option<&'a Schema>,
}

impl<'a> Grading<'a> {
    /// The choice letters: the item's or spec's, else the default ones.
    pub fn choices(&self) -> &'a ChoiceReader {
        self.choices.unwrap_or(&DEFAULT_CHOICES)
    }
}

/// Whether option values that still hold a `{{ var }}` are checked (per item, rendered) or
/// left for the item (the options as the config wrote them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Templates {
    Defer,
    Check,
}

/// Whether `rendered` is `configured` with its templates filled in, as the host renders
/// options for an item: the same keys and array lengths, the same values, except that a
/// string holding a `{{` may have become any string. Only then may an item's options be read
/// by the keys that were templates ([`Spec::for_item`]); any other options are read whole.
pub(crate) fn fills(configured: &Value, rendered: &Value) -> bool {
    match (configured, rendered) {
        (Value::String(c), Value::String(_)) if has_placeholder(c) => true,
        (Value::Array(c), Value::Array(r)) => {
            c.len() == r.len() && c.iter().zip(r).all(|(c, r)| fills(c, r))
        }
        (Value::Object(c), Value::Object(r)) => {
            c.len() == r.len()
                && c.iter()
                    .all(|(key, c)| r.get(key).is_some_and(|r| fills(c, r)))
        }
        (c, r) => c == r,
    }
}

/// Which modes take an option (beyond `mode`, `expected` and `extract`, which all take).
fn modes_of(key: &str) -> &'static [Mode] {
    use Mode::*;
    match key {
        "case-insensitive" | "trim" => &[Equals, Contains, StartsWith, Regex],
        "squad-normalize" => &[Equals, Contains, StartsWith, F1],
        "abs-tolerance" | "rel-tolerance" => &[Numeric],
        "choices" => &[Choice],
        "json-equal" | "schema" => &[Json],
        "threshold" => &[F1],
        _ => &[
            Equals, Contains, StartsWith, Regex, Numeric, Choice, Json, F1,
        ],
    }
}

impl Spec {
    pub fn from_options(options: &Value, templates: Templates) -> Result<Self, OptionsError> {
        let o: Options = llmbench_plugin_sdk::parse_options(options)?;
        let mode = o.mode;
        let given = [
            ("case-insensitive", o.case_insensitive.is_some()),
            ("trim", o.trim.is_some()),
            ("squad-normalize", o.squad_normalize.is_some()),
            ("abs-tolerance", o.abs_tolerance.is_some()),
            ("rel-tolerance", o.rel_tolerance.is_some()),
            ("choices", o.choices.is_some()),
            ("json-equal", o.json_equal.is_some()),
            ("schema", o.schema.is_some()),
            ("threshold", o.threshold.is_some()),
        ];
        for (key, _) in given.iter().filter(|(_, is)| *is) {
            let modes = modes_of(key);
            if !modes.contains(&mode) {
                let names: Vec<String> =
                    modes.iter().map(|m| format!("`{}`", m.as_str())).collect();
                return Err(OptionsError::at(
                    key,
                    format!(
                        "does not apply to mode `{}` (only to {})",
                        mode.as_str(),
                        names.join(", ")
                    ),
                ));
            }
        }
        if mode == Mode::F1 && o.squad_normalize == Some(false) {
            return Err(OptionsError::at(
                "squad-normalize",
                "mode `f1` always uses SQuAD normalisation",
            ));
        }
        let defer = |value: &Value| templates == Templates::Defer && value_has_placeholder(value);
        let defer_str = |text: &str| templates == Templates::Defer && has_placeholder(text);

        let norm = Normalization {
            trim: o.trim.unwrap_or(true),
            case_insensitive: o.case_insensitive.unwrap_or(false),
            squad: o.squad_normalize.unwrap_or(false) || mode == Mode::F1,
        };
        let tolerance = |key: &str, value: Option<f64>, default: f64| match value {
            Some(v) if !(v.is_finite() && v >= 0.0) => Err(OptionsError::at(
                key,
                format!("must be a finite number >= 0, not {v}"),
            )),
            v => Ok(v.unwrap_or(default)),
        };
        let abs_tolerance = tolerance("abs-tolerance", o.abs_tolerance, 0.0)?;
        let rel_tolerance = tolerance("rel-tolerance", o.rel_tolerance, 1e-9)?;
        let threshold = match o.threshold {
            Some(t) if !(0.0..=1.0).contains(&t) => {
                return Err(OptionsError::at(
                    "threshold",
                    format!("must be between 0 and 1, not {t}"),
                ));
            }
            t => t.unwrap_or(0.5),
        };

        let mut deferred = Deferred {
            choices: o.choices.as_deref().is_some_and(defer_str),
            ..Deferred::default()
        };
        let (named, regex) = match &o.extract {
            None => (None, None),
            Some(ExtractOption::LastNumber) => (Some(Extract::LastNumber), None),
            Some(ExtractOption::Boxed) => (Some(Extract::Boxed), None),
            Some(ExtractOption::AnswerLine) => (Some(Extract::AnswerLine), None),
            Some(ExtractOption::LastCodeBlock) => (Some(Extract::LastCodeBlock), None),
            Some(ExtractOption::Regex(r)) if defer_str(&r.regex) => {
                deferred.extract_regex = Some(r.group);
                (None, None)
            }
            Some(ExtractOption::Regex(r)) => (None, Some((r.regex.as_str(), r.group))),
        };
        deferred.schema = o.schema.as_ref().is_some_and(defer);
        // `json` with `json-equal = false` compares with nothing: `expected` is unused.
        let expected = o
            .expected
            .as_ref()
            .filter(|_| !(mode == Mode::Json && o.json_equal == Some(false)));
        deferred.expected = expected.is_some_and(|e| defer(e) || deferred.choices);

        let mut spec = Self {
            mode,
            norm,
            abs_tolerance,
            rel_tolerance,
            json_equal: o.json_equal,
            threshold,
            values: Values::default(),
            deferred,
        };
        spec.values = spec.read_values(
            o.choices.as_deref().filter(|_| !deferred.choices),
            regex,
            o.schema.as_ref().filter(|_| !deferred.schema),
            expected.filter(|_| !deferred.expected),
        )?;
        if named.is_some() {
            spec.values.extract = named;
        }
        Ok(spec)
    }

    /// Whether some values are templates, read per item.
    pub fn defers(&self) -> bool {
        self.deferred.any()
    }

    /// Whether the reference is the item's `expected` variable: no `expected` option, and a
    /// mode that compares with one (all but `json` with `json-equal = false`).
    pub fn reads_item_expected(&self) -> bool {
        self.values.expected.is_none()
            && !self.deferred.expected
            && !(self.mode == Mode::Json && self.json_equal == Some(false))
    }

    /// The values this item's options give, when `rendered` [`fills`] the options the spec
    /// was read from (with [`Templates::Defer`]): only the values that were templates are
    /// read, straight from their keys; everything else was read and checked at create.
    /// `None` when a value is not where the configured options had it (options that do not
    /// fill these: read them whole).
    pub fn for_item(&self, rendered: &Value) -> Option<Result<Values, OptionsError>> {
        let d = self.deferred;
        if !d.any() {
            return Some(Ok(Values::default()));
        }
        let choices = match d.choices {
            true => Some(rendered.get("choices")?.as_str()?),
            false => None,
        };
        let regex = match d.extract_regex {
            Some(group) => Some((rendered.get("extract")?.get("regex")?.as_str()?, group)),
            None => None,
        };
        let schema = match d.schema {
            true => Some(rendered.get("schema")?),
            false => None,
        };
        let expected = match d.expected {
            true => Some(rendered.get("expected")?),
            false => None,
        };
        Some(self.read_values(choices, regex, schema, expected))
    }

    /// The values of `options` (the options the spec was read from, with
    /// [`Templates::Defer`]) that are templates, as written: taken once, at create, for
    /// [`Spec::for_lookup`] to render for each item.
    pub fn written(&self, options: &Value) -> Written {
        let d = self.deferred;
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        Written {
            choices: text(options.get("choices").filter(|_| d.choices)),
            regex: text(
                options
                    .get("extract")
                    .and_then(|e| e.get("regex"))
                    .filter(|_| d.extract_regex.is_some()),
            ),
            schema: options.get("schema").filter(|_| d.schema).cloned(),
            expected: options.get("expected").filter(|_| d.expected).cloned(),
        }
    }

    /// The values an item gives the templates ([`Spec::written`]), each rendered with
    /// `lookup`: what [`Spec::for_item`] reads from the options rendered whole, rendering
    /// only what is read.
    pub fn for_lookup<'v>(
        &self,
        written: &Written,
        lookup: &dyn Fn(&str) -> Option<&'v str>,
    ) -> Result<Values, OptionsError> {
        use llmbench_plugin_sdk::core::template::{render_value, render_with};
        if !self.deferred.any() {
            return Ok(Values::default());
        }
        let choices = written.choices.as_deref().map(|t| render_with(t, lookup));
        let regex = written.regex.as_deref().map(|t| render_with(t, lookup));
        let schema = written.schema.as_ref().map(|v| render_value(v, lookup));
        let expected = written.expected.as_ref().map(|v| render_value(v, lookup));
        self.read_values(
            choices.as_deref(),
            regex.as_deref().zip(self.deferred.extract_regex),
            schema.as_ref(),
            expected.as_ref(),
        )
    }

    /// Reads and checks the given values, in the order `from_options` always has (so the
    /// first error is the same): `choices`, `extract.regex`, `schema`, `expected`.
    fn read_values(
        &self,
        choices: Option<&str>,
        regex: Option<(&str, Option<usize>)>,
        schema: Option<&Value>,
        expected: Option<&Value>,
    ) -> Result<Values, OptionsError> {
        let choices = choices
            .map(|c| ChoiceReader::new(c).map_err(|e| OptionsError::at("choices", e)))
            .transpose()?;
        let extract = regex
            .map(|(regex, group)| extract_regex(regex, group))
            .transpose()?;
        let schema = schema
            .map(|s| Schema::new(s).map_err(|e| OptionsError::at("schema", e)))
            .transpose()?;
        let reader = choices.as_ref().or(self.values.choices.as_ref());
        let expected = expected
            .map(|e| {
                read_expected(self.mode, e, self.norm, reader)
                    .map_err(|m| OptionsError::at("expected", m))
            })
            .transpose()?;
        Ok(Values {
            expected,
            extract,
            choices,
            schema,
        })
    }

    /// What a grade uses: `item`'s values (from [`Spec::for_item`]) where it has them, else
    /// the spec's.
    pub fn grading<'a>(&'a self, item: Option<&'a Values>) -> Grading<'a> {
        let spec = &self.values;
        Grading {
            mode: self.mode,
            norm: self.norm,
            abs_tolerance: self.abs_tolerance,
            rel_tolerance: self.rel_tolerance,
            json_equal: self.json_equal,
            threshold: self.threshold,
            expected: item
                .and_then(|v| v.expected.as_ref())
                .or(spec.expected.as_ref()),
            extract: item
                .and_then(|v| v.extract.as_ref())
                .or(spec.extract.as_ref()),
            choices: item
                .and_then(|v| v.choices.as_ref())
                .or(spec.choices.as_ref()),
            schema: item
                .and_then(|v| v.schema.as_ref())
                .or(spec.schema.as_ref()),
        }
    }
}

fn extract_regex(pattern: &str, group: Option<usize>) -> Result<Extract, OptionsError> {
    let regex = Regex::new(pattern).map_err(|e| {
        OptionsError::new(
            ["extract", "regex"],
            format!("invalid regex: {}", regex_error(&e)),
        )
    })?;
    let groups = regex.captures_len() - 1;
    let group = group.unwrap_or(usize::from(groups > 0));
    if group > groups {
        return Err(OptionsError::new(
            ["extract", "group"],
            format!("group {group} does not exist: the pattern has {groups} capture group(s)"),
        ));
    }
    Ok(Extract::Regex { regex, group })
}

/// The expected value for `mode`, or why it cannot be used (a message without the option's
/// name: the caller says whether it is the option or the item variable).
///
/// Outside `json`, a string holding a JSON array of strings (`["Paris", "paris, france"]`,
/// as the config passes a dataset array) or an array of strings lists alternatives; a number
/// is read as its text. `choices` are the choice letters (`None`: the default ones).
pub(crate) fn read_expected(
    mode: Mode,
    value: &Value,
    norm: Normalization,
    choices: Option<&ChoiceReader>,
) -> Result<Expected, String> {
    let alternatives = match value {
        Value::String(text) => return read_expected_text(mode, text, norm, choices),
        other if mode == Mode::Json => return Ok(Expected::Json(other.clone())),
        Value::Number(n) => vec![n.to_string()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or("must be a string or a list of strings")?,
        _ => return Err("must be a string or a list of strings".into()),
    };
    read_alternatives(mode, alternatives, norm, choices)
}

/// [`read_expected`] of a string (the option rendered for an item, or the item's `expected`
/// variable), without making a JSON value of it first.
pub(crate) fn read_expected_text(
    mode: Mode,
    text: &str,
    norm: Normalization,
    choices: Option<&ChoiceReader>,
) -> Result<Expected, String> {
    if mode == Mode::Json {
        return serde_json::from_str(text)
            .map(Expected::Json)
            .map_err(|e| format!("{} is not JSON: {e}", Quoted(text)));
    }
    let alternatives = match text.trim_start().starts_with('[') {
        true => serde_json::from_str::<Vec<String>>(text).unwrap_or_else(|_| vec![text.to_owned()]),
        false => vec![text.to_owned()],
    };
    read_alternatives(mode, alternatives, norm, choices)
}

/// The alternatives for `mode` (not `json`), each checked; the first that cannot be used is
/// the error.
fn read_alternatives(
    mode: Mode,
    alternatives: Vec<String>,
    norm: Normalization,
    choices: Option<&ChoiceReader>,
) -> Result<Expected, String> {
    if alternatives.is_empty() {
        return Err("is an empty list: give at least one answer".into());
    }
    let many = alternatives.len() > 1;
    let refuse = |i: usize, text: &str, why: &dyn std::fmt::Display| match many {
        true => format!("alternative {} {} {why}", i + 1, Quoted(text)),
        false => format!("{} {why}", Quoted(text)),
    };
    Ok(match mode {
        Mode::Equals | Mode::Contains | Mode::StartsWith | Mode::F1 => {
            for (i, a) in alternatives.iter().enumerate() {
                if norm.apply(a).is_empty() {
                    return Err(refuse(i, a, &"is empty once normalised"));
                }
            }
            Expected::Texts(alternatives)
        }
        Mode::Numeric => {
            let mut numbers = Vec::with_capacity(alternatives.len());
            for (i, a) in alternatives.iter().enumerate() {
                match number::parse_exact(a) {
                    Some(value) => numbers.push((a.trim().to_owned(), value)),
                    None => return Err(refuse(i, a, &"is not a number")),
                }
            }
            Expected::Numbers(numbers)
        }
        Mode::Choice => {
            let choices = choices.unwrap_or(&DEFAULT_CHOICES);
            let mut letters = Vec::with_capacity(alternatives.len());
            for (i, a) in alternatives.iter().enumerate() {
                match choices.parse_expected(a) {
                    Some(letter) => letters.push(letter),
                    None => {
                        let why = format!("is not one of the choices {}", choices.describe());
                        return Err(refuse(i, a, &why));
                    }
                }
            }
            Expected::Letters(letters)
        }
        Mode::Regex => {
            let mut patterns = Vec::with_capacity(alternatives.len());
            for (i, a) in alternatives.iter().enumerate() {
                let regex = RegexBuilder::new(a)
                    .case_insensitive(norm.case_insensitive)
                    .build()
                    .map_err(|e| {
                        refuse(
                            i,
                            a,
                            &format_args!("is not a valid regex: {}", regex_error(&e)),
                        )
                    })?;
                patterns.push(regex);
            }
            Expected::Patterns(patterns)
        }
        Mode::Json => unreachable!("read by read_expected_text or read_expected"),
    })
}

/// The `regex` crate's message without its multi-line picture of the pattern.
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}
