//! The response body: pre-rendered frames with the delay before each, played back by
//! `poll_frame` without spawning a task; optionally ending in a cut connection.
//!
//! Delays are kept on one schedule that starts when the request arrived: frame `i` is due
//! at `arrival + delay[0] + ... + delay[i]`, and each sleep is until that instant, not for
//! the delay from whenever the body happened to be polled. So `ttft-ms = 200` is 200 ms
//! from the request's arrival however long the server took to read, parse and answer it
//! (64 requests arriving together are parsed one after another), and a frame late by the
//! timer's slack does not make the next ones late. The sleeps are `crate::timer`'s, precise to
//! tens of microseconds (tokio's are to the millisecond).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Bytes, Frame, SizeHint};

use crate::log::Outcome;
use crate::server::Shared;
use crate::timer::Sleep;

/// Builds the frame list, merging writes that have no delay between them into one frame.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    frames: Vec<(Duration, Vec<u8>)>,
    cut: bool,
}

impl Plan {
    /// Appends `data` to be written `delay` after the previous write.
    pub(crate) fn push(&mut self, delay: Duration, data: &[u8]) {
        match self.frames.last_mut() {
            Some((_, buf)) if delay.is_zero() => buf.extend_from_slice(data),
            _ => self.frames.push((delay, data.to_vec())),
        }
    }

    /// Ends the body by breaking the connection instead of terminating it.
    pub(crate) fn cut(&mut self) {
        self.cut = true;
    }
}

/// Marks the log record of a request when its response ends; an unfinished guard marks it
/// aborted when dropped.
#[derive(Debug)]
pub(crate) struct Completion {
    shared: Arc<Shared>,
    slot: Option<usize>,
}

impl Completion {
    pub(crate) fn new(shared: Arc<Shared>, slot: Option<usize>) -> Self {
        Self { shared, slot }
    }

    pub(crate) fn finish(&mut self, outcome: Outcome) {
        if let Some(slot) = self.slot.take() {
            self.shared.log.finish(slot, outcome, Instant::now());
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        self.finish(Outcome::Aborted);
    }
}

/// The error that makes hyper drop the connection mid-body.
#[derive(Debug, thiserror::Error)]
#[error("mock stream cut")]
pub(crate) struct StreamCut;

pub(crate) struct MockBody {
    frames: std::vec::IntoIter<(Duration, Vec<u8>)>,
    sleep: Option<Sleep>,
    /// When the previous frame was due (at first, when the request arrived).
    due: Instant,
    pending: Option<Bytes>,
    cut: bool,
    flushed_before_cut: bool,
    exact_len: Option<u64>,
    guard: Completion,
}

impl std::fmt::Debug for MockBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockBody")
            .field("cut", &self.cut)
            .finish_non_exhaustive()
    }
}

impl MockBody {
    /// A body of one buffer with a `content-length`.
    pub(crate) fn full(data: Vec<u8>, guard: Completion) -> Self {
        let len = data.len() as u64;
        let mut plan = Plan::default();
        plan.push(Duration::ZERO, &data);
        Self::new(plan, Instant::now(), Some(len), guard)
    }

    /// A body played from `plan`, its delays counted from `start` (the request's arrival);
    /// `exact_len` is sent as `content-length` (else chunked).
    pub(crate) fn new(
        plan: Plan,
        start: Instant,
        exact_len: Option<u64>,
        guard: Completion,
    ) -> Self {
        Self {
            frames: plan.frames.into_iter(),
            sleep: None,
            due: start,
            pending: None,
            cut: plan.cut,
            flushed_before_cut: false,
            exact_len,
            guard,
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = StreamCut;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamCut>>> {
        let this = &mut *self;
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                if Pin::new(sleep).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            if let Some(data) = this.pending.take() {
                if this.frames.len() == 0 && !this.cut {
                    this.guard.finish(Outcome::Completed);
                }
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            match this.frames.next() {
                Some((delay, data)) => {
                    if !delay.is_zero() {
                        this.due += delay;
                        this.sleep = Some(crate::timer::sleep_until(this.due));
                    }
                    this.pending = Some(Bytes::from(data));
                }
                None if this.cut => {
                    // Yield once so hyper flushes what was written, then break the connection.
                    if !this.flushed_before_cut {
                        this.flushed_before_cut = true;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    this.guard.finish(Outcome::Aborted);
                    return Poll::Ready(Some(Err(StreamCut)));
                }
                None => {
                    this.guard.finish(Outcome::Completed);
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.cut && self.pending.is_none() && self.frames.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_len {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
