//! The options, as the config gives them, and their checks: which options each mode takes,
//! the `expected` value each mode can use, and which values may wait for an item's variables.

use std::fmt;
use std::sync::LazyLock;

use llmbench_plugin_sdk::OptionsError;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::choice::ChoiceReader;

/// The default choice letters, compiled once: options are read again for every item whose
/// options use item variables, and building a reader compiles several regexes.
static DEFAULT_CHOICES: LazyLock<ChoiceReader> =
    LazyLock::new(|| ChoiceReader::new("ABCD").expect("valid default"));
use crate::extract::Extract;
use crate::json::Schema;
use crate::number;
use crate::text::{Normalization, quote};

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

/// Everything a grade needs, checked.
#[derive(Debug)]
pub(crate) struct Spec {
    pub mode: Mode,
    /// `None`: the item's `expected` variable is used.
    pub expected: Option<Expected>,
    pub extract: Option<Extract>,
    pub norm: Normalization,
    pub abs_tolerance: f64,
    pub rel_tolerance: f64,
    pub choices: ChoiceReader,
    pub json_equal: Option<bool>,
    pub schema: Option<Schema>,
    pub threshold: f64,
}

/// Whether option values that still hold a `{{ var }}` are checked (per item, rendered) or
/// left for the item (the options as the config wrote them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Templates {
    Defer,
    Check,
}

/// Whether any string in `value` holds a `{{` placeholder.
pub(crate) fn has_template(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("{{"),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
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
        let defer = |value: &Value| templates == Templates::Defer && has_template(value);

        let case_insensitive = o.case_insensitive.unwrap_or(false);
        let norm = Normalization {
            trim: o.trim.unwrap_or(true),
            case_insensitive,
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

        let choices_deferred = o
            .choices
            .as_ref()
            .is_some_and(|c| defer(&Value::String(c.clone())));
        let choices = match o.choices.as_deref().filter(|_| !choices_deferred) {
            Some(c) => ChoiceReader::new(c).map_err(|e| OptionsError::at("choices", e))?,
            None => DEFAULT_CHOICES.clone(),
        };

        let extract = match o.extract {
            None => None,
            Some(ExtractOption::LastNumber) => Some(Extract::LastNumber),
            Some(ExtractOption::Boxed) => Some(Extract::Boxed),
            Some(ExtractOption::AnswerLine) => Some(Extract::AnswerLine),
            Some(ExtractOption::LastCodeBlock) => Some(Extract::LastCodeBlock),
            Some(ExtractOption::Regex(r)) if defer(&Value::String(r.regex.clone())) => None,
            Some(ExtractOption::Regex(r)) => Some(extract_regex(&r)?),
        };

        let schema = match &o.schema {
            Some(s) if !defer(s) => {
                Some(Schema::new(s).map_err(|e| OptionsError::at("schema", e))?)
            }
            _ => None,
        };

        let expected = match &o.expected {
            // `json` with `json-equal = false` compares with nothing: `expected` is unused.
            Some(_) if mode == Mode::Json && o.json_equal == Some(false) => None,
            Some(e) if !defer(e) && !choices_deferred => Some(
                read_expected(mode, e, norm, case_insensitive, &choices)
                    .map_err(|m| OptionsError::at("expected", m))?,
            ),
            _ => None,
        };

        Ok(Self {
            mode,
            expected,
            extract,
            norm,
            abs_tolerance,
            rel_tolerance,
            choices,
            json_equal: o.json_equal,
            schema,
            threshold,
        })
    }
}

fn extract_regex(r: &RegexExtract) -> Result<Extract, OptionsError> {
    let regex = Regex::new(&r.regex).map_err(|e| {
        OptionsError::new(
            ["extract", "regex"],
            format!("invalid regex: {}", regex_error(&e)),
        )
    })?;
    let groups = regex.captures_len() - 1;
    let group = r.group.unwrap_or(usize::from(groups > 0));
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
/// is read as its text.
pub(crate) fn read_expected(
    mode: Mode,
    value: &Value,
    norm: Normalization,
    case_insensitive: bool,
    choices: &ChoiceReader,
) -> Result<Expected, String> {
    if mode == Mode::Json {
        return match value {
            Value::String(text) => serde_json::from_str(text)
                .map(Expected::Json)
                .map_err(|e| format!("{} is not JSON: {e}", quote(text))),
            other => Ok(Expected::Json(other.clone())),
        };
    }
    let alternatives: Vec<String> = match value {
        Value::String(text) => match text.trim_start().starts_with('[') {
            true => {
                serde_json::from_str::<Vec<String>>(text).unwrap_or_else(|_| vec![text.clone()])
            }
            false => vec![text.clone()],
        },
        Value::Number(n) => vec![n.to_string()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or("must be a string or a list of strings")?,
        _ => return Err("must be a string or a list of strings".into()),
    };
    if alternatives.is_empty() {
        return Err("is an empty list: give at least one answer".into());
    }
    let many = alternatives.len() > 1;
    let name = |i: usize, text: &str| match many {
        true => format!("alternative {} {}", i + 1, quote(text)),
        false => quote(text),
    };
    let each = |check: &dyn Fn(&str) -> Result<(), String>| -> Result<(), String> {
        alternatives
            .iter()
            .enumerate()
            .try_for_each(|(i, a)| check(a).map_err(|why| format!("{} {why}", name(i, a))))
    };
    Ok(match mode {
        Mode::Equals | Mode::Contains | Mode::StartsWith | Mode::F1 => {
            each(&|a| match norm.apply(a).is_empty() {
                true => Err("is empty once normalised".into()),
                false => Ok(()),
            })?;
            Expected::Texts(alternatives)
        }
        Mode::Numeric => {
            let mut numbers = Vec::new();
            each(&|a| {
                number::parse_exact(a)
                    .map(|_| ())
                    .ok_or_else(|| "is not a number".into())
            })?;
            for a in &alternatives {
                numbers.push((
                    a.trim().to_owned(),
                    number::parse_exact(a).expect("checked"),
                ));
            }
            Expected::Numbers(numbers)
        }
        Mode::Choice => {
            each(&|a| match choices.parse_expected(a) {
                Some(_) => Ok(()),
                None => Err(format!("is not one of the choices {}", choices.describe())),
            })?;
            Expected::Letters(
                alternatives
                    .iter()
                    .filter_map(|a| choices.parse_expected(a))
                    .collect(),
            )
        }
        Mode::Regex => {
            let mut patterns = Vec::new();
            for (i, a) in alternatives.iter().enumerate() {
                let regex = RegexBuilder::new(a)
                    .case_insensitive(case_insensitive)
                    .build()
                    .map_err(|e| {
                        format!("{} is not a valid regex: {}", name(i, a), regex_error(&e))
                    })?;
                patterns.push(regex);
            }
            Expected::Patterns(patterns)
        }
        Mode::Json => unreachable!("handled above"),
    })
}

/// The `regex` crate's message without its multi-line picture of the pattern.
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}
