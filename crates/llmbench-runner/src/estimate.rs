//! The cost of a sweep, estimated before it runs: the models under test, and the judges that
//! graders ask, shown apart.

use llmbench_config::{Config, GraderConfig, ProviderConfig};
use llmbench_core::{Item, Usage, cost_usd};

use crate::ratelimit::tokens_for_chars;

/// What a judge is told besides the data (its instructions and the verdict format), in
/// tokens: `grader-llm-judge`'s are about 1,000 characters.
pub const JUDGE_INSTRUCTION_TOKENS: u64 = 250;

/// The verdict a judge is expected to write, in tokens, when nothing sets a lower limit: a
/// verdict is a score, a flag and a few sentences.
pub const JUDGE_REPLY_TOKENS: u32 = 200;

/// What a sweep is expected to cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CostEstimate {
    pub samples: u64,
    /// Everything priced, in USD: the models under test and the judges (what a spend cap
    /// is compared with).
    pub usd: f64,
    /// Samples of providers without a price (not included in `usd`).
    pub unpriced_samples: u64,
    /// Of `usd`, what the judges cost.
    pub judge_usd: f64,
    /// Gradings by a judge: each sample times the task's graders that name a `judge`.
    pub judgements: u64,
    /// Of those, gradings whose judge entry has no price (not included in `usd`).
    pub unpriced_judgements: u64,
}

impl CostEstimate {
    /// What the models under test cost, in USD.
    pub fn model_usd(&self) -> f64 {
        self.usd - self.judge_usd
    }
}

/// Estimate from the prompts (4 characters per token) and each task's
/// `expected-output-tokens` (by default its `max-tokens`, an upper bound), at the config's
/// prices. Cache discounts are ignored, so the estimate errs high.
///
/// Each sample a judging grader grades costs one judge request (a re-ask after a malformed
/// verdict is not counted): its input is [`JUDGE_INSTRUCTION_TOKENS`] plus the grader's
/// options (an inline rubric; a `rubric-file` is not read), the item's variables and the
/// answer (its expected length, as above), at 4 characters per token; its output is the
/// judge entry's `max-tokens`, the grader's `options.max-tokens`, or [`JUDGE_REPLY_TOKENS`],
/// whichever is least; priced with the judge entry's price.
pub fn estimate_cost(config: &Config) -> CostEstimate {
    let repeats = u64::from(config.run.repeats);
    let mut estimate = CostEstimate {
        samples: 0,
        usd: 0.0,
        unpriced_samples: 0,
        judge_usd: 0.0,
        judgements: 0,
        unpriced_judgements: 0,
    };
    for task in &config.tasks {
        let judging: Vec<(&GraderConfig, &ProviderConfig)> = task
            .graders
            .iter()
            .filter_map(|g| Some((g, config.judge(g.judge.as_deref()?)?)))
            .collect();
        for index in 0..task.items.len() {
            // The prompt's characters, counted in the compact items without decoding or
            // rendering (a million-item sweep is estimated before it starts, and again when
            // it resumes); as `estimate_input_tokens(&task.render(item))` would count them.
            let chars = task.items.view(index, |item| {
                task.system
                    .as_deref()
                    .map_or(0, |system| item.rendered_len(system))
                    + item.rendered_len(&task.prompt)
            });
            let input = tokens_for_chars(chars);
            // What each judge is given for this item (its options rendered once per item,
            // not once per provider); the item is decoded only for a judging grader.
            let judged: Vec<(&ProviderConfig, JudgeInput)> = match judging.is_empty() {
                true => Vec::new(),
                false => {
                    let item = task.items.get(index);
                    judging
                        .iter()
                        .map(|(grader, judge)| (*judge, JudgeInput::new(grader, &item)))
                        .collect()
                }
            };
            for provider in &config.providers {
                estimate.samples += repeats;
                let output = provider
                    .max_tokens
                    .unwrap_or(task.expected_output_tokens)
                    .min(task.expected_output_tokens);
                let usage = Usage {
                    input_tokens: Some(input),
                    output_tokens: Some(u64::from(output)),
                    ..Usage::default()
                };
                match provider
                    .price
                    .as_ref()
                    .and_then(|p| cost_usd(&usage, &p.price))
                {
                    Some(usd) => estimate.usd += usd * repeats as f64,
                    None => estimate.unpriced_samples += repeats,
                }
                for (judge, given) in &judged {
                    estimate.judgements += repeats;
                    let usage = given.usage(judge, output);
                    match judge
                        .price
                        .as_ref()
                        .and_then(|p| cost_usd(&usage, &p.price))
                    {
                        Some(usd) => {
                            estimate.usd += usd * repeats as f64;
                            estimate.judge_usd += usd * repeats as f64;
                        }
                        None => estimate.unpriced_judgements += repeats,
                    }
                }
            }
        }
    }
    estimate
}

