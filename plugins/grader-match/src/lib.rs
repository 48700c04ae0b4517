//! `grader-match`: compares a model's answer with the item's reference answer, as text
//! (`equals`, `contains`, `starts-with`, `regex`), as a number (`numeric`), as a
//! multiple-choice letter (`choice`), as JSON (`json`: equality and/or a JSON Schema), or by
//! SQuAD token F1 (`f1`). README.md lists the options.
//!
//! The reference is the `expected` option (usually `"{{ expected }}"`, rendered per item
//! from the request's variables by the grader itself) or, without one, the item's `expected`
//! variable: `"{{ expected }}"` is the option's default ([`GraderPlugin::item_defaults`]),
//! which is rendered like a written one. An item with neither gets an `error` grade,
//! not a failing one. Options that hold a `{{ var }}` (`expected`, `schema`,
//! `extract.regex`, `choices`), and the item's `expected` when the option is left out, are
//! checked per item by [`GraderPlugin::check_item`] before any sample runs; all others at
//! `create`.

mod choice;
mod extract;
mod grade;
mod json;
mod number;
mod options;
mod text;

use async_trait::async_trait;
use llmbench_plugin_sdk::core::{Grade, GradeRequest, Grader, GraderError, PluginContext};
use llmbench_plugin_sdk::{GraderPlugin, OptionsError};

use crate::grade::error_grade;
use crate::options::{Spec, Templates, Values, Written, fills};

/// The grader.
#[derive(Debug)]
pub struct MatchGrader {
    /// Read from them once, at `create`: everything but the values that hold a `{{ var }}`,
    /// which are rendered for each item from its variables.
    spec: Spec,
    /// The options a rendered item's options fill: the config's, with `expected =
    /// "{{ expected }}"` when the config leaves `expected` out and the mode compares with
    /// one (the item defaults), and the spec read from them.
    item_options: serde_json::Value,
    /// `None`: no item defaults, the item spec is `spec`.
    item_spec: Option<Spec>,
    /// The config's values that are templates, rendered for each request.
    written: Written,
    defaults: serde_json::Map<String, serde_json::Value>,
}

/// What an item's options add to the grader's spec.
enum ForItem {
    /// The values that were templates, read for the item (the usual case), and the spec
    /// that had them: the one with the item defaults, or the config's for an item that
    /// lacks a default's variable.
    Values(Values, bool),
    /// Options that are not the grader's with templates filled in: read whole.
    Spec(Spec),
}

impl MatchGrader {
    pub fn from_options(options: serde_json::Value) -> Result<Self, OptionsError> {
        // Options without templates are read the same way with `Check`: nothing waits.
        let spec = Spec::from_options(&options, Templates::Defer)?;
        let mut defaults = serde_json::Map::new();
        if spec.reads_item_expected() {
            defaults.insert("expected".into(), "{{ expected }}".into());
        }
        let mut item_options = options.clone();
        if let Some(object) = item_options.as_object_mut() {
            object.extend(defaults.clone());
        }
        let item_spec = match defaults.is_empty() {
            true => None,
            false => Some(Spec::from_options(&item_options, Templates::Defer)?),
        };
        Ok(Self {
            written: spec.written(&options),
            spec,
            item_options,
            item_spec,
            defaults,
        })
    }

    /// [`MatchGrader::grade_with`] for an item whose only variable is `expected`.
    pub fn grade_answer(
        &self,
        answer: &str,
        options: Option<&serde_json::Value>,
        expected: Option<&str>,
    ) -> Grade {
        self.grade_with(answer, options, &|name| match name {
            "expected" => expected,
            _ => None,
        })
    }

