//! Per-provider request and token rate limits, and the adaptive back-off on 429s.
//!
//! - Requests per minute: a sliding window of start times, so that no 60 s window ever holds
//!   more than the limit (a token bucket would allow up to twice the limit in a window after
//!   a burst). Every attempt counts, retries included.
//! - Input and output tokens per minute: token buckets refilled continuously. A request's
//!   input is estimated from its text (4 characters per token) before it is sent and corrected
//!   from its usage after; output is charged when the answer arrives, and new requests wait
//!   while the bucket is in debt.
//! - Adaptive: a gap between request starts that doubles on every 429 (from 250 ms, at most
//!   30 s) and shrinks by 20% on every success, to zero.

use std::collections::VecDeque;
use std::time::Duration;

use llmbench_config::RateLimits;
use llmbench_core::{CompletionRequest, ProviderError, ProviderErrorKind, Usage};
use tokio::sync::Mutex;
use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(60);
/// Slack so that a server's clock, which sees requests a little after we send them, never
/// counts more than the limit in its own 60 s window.
const WINDOW_MARGIN: Duration = Duration::from_millis(250);

/// The limits of one provider; shared by all its samples.
#[derive(Debug)]
pub(crate) struct Limiter {
    requests: Option<Mutex<SlidingWindow>>,
    input: Option<Mutex<Bucket>>,
    output: Option<Mutex<Bucket>>,
    adaptive: Option<Mutex<Adaptive>>,
}

impl Limiter {
    pub(crate) fn new(limits: &RateLimits) -> Option<Self> {
        let limiter = Self {
            requests: limits
                .requests_per_minute
                .map(|n| Mutex::new(SlidingWindow::new(n as usize))),
            input: limits
                .input_tokens_per_minute
                .map(|n| Mutex::new(Bucket::new(n))),
            output: limits
                .output_tokens_per_minute
                .map(|n| Mutex::new(Bucket::new(n))),
            adaptive: limits.adaptive.then(|| Mutex::new(Adaptive::default())),
        };
        let any = limiter.requests.is_some()
            || limiter.input.is_some()
            || limiter.output.is_some()
            || limiter.adaptive.is_some();
        any.then_some(limiter)
    }

    /// Wait until one more request may start; returns the estimated input tokens charged.
    pub(crate) async fn acquire(&self, request: &CompletionRequest) -> u64 {
        let estimate = estimate_input_tokens(request);
        if let Some(adaptive) = &self.adaptive {
            let wait = adaptive.lock().await.reserve(Instant::now());
            tokio::time::sleep_until(wait).await;
        }
        if let Some(output) = &self.output {
            loop {
                let wait = output.lock().await.until_positive(Instant::now());
                match wait {
                    None => break,
                    Some(at) => tokio::time::sleep_until(at).await,
                }
            }
        }
        if let Some(input) = &self.input {
            loop {
                let wait = input.lock().await.try_take(estimate, Instant::now());
                match wait {
                    None => break,
                    Some(at) => tokio::time::sleep_until(at).await,
                }
            }
        }
        if let Some(requests) = &self.requests {
            loop {
                let wait = requests.lock().await.try_start(Instant::now());
                match wait {
                    None => break,
                    Some(at) => tokio::time::sleep_until(at).await,
                }
            }
        }
        estimate
    }

    /// Account for an attempt's outcome: correct the input estimate, charge output tokens,
    /// and feed the adaptive back-off.
    pub(crate) async fn record(&self, charged_input: u64, result: Result<&Usage, &ProviderError>) {
        if let (Some(input), Ok(usage)) = (&self.input, result)
            && let Some(actual) = usage.total_input()
        {
            input
                .lock()
                .await
                .adjust(actual as f64 - charged_input as f64, Instant::now());
        }
        if let (Some(output), Ok(usage)) = (&self.output, result)
            && let Some(n) = usage.output_tokens
        {
            output.lock().await.adjust(n as f64, Instant::now());
        }
        if let Some(adaptive) = &self.adaptive {
            let mut a = adaptive.lock().await;
            match result {
                Err(e) if e.kind == ProviderErrorKind::RateLimited => a.back_off(),
                Ok(_) => a.recover(),
                Err(_) => {}
            }
        }
    }
}

/// Roughly 4 characters per token, as the providers' own rules of thumb.
pub(crate) fn estimate_input_tokens(request: &CompletionRequest) -> u64 {
    let chars: usize = request.system.as_deref().map_or(0, str::len)
        + request
            .messages
            .iter()
            .map(|m| m.content.len())
            .sum::<usize>();
    tokens_for_chars(chars)
}

