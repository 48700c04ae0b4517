//! Faults: what can go wrong with a request, the `<name>[;key=value]...` syntax, and the
//! seeded ratio draw.

use std::fmt;
use std::str::FromStr;

use crate::text::unit_draw;

/// What a fault does to one request. See the crate README for the full table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// No fault; as a header or directive it overrides ratio mode for that request.
    None,
    /// An error response with this HTTP status (400..=599) and the protocol's error body.
    Status(u16),
    /// A 429 that reports an exhausted spend limit / quota (not worth retrying).
    SpendLimit,
    /// The connection is closed without a response.
    Reset,
    /// Nothing is sent for `ms`, then the normal answer.
    Stall,
    /// A 200 stream (or body) that breaks after `after` deltas.
    Cut,
    /// Invalid JSON body, or one invalid SSE `data:` line.
    Malformed,
    /// A 200 stream that carries an error event after `after` deltas.
    ErrorEvent,
    /// An extra `ms` before the first content delta.
    SlowFirstToken,
}

/// `Retry-After` setting of an error fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryAfter {
    /// Send no `retry-after` header.
    Omit,
    /// Send `retry-after: <seconds>` (fractions allowed).
    Seconds(f64),
}

/// One fault with its parameters. Parse with [`str::parse`], print with `Display` (the same
/// syntax, so it round-trips).
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub kind: FaultKind,
    /// `retry-after=<seconds>|none`; a 429 without it (and without `retry-after-ms`) sends 1.
    pub retry_after: Option<RetryAfter>,
    /// `retry-after-ms=<ms>`.
    pub retry_after_ms: Option<u64>,
    /// `should-retry=true|false`: the `x-should-retry` header on an error response.
    pub should_retry: Option<bool>,
    /// `ms=<ms>`: stall or extra first-token delay.
    pub ms: Option<u64>,
    /// `after=<deltas>`: deltas sent before a cut or an error event.
    pub after: Option<usize>,
    /// `type=<error type>`: overrides the error type of a status fault or an error event.
    pub error_type: Option<String>,
    /// `times=<n>`: apply only while fewer than n faults were applied to the same prompt.
    pub times: Option<u32>,
}

impl Fault {
    /// A fault of this kind with every parameter at its default.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            retry_after: None,
            retry_after_ms: None,
            should_retry: None,
            ms: None,
            after: None,
            error_type: None,
            times: None,
        }
    }

    /// The fault's name as written in the syntax (`429`, `reset`, ...).
    pub fn name(&self) -> String {
        match self.kind {
            FaultKind::None => "none".into(),
            FaultKind::Status(s) => s.to_string(),
            FaultKind::SpendLimit => "429-spend-limit".into(),
            FaultKind::Reset => "reset".into(),
            FaultKind::Stall => "stall".into(),
            FaultKind::Cut => "cut".into(),
            FaultKind::Malformed => "malformed".into(),
            FaultKind::ErrorEvent => "error-event".into(),
            FaultKind::SlowFirstToken => "slow-first-token".into(),
        }
    }

    /// The `retry-after` header value this fault sends, if any.
    pub(crate) fn retry_after_header(&self) -> Option<String> {
        match self.retry_after {
            Some(RetryAfter::Omit) => None,
            Some(RetryAfter::Seconds(s)) => Some(format_seconds(s)),
            None if self.kind == FaultKind::Status(429) && self.retry_after_ms.is_none() => {
                Some("1".into())
            }
            None => None,
        }
    }
}

fn format_seconds(s: f64) -> String {
    if s.fract() == 0.0 && s < 1e15 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

/// Every fault name, for error messages.
pub const FAULT_NAMES: &str = "none, 429, 429-spend-limit, <any 4xx/5xx status>, reset, stall, cut, malformed, error-event, slow-first-token";

/// A fault spec that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultParseError {
    #[error("empty fault spec")]
    Empty,
    #[error("unknown fault `{name}` (valid: {FAULT_NAMES})")]
    UnknownFault { name: String },
    #[error("unknown key `{key}` for fault `{fault}` (valid: {valid})")]
    UnknownKey {
        fault: String,
        key: String,
        valid: &'static str,
    },
    #[error("missing `=value` after key `{key}`")]
    MissingValue { key: String },
    #[error("invalid value `{value}` for key `{key}`: expected {expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: &'static str,
    },
}

impl FaultParseError {
    /// A bounded label for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::UnknownFault { .. } => "unknown_fault",
            Self::UnknownKey { .. } => "unknown_key",
            Self::MissingValue { .. } => "missing_value",
            Self::InvalidValue { .. } => "invalid_value",
        }
    }
}

