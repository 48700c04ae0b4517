//! What response headers say about retrying and rate limits.
//!
//! Both vendors' names are read: Anthropic's `request-id` and
//! `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
//! OpenAI's `x-request-id` and `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, and the
//! shared `retry-after`, `retry-after-ms` and `x-should-retry`.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// How long the server asked the client to wait: `retry-after-ms` (milliseconds) first,
/// else `retry-after` in seconds (integer or fractional) or as an HTTP-date, measured from
/// `now`. A date in the past is zero; a negative or unreadable value is `None`.
///
/// No cap is applied here: the runner decides what is too long to honour.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(ms) = text(headers, "retry-after-ms").and_then(seconds)
        && let Ok(d) = Duration::try_from_secs_f64(ms / 1000.0)
    {
        return Some(d);
    }
    let value = text(headers, "retry-after")?;
    if let Some(s) = seconds(value) {
        return Duration::try_from_secs_f64(s).ok();
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

fn seconds(value: &str) -> Option<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

/// The server's `x-should-retry: true|false`, which overrides the default retry policy.
pub fn should_retry(headers: &HeaderMap) -> Option<bool> {
    match text(headers, "x-should-retry")? {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The request id the server assigned (`request-id` for Anthropic, `x-request-id` for
/// OpenAI and most compatible servers).
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    text(headers, "request-id")
        .or_else(|| text(headers, "x-request-id"))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// One rate-limit window as the server reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// When the window resets, verbatim: an RFC 3339 timestamp (Anthropic) or a duration
    /// such as `6m0s` (OpenAI).
    pub reset: Option<String>,
}

impl Limit {
    fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.reset.is_none()
    }
}

/// The rate-limit headers of one response, vendor-neutral. Empty when the server sends none
/// (vLLM, llama.cpp, Ollama).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    pub requests: Limit,
    /// All tokens (Anthropic's `tokens`, OpenAI's `tokens`).
    pub tokens: Limit,
    pub input_tokens: Limit,
    pub output_tokens: Limit,
}

impl RateLimits {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        // One pass over the names present, each matched against the names read: looking up
        // 24 names built by `format!` was a tenth of the HTTP client's CPU per request against
        // a local server (docs/performance.md). As `HeaderMap::get`, a name's first value is
        // the one read.
        const CLASSES: [&str; 4] = ["requests", "tokens", "input-tokens", "output-tokens"];
        let mut anthropic: [Limit; 4] = Default::default();
        let mut openai: [Limit; 2] = Default::default();
        for name in headers.keys() {
            let name_str = name.as_str();
            let (slot, field) = if let Some(rest) = name_str.strip_prefix("anthropic-ratelimit-") {
                let Some((class, field)) = ["-limit", "-remaining", "-reset"]
                    .iter()
                    .find_map(|f| rest.strip_suffix(f).map(|class| (class, &f[1..])))
                else {
                    continue;
                };
                let Some(i) = CLASSES.iter().position(|c| *c == class) else {
                    continue;
                };
                (&mut anthropic[i], field)
            } else if let Some(rest) = name_str.strip_prefix("x-ratelimit-") {
                let Some((field, class)) = rest.split_once('-') else {
                    continue;
                };
                let Some(i) = CLASSES[..2].iter().position(|c| *c == class) else {
                    continue;
                };
                (&mut openai[i], field)
            } else {
                continue;
            };
            let value = headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim);
            match field {
                "limit" => slot.limit = value.and_then(|v| v.parse().ok()),
                "remaining" => slot.remaining = value.and_then(|v| v.parse().ok()),
                "reset" => slot.reset = value.map(str::to_owned),
                _ => {}
            }
        }
        let [a_requests, a_tokens, input_tokens, output_tokens] = anthropic;
        let [o_requests, o_tokens] = openai;
        let either = |a: Limit, o: Limit| if a.is_empty() { o } else { a };
        Self {
            requests: either(a_requests, o_requests),
            tokens: either(a_tokens, o_tokens),
            input_tokens,
            output_tokens,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
            && self.tokens.is_empty()
            && self.input_tokens.is_empty()
            && self.output_tokens.is_empty()
    }
}