/// Input tokens estimated from a prompt's characters: 4 per token, at least 1.
pub(crate) fn tokens_for_chars(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

#[derive(Debug)]
struct SlidingWindow {
    limit: usize,
    starts: VecDeque<Instant>,
}

impl SlidingWindow {
    fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            starts: VecDeque::new(),
        }
    }

    /// Record a start now and return `None`, or return when to try again.
    fn try_start(&mut self, now: Instant) -> Option<Instant> {
        while self
            .starts
            .front()
            .is_some_and(|&t| now.duration_since(t) >= WINDOW + WINDOW_MARGIN)
        {
            self.starts.pop_front();
        }
        if self.starts.len() < self.limit {
            self.starts.push_back(now);
            None
        } else {
            Some(self.starts[0] + WINDOW + WINDOW_MARGIN)
        }
    }
}

/// A token bucket holding up to one minute's worth, refilled continuously; it may go into
/// debt (a request larger than the bucket, or output charged after the fact).
#[derive(Debug)]
struct Bucket {
    per_minute: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: u64) -> Self {
        Self {
            per_minute: per_minute as f64,
            level: per_minute as f64,
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.per_minute / 60.0).min(self.per_minute);
        self.at = now;
    }

    fn time_to(&self, level: f64) -> Duration {
        Duration::from_secs_f64(((level - self.level) * 60.0 / self.per_minute).max(0.001))
    }

    /// Take `n` tokens now (`None`), or say when enough will be there. A request larger than
    /// the whole bucket goes when the bucket is full.
    fn try_take(&mut self, n: u64, now: Instant) -> Option<Instant> {
        self.refill(now);
        let need = (n as f64).min(self.per_minute);
        if self.level >= need {
            self.level -= n as f64;
            None
        } else {
            Some(now + self.time_to(need))
        }
    }

    /// `None` when the bucket is not in debt, else when it will be.
    fn until_positive(&mut self, now: Instant) -> Option<Instant> {
        self.refill(now);
        (self.level < 0.0).then(|| now + self.time_to(0.0))
    }

    fn adjust(&mut self, charge: f64, now: Instant) {
        self.refill(now);
        self.level -= charge;
    }
}

#[derive(Debug, Default)]
struct Adaptive {
    gap: Duration,
    next: Option<Instant>,
}

impl Adaptive {
    fn reserve(&mut self, now: Instant) -> Instant {
        let at = self.next.map_or(now, |n| n.max(now));
        self.next = Some(at + self.gap);
        at
    }

    fn back_off(&mut self) {
        self.gap = (self.gap * 2).clamp(Duration::from_millis(250), Duration::from_secs(30));
    }

    fn recover(&mut self) {
        self.gap = self.gap.mul_f64(0.8);
        if self.gap < Duration::from_millis(10) {
            self.gap = Duration::ZERO;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_never_holds_more_than_the_limit() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::new(3);
        assert_eq!(w.try_start(t0), None);
        assert_eq!(w.try_start(t0 + Duration::from_secs(1)), None);
        assert_eq!(w.try_start(t0 + Duration::from_secs(2)), None);
        let retry = w.try_start(t0 + Duration::from_secs(3)).unwrap();
        assert_eq!(retry, t0 + WINDOW + WINDOW_MARGIN);
        assert_eq!(w.try_start(retry), None);
    }

    #[test]
    fn buckets_refill_and_go_into_debt() {
        let t0 = Instant::now();
        let mut b = Bucket {
            per_minute: 600.0,
            level: 600.0,
            at: t0,
        };
        assert_eq!(b.try_take(500, t0), None);
        let wait = b.try_take(500, t0).unwrap();
        // 400 more tokens at 10 per second: 40 s.
        assert!((wait.duration_since(t0).as_secs_f64() - 40.0).abs() < 0.01);
        b.adjust(1000.0, t0); // output charged after the fact
        let until = b.until_positive(t0).unwrap();
        assert!((until.duration_since(t0).as_secs_f64() - 90.0).abs() < 0.01);
    }

    #[test]
    fn adaptive_gap_doubles_on_429_and_recovers() {
        let mut a = Adaptive::default();
        a.back_off();
        assert_eq!(a.gap, Duration::from_millis(250));
        a.back_off();
        assert_eq!(a.gap, Duration::from_millis(500));
        for _ in 0..40 {
            a.recover();
        }
        assert_eq!(a.gap, Duration::ZERO);
    }
}
