//! Sleeps that end within tens of microseconds of their deadline, for the server's delays.
//!
//! Written by hand because tokio's timer has millisecond ticks: `tokio::time::sleep_until`
//! rounds every deadline up to the next tick and the driver wakes after it, so a
//! `ttft-ms = 200` answer came 200.7 to 202.4 ms after its request as the client measured it
//! (201.6 ms on average over 30 requests one at a time; 200.6 ms with this timer, the rest
//! being the loopback round trip). The
//! server exists to measure clients against a known latency, and a benchmark of 64 requests
//! in waves of 200 ms counted that extra millisecond (half a percent) against the client.
//! No crate in the dependency tree offers a finer async timer, and a timer thread is small:
//! one thread, started on first use, waits on a condition variable until the earliest
//! deadline (the kernel's futex timeout, precise to its timer slack, 50 µs by default) and
//! wakes the tasks whose deadline has passed. Idle, it blocks without a timeout.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Completes at `due` (at once if it has passed).
pub(crate) fn sleep_until(due: Instant) -> Sleep {
    Sleep { due, slot: None }
}

/// The future of [`sleep_until`] (`Unpin`: polled in place, no box per sleep). Dropped before
/// its deadline, it leaves an entry that the timer thread discards when it comes due (waking
/// nobody who still waits).
#[derive(Debug)]
pub(crate) struct Sleep {
    due: Instant,
    slot: Option<Arc<Slot>>,
}

#[derive(Debug)]
struct Slot {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

struct Entry {
    due: Instant,
    slot: Arc<Slot>,
}

// Ordered by deadline only (the heap needs `Ord`; two entries with one deadline are equal).
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.due.cmp(&other.due)
    }
}

struct Timers {
    pending: Mutex<BinaryHeap<Reverse<Entry>>>,
    changed: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn timers() -> &'static Timers {
    static TIMERS: OnceLock<&'static Timers> = OnceLock::new();
    TIMERS.get_or_init(|| {
        let timers: &'static Timers = Box::leak(Box::new(Timers {
            pending: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("mock-timer".into())
            .spawn(move || timers.run())
            .expect("start the mock server's timer thread");
        timers
    })
}

impl Timers {
    fn add(&self, entry: Entry) {
        let mut pending = lock(&self.pending);
        let earliest = pending.peek().is_none_or(|Reverse(e)| entry.due < e.due);
        pending.push(Reverse(entry));
        if earliest {
            self.changed.notify_one();
        }
    }

    fn run(&self) {
        let mut pending = lock(&self.pending);
        loop {
            let now = Instant::now();
            while let Some(Reverse(entry)) = pending.peek()
                && entry.due <= now
            {
                let Some(Reverse(entry)) = pending.pop() else {
                    break;
                };
                entry.slot.fired.store(true, Ordering::Release);
                if let Some(waker) = lock(&entry.slot.waker).take() {
                    waker.wake();
                }
            }
            pending = match pending.peek() {
                Some(Reverse(next)) => {
                    let wait = next.due.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(pending, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.due {
            return Poll::Ready(());
        }
        match &self.slot {
            Some(slot) => {
                *lock(&slot.waker) = Some(cx.waker().clone());
                // Fired between the check above and the waker's update: the timer thread
                // took the old waker (or none), so this poll must not wait for another wake.
                if slot.fired.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
            }
            None => {
                let slot = Arc::new(Slot {
                    fired: AtomicBool::new(false),
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                timers().add(Entry {
                    due: self.due,
                    slot: slot.clone(),
                });
                self.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn sleeps_never_end_before_their_deadline() {
        let start = Instant::now();
        let offsets = [30u64, 5, 20, 5, 0, 12];
        let tasks: Vec<_> = offsets
            .iter()
            .map(|&ms| {
                let due = start + Duration::from_millis(ms);
                tokio::spawn(async move {
                    sleep_until(due).await;
                    (due, Instant::now())
                })
            })
            .collect();
        for task in tasks {
            let (due, woke) = task.await.unwrap();
            assert!(woke >= due, "woke {:?} before its deadline", due - woke);
        }
    }

    #[tokio::test]
    async fn a_dropped_sleep_does_not_stop_the_others() {
        let start = Instant::now();
        let dropped = sleep_until(start + Duration::from_millis(5));
        let mut dropped = Box::pin(dropped);
        // Registered, then dropped before its deadline.
        assert!(
            futures_poll_once(dropped.as_mut()).is_pending(),
            "a sleep 5 ms ahead is not done yet"
        );
        drop(dropped);
        let due = start + Duration::from_millis(10);
        sleep_until(due).await;
        assert!(Instant::now() >= due);
    }

    fn futures_poll_once(f: Pin<&mut Sleep>) -> Poll<()> {
        let waker = Waker::noop();
        f.poll(&mut Context::from_waker(waker))
    }
}
