//! `grader-regex`: passes when a pattern matches the answer (or, with `must-match = false`,
//! when it does not).
//!
//! Options:
//! - `pattern` (string, required): a Rust `regex` pattern.
//! - `must-match` (bool, default `true`).
//! - `case-insensitive` (bool, default `false`).
//! - `multi-line` (bool, default `false`): `^` and `$` match at line boundaries.
//! - `dot-matches-newline` (bool, default `false`).
//!
//! The pattern may use item variables (`pattern = "{{ expected }}"`): the runner then
//! renders it for each item, the grader compiles it per request, and before the run every
//! item's pattern is checked (`check_item`), so an item whose pattern is not a valid regex
//! stops the run with the item's place instead of failing each of its samples. A pattern
//! with a placeholder is not compiled at create (`{{` is not a valid regex).

use async_trait::async_trait;
use llmbench_plugin_sdk::core::template::has_placeholder;
use llmbench_plugin_sdk::core::{Grade, GradeRequest, Grader, GraderError, PluginContext};
use llmbench_plugin_sdk::{OptionsError, parse_options};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Options {
    /// A Rust `regex` pattern, searched for anywhere in the answer. It may use item
    /// variables (`"{{ expected }}"`); each item's pattern is then checked before the run.
    pattern: String,
    /// Pass when the pattern matches (`true`) or when it does not (`false`). Default `true`.
    #[serde(default = "yes")]
    must_match: bool,
    /// Match letters regardless of case. Default `false`.
    #[serde(default)]
    case_insensitive: bool,
    /// `^` and `$` match at line boundaries, not only at the ends of the answer. Default
    /// `false`.
    #[serde(default)]
    multi_line: bool,
    /// `.` matches a newline too. Default `false`.
    #[serde(default)]
    dot_matches_newline: bool,
}

fn yes() -> bool {
    true
}

impl Options {
    fn regex(&self) -> Result<Regex, OptionsError> {
        RegexBuilder::new(&self.pattern)
            .case_insensitive(self.case_insensitive)
            .multi_line(self.multi_line)
            .dot_matches_new_line(self.dot_matches_newline)
            .build()
            .map_err(|e| OptionsError::at("pattern", format!("invalid regex: {e}")))
    }

    /// The compiled pattern, or `None` for a template (`{{ var }}`) compiled per item.
    fn static_regex(&self) -> Result<Option<Regex>, OptionsError> {
        match self.regex() {
            Ok(regex) => Ok(Some(regex)),
            Err(_) if has_placeholder(&self.pattern) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The grader.
#[derive(Debug)]
pub struct RegexGrader {
    /// `None` when the pattern uses item variables: each request brings its own.
    regex: Option<Regex>,
    must_match: bool,
}

impl RegexGrader {
    pub fn from_options(options: serde_json::Value) -> Result<Self, String> {
        let o: Options = parse_options(&options)?;
        Ok(Self {
            regex: o.static_regex()?,
            must_match: o.must_match,
        })
    }
}

#[async_trait]
impl Grader for RegexGrader {
    async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError> {
        let (regex, must_match) = match (&request.options, &self.regex) {
            (Some(options), _) => {
                let o: Options =
                    parse_options(options).map_err(|e| GraderError::new(e.to_string()))?;
                let regex = o.regex().map_err(|e| GraderError::new(e.to_string()))?;
                (std::borrow::Cow::Owned(regex), o.must_match)
            }
            (None, Some(regex)) => (std::borrow::Cow::Borrowed(regex), self.must_match),
            (None, None) => {
                return Err(GraderError::new(
                    "the pattern uses item variables but the request has no rendered options",
                ));
            }
        };
        let text = &request.completion.text;
        let found = regex.find(text);
        let pattern = regex.as_str();
        Ok(match (found, must_match) {
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

    fn check_options(
        options: &serde_json::Value,
        _context: &PluginContext,
    ) -> Result<(), OptionsError> {
        parse_options::<Options>(options)?.static_regex().map(drop)
    }

    fn check_item(&self, options: &serde_json::Value) -> Result<(), String> {
        let o: Options = parse_options(options)?;
        o.regex().map(drop).map_err(String::from)
    }

    /// A pattern over the answer: graded on the caller's thread.
    const GRADES_INLINE: bool = true;
}

llmbench_plugin_sdk::export_grader!(RegexGrader);

#[cfg(test)]
mod tests {
    use llmbench_plugin_sdk::GraderPlugin as _;
    use serde_json::json;

    use super::*;

    #[test]
    fn options_are_checked_with_their_path() {
        let e = RegexGrader::check_options(&json!({ "patern": "x" }), &PluginContext::default())
            .unwrap_err();
        assert_eq!(e.path, ["patern"]);
        assert_eq!(e.help.as_deref(), Some("did you mean `pattern`?"));
        let e = RegexGrader::check_options(&json!({ "pattern": "(" }), &PluginContext::default())
            .unwrap_err();
        assert_eq!(e.path, ["pattern"]);
        assert!(e.message.starts_with("invalid regex: "), "{}", e.message);
        RegexGrader::check_options(
            &json!({ "pattern": "{{ expected }}" }),
            &PluginContext::default(),
        )
        .unwrap();
    }

    fn request(answer: &str, options: Option<serde_json::Value>) -> GradeRequest {
        GradeRequest {
            task: "t".into(),
            item: "i".into(),
            vars: Default::default(),
            options,
            completion: llmbench_plugin_sdk::core::Completion {
                text: answer.into(),
                stop_reason: llmbench_plugin_sdk::core::StopReason::EndTurn,
                usage: Default::default(),
                timings: Default::default(),
                response_model: None,
            },
        }
    }

    #[tokio::test]
    async fn a_templated_pattern_is_compiled_per_item() {
        let g = RegexGrader::from_options(json!({ "pattern": "^{{ expected }}$" })).unwrap();
        let pass = g
            .grade(&request("42", Some(json!({ "pattern": "^42$" }))))
            .await
            .unwrap();
        assert_eq!(pass.outcome, llmbench_plugin_sdk::core::GradeOutcome::Pass);
        let fail = g
            .grade(&request("41", Some(json!({ "pattern": "^42$" }))))
            .await
            .unwrap();
        assert_eq!(fail.evidence, "/^42$/ did not match");
        g.grade(&request("42", None)).await.unwrap_err();
    }

    #[test]
    fn items_with_an_invalid_rendered_pattern_are_refused() {
        let g = RegexGrader::from_options(json!({ "pattern": "^{{ expected }}$" })).unwrap();
        g.check_item(&json!({ "pattern": "^42$" })).unwrap();
        let e = g.check_item(&json!({ "pattern": "^(42$" })).unwrap_err();
        assert!(e.starts_with("option `pattern`: invalid regex: "), "{e}");
    }
}
