//! The answers file: recorded responses, one JSON object per line, loaded and checked whole.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use llmbench_plugin_sdk::core::{Completion, StopReason, Timings, Usage};
use serde::Deserialize;

/// One line of the answers file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Line {
    task: String,
    item: String,
    model: String,
    text: String,
    stop_reason: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
    latency_ms: Option<f64>,
    ttft_ms: Option<f64>,
    /// Free text for people (where the answer came from); ignored.
    #[expect(
        dead_code,
        reason = "accepted so that files can say where answers came from"
    )]
    note: Option<String>,
}

/// Why an answers file could not be used. Every variant names the file; those about one
/// line also name the line (1-based).
#[derive(Debug, thiserror::Error)]
pub enum AnswersError {
    /// Not readable, not a regular file, or larger than the limit; the reason names the file.
    #[error("answers file: {0}")]
    Read(#[from] llmbench_plugin_sdk::FileError),
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: no answers in the file")]
    Empty { path: PathBuf },
}

impl AnswersError {
    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Read(_) => "read",
            Self::Syntax { .. } => "syntax",
            Self::Invalid { .. } => "invalid",
            Self::Empty { .. } => "empty",
        }
    }
}

/// One recorded response.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub text: String,
    pub stop_reason: StopReason,
    pub usage: Usage,
    /// `None` when the file does not say.
    pub latency: Option<Duration>,
    pub time_to_first_token: Option<Duration>,
    pub model: String,
}

impl Recorded {
    /// The completion to return; `measured` stands in for a latency the file does not give.
    pub fn completion(&self, measured: Duration) -> Completion {
        Completion {
            text: self.text.clone(),
            stop_reason: self.stop_reason.clone(),
            usage: self.usage,
            timings: Timings {
                latency: self.latency.unwrap_or(measured),
                time_to_first_token: self.time_to_first_token,
            },
            response_model: Some(self.model.clone()),
        }
    }
}

/// All recorded responses of one file, by (task, item, model), in file order.
#[derive(Debug, Clone)]
pub struct Answers {
    path: PathBuf,
    by_key: HashMap<(String, String, String), Vec<Recorded>>,
}

impl Answers {
    /// Read and check the whole file.
    pub fn load(path: &Path) -> Result<Self, AnswersError> {
        let text = llmbench_plugin_sdk::read_text_limited(
            path,
            llmbench_plugin_sdk::MAX_OPTION_FILE_BYTES,
        )?;
        Self::parse(path, &text)
    }