/// Parse the head of a raw HTTP response (status line and headers, as in the `.http`
/// fixtures) into a status and a header map. For tests.
#[cfg(test)]
pub(crate) fn parse_http_fixture(raw: &str) -> (u16, HeaderMap, String) {
    let (head, body) = raw.split_once("\n\n").expect("head and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').expect("header line");
        headers.append(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            value.trim().parse().unwrap(),
        );
    }
    (status, headers, body.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_in_seconds_fractions_and_milliseconds() {
        let now = SystemTime::now();
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")]), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "0.5")]), now),
            Some(Duration::from_millis(500))
        );
        // retry-after-ms wins over retry-after.
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "2"), ("retry-after-ms", "250")]),
                now
            ),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn retry_after_as_an_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2026 07:28:30 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2026 07:27:00 GMT")]),
                now
            ),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
    }

    #[test]
    fn should_retry_header() {
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "false")])),
            Some(false)
        );
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "TRUE")])),
            Some(true)
        );
        assert_eq!(should_retry(&headers(&[("x-should-retry", "maybe")])), None);
        assert_eq!(should_retry(&HeaderMap::new()), None);
    }

    #[test]
    fn anthropic_fixture_rate_limits_and_request_id() {
        let (status, h, _) =
            parse_http_fixture(include_str!("../fixtures/anthropic_error_429.http"));
        assert_eq!(status, 429);
        assert_eq!(request_id(&h).as_deref(), Some("req_test_429"));
        let r = RateLimits::from_headers(&h);
        assert_eq!(
            r.requests,
            Limit {
                limit: Some(50),
                remaining: Some(0),
                reset: Some("2026-01-01T00:00:02Z".into())
            }
        );
        assert_eq!(r.tokens.limit, Some(96000));
        assert!(r.input_tokens.limit.is_none());
        assert!(!r.is_empty());
    }

    #[test]
    fn openai_fixture_rate_limits_and_request_id() {
        let (status, h, _) = parse_http_fixture(include_str!("../fixtures/openai_error_429.http"));
        assert_eq!(status, 429);
        assert_eq!(request_id(&h).as_deref(), Some("req_test"));
        assert_eq!(
            retry_after(&h, SystemTime::now()),
            Some(Duration::from_secs(1))
        );
        let r = RateLimits::from_headers(&h);
        assert_eq!(
            r.tokens,
            Limit {
                limit: Some(150000),
                remaining: Some(149984),
                reset: Some("6m0s".into())
            }
        );
        assert_eq!(r.requests.reset.as_deref(), Some("1s"));
    }

    /// The reading before the one-pass one: every name built and looked up.
    fn reference(headers: &HeaderMap) -> RateLimits {
        let number = |name: &str| -> Option<u64> { text(headers, name)?.parse().ok() };
        let anthropic = |class: &str| Limit {
            limit: number(&format!("anthropic-ratelimit-{class}-limit")),
            remaining: number(&format!("anthropic-ratelimit-{class}-remaining")),
            reset: text(headers, &format!("anthropic-ratelimit-{class}-reset")).map(str::to_owned),
        };
        let openai = |class: &str| Limit {
            limit: number(&format!("x-ratelimit-limit-{class}")),
            remaining: number(&format!("x-ratelimit-remaining-{class}")),
            reset: text(headers, &format!("x-ratelimit-reset-{class}")).map(str::to_owned),
        };
        let either = |class: &str| {
            let a = anthropic(class);
            if a.is_empty() { openai(class) } else { a }
        };
        RateLimits {
            requests: either("requests"),
            tokens: either("tokens"),
            input_tokens: anthropic("input-tokens"),
            output_tokens: anthropic("output-tokens"),
        }
    }

    #[test]
    fn one_pass_reads_what_looking_every_name_up_read() {
        let mut names = Vec::new();
        for class in ["requests", "tokens", "input-tokens", "output-tokens", "x"] {
            for field in ["limit", "remaining", "reset"] {
                names.push(format!("anthropic-ratelimit-{class}-{field}"));
                names.push(format!("x-ratelimit-{field}-{class}"));
            }
        }
        names.extend(
            [
                "anthropic-ratelimit-tokens-remaining-limit",
                "x-ratelimit-limit-requests-extra",
                "x-ratelimit-limit",
                "anthropic-ratelimit-",
                "x-request-id",
            ]
            .map(str::to_owned),
        );
        let values = [
            " 42 ",
            "7",
            "-3",
            "soon",
            "6m0s",
            "2026-01-01T00:00:02Z",
            "",
        ];
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        for _ in 0..2000 {
            let mut h = HeaderMap::new();
            for _ in 0..next(12) {
                let name =
                    reqwest::header::HeaderName::from_bytes(names[next(names.len())].as_bytes())
                        .unwrap();
                // Sometimes a second value under the same name: the first one counts.
                h.append(name, values[next(values.len())].parse().unwrap());
            }
            assert_eq!(RateLimits::from_headers(&h), reference(&h), "{h:?}");
        }
    }

    #[test]
    fn no_rate_limit_headers_is_empty() {
        assert!(RateLimits::from_headers(&HeaderMap::new()).is_empty());
        let h = headers(&[("x-request-id", "r"), ("content-type", "text/event-stream")]);
        assert!(RateLimits::from_headers(&h).is_empty());
        // One header of one vendor is enough to read them all.
        let h = headers(&[("x-request-id", "r"), ("x-ratelimit-remaining-tokens", "7")]);
        assert_eq!(RateLimits::from_headers(&h).tokens.remaining, Some(7));
        let h = headers(&[("anthropic-ratelimit-output-tokens-limit", "9")]);
        assert_eq!(RateLimits::from_headers(&h).output_tokens.limit, Some(9));
    }
}
