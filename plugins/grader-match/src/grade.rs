//! Grading one answer against its expected value, mode by mode, with evidence that says what
//! was extracted and compared.
//!
//! A grade runs for every sample, so the common path copies nothing it can borrow: the whole
//! answer, a text that only needs trimming, the labels; and each piece of evidence is written
//! once into one string (excerpts and lists as `Display` values, not strings of their own).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use llmbench_plugin_sdk::core::{Grade, GradeOutcome};
use serde_json::Value;

use crate::choice::Choice;
use crate::extract::Extract;
use crate::json;
use crate::number;
use crate::options::{Expected, Grading, Mode, read_expected_text};
use crate::text::{Quoted, f1_score, trim_punctuation};

/// A grade that is not a judgement of the answer: the grader had nothing to compare with.
pub(crate) fn error_grade(evidence: impl Into<String>) -> Grade {
    Grade {
        outcome: GradeOutcome::Error,
        ..Grade::fail(evidence)
    }
}

/// Evidence formatted into one string sized for a typical line (about 100 bytes: two
/// excerpts and their labels), so that it rarely grows while written.
fn evidence(args: fmt::Arguments<'_>) -> String {
    let mut out = String::with_capacity(160);
    out.write_fmt(args)
        .expect("writing to a String cannot fail");
    out
}

/// An extracted text and how evidence names it.
type Extracted<'t> = (Cow<'t, str>, Cow<'static, str>);

