//! The server configuration, its defaults, and parsing it from `key = value` strings (what the
//! CLI and tests use; no clap involved).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::fault::{Fault, RatioParseError, parse_ratio_entry};

/// Which wire format the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Anthropic Messages API (`/v1/messages`).
    Anthropic,
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    OpenAi,
}

impl Protocol {
    /// `anthropic` or `openai`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "anthropic" => Ok(Self::Anthropic),
            "openai" => Ok(Self::OpenAi),
            _ => Err(ConfigError::InvalidValue {
                key: "protocol".into(),
                value: s.into(),
                expected: "`anthropic` or `openai`",
            }),
        }
    }
}

/// How the API key of a request is checked.
#[derive(Clone, PartialEq, Eq)]
pub enum ApiKeyCheck {
    /// No key needed (a key, if sent, is accepted whatever it is).
    NotRequired,
    /// Any non-empty key.
    AnyNonEmpty,
    /// Exactly this key.
    Exact(String),
}

impl fmt::Debug for ApiKeyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRequired => f.write_str("NotRequired"),
            Self::AnyNonEmpty => f.write_str("AnyNonEmpty"),
            Self::Exact(_) => f.write_str("Exact(<redacted>)"),
        }
    }
}

/// What the assistant answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `answer_tokens` words derived from the prompt hash ([`crate::echo_answer`]).
    Echo,
    /// This text, whatever the prompt.
    Fixed(String),
    /// One text per turn of the conversation: a request whose messages hold `n` user
    /// messages gets the `n`-th text (the last one once they run out). A client that re-asks
    /// within the same conversation (a judge re-asking for a well-formed verdict) sees its
    /// first answer, then the next, whatever the order of concurrent requests.
    PerUserTurn(Vec<String>),
}

/// OpenAI error body shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{"error":{"message","type","param","code"}}` (OpenAI).
    Nested,
    /// `{"object":"error","message","type","param","code":<status>}` (vLLM).
    Flat,
}

/// Everything a mock server does. Start from [`MockConfig::new`] and override fields with
/// struct update syntax, or call [`MockConfig::set`] with string keys.
#[derive(Debug, Clone)]
pub struct MockConfig {
    pub protocol: Protocol,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub api_key: ApiKeyCheck,
    pub answer: Answer,
    /// Length of the echo answer, in tokens (words).
    pub answer_tokens: usize,
    /// Replaces the counted prompt tokens (before the cache split) in usage.
    pub input_tokens_override: Option<u64>,
    /// Replaces the counted answer tokens in usage.
    pub output_tokens_override: Option<u64>,
    /// Anthropic `cache_read_input_tokens` / OpenAI `cached_tokens`.
    pub cached_input_tokens: u64,
    /// Anthropic `cache_creation_input_tokens`.
    pub cache_creation_input_tokens: u64,
    /// OpenAI `reasoning_tokens`, added to `completion_tokens`.
    pub reasoning_tokens: u64,
    /// Delay before the first content delta of a stream.
    pub time_to_first_token: Duration,
    /// Delay between two content deltas of a stream.
    pub per_token_delay: Duration,
    /// Total latency of a non-streaming answer; `None` = ttft + per-token delay × tokens.
    pub latency: Option<Duration>,
    /// Anthropic: one more `ping` every this many deltas (0 = only the one after
    /// `content_block_start`).
    pub ping_every_tokens: usize,
    /// OpenAI error body shape.
    pub error_style: ErrorStyle,
    /// Ratio-mode faults with their probabilities (sum ≤ 1).
    pub faults: Vec<(Fault, f64)>,
    /// Seed of the ratio-mode draw.
    pub seed: u64,
    /// Default `times` for every fault: stop faulting a prompt after this many faults.
    pub max_faults_per_prompt: Option<u32>,
    /// Server-side limit: more than this many requests in the trailing `rate_window` get a 429.
    pub rpm_limit: Option<u32>,
    /// Window of the rate-limit headers, the `rpm_limit` check and
    /// `max_requests_in_window()`.
    pub rate_window: Duration,
    /// `*-limit-requests` header value when `rpm_limit` is unset.
    pub ratelimit_requests_limit: u32,
    /// `*-limit-tokens` header value.
    pub ratelimit_tokens_limit: u64,
    /// Request log capacity (records); 0 disables the log.
    pub log_capacity: usize,
    /// Larger request bodies get a 413.
    pub max_body_bytes: usize,
}

