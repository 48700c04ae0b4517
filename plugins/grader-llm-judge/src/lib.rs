//! `grader-llm-judge`: another model judges the answer against a rubric. Its grades are
//! `judgement` grades, an opinion rather than evidence, and reports label them as such.
//!
//! The judge is a provider entry of the config, named by the grader's `judge = "NAME"`: any
//! provider plugin can serve as judge, and its requests go through the runner like the
//! samples' (the entry's retries, rate limits, concurrency limit and timeout, and the run's
//! spend cap). Mark the entry `judge-only = true` to keep it out of the benchmark.
//!
//! The judge is asked, in one request, for a JSON verdict `{"score": 0..1, "pass": bool,
//! "rationale": "..."}`, given the rubric, the task's item variables and the answer under
//! review, each between marker lines the data cannot forge. The reply may hold the object
//! alone, in a code fence or inside text. A reply without a well-formed verdict is re-asked
//! once, in the same conversation, quoting what was wrong; a second malformed reply is an
//! `error` grade (the grader could not judge), not a `fail`. So is a request to the judge that
//! failed after the runner's retries, with the provider's classified reason, or one the
//! runner refused because the run's spend cap is reached.
//!
//! The grade passes when `score` reaches `pass-threshold`; the evidence reads `judge <model>:
//! score 0.8 (pass): <rationale>` and notes when the judge's own `pass` disagrees. The tokens
//! of every request (both, after a re-ask) are the grade's `usage`, which the runner prices
//! with the judge entry's `price` and records apart from the model under test.
//!
//! Options:
//! - `rubric` (string) or `rubric-file` (path relative to the config file's directory):
//!   exactly one; what a good answer does.
//! - `pass-threshold` (0 to 1, default 0.5).
//! - `max-tokens` (at least 1, default 512): the judge's reply limit (the entry's own
//!   `max-tokens`, when set, wins).
//! - `temperature` (0 to 2, optional; default: the entry's, else not sent).
//!
//! ```toml
//! [providers.judge]
//! plugin = "provider-anthropic"
//! model = "claude-haiku-4-5"
//! api-key-env = "ANTHROPIC_API_KEY"
//! judge-only = true
//! requests-per-minute = 50
//!
//! [[tasks.race.graders]]
//! plugin = "grader-llm-judge"
//! judge = "judge"
//! options = { rubric-file = "rubrics/race.md" }
//! ```

mod prompt;
mod verdict;

use async_trait::async_trait;
use llmbench_plugin_sdk::core::{
    Completion, CompletionRequest, Grade, GradeKind, GradeOutcome, GradeRequest, Grader,
    GraderError, Message, PluginContext, Provider, ProviderError, Role, Sampling, StopReason,
    Usage,
};
use llmbench_plugin_sdk::{
    GraderContext, ModelHandle, OptionsError, check_option_file, parse_options,
};
use serde::Deserialize;

use crate::verdict::Verdict;

/// The largest rubric file read: 1 MiB, far beyond any rubric a judge model accepts.
const MAX_RUBRIC_BYTES: u64 = 1024 * 1024;

/// Options of the former form, in which the judge called its model itself.
const MOVED: [&str; 4] = ["protocol", "model", "base-url", "timeout-seconds"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Options {
    /// What a good answer does, in words. Exactly one of `rubric` and `rubric-file`.
    rubric: Option<String>,
    /// A file holding the rubric, relative to the config file's directory.
    rubric_file: Option<String>,
    /// The grade passes when the judge's score reaches this (0 to 1). Default 0.5.
    #[serde(default = "default_pass_threshold")]
    pass_threshold: f64,
    /// The judge's reply limit (at least 1); the judge entry's own `max-tokens` wins. Default
    /// 512.
    #[serde(default = "default_max_tokens")]
    max_tokens: u32,
    /// The judge's sampling temperature, 0 to 2. Default: the judge entry's, else not sent.
    temperature: Option<f64>,
}

impl Options {
    /// What can be checked without I/O (the `rubric-file` is read at create), naming the
    /// option at fault.
    fn check(&self) -> Result<(), OptionsError> {
        match (&self.rubric, &self.rubric_file) {
            (Some(_), Some(_)) => {
                return Err(OptionsError::at(
                    "rubric-file",
                    "give `rubric` or `rubric-file`, not both",
                ));
            }
            (None, None) => {
                return Err(OptionsError::new(
                    Vec::<String>::new(),
                    "missing `rubric` (or `rubric-file`)",
                ));
            }
            (Some(rubric), None) if rubric.trim().is_empty() => {
                return Err(OptionsError::at("rubric", "the rubric is empty"));
            }
            _ => {}
        }
        if !(0.0..=1.0).contains(&self.pass_threshold) {
            return Err(OptionsError::at(
                "pass-threshold",
                format!("must be between 0 and 1, not {}", self.pass_threshold),
            ));
        }
        if self.max_tokens == 0 {
            return Err(OptionsError::at("max-tokens", "must be at least 1"));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(OptionsError::at(
                "temperature",
                format!("must be between 0 and 2, not {t}"),
            ));
        }
        Ok(())
    }
}

/// An option of the former form, with where its setting lives now.
fn moved_option(options: &serde_json::Value) -> Result<(), OptionsError> {
    let Some(key) = MOVED.iter().find(|k| options.get(**k).is_some()) else {
        return Ok(());
    };
    Err(OptionsError::at(
        key,
        "the judge model is now a provider entry of the config, not an option",
    )
    .with_help(
        "add a `[providers.NAME]` entry for the judge model (its plugin, `model`, `api-key-env`, \
         `base-url` option, limits and `price`, with `judge-only = true`) and set \
         `judge = \"NAME\"` on this grader",
    ))
}

fn default_pass_threshold() -> f64 {
    0.5
}

fn default_max_tokens() -> u32 {
    512
}

/// The grader.
pub struct JudgeGrader {
    judge: ModelHandle,
    rubric: String,
    pass_threshold: f64,
    max_tokens: u32,
    temperature: Option<f64>,
}

impl std::fmt::Debug for JudgeGrader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgeGrader")
            .field("judge", &self.judge)
            .field("pass_threshold", &self.pass_threshold)
            .finish_non_exhaustive()
    }
}

