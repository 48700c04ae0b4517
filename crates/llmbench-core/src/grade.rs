//! The [`Grader`] trait, grades, and how grades combine into a verdict.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Completion, Usage};

/// What a grader is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradeRequest {
    pub task: String,
    pub item: String,
    /// The item's variables (the same ones the prompt template saw, plus any reference data
    /// the item carries, such as an expected answer).
    pub vars: BTreeMap<String, String>,
    /// The model's answer.
    pub completion: Completion,
    /// The grader's `options` from the config with this item's variables rendered into every
    /// string (`"{{ expected }}"` becomes the item's `expected`), when any option uses a
    /// variable (or the grader has item defaults); `None` when the options are the same for
    /// every item, and the grader uses the options it was created with.
    ///
    /// Rendered inside the plugin, from `item` and `vars`, by the plugin SDK before the
    /// grader sees the request ([`crate::template::render_options`]); never sent by the host.
    /// A grader that reads only a few templated values renders those itself
    /// ([`GradeRequest::render`]) and asks the SDK not to (`GraderPlugin::RENDERS_OWN_OPTIONS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
}

impl GradeRequest {
    /// What `{{ name }}` renders to for this request's item: its id for `{{ id }}`
    /// ([`crate::template::ID`]), else the variable; `None` when the item has none.
    pub fn value(&self, name: &str) -> Option<&str> {
        crate::template::item_value(&self.item, &self.vars, name)
    }

    /// `template` rendered for this request's item ([`crate::template::render_with`] with
    /// [`GradeRequest::value`]).
    pub fn render(&self, template: &str) -> String {
        crate::template::render_with(template, |name| self.value(name))
    }
}

/// Pass, fail, or could not tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradeOutcome {
    Pass,
    Fail,
    /// The grader could not grade (its sandbox would not start, its judge failed). Not a
    /// judgement of the answer.
    Error,
}

impl GradeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Error => "error",
        }
    }
}

/// What a grade rests on. Reports never mix these without saying so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GradeKind {
    /// A deterministic check of the text (a pattern, a format).
    #[default]
    Check,
    /// Observed behaviour: the answer's code was run.
    Execution,
    /// Another model's opinion.
    Judgement,
}

/// One grader's view of one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    pub outcome: GradeOutcome,
    /// In `0.0..=1.0`.
    pub score: f64,
    /// Human-readable reasons: what matched, what was missing, what was observed.
    pub evidence: String,
    #[serde(default)]
    pub kind: GradeKind,
    /// What grading itself spent (a judge model's tokens), kept apart from the model under
    /// test. `None` for graders that spend nothing.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// `usage` priced with the grader's configured price, in USD. Set by the runner (what a
    /// grader puts here is replaced); `None` without a price or with unknown usage.
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

impl Grade {
    pub fn pass(evidence: impl Into<String>) -> Self {
        Self {
            outcome: GradeOutcome::Pass,
            score: 1.0,
            evidence: evidence.into(),
            kind: GradeKind::Check,
            usage: None,
            cost_usd: None,
        }
    }
    pub fn fail(evidence: impl Into<String>) -> Self {
        Self {
            outcome: GradeOutcome::Fail,
            score: 0.0,
            evidence: evidence.into(),
            kind: GradeKind::Check,
            usage: None,
            cost_usd: None,
        }
    }
}

/// A grader could not run at all (bad settings, a plugin failure). A grader that ran and
/// disliked the answer returns a failing [`Grade`] instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct GraderError {
    pub message: String,
}

impl GraderError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Judges an answer.
///
/// # Contract
/// - Deterministic graders return the same grade for the same request.
/// - A wrong, malformed or hostile answer is a `Fail` grade with the reason, never an
///   `Err`: `Err` means the grader itself could not work. Nobody retries a grader.
/// - Grading must not read secrets or the network unless it is a judge that was configured
///   with them.
///
/// # Cancel safety
/// Dropping the future abandons the grade; a grader that started processes must kill them.
///
/// # Example
/// A grader that passes an answer containing the item's `expected` variable (a plugin also
/// implements the SDK's `GraderPlugin` and calls `export_grader!`).
///
/// ```
/// use async_trait::async_trait;
/// use llmbench_core::{Grade, GradeRequest, Grader, GraderError};
///
/// struct Contains;
///
/// #[async_trait]
/// impl Grader for Contains {
///     async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError> {
///         // No `expected`: the grader cannot work (an error, not a failing grade).
///         let Some(expected) = request.vars.get("expected") else {
///             return Err(GraderError::new("the item has no `expected` variable"));
///         };
///         Ok(if request.completion.text.contains(expected.as_str()) {
///             Grade::pass(format!("contains {expected:?}"))
///         } else {
///             Grade::fail(format!("does not contain {expected:?}"))
///         })
///     }
/// }
/// # let _ = Contains;
/// ```
#[async_trait]
pub trait Grader: Send + Sync {
    async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError>;
}