impl MockConfig {
    /// Defaults for a protocol: port 0, zero latency, echo answers of 16 tokens, no faults, an
    /// API key required by Anthropic only.
    pub fn new(protocol: Protocol) -> Self {
        Self {
            protocol,
            port: 0,
            api_key: match protocol {
                Protocol::Anthropic => ApiKeyCheck::AnyNonEmpty,
                Protocol::OpenAi => ApiKeyCheck::NotRequired,
            },
            answer: Answer::Echo,
            answer_tokens: 16,
            input_tokens_override: None,
            output_tokens_override: None,
            cached_input_tokens: 0,
            cache_creation_input_tokens: 0,
            reasoning_tokens: 0,
            time_to_first_token: Duration::ZERO,
            per_token_delay: Duration::ZERO,
            latency: None,
            ping_every_tokens: 8,
            error_style: ErrorStyle::Nested,
            faults: Vec::new(),
            seed: 0,
            max_faults_per_prompt: None,
            rpm_limit: None,
            rate_window: Duration::from_secs(60),
            ratelimit_requests_limit: 4000,
            ratelimit_tokens_limit: 400_000,
            log_capacity: 100_000,
            max_body_bytes: 32 * 1024 * 1024,
        }
    }

    /// Sets one option from strings. Keys (kebab-case, units in the name): `protocol`, `port`,
    /// `api-key` (exact key), `require-api-key` (`true`/`false`), `answer` (fixed text),
    /// `answer-tokens`, `input-tokens`, `output-tokens`, `cached-input-tokens`,
    /// `cache-creation-input-tokens`, `reasoning-tokens`, `ttft-ms`, `per-token-ms`,
    /// `latency-ms`, `ping-every-tokens`, `error-style` (`nested`/`flat`), `fault`
    /// (`<spec>@<probability>`, appends), `seed`, `max-faults-per-prompt`, `rpm-limit`,
    /// `rate-window-seconds`, `ratelimit-requests-limit`, `ratelimit-tokens-limit`,
    /// `log-capacity`, `max-body-bytes`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        fn num<T: FromStr>(
            key: &str,
            value: &str,
            expected: &'static str,
        ) -> Result<T, ConfigError> {
            value.trim().parse().map_err(|_| ConfigError::InvalidValue {
                key: key.into(),
                value: value.into(),
                expected,
            })
        }
        let ms = |v: &str| num::<u64>(key, v, "milliseconds").map(Duration::from_millis);
        match key {
            "protocol" => self.protocol = value.parse()?,
            "port" => self.port = num(key, value, "a port number")?,
            "api-key" => self.api_key = ApiKeyCheck::Exact(value.to_owned()),
            "require-api-key" => {
                self.api_key = if num::<bool>(key, value, "`true` or `false`")? {
                    ApiKeyCheck::AnyNonEmpty
                } else {
                    ApiKeyCheck::NotRequired
                }
            }
            "answer" => self.answer = Answer::Fixed(value.to_owned()),
            "answer-tokens" => self.answer_tokens = num(key, value, "a number of tokens")?,
            "input-tokens" => {
                self.input_tokens_override = Some(num(key, value, "a number of tokens")?)
            }
            "output-tokens" => {
                self.output_tokens_override = Some(num(key, value, "a number of tokens")?)
            }
            "cached-input-tokens" => {
                self.cached_input_tokens = num(key, value, "a number of tokens")?
            }
            "cache-creation-input-tokens" => {
                self.cache_creation_input_tokens = num(key, value, "a number of tokens")?
            }
            "reasoning-tokens" => self.reasoning_tokens = num(key, value, "a number of tokens")?,
            "ttft-ms" => self.time_to_first_token = ms(value)?,
            "per-token-ms" => self.per_token_delay = ms(value)?,
            "latency-ms" => self.latency = Some(ms(value)?),
            "ping-every-tokens" => self.ping_every_tokens = num(key, value, "a number of deltas")?,
            "error-style" => {
                self.error_style = match value.trim() {
                    "nested" => ErrorStyle::Nested,
                    "flat" => ErrorStyle::Flat,
                    _ => {
                        return Err(ConfigError::InvalidValue {
                            key: key.into(),
                            value: value.into(),
                            expected: "`nested` or `flat`",
                        });
                    }
                }
            }
            "fault" => {
                let entry = parse_ratio_entry(value).map_err(|source| ConfigError::Fault {
                    value: value.into(),
                    source,
                })?;
                self.faults.push(entry);
            }
            "seed" => self.seed = num(key, value, "an integer")?,
            "max-faults-per-prompt" => {
                self.max_faults_per_prompt = Some(num(key, value, "a count")?)
            }
            "rpm-limit" => self.rpm_limit = Some(num(key, value, "requests per window")?),
            "rate-window-seconds" => {
                self.rate_window = Duration::from_secs(num(key, value, "seconds")?);
            }
            "ratelimit-requests-limit" => {
                self.ratelimit_requests_limit = num(key, value, "a count")?
            }
            "ratelimit-tokens-limit" => self.ratelimit_tokens_limit = num(key, value, "a count")?,
            "log-capacity" => self.log_capacity = num(key, value, "a number of records")?,
            "max-body-bytes" => self.max_body_bytes = num(key, value, "bytes")?,
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.into(),
                    valid: CONFIG_KEYS,
                });
            }
        }
        Ok(())
    }

    /// A config for `protocol` with every `(key, value)` applied in order.
    pub fn from_pairs<'a>(
        protocol: Protocol,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::new(protocol);
        for (k, v) in pairs {
            config.set(k, v)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the invariants a server needs: ratio probabilities in 0..=1 summing to at most 1,
    /// a non-zero rate window.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut sum = 0.0;
        for (fault, p) in &self.faults {
            if !(0.0..=1.0).contains(p) {
                return Err(ConfigError::Probability {
                    fault: fault.to_string(),
                    value: *p,
                });
            }
            sum += p;
        }
        if sum > 1.0 + 1e-9 {
            return Err(ConfigError::ProbabilitySum { sum });
        }
        if self.rate_window.is_zero() {
            return Err(ConfigError::InvalidValue {
                key: "rate-window-seconds".into(),
                value: "0".into(),
                expected: "at least 1 second",
            });
        }
        Ok(())
    }
}