impl JudgeGrader {
    /// Build the judge from its JSON options and context, which must give it a judge model.
    pub fn from_options(
        options: serde_json::Value,
        context: &GraderContext<'_>,
    ) -> Result<Self, String> {
        moved_option(&options)?;
        let o: Options = parse_options(&options)?;
        o.check()?;
        let judge = context.judge().cloned().ok_or(
            "no judge model: name a provider entry with `judge = \"NAME\"` on this grader \
             (a `[providers.NAME]` entry; `judge-only = true` keeps it out of the benchmark)",
        )?;
        let rubric = match (o.rubric, o.rubric_file) {
            (Some(rubric), _) => rubric,
            (None, Some(file)) => {
                let path = context.resolve(&file);
                llmbench_plugin_sdk::read_text_limited(&path, MAX_RUBRIC_BYTES)
                    .map_err(|e| format!("`rubric-file`: {e}"))?
            }
            (None, None) => unreachable!("checked: one of `rubric` and `rubric-file` is set"),
        };
        if rubric.trim().is_empty() {
            return Err("the rubric is empty".into());
        }
        Ok(Self {
            judge,
            rubric,
            pass_threshold: o.pass_threshold,
            max_tokens: o.max_tokens,
            temperature: o.temperature,
        })
    }

    /// The judge model's id, as evidence shows it.
    fn model(&self) -> &str {
        self.judge.model()
    }

    /// One request to the judge; the runner retries, limits and times it.
    async fn ask(&self, messages: &[Message]) -> Result<Completion, ProviderError> {
        let request = CompletionRequest {
            model: self.model().to_owned(),
            system: Some(prompt::SYSTEM.to_owned()),
            messages: messages.to_vec(),
            max_tokens: self.max_tokens,
            sampling: Sampling {
                temperature: self.temperature,
                ..Sampling::default()
            },
            stream: false,
            sample: None,
        };
        tracing::debug!(judge = %self.judge.provider(), turn = messages.len().div_ceil(2), "asking the judge");
        self.judge.complete(&request).await
    }

    /// A grade from a well-formed verdict: pass when the score reaches the threshold.
    fn judged(&self, verdict: &Verdict, usage: Option<Usage>) -> Grade {
        let pass = verdict.score >= self.pass_threshold;
        let outcome = if pass {
            GradeOutcome::Pass
        } else {
            GradeOutcome::Fail
        };
        let disagreement = if verdict.pass == pass {
            String::new()
        } else {
            format!(
                ", though the judge said {}",
                if verdict.pass { "pass" } else { "fail" }
            )
        };
        let rationale = verdict.rationale.trim();
        let rationale = if rationale.is_empty() {
            "(no rationale given)"
        } else {
            rationale
        };
        self.grade(
            outcome,
            verdict.score,
            format!(
                "judge {}: score {} ({}{disagreement}): {rationale}",
                self.model(),
                (verdict.score * 100.0).round() / 100.0,
                outcome.as_str()
            ),
            usage,
        )
    }

