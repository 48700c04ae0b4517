//! `grader-sections`: passes when the answer has the named sections, in order, and (when
//! asked) a fenced code block inside one of them. For answer formats such as "three
//! sections: Bug, Why it happens, Fix with code".
//!
//! Options:
//! - `sections` (list of strings, required, non-empty): the section names, in the order
//!   they must appear.
//! - `code-block-in` (string, optional): a section (one of `sections`) that must contain a
//!   fenced code block.
//! - `code-language` (string, optional, needs `code-block-in`): that block's info string
//!   must start with this language, compared case-insensitively ("```Python" matches
//!   `python`; "```py" does not).
//! - `in-order` (bool, default `true`): the sections must appear in the listed order.
//!
//! ```toml
//! [[tasks.graders]]
//! plugin = "grader-sections"
//! options = { sections = ["Bug", "Why it happens", "Fix"], code-block-in = "Fix", code-language = "python" }
//! ```
//!
//! # How sections are recognised
//! Names are compared case-insensitively, ignoring leading numbering, emoji and
//! punctuation, trailing punctuation and emphasis. A heading is any of:
//! - a Markdown heading of any level: `## Bug`, `### 1. Bug`, `## Why it happens:`, or the
//!   name followed by a separator and more words (`## Fix: minimal corrected version`,
//!   `## Fix (code)`); `## The Fix` or `## Fixed code` are not `Fix`;
//! - a bold line: `**Bug**`, `**Bug:**`, `**Bug**:`, or a bold label before text
//!   (`**Bug:** the check ...`);
//! - a label at the start of a line (`Bug: the check ...`), or a line holding only the name.
//!
//! Bulleted lines (`- Bug: ...`), quotes, table rows and anything inside a fenced code block
//! are never headings. A section runs from its heading to the next heading of a listed
//! section; other headings (`## Summary`) do not end it. When a name appears more than once
//! (an answer that lists its plan first), the sections are in order if one occurrence of
//! each can be picked in the listed order, and a code block in any occurrence of the
//! `code-block-in` section counts.
//!
//! # Grade
//! One requirement per section (present), one for the order (when `in-order` and more than
//! one section is listed; met when at least one section is present and those present are in
//! order), one for the code block (when `code-block-in` is set). The answer passes when all
//! are met; the score is the fraction met. The evidence lists the sections found in the
//! order they appear and exactly what is missing or out of order, e.g.
//! `found: Bug, Why it happens, Fix; missing python code block in "Fix" (found: python block in "Why it happens")`.

use async_trait::async_trait;
use llmbench_plugin_sdk::core::{Grade, GradeRequest, Grader, GraderError, PluginContext};
use llmbench_plugin_sdk::{OptionsError, parse_options};
use serde::Deserialize;

use llmbench_outline::{Outline, normalize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Options {
    /// The section names (at least one), in the order they must appear. Names are compared
    /// case-insensitively, ignoring numbering, emphasis and punctuation.
    sections: Vec<String>,
    /// A section (one of `sections`) that must contain a fenced code block. Default: none
    /// required.
    #[serde(default)]
    code_block_in: Option<String>,
    /// With `code-block-in`: the block's info string must start with this language, compared
    /// case-insensitively (`python` matches a `Python` block, not a `py` one). Default: any
    /// language.
    #[serde(default)]
    code_language: Option<String>,
    /// The sections must appear in the listed order. Default `true`.
    #[serde(default = "yes")]
    in_order: bool,
}

fn yes() -> bool {
    true
}

/// A required code block: in which section, in which language.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CodeRule {
    section: usize,
    /// Lowercase.
    language: Option<String>,
}

/// The grader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionsGrader {
    /// As configured, for evidence.
    sections: Vec<String>,
    /// As compared.
    normalized: Vec<String>,
    in_order: bool,
    code: Option<CodeRule>,
}

impl SectionsGrader {
    /// Build the grader from its JSON options, refusing unknown keys and inconsistent values.
    pub fn from_options(options: serde_json::Value) -> Result<Self, String> {
        Ok(Self::build(parse_options(&options)?)?)
    }