    /// Grades `answer` for the item whose values `lookup` gives (`{{ id }}` and its
    /// variables): the templated options are rendered here, only those the spec reads
    /// (`RENDERS_OWN_OPTIONS`), or read from `options` when they come rendered whole (a host
    /// or test that renders them). `expected` without an `expected` option is the item's
    /// `expected` variable.
    pub fn grade_with<'v>(
        &self,
        answer: &str,
        options: Option<&serde_json::Value>,
        lookup: &dyn Fn(&str) -> Option<&'v str>,
    ) -> Grade {
        let for_item = match options {
            None if !self.spec.defers() => None,
            None => Some(self.for_lookup(lookup)),
            Some(rendered) => Some(self.for_item(rendered)),
        };
        let for_item = match for_item.transpose() {
            Ok(found) => found,
            Err(e) => return error_grade(format!("this item's options are invalid: {e}")),
        };
        let grading = match &for_item {
            None => self.spec.grading(None),
            Some(ForItem::Values(values, true)) => self.item_spec().grading(Some(values)),
            Some(ForItem::Values(values, false)) => self.spec.grading(Some(values)),
            Some(ForItem::Spec(spec)) => spec.grading(None),
        };
        grading.grade(answer, lookup("expected"))
    }

    /// The templated values of the config's options for the item `lookup` gives, each
    /// rendered from it. The item default (`expected = "{{ expected }}"`) is not rendered:
    /// without an `expected` option the grade reads the item's `expected` variable itself
    /// ([`Grading::grade`](crate::options::Grading)), which gives the same grade (the default
    /// exists so that the check before the run reads every item's value).
    fn for_lookup<'v>(
        &self,
        lookup: &dyn Fn(&str) -> Option<&'v str>,
    ) -> Result<ForItem, OptionsError> {
        self.spec
            .for_lookup(&self.written, lookup)
            .map(|values| ForItem::Values(values, false))
    }

    /// The spec for an item whose options are `rendered`, checked as if read whole (the
    /// same result and the same first error), but reading only what can differ.
    fn for_item(&self, rendered: &serde_json::Value) -> Result<ForItem, OptionsError> {
        if fills(&self.item_options, rendered)
            && let Some(values) = self.item_spec().for_item(rendered)
        {
            return values.map(|v| ForItem::Values(v, true));
        }
        Spec::from_options(rendered, Templates::Check).map(ForItem::Spec)
    }

    /// The spec an item's rendered options fill (see `item_options`).
    fn item_spec(&self) -> &Spec {
        self.item_spec.as_ref().unwrap_or(&self.spec)
    }
}

#[async_trait]
impl Grader for MatchGrader {
    async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError> {
        Ok(self.grade_with(
            &request.completion.text,
            request.options.as_ref(),
            &|name| request.value(name),
        ))
    }
}

impl GraderPlugin for MatchGrader {
    fn create(options: serde_json::Value, _context: &PluginContext) -> Result<Self, String> {
        Ok(Self::from_options(options)?)
    }

    fn check_options(
        options: &serde_json::Value,
        _context: &PluginContext,
    ) -> Result<(), OptionsError> {
        Spec::from_options(options, Templates::Defer).map(|_| ())
    }

    fn check_item(&self, options: &serde_json::Value) -> Result<(), String> {
        self.for_item(options).map(|_| ()).map_err(String::from)
    }

    /// `expected = "{{ expected }}"` when the config leaves `expected` out and the mode
    /// compares with one: the item's `expected` is then checked before any sample runs, and
    /// rendered into each grade request like a written option.
    fn item_defaults(&self) -> serde_json::Map<String, serde_json::Value> {
        self.defaults.clone()
    }

    /// Only the templated values are rendered for each item ([`MatchGrader::grade_with`]),
    /// not a copy of every option.
    const RENDERS_OWN_OPTIONS: bool = true;

    /// A comparison of the answer with the item's value: graded on the caller's thread.
    const GRADES_INLINE: bool = true;
}

llmbench_plugin_sdk::export_grader!(MatchGrader);

#[cfg(test)]
mod tests {
    use llmbench_plugin_sdk::core::GradeOutcome;
    use serde_json::{Value, json};

    use super::*;

    fn grader(options: Value) -> MatchGrader {
        MatchGrader::from_options(options).unwrap()
    }