    /// The judge could not judge: an `error` grade, not a verdict on the answer.
    fn could_not_judge(&self, reason: &str, usage: Option<Usage>) -> Grade {
        let grade = self.grade(
            GradeOutcome::Error,
            0.0,
            format!("judge {} could not judge: {reason}", self.model()),
            usage,
        );
        tracing::warn!(evidence = %grade.evidence, "the judge could not judge");
        grade
    }

    fn grade(
        &self,
        outcome: GradeOutcome,
        score: f64,
        evidence: String,
        usage: Option<Usage>,
    ) -> Grade {
        Grade {
            outcome,
            score,
            evidence,
            kind: GradeKind::Judgement,
            usage,
            cost_usd: None,
        }
    }
}

/// Why a reply is not a verdict, saying so when it was cut at the token limit.
fn read_verdict(completion: &Completion, max_tokens: u32) -> Result<Verdict, String> {
    verdict::parse(&completion.text).map_err(|problem| {
        if completion.stop_reason == StopReason::MaxTokens {
            format!("{problem} (the reply stopped at the token limit, `max-tokens` = {max_tokens})")
        } else {
            problem
        }
    })
}

/// The usage of two requests together. A count either request does not know is unknown.
fn add(a: Usage, b: Usage) -> Usage {
    let sum = |x: Option<u64>, y: Option<u64>| x.zip(y).map(|(x, y)| x + y);
    Usage {
        input_tokens: sum(a.input_tokens, b.input_tokens),
        output_tokens: sum(a.output_tokens, b.output_tokens),
        cache_read_tokens: sum(a.cache_read_tokens, b.cache_read_tokens),
        cache_write_tokens: sum(a.cache_write_tokens, b.cache_write_tokens),
        reasoning_tokens: sum(a.reasoning_tokens, b.reasoning_tokens),
    }
}

#[async_trait]
impl Grader for JudgeGrader {
    async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError> {
        let mut messages = vec![Message::user(prompt::render(&self.rubric, request))];
        let first = match self.ask(&messages).await {
            Ok(first) => first,
            Err(e) => return Ok(self.could_not_judge(&format!("request failed: {e}"), None)),
        };
        let mut usage = first.usage;
        let problem = match read_verdict(&first, self.max_tokens) {
            Ok(verdict) => return Ok(self.judged(&verdict, Some(usage))),
            Err(problem) => problem,
        };
        tracing::debug!(judge = %self.judge.provider(), problem = %problem, "malformed verdict; re-asking once");
        messages.push(Message {
            role: Role::Assistant,
            content: first.text,
        });
        messages.push(Message::user(prompt::reask(&problem)));
        let second = match self.ask(&messages).await {
            Ok(second) => second,
            Err(e) => {
                return Ok(self.could_not_judge(
                    &format!("malformed verdict ({problem}), then the re-ask failed: {e}"),
                    Some(usage),
                ));
            }
        };
        usage = add(usage, second.usage);
        Ok(match read_verdict(&second, self.max_tokens) {
            Ok(verdict) => self.judged(&verdict, Some(usage)),
            Err(again) => self.could_not_judge(
                &format!("no well-formed verdict after one re-ask: {again}"),
                Some(usage),
            ),
        })
    }
}

impl llmbench_plugin_sdk::GraderPlugin for JudgeGrader {
    /// Without the host's model access: refused (the judge has no model to ask).
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String> {
        Self::from_options(options, &GraderContext::new(context))
    }

    fn create_with(
        options: serde_json::Value,
        context: &GraderContext<'_>,
    ) -> Result<Self, String> {
        Self::from_options(options, context)
    }

    /// The options' shape and ranges, and that the `rubric-file` is there (its metadata
    /// only: the rubric is read at create).
    fn check_options(
        options: &serde_json::Value,
        context: &PluginContext,
    ) -> Result<(), OptionsError> {
        moved_option(options)?;
        let o: Options = parse_options(options)?;
        o.check()?;
        match &o.rubric_file {
            Some(file) => check_option_file(["rubric-file"], &context.resolve(file)),
            None => Ok(()),
        }
    }
}

llmbench_plugin_sdk::export_grader!(JudgeGrader);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_of_a_reask_adds_up_and_an_unknown_count_stays_unknown() {
        let a = Usage {
            input_tokens: Some(100),
            output_tokens: Some(10),
            cache_read_tokens: Some(0),
            ..Usage::default()
        };
        let b = Usage {
            input_tokens: Some(130),
            output_tokens: None,
            cache_read_tokens: Some(5),
            ..Usage::default()
        };
        assert_eq!(
            add(a, b),
            Usage {
                input_tokens: Some(230),
                output_tokens: None,
                cache_read_tokens: Some(5),
                ..Usage::default()
            }
        );
    }
}