    /// Check `text` as the content of the file at `path` (used in messages only).
    pub fn parse(path: &Path, text: &str) -> Result<Self, AnswersError> {
        let mut by_key: HashMap<_, Vec<Recorded>> = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let line = index + 1;
            let parsed: Line = serde_json::from_str(raw).map_err(|e| AnswersError::Syntax {
                path: path.to_owned(),
                line,
                column: e.column(),
                message: without_position(&e),
            })?;
            let recorded = check(parsed).map_err(|message| AnswersError::Invalid {
                path: path.to_owned(),
                line,
                message,
            })?;
            by_key.entry(recorded.0).or_default().push(recorded.1);
        }
        if by_key.is_empty() {
            return Err(AnswersError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            by_key,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The answer for a repeat: with `n` answers recorded for (task, item, model), repeat
    /// `r` gets answer `r % n`.
    pub fn find(&self, task: &str, item: &str, model: &str, repeat: u32) -> Option<&Recorded> {
        let answers = self
            .by_key
            .get(&(task.to_owned(), item.to_owned(), model.to_owned()))?;
        answers.get(repeat as usize % answers.len())
    }

    /// The models with answers for (task, item), sorted.
    pub fn models_for(&self, task: &str, item: &str) -> Vec<&str> {
        let mut models: Vec<&str> = self
            .by_key
            .keys()
            .filter(|(t, i, _)| t == task && i == item)
            .map(|(_, _, m)| m.as_str())
            .collect();
        models.sort_unstable();
        models
    }
}

/// serde_json's message without its " at line L column C" suffix (the line is always 1
/// here; the caller reports the file's line).
fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}

type Key = (String, String, String);

fn check(line: Line) -> Result<(Key, Recorded), String> {
    for (field, value) in [
        ("task", &line.task),
        ("item", &line.item),
        ("model", &line.model),
    ] {
        if value.trim().is_empty() {
            return Err(format!("`{field}` is empty"));
        }
    }
    let stop_reason = match line.stop_reason.as_deref() {
        None | Some("end_turn") => StopReason::EndTurn,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        Some("") => return Err("`stop-reason` is empty".into()),
        Some(other) => StopReason::Other(other.to_owned()),
    };
    let latency = line
        .latency_ms
        .map(|ms| duration("latency-ms", ms))
        .transpose()?;
    let time_to_first_token = line.ttft_ms.map(|ms| duration("ttft-ms", ms)).transpose()?;
    if let (Some(latency), Some(ttft)) = (latency, time_to_first_token)
        && ttft > latency
    {
        return Err(format!(
            "`ttft-ms` ({}) exceeds `latency-ms` ({})",
            ttft.as_secs_f64() * 1e3,
            latency.as_secs_f64() * 1e3
        ));
    }
    let recorded = Recorded {
        text: line.text,
        stop_reason,
        usage: Usage {
            input_tokens: line.input_tokens,
            output_tokens: line.output_tokens,
            cache_read_tokens: line.cache_read_tokens,
            cache_write_tokens: line.cache_write_tokens,
            reasoning_tokens: line.reasoning_tokens,
        },
        latency,
        time_to_first_token,
        model: line.model.clone(),
    };
    Ok(((line.task, line.item, line.model), recorded))
}

fn duration(field: &str, ms: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(ms / 1e3).map_err(|_| {
        format!("`{field}` must be a finite, non-negative number of milliseconds, not {ms}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Answers, AnswersError> {
        Answers::parse(Path::new("answers.jsonl"), text)
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const FULL: &str = r#"{"task": "t", "item": "i", "model": "m", "text": "first", "stop-reason": "max_tokens", "input-tokens": 121, "output-tokens": 451, "cache-read-tokens": 7, "cache-write-tokens": null, "latency-ms": 4422.0, "ttft-ms": 610.5, "note": "hand-written"}"#;

    #[test]
    fn reads_every_field() {
        let answers = parse(FULL).unwrap();
        let r = answers.find("t", "i", "m", 0).unwrap();
        assert_eq!(
            *r,
            Recorded {
                text: "first".into(),
                stop_reason: StopReason::MaxTokens,
                usage: Usage {
                    input_tokens: Some(121),
                    output_tokens: Some(451),
                    cache_read_tokens: Some(7),
                    cache_write_tokens: None,
                    reasoning_tokens: None,
                },
                latency: Some(Duration::from_millis(4422)),
                time_to_first_token: Some(Duration::from_micros(610_500)),
                model: "m".into(),
            }
        );
        let c = r.completion(Duration::from_millis(1));
        assert_eq!(c.timings.latency, Duration::from_millis(4422));
        assert_eq!(c.response_model.as_deref(), Some("m"));
    }

    #[test]
    fn absent_fields_are_unknown_not_zero() {
        let answers = parse(r#"{"task": "t", "item": "i", "model": "m", "text": "x"}"#).unwrap();
        let r = answers.find("t", "i", "m", 0).unwrap();
        assert_eq!(r.usage, Usage::default());
        assert_eq!(r.usage.input_tokens, None);
        assert_eq!(r.stop_reason, StopReason::EndTurn);
        assert_eq!(r.latency, None);
        let c = r.completion(Duration::from_millis(3));
        assert_eq!(c.timings.latency, Duration::from_millis(3));
        assert_eq!(c.timings.time_to_first_token, None);
    }

    #[test]
    fn other_stop_reasons_are_kept_verbatim() {
        let answers = parse(
            r#"{"task": "t", "item": "i", "model": "m", "text": "x", "stop-reason": "refusal"}"#,
        )
        .unwrap();
        assert_eq!(
            answers.find("t", "i", "m", 0).unwrap().stop_reason,
            StopReason::Other("refusal".into())
        );
    }

    #[test]
    fn repeats_cycle_through_answers_in_file_order() {
        let text = [
            r#"{"task": "t", "item": "i", "model": "m", "text": "a"}"#,
            "",
            r#"{"task": "t", "item": "i", "model": "other", "text": "z"}"#,
            r#"{"task": "t", "item": "i", "model": "m", "text": "b"}"#,
            r#"{"task": "t", "item": "i", "model": "m", "text": "c"}"#,
        ]
        .join("\n");
        let answers = parse(&text).unwrap();
        let texts: Vec<&str> = (0..7)
            .map(|r| answers.find("t", "i", "m", r).unwrap().text.as_str())
            .collect();
        assert_eq!(texts, ["a", "b", "c", "a", "b", "c", "a"]);
        assert_eq!(answers.find("t", "i", "nope", 0), None);
        assert_eq!(answers.find("t", "j", "m", 0), None);
        assert_eq!(answers.models_for("t", "i"), ["m", "other"]);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let ok = r#"{"task": "t", "item": "i", "model": "m", "text": "a"}"#;
        assert_eq!(
            err(&format!("{ok}\n\n{{\"task\": \"t\",")),
            "answers.jsonl:3:13: EOF while parsing a value"
        );
        assert_eq!(
            err(&format!(
                "{ok}\n{}",
                r#"{"task": "t", "item": "i", "model": "m", "text": "a", "input_tokens": 3}"#
            )),
            "answers.jsonl:2:68: unknown field `input_tokens`, expected one of `task`, `item`, `model`, `text`, `stop-reason`, `input-tokens`, `output-tokens`, `cache-read-tokens`, `cache-write-tokens`, `reasoning-tokens`, `latency-ms`, `ttft-ms`, `note`"
        );
        assert_eq!(
            err(r#"{"task": "t", "item": "i", "text": "a"}"#),
            "answers.jsonl:1:39: missing field `model`"
        );
        assert_eq!(
            err(r#"{"task": "t", "item": "i", "model": "m", "text": "a", "output-tokens": -1}"#),
            "answers.jsonl:1:73: invalid value: integer `-1`, expected u64"
        );
        assert_eq!(
            err(r#"{"task": "t", "item": " ", "model": "m", "text": "a"}"#),
            "answers.jsonl:1: `item` is empty"
        );
        assert_eq!(
            err(r#"{"task": "t", "item": "i", "model": "m", "text": "a", "latency-ms": -5}"#),
            "answers.jsonl:1: `latency-ms` must be a finite, non-negative number of milliseconds, not -5"
        );
        assert_eq!(
            err(
                r#"{"task": "t", "item": "i", "model": "m", "text": "a", "latency-ms": 600, "ttft-ms": 700}"#
            ),
            "answers.jsonl:1: `ttft-ms` (700) exceeds `latency-ms` (600)"
        );
        assert_eq!(
            err(r#"{"task": "t", "item": "i", "model": "m", "text": "a", "stop-reason": ""}"#),
            "answers.jsonl:1: `stop-reason` is empty"
        );
        assert_eq!(err("\n  \n"), "answers.jsonl: no answers in the file");
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = Answers::load(Path::new("/nonexistent/answers.jsonl")).unwrap_err();
        assert_eq!(e.kind(), "read");
        assert_eq!(
            e.to_string(),
            "answers file: cannot read /nonexistent/answers.jsonl: No such file or directory (os error 2)"
        );
        let e = Answers::load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "answers file: cannot read /dev/zero: it is not a regular file (a device, pipe or socket)"
        );
    }
}