    #[test]
    fn the_items_expected_is_an_item_default_unless_written_or_unused() {
        let defaults = |options: Value| grader(options).item_defaults();
        assert_eq!(
            Value::Object(defaults(json!({ "mode": "numeric" }))),
            json!({ "expected": "{{ expected }}" })
        );
        assert!(defaults(json!({ "mode": "numeric", "expected": "{{ answer }}" })).is_empty());
        assert!(defaults(json!({ "mode": "contains", "expected": "x" })).is_empty());
        assert!(defaults(json!({ "mode": "json", "json-equal": false })).is_empty());
        // With the default rendered for an item, its value is checked before any sample
        // runs, and graded as a written option would be.
        let g = grader(json!({ "mode": "numeric" }));
        assert_eq!(
            g.check_item(&json!({ "mode": "numeric", "expected": "twelve" })),
            Err(r#"option `expected`: "twelve" is not a number"#.into())
        );
        let grade = g.grade_answer(
            "It costs $1,200.00.",
            Some(&json!({ "mode": "numeric", "expected": "1200" })),
            Some("1200"),
        );
        assert_eq!(grade.outcome, GradeOutcome::Pass, "{}", grade.evidence);
        // An item without `expected` (the default left out): an error grade that says so.
        let grade = g.grade_answer("12", Some(&json!({ "mode": "numeric" })), None);
        assert_eq!(grade.outcome, GradeOutcome::Error);
        assert!(
            grade.evidence.contains("nothing to compare with"),
            "{}",
            grade.evidence
        );
    }

    fn refused(options: Value) -> String {
        MatchGrader::from_options(options).unwrap_err().to_string()
    }

    /// Grades `answer` with options that hold no template.
    fn grade(options: Value, answer: &str) -> Grade {
        grader(options).grade_answer(answer, None, None)
    }

    fn passes(options: Value, answer: &str) -> String {
        let g = grade(options, answer);
        assert_eq!(g.outcome, GradeOutcome::Pass, "{answer:?}: {}", g.evidence);
        assert_eq!(g.score, 1.0);
        g.evidence
    }

    fn fails(options: Value, answer: &str) -> String {
        let g = grade(options, answer);
        assert_eq!(g.outcome, GradeOutcome::Fail, "{answer:?}: {}", g.evidence);
        assert_eq!(g.score, 0.0);
        g.evidence
    }

    #[test]
    fn equals_trims_and_optionally_ignores_case() {
        let o = json!({ "mode": "equals", "expected": "Paris" });
        assert_eq!(
            passes(o.clone(), "  **Paris**. "),
            r#"extracted "Paris" (whole answer) = expected "Paris""#
        );
        assert_eq!(
            fails(o.clone(), "paris"),
            r#"extracted "paris" (whole answer) != expected "Paris""#
        );
        let ci = json!({ "mode": "equals", "expected": "Paris", "case-insensitive": true });
        assert_eq!(
            passes(ci, "PARIS!"),
            r#"extracted "paris" (whole answer, case-insensitive) = expected "paris""#
        );
        let raw = json!({ "mode": "equals", "expected": "Paris", "trim": false });
        fails(raw, "Paris.");
        let squad =
            json!({ "mode": "equals", "expected": "the Eiffel Tower", "squad-normalize": true });
        passes(squad, "Eiffel  tower!");
    }

    #[test]
    fn contains_and_starts_with() {
        let o = json!({ "mode": "contains", "expected": "Mercury" });
        passes(o.clone(), "It is Mercury, the smallest.");
        assert_eq!(
            fails(o, "Venus"),
            r#"extracted "Venus" (whole answer) does not contain expected "Mercury""#
        );
        let o = json!({ "mode": "starts-with", "expected": "yes" });
        passes(o.clone(), "yes, because ...");
        fails(o, "Well, yes");
    }

    #[test]
    fn any_of_alternatives() {
        let o = json!({ "mode": "equals", "expected": r#"["Paris","Paris, France"]"# });
        assert_eq!(
            passes(o.clone(), "Paris, France"),
            r#"extracted "Paris, France" (whole answer) = expected "Paris, France" (alternative 2 of 2)"#
        );
        assert_eq!(
            fails(o, "Lyon"),
            r#"extracted "Lyon" (whole answer) != any of expected ["Paris", "Paris, France"]"#
        );
        let numbers = json!({ "mode": "numeric", "expected": ["0.5", "1/2"] });
        passes(numbers, "half: 0.50");
        let choices = json!({ "mode": "choice", "expected": r#"["A","C"]"# });
        passes(choices.clone(), "(c)");
        fails(choices, "B");
        // A text that only looks like a list is one answer.
        let o = json!({ "mode": "equals", "expected": "[citation needed]" });
        passes(o, "[citation needed]");
    }

    #[test]
    fn regex_mode_and_extract_regex() {
        let o = json!({ "mode": "regex", "expected": r"^O\(n log n\)$" });
        assert_eq!(
            passes(o.clone(), "O(n log n)."),
            r#"/^O\(n log n\)$/ matched "O(n log n)" in extracted "O(n log n)" (whole answer)"#
        );
        fails(o, "O(n^2)");
        let ci = json!({ "mode": "regex", "expected": "mercury", "case-insensitive": true });
        passes(ci, "MERCURY");
        // GSM8K's "#### 42" convention through a capture group.
        let o = json!({
            "mode": "equals",
            "expected": "42",
            "extract": { "regex": r"####\s*(-?[0-9,]+)", "group": 1 },
        });
        assert_eq!(
            passes(o.clone(), "6 x 7\n#### 42"),
            r#"extracted "42" (extract regex group 1) = expected "42""#
        );
        assert_eq!(
            fails(o, "6 x 7 = 42"),
            r#"extract regex /####\s*(-?[0-9,]+)/ (group 1) did not match the answer "6 x 7 = 42""#
        );
    }

    #[test]
    fn numeric_edge_cases() {
        let o = |e: &str| json!({ "mode": "numeric", "expected": e });
        assert_eq!(
            passes(o("1200"), "The total is $1,200.00."),
            r#"extracted "$1,200.00" (last number) = expected "1200""#
        );
        passes(o("$1,200"), "1200");
        passes(o("-3"), "x = -3");
        passes(o("45%"), "About 45% of them.");
        passes(o("1500"), "1.5e3 grams");
        passes(o("0.75"), "3/4 of the cake");
        passes(o("12 kg"), "It weighs 12 kg.");
        assert_eq!(
            fails(o("42"), "I think 41."),
            r#"extracted "41" (last number) != expected "42""#
        );
        assert_eq!(fails(o("42"), "no idea"), "no number found in the answer");
        // The last number counts: a restated intermediate result does not.
        fails(o("150"), "150 km at first, then 120");
        let tol = json!({ "mode": "numeric", "expected": "3.1416", "abs-tolerance": 0.01 });
        assert_eq!(
            passes(tol.clone(), "pi is about 3.14"),
            r#"extracted "3.14" (last number) = expected "3.1416" within tolerance"#
        );
        fails(tol, "3.1");
        let rel = json!({ "mode": "numeric", "expected": "1000", "rel-tolerance": 0.01 });
        passes(rel.clone(), "990");
        fails(rel, "989");
        // An extraction narrows where the number is looked for.
        let boxed = json!({ "mode": "numeric", "expected": "7", "extract": "boxed" });
        passes(boxed.clone(), r"7 then \boxed{7} and step 8");
        assert_eq!(fails(boxed, "7"), r"no \boxed{...} in the answer");
        let line = json!({ "mode": "numeric", "expected": "7", "extract": "answer-line" });
        assert_eq!(
            passes(
                line,
                "Step 1: 3 + 4 = 7\nAnswer: 7 apples\nCheck: 3 + 4 = 8?"
            ),
            r#"extracted "7" (last number in the answer line) = expected "7""#
        );
    }

    #[test]
    fn choice_edge_cases() {
        let o = |e: &str| json!({ "mode": "choice", "expected": e });
        assert_eq!(
            passes(o("B"), "The answer is (b)."),
            r#"extracted "B" (choice letter, from "answer is (b)") = expected "B""#
        );
        passes(o("B"), "(b)");
        passes(o("C"), "**C**");
        passes(o("D"), "The answer is D.");
        passes(o("d"), "Answer: d) Na");
        passes(o("A"), "A. A queue removes the oldest element first.");
        assert_eq!(
            fails(o("A"), "A or C"),
            r#"ambiguous: the answer names A and C ("A or C")"#
        );
        assert_eq!(
            fails(o("A"), "A cat sat on the mat."),
            r#"no choice letter (A, B, C, D) found in "A cat sat on the mat.""#
        );
        assert_eq!(
            fails(o("C"), "B"),
            r#"extracted "B" (choice letter, from "B") != expected "C""#
        );
        let five = json!({ "mode": "choice", "expected": "E", "choices": "ABCDE" });
        passes(five, "The answer is E.");
    }

    #[test]
    fn json_mode() {
        let o = json!({ "mode": "json", "expected": r#"{"name": "Alice", "age": 34}"# });
        assert_eq!(
            passes(
                o.clone(),
                "Here:\n```json\n{\"age\": 34.0, \"name\": \"Alice\"}\n```"
            ),
            "JSON (last json block) equal to expected"
        );
        assert_eq!(
            fails(o.clone(), r#"{"name": "Alice", "age": 35}"#),
            "JSON (whole answer) differs from expected: at /age: 35 != 34"
        );
        let e = fails(o, "Alice is 34.");
        assert!(
            e.starts_with(r#"not JSON (whole answer): expected value at line 1 column 1: "Alice"#),
            "{e}"
        );
        let schema = json!({
            "mode": "json",
            "schema": {
                "type": "object",
                "properties": {"age": {"type": "integer"}},
                "required": ["age"]
            },
        });
        assert_eq!(
            passes(schema.clone(), r#"{"age": 3}"#),
            "JSON (whole answer) valid against the schema"
        );
        assert_eq!(
            fails(schema, r#"{"age": "34"}"#),
            "JSON (whole answer) does not match the schema: at '/age': want integer, but got string"
        );
        let parses = json!({ "mode": "json", "json-equal": false });
        assert_eq!(passes(parses, "[1, 2]"), "JSON (whole answer) parses");
    }

    #[test]
    fn f1_mode() {
        let o = json!({ "mode": "f1", "expected": "the cat sat" });
        let g = grade(o.clone(), "A cat sat down.");
        assert_eq!(g.outcome, GradeOutcome::Pass);
        assert!((g.score - 0.8).abs() < 1e-12);
        assert_eq!(
            g.evidence,
            r#"F1 0.80 >= 0.5: extracted "A cat sat down." (whole answer) against expected "the cat sat""#
        );
        let g = grade(o, "a dog ran");
        assert_eq!(g.outcome, GradeOutcome::Fail);
        assert_eq!(g.score, 0.0);
        // The best alternative counts (SQuAD's metric_max_over_ground_truths).
        let any =
            json!({ "mode": "f1", "expected": ["Denver", "Denver Broncos"], "threshold": 0.9 });
        let g = grade(any, "the Denver Broncos");
        assert_eq!(g.outcome, GradeOutcome::Pass);
        assert_eq!(g.score, 1.0);
        assert!(
            g.evidence.ends_with("(alternative 2 of 2)"),
            "{}",
            g.evidence
        );
    }

    #[test]
    fn expected_comes_from_the_item_when_the_options_have_none() {
        let g = grader(json!({ "mode": "numeric" }));
        let pass = g.grade_answer("It costs $9.00.", None, Some("9"));
        assert_eq!(pass.outcome, GradeOutcome::Pass, "{}", pass.evidence);
        let none = g.grade_answer("9", None, None);
        assert_eq!(none.outcome, GradeOutcome::Error);
        assert_eq!(
            none.evidence,
            "nothing to compare with: no `expected` option and the item has no `expected` variable"
        );
        let bad = g.grade_answer("9", None, Some("nine"));
        assert_eq!(bad.outcome, GradeOutcome::Error);
        assert_eq!(
            bad.evidence,
            r#"item variable `expected` "nine" is not a number"#
        );
        // JSON: equality only when an expected value exists, unless asked for.
        let json = grader(json!({ "mode": "json" }));
        assert_eq!(
            json.grade_answer("{}", None, None).outcome,
            GradeOutcome::Pass
        );
        let wrong = json.grade_answer("{\"a\": 2}", None, Some("{\"a\":1}"));
        assert_eq!(wrong.outcome, GradeOutcome::Fail, "{}", wrong.evidence);
        let strict = grader(json!({ "mode": "json", "json-equal": true }));
        assert_eq!(
            strict.grade_answer("{}", None, None).outcome,
            GradeOutcome::Error
        );
    }

    #[test]
    fn per_item_options_are_rendered_by_the_runner() {
        let configured =
            json!({ "mode": "json", "expected": "{{expected}}", "schema": "{{schema}}" });
        let g = grader(configured);
        let item = json!({
            "mode": "json",
            "expected": r#"{"city":"Lyon"}"#,
            "schema": r#"{"type":"object","required":["city"]}"#,
        });
        let pass = g.grade_answer(r#"{"city": "Lyon"}"#, Some(&item), None);
        assert_eq!(
            pass.evidence,
            "JSON (whole answer) valid against the schema and equal to expected"
        );
        let fail = g.grade_answer(r#"{"town": "Lyon"}"#, Some(&item), None);
        assert_eq!(
            fail.evidence,
            "JSON (whole answer) does not match the schema: at '': missing properties 'city'"
        );
        let broken = json!({ "mode": "json", "expected": "{", "schema": "{}" });
        let e = g.grade_answer("{}", Some(&broken), None);
        assert_eq!(e.outcome, GradeOutcome::Error);
        assert!(
            e.evidence.starts_with(
                "this item's options are invalid: option `expected`: \"{\" is not JSON"
            ),
            "{}",
            e.evidence
        );
    }

    /// Per item, only the values that were templates are read again; the grades and checks
    /// are those of the rendered options read whole (a grader created from them).
    #[test]
    fn per_item_values_grade_as_the_whole_rendered_options() {
        let cases = [
            (
                json!({ "mode": "contains", "expected": "{{ expected }}" }),
                "expected",
                "expected",
                &["mock", "Paris", " . ", r#"["x","mock"]"#][..],
            ),
            (
                json!({ "mode": "numeric", "expected": "{{ e }}", "abs-tolerance": 0.5 }),
                "expected",
                "e",
                &["42", "41.6", "abc", r#"["1","x"]"#][..],
            ),
            (
                json!({ "mode": "choice", "expected": "C", "choices": "{{ letters }}" }),
                "choices",
                "letters",
                &["ABCD", "AB", "ABCDE", "AB1", ""][..],
            ),
            (
                json!({ "mode": "equals", "expected": "42", "extract": { "regex": "{{ r }}" } }),
                "extract",
                "r",
                &[r"#### (\d+)", r"(\d+)", "(", r"a(b)(c)"][..],
            ),
            (
                json!({ "mode": "json", "json-equal": false, "schema": "{{ schema }}" }),
                "schema",
                "schema",
                &[
                    r#"{"type":"object"}"#,
                    r#"{"type":"array"}"#,
                    "{",
                    r#"{"type":"objekt"}"#,
                ][..],
            ),
        ];
        let answers = [
            "mock-1 Paris",
            "#### 42",
            "The answer is (C).",
            "{}",
            "[1]",
            "41.9",
        ];
        for (configured, key, var, values) in cases {
            let g = grader(configured.clone());
            for value in values {
                let mut rendered = configured.clone();
                rendered[key] = match key {
                    "extract" => json!({ "regex": value }),
                    _ => json!(value),
                };
                let whole = MatchGrader::from_options(rendered.clone());
                assert_eq!(
                    g.check_item(&rendered),
                    whole.as_ref().map(|_| ()).map_err(ToString::to_string),
                    "{rendered}"
                );
                for answer in answers {
                    for expected in [None, Some("42")] {
                        let fast = g.grade_answer(answer, Some(&rendered), expected);
                        let want = match &whole {
                            Ok(w) => w.grade_answer(answer, None, expected),
                            Err(e) => error_grade(format!("this item's options are invalid: {e}")),
                        };
                        assert_eq!(
                            (fast.outcome, fast.score, &fast.evidence),
                            (want.outcome, want.score, &want.evidence),
                            "{rendered} {answer:?}"
                        );
                        // Rendered by the grader itself, from the item's variables (how
                        // the plugin grades: `RENDERS_OWN_OPTIONS`).
                        let own = g.grade_with(answer, None, &|name| match name {
                            name if name == var => Some(*value),
                            "expected" => expected,
                            _ => None,
                        });
                        let want = match &whole {
                            Ok(w) if var == "expected" => w.grade_answer(answer, None, Some(value)),
                            _ => want,
                        };
                        assert_eq!(
                            (own.outcome, own.score, &own.evidence),
                            (want.outcome, want.score, &want.evidence),
                            "own rendering: {rendered} {answer:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn check_item_refuses_what_the_mode_cannot_use() {
        let g = grader(json!({ "mode": "numeric", "expected": "{{ expected }}" }));
        assert_eq!(
            g.check_item(&json!({ "mode": "numeric", "expected": "1,200" })),
            Ok(())
        );
        assert_eq!(
            g.check_item(&json!({ "mode": "numeric", "expected": "abc" })),
            Err(r#"option `expected`: "abc" is not a number"#.into())
        );
        assert_eq!(
            g.check_item(&json!({ "mode": "numeric", "expected": r#"["1","x"]"# })),
            Err(r#"option `expected`: alternative 2 "x" is not a number"#.into())
        );
        let choice = json!({ "mode": "choice", "expected": "AB" });
        assert_eq!(
            g.check_item(&choice),
            Err(r#"option `expected`: "AB" is not one of the choices A, B, C, D"#.into())
        );
        let json_equal = json!({ "mode": "json", "expected": "{a: 1}" });
        let e = g.check_item(&json_equal).unwrap_err();
        assert!(
            e.starts_with(r#"option `expected`: "{a: 1}" is not JSON: key must be a string"#),
            "{e}"
        );
        // Without equality, `expected` is not used, so not checked.
        let not_compared = json!({ "mode": "json", "expected": "{a: 1}", "json-equal": false });
        assert_eq!(g.check_item(&not_compared), Ok(()));
        let regex = json!({ "mode": "regex", "expected": "(unclosed" });
        assert_eq!(
            g.check_item(&regex),
            Err(r#"option `expected`: "(unclosed" is not a valid regex: unclosed group"#.into())
        );
        let schema = json!({ "mode": "json", "schema": r#"{"type": "objekt"}"# });
        let e = g.check_item(&schema).unwrap_err();
        assert!(
            e.starts_with("option `schema`: is not a valid JSON Schema"),
            "{e}"
        );
        let empty = json!({ "mode": "equals", "expected": " . " });
        assert_eq!(
            g.check_item(&empty),
            Err(r#"option `expected`: " . " is empty once normalised"#.into())
        );
    }

    #[test]
    fn create_checks_everything_but_templates() {
        // A template is left for the items...
        assert!(
            MatchGrader::from_options(json!({ "mode": "numeric", "expected": "{{x}}" })).is_ok()
        );
        // ...but the same value written out is checked at once.
        assert_eq!(
            refused(json!({ "mode": "numeric", "expected": "abc" })),
            r#"option `expected`: "abc" is not a number"#
        );
        assert_eq!(
            refused(json!({ "mode": "numeric", "expected": "{{x}}", "extract": { "regex": "(" } })),
            "option `extract.regex`: invalid regex: unclosed group"
        );
        assert_eq!(
            refused(
                json!({ "mode": "equals", "expected": "x", "extract": { "regex": "a(b)", "group": 2 } })
            ),
            "option `extract.group`: group 2 does not exist: the pattern has 1 capture group(s)"
        );
    }

    #[test]
    fn bad_options_name_the_option() {
        assert_eq!(refused(json!({})), "missing field `mode`");
        assert_eq!(
            refused(json!({ "mode": "numric" })),
            "option `mode`: unknown value `numric` (did you mean `numeric`?)"
        );
        assert_eq!(
            refused(json!({ "mode": "numeric", "abs-tolerence": 1 })),
            "option `abs-tolerence`: unknown option `abs-tolerence` (did you mean `abs-tolerance`?)"
        );
        assert_eq!(
            refused(json!({ "mode": "equals", "extract": "last-numbr" })),
            "option `extract`: unknown value `last-numbr` (did you mean `last-number`?)"
        );
        assert_eq!(
            refused(json!({ "mode": "equals", "extract": { "regex": "x", "grup": 1 } })),
            "option `extract.grup`: unknown option `grup` (did you mean `group`?)"
        );
        assert_eq!(
            refused(json!({ "mode": "numeric", "threshold": 0.5 })),
            "option `threshold`: does not apply to mode `numeric` (only to `f1`)"
        );
        assert_eq!(
            refused(json!({ "mode": "f1", "squad-normalize": false })),
            "option `squad-normalize`: mode `f1` always uses SQuAD normalisation"
        );
        assert_eq!(
            refused(json!({ "mode": "numeric", "rel-tolerance": -1.0 })),
            "option `rel-tolerance`: must be a finite number >= 0, not -1"
        );
        assert_eq!(
            refused(json!({ "mode": "f1", "threshold": 2 })),
            "option `threshold`: must be between 0 and 1, not 2"
        );
        assert_eq!(
            refused(json!({ "mode": "choice", "choices": "AB1" })),
            r#"option `choices`: "AB1" must be distinct letters, like "ABCD": '1' is not a letter"#
        );
        assert_eq!(
            refused(json!({ "mode": "equals", "case-insensitive": "yes" })),
            r#"option `case-insensitive`: invalid type: string "yes", expected a boolean"#
        );
    }
}
