//! Grading one answer against its expected value, mode by mode, with evidence that says what
//! was extracted and compared.

use llmbench_plugin_sdk::core::{Grade, GradeOutcome};
use serde_json::Value;

use crate::choice::Choice;
use crate::extract::Extract;
use crate::json;
use crate::number;
use crate::options::{Expected, Mode, Spec, read_expected};
use crate::text::{f1_score, quote};

/// A grade that is not a judgement of the answer: the grader had nothing to compare with.
pub(crate) fn error_grade(evidence: impl Into<String>) -> Grade {
    Grade {
        outcome: GradeOutcome::Error,
        ..Grade::fail(evidence)
    }
}

impl Spec {
    /// Grades `answer`; `vars` are the item's variables (for an `expected` the options lack).
    pub fn grade(&self, answer: &str, vars_expected: Option<&str>) -> Grade {
        let from_item;
        let expected = match &self.expected {
            Some(e) => Some(e),
            None if self.mode == Mode::Json && self.json_equal == Some(false) => None,
            None => match vars_expected {
                Some(text) => {
                    match read_expected(
                        self.mode,
                        &Value::String(text.to_owned()),
                        self.norm,
                        self.norm.case_insensitive,
                        &self.choices,
                    ) {
                        Ok(e) => {
                            from_item = e;
                            Some(&from_item)
                        }
                        Err(why) => return error_grade(format!("item variable `expected` {why}")),
                    }
                }
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

    /// The extracted text and its label, or the evidence of a failing grade.
    fn extract(&self, answer: &str) -> Result<(String, String), String> {
        match &self.extract {
            None => Ok((answer.to_owned(), "whole answer".to_owned())),
            Some(e) => e.apply(answer).map(|text| (text, e.label())),
        }
    }

    fn text(&self, answer: &str, alternatives: &[String]) -> Grade {
        let (candidate, label) = match self.extract(answer) {
            Ok(found) => found,
            Err(evidence) => return Grade::fail(evidence),
        };
        let got = self.norm.apply(&candidate);
        let wanted: Vec<String> = alternatives.iter().map(|a| self.norm.apply(a)).collect();
        let (test, yes, no): (fn(&str, &str) -> bool, &str, &str) = match self.mode {
            Mode::Contains => (|g, e| g.contains(e), "contains", "does not contain"),
            Mode::StartsWith => (
                |g, e| g.starts_with(e),
                "starts with",
                "does not start with",
            ),
            _ => (|g, e| g == e, "=", "!="),
        };
        let head = format!(
            "extracted {} ({label}{})",
            quote(&got),
            self.norm.describe()
        );
        match wanted.iter().position(|e| test(&got, e)) {
            Some(i) => Grade::pass(format!(
                "{head} {yes} expected {}{}",
                quote(&wanted[i]),
                alternative(i, wanted.len())
            )),
            None => Grade::fail(format!("{head} {no} {}", expected_list(&wanted))),
        }
    }

    fn regex(&self, answer: &str, patterns: &[regex::Regex]) -> Grade {
        let (candidate, label) = match self.extract(answer) {
            Ok(found) => found,
            Err(evidence) => return Grade::fail(evidence),
        };
        let candidate = match self.norm.trim {
            true => crate::text::trim_punctuation(&candidate).to_owned(),
            false => candidate,
        };
        for (i, pattern) in patterns.iter().enumerate() {
            if let Some(m) = pattern.find(&candidate) {
                return Grade::pass(format!(
                    "/{}/ matched {} in extracted {} ({label}){}",
                    pattern.as_str(),
                    quote(m.as_str()),
                    quote(&candidate),
                    alternative(i, patterns.len())
                ));
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
            quote(&candidate)
        ))
    }

    fn numeric(&self, answer: &str, numbers: &[(String, f64)]) -> Grade {
        let (source, label) = match &self.extract {
            None | Some(Extract::LastNumber) => (answer.to_owned(), "last number".to_owned()),
            Some(e) => match e.apply(answer) {
                Ok(text) => (text, format!("last number in the {}", e.label())),
                Err(evidence) => return Grade::fail(evidence),
            },
        };
        let Some(found) = number::last_number(&source) else {
            return Grade::fail(match &self.extract {
                None | Some(Extract::LastNumber) => "no number found in the answer".to_owned(),
                Some(e) => format!("no number found in the {} {}", e.label(), quote(&source)),
            });
        };
        let head = format!("extracted {} ({label})", quote(&found.text));
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
                Grade::pass(format!(
                    "{head} = expected {}{within}{}",
                    quote(text),
                    alternative(i, numbers.len())
                ))
            }
            None => {
                let texts: Vec<String> = numbers.iter().map(|(t, _)| t.clone()).collect();
                Grade::fail(format!("{head} != {}", expected_list(&texts)))
            }
        }
    }

    fn choice(&self, answer: &str, letters: &[char]) -> Grade {
        let (source, label) = match &self.extract {
            None => (answer.to_owned(), "choice letter".to_owned()),
            Some(e) => match e.apply(answer) {
                Ok(text) => (text, format!("choice letter in the {}", e.label())),
                Err(evidence) => return Grade::fail(evidence),
            },
        };
        let wanted: Vec<String> = letters.iter().map(char::to_string).collect();
        match self.choices.read(&source) {
            Choice::Letter(c, from) => {
                let head = format!("extracted \"{c}\" ({label}, from {})", quote(&from));
                match letters.iter().position(|l| *l == c) {
                    Some(i) => Grade::pass(format!(
                        "{head} = expected \"{c}\"{}",
                        alternative(i, letters.len())
                    )),
                    None => Grade::fail(format!("{head} != {}", expected_list(&wanted))),
                }
            }
            Choice::Ambiguous(found, from) => {
                let names: Vec<String> = found.iter().map(char::to_string).collect();
                Grade::fail(format!(
                    "ambiguous: the answer names {} ({})",
                    names.join(" and "),
                    quote(&from)
                ))
            }
            Choice::None => Grade::fail(format!(
                "no choice letter ({}) found in {}",
                self.choices.describe(),
                quote(&source)
            )),
        }
    }

    fn json(&self, answer: &str, expected: Option<&Expected>) -> Grade {
        let (candidate, label) = match &self.extract {
            None => {
                let (text, label) = json::default_extract(answer);
                (text, label.to_owned())
            }
            Some(_) => match self.extract(answer) {
                Ok(found) => found,
                Err(evidence) => return Grade::fail(evidence),
            },
        };
        let value: Value = match serde_json::from_str(&candidate) {
            Ok(v) => v,
            Err(e) => {
                return Grade::fail(format!("not JSON ({label}): {e}: {}", quote(&candidate)));
            }
        };
        let mut checks = Vec::new();
        if let Some(schema) = &self.schema {
            if let Err(violations) = schema.validate(&value) {
                return Grade::fail(format!(
                    "JSON ({label}) does not match the schema: {violations}"
                ));
            }
            checks.push("valid against the schema".to_owned());
        }
        if let Some(Expected::Json(wanted)) = expected
            && self.json_equal != Some(false)
        {
            if let Some(difference) = json::difference(&value, wanted) {
                return Grade::fail(format!(
                    "JSON ({label}) differs from expected: {difference}"
                ));
            }
            checks.push("equal to expected".to_owned());
        }
        if checks.is_empty() {
            checks.push("parses".to_owned());
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
        let evidence = format!(
            "F1 {best:.2} {} {}: extracted {} ({label}) against expected {}{}",
            if pass { ">=" } else { "<" },
            self.threshold,
            quote(&candidate),
            quote(&alternatives[i]),
            alternative(i, alternatives.len())
        );
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
fn alternative(i: usize, of: usize) -> String {
    match of {
        1 => String::new(),
        _ => format!(" (alternative {} of {of})", i + 1),
    }
}

/// `expected "42"`, or `any of expected ["a", "b"]`.
fn expected_list(values: &[String]) -> String {
    match values {
        [one] => format!("expected {}", quote(one)),
        _ => {
            let quoted: Vec<String> = values.iter().map(|v| quote(v)).collect();
            format!("any of expected [{}]", quoted.join(", "))
        }
    }
}
