//! The request log and the request-rate window: what the server saw, for tests to assert on.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::config::Protocol;
use crate::fault::Fault;

/// How a request ended, from the server's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The response is still being produced.
    InFlight,
    /// The whole response was handed to the connection.
    Completed,
    /// The response ended early: the client went away, the server shut down, or a `cut` fault.
    Aborted,
    /// The connection was closed without a response (`reset` fault).
    Reset,
}

/// One request as the server saw it. Holds no secret: only whether an API key was present and
/// its length.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Arrival order from 0; also the index of the ratio-mode draw.
    pub seq: u64,
    pub arrived: Instant,
    pub arrived_wall: SystemTime,
    pub protocol: Protocol,
    pub path: String,
    pub model: Option<String>,
    pub stream: bool,
    /// Hash of model, system and messages; `None` when the body did not parse.
    pub prompt_hash: Option<u64>,
    /// 1-based attempt number of this prompt on this endpoint (0 when the body did not parse).
    pub attempt: u32,
    /// `x-stainless-retry-count`, when present and numeric.
    pub stainless_retry_count: Option<u32>,
    pub anthropic_version: Option<String>,
    /// Whether `x-api-key` or `Authorization: Bearer` carried a non-empty key.
    pub api_key_present: bool,
    /// Length of that key in bytes (0 if absent). The key itself is never stored.
    pub api_key_len: usize,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// HTTP status sent; `None` for a reset.
    pub status: Option<u16>,
    /// When the last byte was handed to the connection, or the response was abandoned.
    pub completed: Option<Instant>,
    pub outcome: Outcome,
}

/// The capped log: the first `capacity` records are kept, later ones only counted.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    records: Mutex<Vec<RequestRecord>>,
    dropped: AtomicU64,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            records: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
        }
    }

    /// Adds a record; returns its slot, or `None` when the log is full or disabled.
    pub(crate) fn push(&self, record: RequestRecord) -> Option<usize> {
        let mut records = lock(&self.records);
        if records.len() >= self.capacity {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        records.push(record);
        Some(records.len() - 1)
    }

    pub(crate) fn finish(&self, slot: usize, outcome: Outcome, at: Instant) {
        if let Some(r) = lock(&self.records).get_mut(slot) {
            r.outcome = outcome;
            r.completed = Some(at);
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<RequestRecord> {
        let mut out = lock(&self.records).clone();
        out.sort_by_key(|r| r.seq);
        out
    }

    pub(crate) fn clear(&self) {
        lock(&self.records).clear();
        self.dropped.store(0, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Locks a mutex, ignoring poisoning (a panicking test thread must not hide the log).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sliding-window counters: every arrival (for `max_requests_in_window`), and the admitted
/// requests with their tokens (for rate-limit headers and `rpm_limit`).
#[derive(Debug)]
pub(crate) struct RateWindow {
    window: Duration,
    arrivals: VecDeque<Instant>,
    max_arrivals: usize,
    admitted: VecDeque<(Instant, u64)>,
    admitted_tokens: u64,
}

/// What the rate-limit headers report at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateSnapshot {
    pub(crate) requests: u64,
    pub(crate) tokens: u64,
    /// Time until the oldest admitted request leaves the window.
    pub(crate) reset_in: Duration,
}

impl RateWindow {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            arrivals: VecDeque::new(),
            max_arrivals: 0,
            admitted: VecDeque::new(),
            admitted_tokens: 0,
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&t) = self.arrivals.front() {
            if now.duration_since(t) >= self.window {
                self.arrivals.pop_front();
            } else {
                break;
            }
        }
        while let Some(&(t, tokens)) = self.admitted.front() {
            if now.duration_since(t) >= self.window {
                self.admitted.pop_front();
                self.admitted_tokens -= tokens;
            } else {
                break;
            }
        }
    }

    pub(crate) fn arrive(&mut self, now: Instant) {
        self.expire(now);
        self.arrivals.push_back(now);
        self.max_arrivals = self.max_arrivals.max(self.arrivals.len());
    }

    /// Admits a request unless `limit` requests are already in the window; on refusal returns
    /// how long until a slot frees.
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        tokens: u64,
        limit: Option<u32>,
    ) -> Result<(), Duration> {
        self.expire(now);
        if let Some(limit) = limit
            && self.admitted.len() >= limit as usize
        {
            let oldest = self.admitted.front().map_or(now, |&(t, _)| t);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        self.admitted.push_back((now, tokens));
        self.admitted_tokens += tokens;
        Ok(())
    }

    pub(crate) fn snapshot(&mut self, now: Instant) -> RateSnapshot {
        self.expire(now);
        let reset_in = self.admitted.front().map_or(Duration::ZERO, |&(t, _)| {
            self.window.saturating_sub(now.duration_since(t))
        });
        RateSnapshot {
            requests: self.admitted.len() as u64,
            tokens: self.admitted_tokens,
            reset_in,
        }
    }

    pub(crate) fn max_arrivals(&self) -> usize {
        self.max_arrivals
    }

    pub(crate) fn reset_max(&mut self) {
        self.max_arrivals = self.arrivals.len();
    }
}

/// The largest number of requests of `records` that arrived within any span shorter than
/// `window` (a sliding window anchored at each arrival).
pub fn max_in_window(records: &[RequestRecord], window: Duration) -> usize {
    let mut times: Vec<Instant> = records.iter().map(|r| r.arrived).collect();
    times.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end].duration_since(times[start]) >= window {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_and_limits() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(Duration::from_secs(60));
        for i in 0..3 {
            w.arrive(t0 + Duration::from_secs(i));
            w.admit(t0 + Duration::from_secs(i), 10, Some(3)).unwrap();
        }
        let refused = w
            .admit(t0 + Duration::from_secs(5), 10, Some(3))
            .unwrap_err();
        assert_eq!(refused, Duration::from_secs(55));
        let s = w.snapshot(t0 + Duration::from_secs(5));
        assert_eq!((s.requests, s.tokens), (3, 30));
        // The first request left the window.
        w.admit(t0 + Duration::from_secs(60), 5, Some(3)).unwrap();
        assert_eq!(w.snapshot(t0 + Duration::from_secs(60)).tokens, 25);
        w.arrive(t0 + Duration::from_secs(70));
        assert_eq!(w.max_arrivals(), 3);
    }
}