fn valid_keys(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Status(_) => "retry-after, retry-after-ms, should-retry, type, times",
        FaultKind::SpendLimit => "retry-after, retry-after-ms, should-retry, times",
        FaultKind::Stall | FaultKind::SlowFirstToken => "ms, should-retry, times",
        FaultKind::Cut => "after, should-retry, times",
        FaultKind::ErrorEvent => "after, type, should-retry, times",
        FaultKind::None | FaultKind::Reset | FaultKind::Malformed => "should-retry, times",
    }
}

fn parse_value<T: FromStr>(
    key: &str,
    value: &str,
    expected: &'static str,
) -> Result<T, FaultParseError> {
    value.parse().map_err(|_| FaultParseError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        expected,
    })
}

impl FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(';').map(str::trim);
        let name = parts.next().unwrap_or("").to_ascii_lowercase();
        let kind = match name.as_str() {
            "" => return Err(FaultParseError::Empty),
            "none" => FaultKind::None,
            "429-spend-limit" => FaultKind::SpendLimit,
            "reset" => FaultKind::Reset,
            "stall" => FaultKind::Stall,
            "cut" => FaultKind::Cut,
            "malformed" => FaultKind::Malformed,
            "error-event" => FaultKind::ErrorEvent,
            "slow-first-token" => FaultKind::SlowFirstToken,
            other => match other.parse::<u16>() {
                Ok(status @ 400..=599) => FaultKind::Status(status),
                _ => return Err(FaultParseError::UnknownFault { name }),
            },
        };
        let mut fault = Fault::new(kind);
        for part in parts.filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| FaultParseError::MissingValue {
                    key: part.to_owned(),
                })?;
            let allowed = valid_keys(kind);
            if !allowed.split(", ").any(|k| k == key) {
                return Err(FaultParseError::UnknownKey {
                    fault: name.clone(),
                    key: key.to_owned(),
                    valid: allowed,
                });
            }
            match key {
                "retry-after" => {
                    fault.retry_after = Some(if value.eq_ignore_ascii_case("none") {
                        RetryAfter::Omit
                    } else {
                        let secs: f64 = parse_value(key, value, "seconds >= 0 or `none`")?;
                        if !(secs.is_finite() && secs >= 0.0) {
                            return Err(FaultParseError::InvalidValue {
                                key: key.into(),
                                value: value.into(),
                                expected: "seconds >= 0 or `none`",
                            });
                        }
                        RetryAfter::Seconds(secs)
                    });
                }
                "retry-after-ms" => {
                    fault.retry_after_ms = Some(parse_value(key, value, "milliseconds")?);
                }
                "should-retry" => {
                    fault.should_retry = Some(parse_value(key, value, "`true` or `false`")?);
                }
                "ms" => fault.ms = Some(parse_value(key, value, "milliseconds")?),
                "after" => fault.after = Some(parse_value(key, value, "a number of deltas")?),
                "type" => {
                    if value.is_empty()
                        || !value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        return Err(FaultParseError::InvalidValue {
                            key: key.into(),
                            value: value.into(),
                            expected: "an error type like `overloaded_error`",
                        });
                    }
                    fault.error_type = Some(value.to_owned());
                }
                "times" => fault.times = Some(parse_value(key, value, "a count")?),
                _ => unreachable!("key validated against the allowed list"),
            }
        }
        Ok(fault)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        match self.retry_after {
            Some(RetryAfter::Omit) => f.write_str(";retry-after=none")?,
            Some(RetryAfter::Seconds(s)) => write!(f, ";retry-after={}", format_seconds(s))?,
            None => {}
        }
        if let Some(v) = self.retry_after_ms {
            write!(f, ";retry-after-ms={v}")?;
        }
        if let Some(v) = self.should_retry {
            write!(f, ";should-retry={v}")?;
        }
        if let Some(v) = self.ms {
            write!(f, ";ms={v}")?;
        }
        if let Some(v) = self.after {
            write!(f, ";after={v}")?;
        }
        if let Some(v) = &self.error_type {
            write!(f, ";type={v}")?;
        }
        if let Some(v) = self.times {
            write!(f, ";times={v}")?;
        }
        Ok(())
    }
}

/// Parses a ratio entry `<fault spec>@<probability>`, e.g. `429;retry-after=2@0.1`.
pub fn parse_ratio_entry(s: &str) -> Result<(Fault, f64), RatioParseError> {
    let (spec, p) = s
        .rsplit_once('@')
        .ok_or_else(|| RatioParseError::MissingProbability {
            entry: s.to_owned(),
        })?;
    let p: f64 = p
        .trim()
        .parse()
        .map_err(|_| RatioParseError::InvalidProbability {
            value: p.to_owned(),
        })?;
    if !(0.0..=1.0).contains(&p) {
        return Err(RatioParseError::InvalidProbability {
            value: p.to_string(),
        });
    }
    Ok((spec.parse()?, p))
}