/// What a judging grader gives its judge for one item, besides the answer: the grader's
/// options (rendered for the item) and the item's variables, in characters, and the
/// options' `max-tokens`.
struct JudgeInput {
    chars: u64,
    option_limit: Option<u32>,
}

impl JudgeInput {
    fn new(grader: &GraderConfig, item: &Item) -> Self {
        let chars = |value: &serde_json::Value| value.to_string().len() as u64;
        let rendered = grader.options_for(item);
        let options = rendered.as_ref().unwrap_or(&grader.options);
        let vars = serde_json::to_value(&item.vars).unwrap_or_default();
        Self {
            chars: chars(options) + chars(&vars),
            option_limit: options
                .get("max-tokens")
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok()),
        }
    }

    /// One judge request's expected tokens, for an answer of `answer_tokens` (see
    /// [`estimate_cost`]).
    fn usage(&self, judge: &ProviderConfig, answer_tokens: u32) -> Usage {
        let input = JUDGE_INSTRUCTION_TOKENS + self.chars.div_ceil(4) + u64::from(answer_tokens);
        let output = [
            judge.max_tokens,
            self.option_limit,
            Some(JUDGE_REPLY_TOKENS),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(JUDGE_REPLY_TOKENS);
        Usage {
            input_tokens: Some(input),
            output_tokens: Some(u64::from(output)),
            ..Usage::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(judge_price: &str) -> Config {
        let source = format!(
            r#"
[run]
repeats = 2

[providers.a]
plugin = "provider-testkit"
model = "a"
price = {{ input-per-mtok = 1, output-per-mtok = 1 }}

[providers.b]
plugin = "provider-testkit"
model = "b"

[providers.judge]
plugin = "provider-openai"
model = "j"
judge-only = true
max-tokens = 50
{judge_price}

[tasks.t]
prompt = "{{{{ q }}}}"
expected-output-tokens = 100
items = [{{ id = "x", q = "12345678" }}, {{ id = "y", q = "1234" }}]

[[tasks.t.graders]]
plugin = "grader-llm-judge"
judge = "judge"
options = {{ rubric = "abcd" }}

[[tasks.t.graders]]
name = "plain"
plugin = "grader-regex"
options = {{ pattern = "x" }}
"#
        );
        llmbench_config::parse(&source, Path::new("bench.toml")).expect("a valid config")
    }

    #[test]
    fn judge_spend_is_estimated_apart_per_graded_sample() {
        let e = estimate_cost(&config(
            "price = { input-per-mtok = 1000000, output-per-mtok = 2000000 }",
        ));
        // 2 items x 2 providers x 2 repeats; one judging grader.
        assert_eq!((e.samples, e.judgements), (8, 8));
        assert_eq!((e.unpriced_samples, e.unpriced_judgements), (4, 0));
        // Input: instructions, the options `{"rubric":"abcd"}` (17 chars) and the variables
        // (`{"q":"12345678"}`, 16 chars; `{"q":"1234"}`, 12 chars) at 4 chars a token, and the
        // answer's 100 expected tokens; output: the entry's `max-tokens`, 50. At 1 and 2 USD
        // a token.
        let x = (250 + (17 + 16u64).div_ceil(4) + 100) as f64 + 2.0 * 50.0;
        let y = (250 + (17 + 12u64).div_ceil(4) + 100) as f64 + 2.0 * 50.0;
        let judge = 2.0 * 2.0 * (x + y);
        assert!((e.judge_usd - judge).abs() < 1e-6, "{e:?}");
        // Provider `a` alone is priced: 2 repeats of (2 + 100) and (1 + 100) tokens, at 1e-6
        // USD.
        let models = 2.0 * (102e-6 + 101e-6);
        assert!((e.model_usd() - models).abs() < 1e-9, "{e:?}");
        assert!((e.usd - judge - models).abs() < 1e-6, "{e:?}");
    }

    #[test]
    fn an_unpriced_judge_is_counted_but_not_costed() {
        let e = estimate_cost(&config(""));
        assert_eq!((e.judgements, e.unpriced_judgements), (8, 8));
        assert_eq!(e.judge_usd, 0.0);
    }
}