    /// Check parsed options, naming the option at fault.
    fn build(o: Options) -> Result<Self, OptionsError> {
        if o.sections.is_empty() {
            return Err(OptionsError::at(
                "sections",
                "must list at least one section",
            ));
        }
        let mut normalized: Vec<String> = Vec::with_capacity(o.sections.len());
        for (j, name) in o.sections.iter().enumerate() {
            let at = ["sections".to_owned(), j.to_string()];
            let n = normalize(name);
            if n.is_empty() {
                return Err(OptionsError::new(
                    at,
                    format!("section name \"{name}\" has no letter or digit"),
                ));
            }
            if let Some(i) = normalized.iter().position(|m| *m == n) {
                return Err(OptionsError::new(
                    at,
                    format!(
                        "\"{name}\" is listed twice (as \"{}\" and \"{name}\")",
                        o.sections[i]
                    ),
                ));
            }
            normalized.push(n);
        }
        let code = match (o.code_block_in, o.code_language) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(OptionsError::at("code-language", "needs `code-block-in`"));
            }
            (Some(name), language) => {
                let Some(section) = normalized.iter().position(|n| *n == normalize(&name)) else {
                    return Err(OptionsError::at(
                        "code-block-in",
                        format!(
                            "\"{name}\" is not one of `sections`: {}",
                            o.sections.join(", ")
                        ),
                    ));
                };
                let language = match language.map(|l| l.trim().to_lowercase()) {
                    Some(l) if l.is_empty() || l.contains(char::is_whitespace) => {
                        return Err(OptionsError::at(
                            "code-language",
                            format!("must be one word, such as \"python\", not \"{l}\""),
                        ));
                    }
                    other => other,
                };
                Some(CodeRule { section, language })
            }
        };
        Ok(Self {
            sections: o.sections,
            normalized,
            in_order: o.in_order,
            code,
        })
    }

    /// Grade an answer's text.
    pub fn check(&self, text: &str) -> Grade {
        let outline = Outline::read(text, &self.normalized);
        let n = self.sections.len();

        let mut first_line: Vec<Option<usize>> = vec![None; n];
        for h in &outline.headings {
            first_line[h.section].get_or_insert(h.line);
        }
        let mut found: Vec<usize> = (0..n).filter(|&i| first_line[i].is_some()).collect();
        found.sort_by_key(|&i| first_line[i]);
        let missing: Vec<usize> = (0..n).filter(|&i| first_line[i].is_none()).collect();

        let mut total = n;
        let mut met = found.len();
        let mut notes = vec![if found.is_empty() {
            "found: no sections".to_owned()
        } else {
            format!("found: {}", self.names(&found))
        }];
        if !missing.is_empty() {
            notes.push(format!("missing sections: {}", self.names(&missing)));
        }
        if self.in_order && n > 1 {
            total += 1;
            match self.order_violation(&outline) {
                None if !found.is_empty() => met += 1,
                None => {}
                Some((late, before)) => notes.push(format!(
                    "out of order: \"{}\" comes before \"{}\" (expected {})",
                    self.sections[late],
                    self.sections[before],
                    self.sections.join(", ")
                )),
            }
        }
        if let Some(rule) = &self.code {
            total += 1;
            let (ok, note) = self.check_code(rule, &outline);
            met += usize::from(ok);
            notes.push(note);
        }

        let evidence = notes.join("; ");
        if met == total {
            Grade::pass(evidence)
        } else {
            Grade {
                score: met as f64 / total as f64,
                ..Grade::fail(evidence)
            }
        }
    }

    fn names(&self, indices: &[usize]) -> String {
        indices
            .iter()
            .map(|&i| self.sections[i].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Pick, for each present section in the listed order, its first heading after the one
    /// picked before. The first section that has none is out of order: returns it with the
    /// section it should have followed.
    fn order_violation(&self, outline: &Outline) -> Option<(usize, usize)> {
        let mut last: Option<(usize, usize)> = None; // (section, line)
        for section in 0..self.sections.len() {
            let mut lines = outline
                .headings
                .iter()
                .filter(|h| h.section == section)
                .map(|h| h.line)
                .peekable();
            if lines.peek().is_none() {
                continue;
            }
            match lines.find(|&l| last.is_none_or(|(_, after)| l > after)) {
                Some(line) => last = Some((section, line)),
                None => return Some((section, last.expect("a section was picked before").0)),
            }
        }
        None
    }

    /// Whether the required block is there, and the evidence either way.
    fn check_code(&self, rule: &CodeRule, outline: &Outline) -> (bool, String) {
        let what = match &rule.language {
            Some(l) => format!("{l} code block"),
            None => "code block".to_owned(),
        };
        let target = &self.sections[rule.section];
        let fits = |language: &str| {
            rule.language
                .as_ref()
                .is_none_or(|l| language.eq_ignore_ascii_case(l))
        };
        let ok = outline
            .fences
            .iter()
            .any(|f| outline.section_of(f.line) == Some(rule.section) && fits(&f.language));
        if ok {
            return (true, format!("{what} in \"{target}\""));
        }
        let elsewhere: Vec<String> = outline
            .fences
            .iter()
            .map(|f| {
                let language = if f.language.is_empty() {
                    "untagged"
                } else {
                    &f.language
                };
                match outline.section_of(f.line) {
                    Some(s) => format!("{language} block in \"{}\"", self.sections[s]),
                    None => format!("{language} block before any section"),
                }
            })
            .collect();
        let mut note = format!("missing {what} in \"{target}\"");
        if !elsewhere.is_empty() {
            note.push_str(&format!(" (found: {})", elsewhere.join(", ")));
        }
        (false, note)
    }
}

#[async_trait]
impl Grader for SectionsGrader {
    async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError> {
        Ok(self.check(&request.completion.text))
    }
}

impl llmbench_plugin_sdk::GraderPlugin for SectionsGrader {
    fn create(options: serde_json::Value, _context: &PluginContext) -> Result<Self, String> {
        Self::from_options(options)
    }

    fn check_options(
        options: &serde_json::Value,
        _context: &PluginContext,
    ) -> Result<(), OptionsError> {
        Self::build(parse_options(options)?).map(drop)
    }

    /// Headings and code blocks of the answer: graded on the caller's thread.
    const GRADES_INLINE: bool = true;
}

llmbench_plugin_sdk::export_grader!(SectionsGrader);

#[cfg(test)]
mod tests {
    use llmbench_plugin_sdk::core::GradeOutcome;
    use serde_json::json;

    use super::*;

    fn article_grader() -> SectionsGrader {
        SectionsGrader::from_options(json!({
            "sections": ["Bug", "Why it happens", "Fix"],
            "code-block-in": "Fix",
            "code-language": "python",
        }))
        .unwrap()
    }

    #[track_caller]
    fn assert_grade(grade: &Grade, outcome: GradeOutcome, score: f64, evidence: &str) {
        assert_eq!(grade.evidence, evidence);
        assert_eq!(grade.outcome, outcome, "{}", grade.evidence);
        assert!(
            (grade.score - score).abs() < 1e-9,
            "score {} != {score}: {}",
            grade.score,
            grade.evidence
        );
    }

    const ARTICLE: &str = r#"## Bug

`get_or_fetch` has a check-then-act race: two callers can both miss the cache.

## Why it happens

```text
A: key not in cache -> await fetcher()
B: key not in cache -> await fetcher()
```

Each `await` yields to the event loop, so the check and the write are not atomic.

## Fix

Store the in-flight future before the first `await`:

```python
async def get_or_fetch(key, fetcher):
    ...
```

This keeps one fetch per key.
"#;

    #[test]
    fn an_article_style_answer_passes() {
        assert_grade(
            &article_grader().check(ARTICLE),
            GradeOutcome::Pass,
            1.0,
            r#"found: Bug, Why it happens, Fix; python code block in "Fix""#,
        );
    }

    #[test]
    fn headings_of_mixed_levels_and_styles_pass() {
        let text = "# Diagnosis\n\n### 1. Bug\nThe cache check races.\n\n**Why it happens:**\nAwait yields.\n\n#### 3) Fix:\n```Python\nx = 1\n```\n";
        assert_grade(
            &article_grader().check(text),
            GradeOutcome::Pass,
            1.0,
            r#"found: Bug, Why it happens, Fix; python code block in "Fix""#,
        );
    }

    #[test]
    fn inline_labels_pass() {
        let text = "Bug: the check and the write are split by an await.\nWhy it happens: await yields.\n**Fix:** share one future.\n\n```python\nx = 1\n```";
        assert_eq!(article_grader().check(text).outcome, GradeOutcome::Pass);
    }

    #[test]
    fn out_of_order_sections_fail_with_the_pair_named() {
        let text = "## Fix\n```python\nx = 1\n```\n## Bug\nrace\n## Why it happens\nawait";
        assert_grade(
            &article_grader().check(text),
            GradeOutcome::Fail,
            4.0 / 5.0,
            r#"found: Fix, Bug, Why it happens; out of order: "Fix" comes before "Why it happens" (expected Bug, Why it happens, Fix); python code block in "Fix""#,
        );
    }

    #[test]
    fn order_is_not_required_when_turned_off() {
        let grader = SectionsGrader::from_options(json!({
            "sections": ["Bug", "Fix"],
            "in-order": false,
        }))
        .unwrap();
        assert_grade(
            &grader.check("## Fix\nx\n## Bug\ny"),
            GradeOutcome::Pass,
            1.0,
            "found: Fix, Bug",
        );
    }

    #[test]
    fn a_plan_listed_first_does_not_break_the_order() {
        let text = "I will cover:\n\n1. Fix\n\n## Bug\nrace\n## Why it happens\nawait\n## Fix\n```python\nx\n```";
        assert_grade(
            &article_grader().check(text),
            GradeOutcome::Pass,
            1.0,
            r#"found: Fix, Bug, Why it happens; python code block in "Fix""#,
        );
    }

    #[test]
    fn a_missing_section_is_named() {
        let text = "## Bug\nrace\n## Why it happens\nawait\n```python\nx\n```";
        assert_grade(
            &article_grader().check(text),
            GradeOutcome::Fail,
            3.0 / 5.0,
            r#"found: Bug, Why it happens; missing sections: Fix; missing python code block in "Fix" (found: python block in "Why it happens")"#,
        );
    }

    #[test]
    fn missing_code_fails() {
        let text = "## Bug\nrace\n## Why it happens\nawait\n## Fix\nUse a lock around the fetch.";
        assert_grade(
            &article_grader().check(text),
            GradeOutcome::Fail,
            4.0 / 5.0,
            r#"found: Bug, Why it happens, Fix; missing python code block in "Fix""#,
        );
    }

    #[test]
    fn code_in_the_wrong_section_fails() {
        let text = "## Bug\n```python\nold = 1\n```\n## Why it happens\nawait\n## Fix\nsee above";
        assert_grade(
            &article_grader().check(text),
            GradeOutcome::Fail,
            4.0 / 5.0,
            r#"found: Bug, Why it happens, Fix; missing python code block in "Fix" (found: python block in "Bug")"#,
        );
    }

    #[test]
    fn code_in_the_wrong_language_fails() {
        let text = "```\npreamble\n```\n## Bug\nx\n## Why it happens\ny\n## Fix\n```js\nz\n```";
        assert_grade(
            &article_grader().check(text),
            GradeOutcome::Fail,
            4.0 / 5.0,
            r#"found: Bug, Why it happens, Fix; missing python code block in "Fix" (found: untagged block before any section, js block in "Fix")"#,
        );
    }

    #[test]
    fn fences_in_other_sections_do_not_hide_the_fix_block() {
        let text = "## Bug\n```python\nold\n```\n## Why it happens\n```text\ntimeline\n```\n## Fix\n```python\nnew\n```";
        assert_eq!(article_grader().check(text).outcome, GradeOutcome::Pass);
    }

    #[test]
    fn headings_inside_code_blocks_are_ignored() {
        // The only "Fix" heading is inside a code block, so the section is missing.
        let text = "## Bug\nx\n## Why it happens\n```markdown\n## Fix\n```\n";
        assert_grade(
            &article_grader().check(text),
            GradeOutcome::Fail,
            3.0 / 5.0,
            r#"found: Bug, Why it happens; missing sections: Fix; missing python code block in "Fix" (found: markdown block in "Why it happens")"#,
        );
    }

    #[test]
    fn other_headings_do_not_end_a_section() {
        let text = "## Bug\nx\n## Why it happens\ny\n## Fix\n### Corrected code\n```python\nz\n```\n## Summary\ndone";
        assert_eq!(article_grader().check(text).outcome, GradeOutcome::Pass);
    }

    #[test]
    fn any_language_counts_without_code_language() {
        let grader = SectionsGrader::from_options(json!({
            "sections": ["Fix"],
            "code-block-in": "fix",
        }))
        .unwrap();
        assert_grade(
            &grader.check("Fix\n~~~\nx\n~~~"),
            GradeOutcome::Pass,
            1.0,
            r#"found: Fix; code block in "Fix""#,
        );
    }

    #[test]
    fn an_empty_answer_scores_zero() {
        assert_grade(
            &article_grader().check(""),
            GradeOutcome::Fail,
            0.0,
            r#"found: no sections; missing sections: Bug, Why it happens, Fix; missing python code block in "Fix""#,
        );
    }

    #[test]
    fn options_are_validated() {
        let err = |v| SectionsGrader::from_options(v).unwrap_err();
        assert_eq!(
            err(json!({ "sections": [] })),
            "option `sections`: must list at least one section"
        );
        assert_eq!(
            err(json!({ "section": ["Bug"] })),
            "option `section`: unknown option `section` (did you mean `sections`?)"
        );
        assert!(
            err(json!({ "sections": ["Bug"], "code_block_in": "Bug" }))
                .contains("unknown option `code_block_in` (did you mean `code-block-in`?)")
        );
        assert!(err(json!({})).contains("missing field `sections`"));
        assert_eq!(
            err(json!({ "sections": ["Bug", "Fix"], "code-block-in": "Fixes" })),
            "option `code-block-in`: \"Fixes\" is not one of `sections`: Bug, Fix"
        );
        assert_eq!(
            err(json!({ "sections": ["Bug"], "code-language": "python" })),
            "option `code-language`: needs `code-block-in`"
        );
        assert_eq!(
            err(json!({ "sections": ["Bug"], "code-block-in": "Bug", "code-language": " " })),
            "option `code-language`: must be one word, such as \"python\", not \"\""
        );
        assert_eq!(
            err(json!({ "sections": ["Bug", "bug:"] })),
            "option `sections[1]`: \"bug:\" is listed twice (as \"Bug\" and \"bug:\")"
        );
        assert_eq!(
            err(json!({ "sections": ["##"] })),
            "option `sections[0]`: section name \"##\" has no letter or digit"
        );
    }
}
