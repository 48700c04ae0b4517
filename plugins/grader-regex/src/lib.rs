//! `grader-regex`: passes when a pattern matches the answer (or, with `must-match = false`,
//! when it does not).
//!
//! Options:
//! - `pattern` (string, required): a Rust `regex` pattern.
//! - `must-match` (bool, default `true`).
//! - `case-insensitive` (bool, default `false`).
//! - `multi-line` (bool, default `false`): `^` and `$` match at line boundaries.
//! - `dot-matches-newline` (bool, default `false`).

use async_trait::async_trait;
use llmbench_plugin_sdk::core::{Grade, GradeRequest, Grader, GraderError, PluginContext};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Options {
    pattern: String,
    #[serde(default = "yes")]
    must_match: bool,
    #[serde(default)]
    case_insensitive: bool,
    #[serde(default)]
    multi_line: bool,
    #[serde(default)]
    dot_matches_newline: bool,
}

fn yes() -> bool {
    true
}

/// The grader.
#[derive(Debug)]
pub struct RegexGrader {
    regex: Regex,
    must_match: bool,
}

impl RegexGrader {
    pub fn from_options(options: serde_json::Value) -> Result<Self, String> {
        let o: Options = serde_json::from_value(options).map_err(|e| e.to_string())?;
        let regex = RegexBuilder::new(&o.pattern)
            .case_insensitive(o.case_insensitive)
            .multi_line(o.multi_line)
            .dot_matches_new_line(o.dot_matches_newline)
            .build()
            .map_err(|e| format!("invalid `pattern`: {e}"))?;
        Ok(Self {
            regex,
            must_match: o.must_match,
        })
    }
}

#[async_trait]
impl Grader for RegexGrader {
    async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError> {
        let text = &request.completion.text;
        let found = self.regex.find(text);
        let pattern = self.regex.as_str();
        Ok(match (found, self.must_match) {
            (Some(m), true) => {
                Grade::pass(format!("/{pattern}/ matched `{}`", excerpt(m.as_str())))
            }
            (None, true) => Grade::fail(format!("/{pattern}/ did not match")),
            (None, false) => Grade::pass(format!("/{pattern}/ did not match, as required")),
            (Some(m), false) => Grade::fail(format!(
                "/{pattern}/ must not match but matched `{}`",
                excerpt(m.as_str())
            )),
        })
    }
}

fn excerpt(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

impl llmbench_plugin_sdk::GraderPlugin for RegexGrader {
    fn create(options: serde_json::Value, _context: &PluginContext) -> Result<Self, String> {
        Self::from_options(options)
    }
}

llmbench_plugin_sdk::export_grader!(RegexGrader);