const CONFIG_KEYS: &str = "protocol, port, api-key, require-api-key, answer, answer-tokens, input-tokens, output-tokens, cached-input-tokens, cache-creation-input-tokens, reasoning-tokens, ttft-ms, per-token-ms, latency-ms, ping-every-tokens, error-style, fault, seed, max-faults-per-prompt, rpm-limit, rate-window-seconds, ratelimit-requests-limit, ratelimit-tokens-limit, log-capacity, max-body-bytes";

/// An invalid mock server option.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown mock server option `{key}` (valid: {valid})")]
    UnknownKey { key: String, valid: &'static str },
    #[error("invalid value `{value}` for `{key}`: expected {expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("invalid fault `{value}`")]
    Fault {
        value: String,
        #[source]
        source: RatioParseError,
    },
    #[error("probability {value} of fault `{fault}` is outside 0..=1")]
    Probability { fault: String, value: f64 },
    #[error("fault probabilities sum to {sum}, more than 1")]
    ProbabilitySum { sum: f64 },
}

impl ConfigError {
    /// A bounded label for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownKey { .. } => "unknown_key",
            Self::InvalidValue { .. } => "invalid_value",
            Self::Fault { .. } => "fault",
            Self::Probability { .. } | Self::ProbabilitySum { .. } => "probability",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_every_kind_of_value() {
        let c = MockConfig::from_pairs(
            Protocol::OpenAi,
            [
                ("ttft-ms", "250"),
                ("fault", "429;retry-after=2@0.1"),
                ("fault", "reset@0.05"),
                ("error-style", "flat"),
                ("api-key", "k"),
                ("answer", "Hello there!"),
                ("max-faults-per-prompt", "1"),
            ],
        )
        .unwrap();
        assert_eq!(c.time_to_first_token, Duration::from_millis(250));
        assert_eq!(c.faults.len(), 2);
        assert_eq!(c.error_style, ErrorStyle::Flat);
        assert_eq!(c.api_key, ApiKeyCheck::Exact("k".into()));
        assert_eq!(format!("{:?}", c.api_key), "Exact(<redacted>)");
        assert_eq!(c.answer, Answer::Fixed("Hello there!".into()));
        assert_eq!(c.max_faults_per_prompt, Some(1));
    }

    #[test]
    fn set_rejects_bad_input() {
        let mut c = MockConfig::new(Protocol::Anthropic);
        assert_eq!(c.set("ttft", "1").unwrap_err().kind(), "unknown_key");
        assert_eq!(c.set("ttft-ms", "x").unwrap_err().kind(), "invalid_value");
        assert_eq!(c.set("fault", "nope@0.1").unwrap_err().kind(), "fault");
        assert_eq!(
            "grpc".parse::<Protocol>().unwrap_err().to_string(),
            "invalid value `grpc` for `protocol`: expected `anthropic` or `openai`"
        );
        c.faults = vec![
            ("500".parse().unwrap(), 0.7),
            ("reset".parse().unwrap(), 0.6),
        ];
        assert_eq!(c.validate().unwrap_err().kind(), "probability");
    }
}