impl Grading<'_> {
    /// Grades `answer`; `vars_expected` is the item's `expected` variable (for an `expected`
    /// the options lack).
    pub fn grade(&self, answer: &str, vars_expected: Option<&str>) -> Grade {
        let from_item;
        let expected = match self.expected {
            Some(e) => Some(e),
            None if self.mode == Mode::Json && self.json_equal == Some(false) => None,
            None => match vars_expected {
                Some(text) => match read_expected_text(self.mode, text, self.norm, self.choices) {
                    Ok(e) => {
                        from_item = e;
                        Some(&from_item)
                    }
                    Err(why) => return error_grade(format!("item variable `expected` {why}")),
                },
                None if self.mode == Mode::Json && self.json_equal.is_none() => None,
                None => {
                    return error_grade(
                        "nothing to compare with: no `expected` option and the item has no \
                         `expected` variable",
                    );
                }
            },
        };
        match (self.mode, expected) {
            (Mode::Json, expected) => self.json(answer, expected),
            (_, Some(Expected::Texts(alternatives))) if self.mode == Mode::F1 => {
                self.f1(answer, alternatives)
            }
            (_, Some(Expected::Texts(alternatives))) => self.text(answer, alternatives),
            (_, Some(Expected::Patterns(patterns))) => self.regex(answer, patterns),
            (_, Some(Expected::Numbers(numbers))) => self.numeric(answer, numbers),
            (_, Some(Expected::Letters(letters))) => self.choice(answer, letters),
            (mode, _) => error_grade(format!(
                "no expected value for mode `{}` (a bug in grader-match)",
                mode.as_str()
            )),
        }
    }

    /// The extracted text (the answer itself, borrowed, without an extraction) and its
    /// label, or the evidence of a failing grade.
    fn extract<'t>(&self, answer: &'t str) -> Result<Extracted<'t>, String> {
        match self.extract {
            None => Ok((Cow::Borrowed(answer), Cow::Borrowed("whole answer"))),
            Some(e) => e.apply(answer).map(|text| (Cow::Owned(text), e.label())),
        }
    }

    fn text(&self, answer: &str, alternatives: &[String]) -> Grade {
        let (candidate, label) = match self.extract(answer) {
            Ok(found) => found,
            Err(evidence) => return Grade::fail(evidence),
        };
        let got = self.norm.apply(&candidate);
        let (test, yes, no): (fn(&str, &str) -> bool, &str, &str) = match self.mode {
            Mode::Contains => (|g, e| g.contains(e), "contains", "does not contain"),
            Mode::StartsWith => (
                |g, e| g.starts_with(e),
                "starts with",
                "does not start with",
            ),
            _ => (|g, e| g == e, "=", "!="),
        };
        let hit = alternatives.iter().enumerate().find_map(|(i, a)| {
            let wanted = self.norm.apply(a);
            test(&got, &wanted).then_some((i, wanted))
        });
        let (got, how) = (Quoted(&got), self.norm.describe());
        match hit {
            Some((i, wanted)) => Grade::pass(evidence(format_args!(
                "extracted {got} ({label}{how}) {yes} expected {}{}",
                Quoted(&wanted),
                Alternative(i, alternatives.len())
            ))),
            None => {
                let wanted: Vec<Cow<'_, str>> =
                    alternatives.iter().map(|a| self.norm.apply(a)).collect();
                Grade::fail(evidence(format_args!(
                    "extracted {got} ({label}{how}) {no} {}",
                    ExpectedList(&wanted)
                )))
            }
        }
    }

    fn regex(&self, answer: &str, patterns: &[regex::Regex]) -> Grade {
        let (candidate, label) = match self.extract(answer) {
            Ok(found) => found,
            Err(evidence) => return Grade::fail(evidence),
        };
        let candidate = match self.norm.trim {
            true => trim_punctuation(&candidate),
            false => &candidate,
        };
        for (i, pattern) in patterns.iter().enumerate() {
            if let Some(m) = pattern.find(candidate) {
                return Grade::pass(evidence(format_args!(
                    "/{}/ matched {} in extracted {} ({label}){}",
                    pattern.as_str(),
                    Quoted(m.as_str()),
                    Quoted(candidate),
                    Alternative(i, patterns.len())
                )));
            }
        }
        let names: Vec<String> = patterns
            .iter()
            .map(|p| format!("/{}/", p.as_str()))
            .collect();
        Grade::fail(format!(
            "{} did not match extracted {} ({label})",
            match names.len() {
                1 => names[0].clone(),
                _ => format!("none of {}", names.join(", ")),
            },
            Quoted(candidate)
        ))
    }

    fn numeric(&self, answer: &str, numbers: &[(String, f64)]) -> Grade {
        let (source, label): (Cow<'_, str>, Cow<'_, str>) = match self.extract {
            None | Some(Extract::LastNumber) => (answer.into(), "last number".into()),
            Some(e) => match e.apply(answer) {
                Ok(text) => (
                    text.into(),
                    format!("last number in the {}", e.label()).into(),
                ),
                Err(evidence) => return Grade::fail(evidence),
            },
        };
        let Some(found) = number::last_number(&source) else {
            return Grade::fail(match self.extract {
                None | Some(Extract::LastNumber) => "no number found in the answer".to_owned(),
                Some(e) => format!("no number found in the {} {}", e.label(), Quoted(&source)),
            });
        };
        let got = Quoted(&found.text);
        let hit = numbers.iter().position(|(_, v)| {
            number::close(found.value, *v, self.abs_tolerance, self.rel_tolerance)
        });
        match hit {
            Some(i) => {
                let (text, value) = &numbers[i];
                let within = match found.value == *value {
                    true => "",
                    false => " within tolerance",
                };
                Grade::pass(evidence(format_args!(
                    "extracted {got} ({label}) = expected {}{within}{}",
                    Quoted(text),
                    Alternative(i, numbers.len())
                )))
            }
            None => {
                let texts: Vec<&str> = numbers.iter().map(|(t, _)| t.as_str()).collect();
                Grade::fail(evidence(format_args!(
                    "extracted {got} ({label}) != {}",
                    ExpectedList(&texts)
                )))
            }
        }
    }

    fn choice(&self, answer: &str, letters: &[char]) -> Grade {
        let (source, label): (Cow<'_, str>, Cow<'_, str>) = match self.extract {
            None => (answer.into(), "choice letter".into()),
            Some(e) => match e.apply(answer) {
                Ok(text) => (
                    text.into(),
                    format!("choice letter in the {}", e.label()).into(),
                ),
                Err(evidence) => return Grade::fail(evidence),
            },
        };
        match self.choices().read(&source) {
            Choice::Letter(c, from) => match letters.iter().position(|l| *l == c) {
                Some(i) => Grade::pass(evidence(format_args!(
                    "extracted \"{c}\" ({label}, from {}) = expected \"{c}\"{}",
                    Quoted(&from),
                    Alternative(i, letters.len())
                ))),
                None => {
                    let wanted: Vec<String> = letters.iter().map(char::to_string).collect();
                    Grade::fail(evidence(format_args!(
                        "extracted \"{c}\" ({label}, from {}) != {}",
                        Quoted(&from),
                        ExpectedList(&wanted)
                    )))
                }
            },
            Choice::Ambiguous(found, from) => {
                let names: Vec<String> = found.iter().map(char::to_string).collect();
                Grade::fail(format!(
                    "ambiguous: the answer names {} ({})",
                    names.join(" and "),
                    Quoted(&from)
                ))
            }
            Choice::None => Grade::fail(format!(
                "no choice letter ({}) found in {}",
                self.choices().describe(),
                Quoted(&source)
            )),
        }
    }

    fn json(&self, answer: &str, expected: Option<&Expected>) -> Grade {
        let (candidate, label): (Cow<'_, str>, Cow<'_, str>) = match self.extract {
            None => {
                let (text, label) = json::default_extract(answer);
                (text.into(), label.into())
            }
            Some(_) => match self.extract(answer) {
                Ok(found) => found,
                Err(evidence) => return Grade::fail(evidence),
            },
        };
        let value: Value = match serde_json::from_str(&candidate) {
            Ok(v) => v,
            Err(e) => {
                return Grade::fail(format!("not JSON ({label}): {e}: {}", Quoted(&candidate)));
            }
        };
        let mut checks: Vec<&str> = Vec::new();
        if let Some(schema) = self.schema {
            if let Err(violations) = schema.validate(&value) {
                return Grade::fail(format!(
                    "JSON ({label}) does not match the schema: {violations}"
                ));
            }
            checks.push("valid against the schema");
        }
        if let Some(Expected::Json(wanted)) = expected
            && self.json_equal != Some(false)
        {
            if let Some(difference) = json::difference(&value, wanted) {
                return Grade::fail(format!(
                    "JSON ({label}) differs from expected: {difference}"
                ));
            }
            checks.push("equal to expected");
        }
        if checks.is_empty() {
            checks.push("parses");
        }
        Grade::pass(format!("JSON ({label}) {}", checks.join(" and ")))
    }

    fn f1(&self, answer: &str, alternatives: &[String]) -> Grade {
        let (candidate, label) = match self.extract(answer) {
            Ok(found) => found,
            Err(evidence) => return Grade::fail(evidence),
        };
        let (best, i) = alternatives
            .iter()
            .enumerate()
            .map(|(i, a)| (f1_score(&candidate, a), i))
            .fold(
                (f64::NEG_INFINITY, 0),
                |acc, x| if x.0 > acc.0 { x } else { acc },
            );
        let pass = best >= self.threshold;
        let evidence = evidence(format_args!(
            "F1 {best:.2} {} {}: extracted {} ({label}) against expected {}{}",
            if pass { ">=" } else { "<" },
            self.threshold,
            Quoted(&candidate),
            Quoted(&alternatives[i]),
            Alternative(i, alternatives.len())
        ));
        Grade {
            score: best,
            ..if pass {
                Grade::pass(evidence)
            } else {
                Grade::fail(evidence)
            }
        }
    }
}

/// " (alternative 2 of 3)", or nothing for a single expected value.
struct Alternative(usize, usize);

impl fmt::Display for Alternative {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            1 => Ok(()),
            of => write!(f, " (alternative {} of {of})", self.0 + 1),
        }
    }
}

/// `expected "42"`, or `any of expected ["a", "b"]`.
struct ExpectedList<'a, T>(&'a [T]);

impl<T: AsRef<str>> fmt::Display for ExpectedList<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [one] => write!(f, "expected {}", Quoted(one.as_ref())),
            values => {
                f.write_str("any of expected [")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Quoted(v.as_ref()))?;
                }
                f.write_str("]")
            }
        }
    }
}