/// A ratio entry that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatioParseError {
    #[error("ratio fault `{entry}` has no `@<probability>`")]
    MissingProbability { entry: String },
    #[error("invalid probability `{value}`: expected a number in 0..=1")]
    InvalidProbability { value: String },
    #[error(transparent)]
    Fault(#[from] FaultParseError),
}

/// Picks the ratio-mode fault of request number `seq`.
pub(crate) fn pick_ratio(faults: &[(Fault, f64)], seed: u64, seq: u64) -> Option<&Fault> {
    if faults.is_empty() {
        return None;
    }
    let u = unit_draw(seed, seq);
    let mut acc = 0.0;
    for (fault, p) in faults {
        acc += p;
        if u < acc {
            return Some(fault);
        }
    }
    None
}

/// Finds a `MOCK_FAULT=<spec>` directive in a message text; the spec runs to the next
/// whitespace. Returns the raw spec.
pub(crate) fn find_directive(text: &str) -> Option<&str> {
    const TAG: &str = "MOCK_FAULT=";
    let start = text.find(TAG)? + TAG.len();
    let rest = &text[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        for s in [
            "429;retry-after=2",
            "429;retry-after=0.5;retry-after-ms=500",
            "429;retry-after=none",
            "429-spend-limit",
            "529;should-retry=false",
            "500;type=api_error;times=2",
            "reset",
            "stall;ms=1500",
            "cut;after=3",
            "malformed",
            "error-event;after=0;type=api_error",
            "slow-first-token;ms=100",
            "none",
            "413",
        ] {
            let f: Fault = s.parse().unwrap();
            assert_eq!(f.to_string(), s);
        }
    }

    #[test]
    fn retry_after_defaults() {
        let f: Fault = "429".parse().unwrap();
        assert_eq!(f.retry_after_header().as_deref(), Some("1"));
        let f: Fault = "429;retry-after-ms=700".parse().unwrap();
        assert_eq!(f.retry_after_header(), None);
        let f: Fault = "503".parse().unwrap();
        assert_eq!(f.retry_after_header(), None);
        let f: Fault = "503;retry-after=2.5".parse().unwrap();
        assert_eq!(f.retry_after_header().as_deref(), Some("2.5"));
    }

    #[test]
    fn rejects_bad_specs() {
        let err = |s: &str| s.parse::<Fault>().unwrap_err();
        assert_eq!(err("").kind(), "empty");
        assert_eq!(err("boom").kind(), "unknown_fault");
        assert_eq!(err("200").kind(), "unknown_fault");
        assert_eq!(err("cut;ms=3").kind(), "unknown_key");
        assert_eq!(err("stall;ms").kind(), "missing_value");
        assert_eq!(err("stall;ms=soon").kind(), "invalid_value");
        assert_eq!(
            err("boom").to_string(),
            format!("unknown fault `boom` (valid: {FAULT_NAMES})")
        );
        assert_eq!(
            err("reset;after=1").to_string(),
            "unknown key `after` for fault `reset` (valid: should-retry, times)"
        );
    }

    #[test]
    fn ratio_entries() {
        let (f, p) = parse_ratio_entry("429;retry-after=2@0.25").unwrap();
        assert_eq!(f.to_string(), "429;retry-after=2");
        assert!((p - 0.25).abs() < 1e-12);
        assert!(parse_ratio_entry("429").is_err());
        assert!(parse_ratio_entry("429@1.5").is_err());
        assert!(parse_ratio_entry("nope@0.5").is_err());
    }

    #[test]
    fn ratio_pick_is_seeded() {
        let faults = vec![
            ("500".parse().unwrap(), 0.2),
            ("reset".parse().unwrap(), 0.1),
        ];
        let run = |seed| -> Vec<Option<String>> {
            (0..500)
                .map(|k| pick_ratio(&faults, seed, k).map(|f| f.to_string()))
                .collect()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let picks = run(1);
        let n500 = picks.iter().filter(|p| p.as_deref() == Some("500")).count();
        let nreset = picks
            .iter()
            .filter(|p| p.as_deref() == Some("reset"))
            .count();
        assert!((70..130).contains(&n500), "{n500}");
        assert!((25..75).contains(&nreset), "{nreset}");
    }

    #[test]
    fn directive_runs_to_whitespace() {
        assert_eq!(
            find_directive("q? MOCK_FAULT=429;retry-after=2 tail"),
            Some("429;retry-after=2")
        );
        assert_eq!(find_directive("MOCK_FAULT=reset"), Some("reset"));
        assert_eq!(find_directive("nothing here"), None);
    }
}
