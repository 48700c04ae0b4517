//! When to try a failed request again, and how long to wait first.
//!
//! The defaults follow the official Anthropic and OpenAI SDKs: at most 2 retries; honour
//! `x-should-retry`; retry rate limits, overload, server errors, timeouts and connection
//! errors; wait `retry-after` when the server gives one (up to `max_retry_after`), otherwise
//! `min(0.5 s * 2^n, 8 s)` reduced by up to 25% jitter.

use std::time::Duration;

use llmbench_core::ProviderError;

/// The runner's retry policy. Plugins never retry; they classify.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A `retry-after` longer than this is not honoured: the request is not retried.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before retry number `retries_taken + 1`, or `None` to give up.
    /// `jitter` is a uniform draw in `[0, 1)`.
    pub fn next_delay(
        &self,
        error: &ProviderError,
        retries_taken: u32,
        jitter: f64,
    ) -> Option<Duration> {
        if retries_taken >= self.max_retries || !error.is_retryable() {
            return None;
        }
        if let Some(after) = error.retry_after {
            if after > self.max_retry_after {
                return None;
            }
            if !after.is_zero() {
                return Some(after);
            }
        }
        let base = self.initial_backoff.as_secs_f64() * 2f64.powi(retries_taken as i32);
        let capped = base.min(self.max_backoff.as_secs_f64());
        Some(Duration::from_secs_f64(
            capped * (1.0 - 0.25 * jitter.clamp(0.0, 1.0)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use llmbench_core::ProviderErrorKind;

    use super::*;

    fn error(kind: ProviderErrorKind) -> ProviderError {
        ProviderError::new(kind, "x")
    }

    #[test]
    fn follows_the_sdk_schedule() {
        let p = RetryPolicy::default();
        let e = error(ProviderErrorKind::Server);
        assert_eq!(p.next_delay(&e, 0, 0.0), Some(Duration::from_millis(500)));
        assert_eq!(p.next_delay(&e, 0, 1.0), Some(Duration::from_millis(375)));
        assert_eq!(p.next_delay(&e, 1, 0.0), Some(Duration::from_secs(1)));
        assert_eq!(p.next_delay(&e, 2, 0.0), None, "at most 3 attempts");
    }

    #[test]
    fn honours_the_server() {
        let p = RetryPolicy::default();
        let mut e = error(ProviderErrorKind::RateLimited);
        e.retry_after = Some(Duration::from_secs(2));
        assert_eq!(p.next_delay(&e, 0, 0.5), Some(Duration::from_secs(2)));
        e.retry_after = Some(Duration::from_secs(600));
        assert_eq!(p.next_delay(&e, 0, 0.5), None);
        let mut e = error(ProviderErrorKind::Server);
        e.should_retry = Some(false);
        assert_eq!(p.next_delay(&e, 0, 0.5), None);
        for kind in [
            ProviderErrorKind::BadRequest,
            ProviderErrorKind::Auth,
            ProviderErrorKind::SpendLimit,
        ] {
            assert_eq!(p.next_delay(&error(kind), 0, 0.5), None, "{kind:?}");
        }
    }
}