/// How a task's grades combine into one verdict per sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum VerdictRule {
    /// Every grader must pass.
    AllPass,
    /// The weighted mean score must reach the threshold.
    Weighted { weights: Vec<f64>, threshold: f64 },
}

/// The verdict on one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub pass: bool,
    pub score: f64,
    /// Index of the first grader that did not pass (by config order), if any.
    pub first_failure: Option<usize>,
}

impl VerdictRule {
    /// Combine grades, given in the order the task lists its graders. No grades pass.
    pub fn decide(&self, grades: &[Grade]) -> Verdict {
        self.decide_with(grades, &[])
    }

    /// [`VerdictRule::decide`] where `advisory[i]` marks grader `i` as advisory: its grade
    /// counts in the score (so a failure lowers it) but never decides pass or fail, and it is
    /// never the `first_failure`. Graders past the end of `advisory` are required.
    pub fn decide_with(&self, grades: &[Grade], advisory: &[bool]) -> Verdict {
        let required = |i: usize| !advisory.get(i).copied().unwrap_or(false);
        let first_failure = grades
            .iter()
            .enumerate()
            .position(|(i, g)| required(i) && g.outcome != GradeOutcome::Pass);
        match self {
            VerdictRule::AllPass => {
                let score = if grades.is_empty() {
                    1.0
                } else {
                    grades.iter().map(|g| g.score).sum::<f64>() / grades.len() as f64
                };
                Verdict {
                    pass: first_failure.is_none(),
                    score,
                    first_failure,
                }
            }
            VerdictRule::Weighted { weights, threshold } => {
                // The weighted mean over the graders `keep` selects.
                let mean = |keep: &dyn Fn(usize) -> bool| {
                    let (sum, total) = grades
                        .iter()
                        .zip(weights)
                        .enumerate()
                        .filter(|(i, _)| keep(*i))
                        .fold((0.0, 0.0), |(s, t), (_, (g, w))| (s + g.score * w, t + w));
                    if total > 0.0 { sum / total } else { 0.0 }
                };
                // The score shown counts every grader; pass or fail, only the required ones.
                let score = mean(&|_| true);
                let decisive = mean(&required);
                let errored = grades
                    .iter()
                    .enumerate()
                    .any(|(i, g)| required(i) && g.outcome == GradeOutcome::Error);
                Verdict {
                    pass: !errored && decisive >= *threshold,
                    score,
                    first_failure,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advisory_failure_lowers_the_score_but_never_fails_the_sample() {
        let grades = [Grade::pass("a"), Grade::fail("b"), Grade::pass("c")];
        let strict = VerdictRule::AllPass.decide(&grades);
        assert!(!strict.pass);
        assert_eq!(strict.first_failure, Some(1));
        let v = VerdictRule::AllPass.decide_with(&grades, &[false, true, false]);
        assert!(v.pass);
        assert_eq!(v.first_failure, None);
        assert!((v.score - 2.0 / 3.0).abs() < 1e-12, "{}", v.score);
        // A required failure after an advisory one is the first failure.
        let grades = [Grade::fail("advisory"), Grade::fail("required")];
        let v = VerdictRule::AllPass.decide_with(&grades, &[true, false]);
        assert!(!v.pass);
        assert_eq!(v.first_failure, Some(1));
        // Weighted: the shown score counts every grader; the threshold only required ones.
        let rule = VerdictRule::Weighted {
            weights: vec![1.0, 1.0],
            threshold: 0.9,
        };
        let grades = [Grade::pass("required"), Grade::fail("advisory")];
        let v = rule.decide_with(&grades, &[false, true]);
        assert!(v.pass);
        assert!((v.score - 0.5).abs() < 1e-12);
        assert!(!rule.decide(&grades).pass);
        // An advisory grader that could not grade does not fail the sample either.
        let grades = [
            Grade::pass("required"),
            Grade {
                outcome: GradeOutcome::Error,
                ..Grade::fail("judge down")
            },
        ];
        assert!(rule.decide_with(&grades, &[false, true]).pass);
        assert!(
            VerdictRule::AllPass
                .decide_with(&grades, &[false, true])
                .pass
        );
    }

    #[test]
    fn all_pass_names_first_failure() {
        let v =
            VerdictRule::AllPass.decide(&[Grade::pass("a"), Grade::fail("b"), Grade::fail("c")]);
        assert!(!v.pass);
        assert_eq!(v.first_failure, Some(1));
    }

    #[test]
    fn weighted_threshold() {
        let rule = VerdictRule::Weighted {
            weights: vec![3.0, 1.0],
            threshold: 0.7,
        };
        assert!(rule.decide(&[Grade::pass("a"), Grade::fail("b")]).pass);
        assert!(!rule.decide(&[Grade::fail("a"), Grade::pass("b")]).pass);
    }
}
