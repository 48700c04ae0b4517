//! A counting global allocator: what the current thread has allocated and its peak, so a
//! fuzz target can check that a parser allocates no more than a multiple of its input.
//!
//! Install it in a binary (`#[global_allocator] static A: Counting = Counting;`) and wrap the
//! code to measure in [`measure`]. Counts are per thread (tests run in parallel threads), so
//! memory freed on another thread than the one that allocated it is not tracked; the
//! parsers measured here run on one thread. While measuring, an allocation that would take
//! the thread past [`HARD_CAP`] fails (the process aborts with "memory allocation of N bytes
//! failed") instead of exhausting the machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// While measuring, no thread may hold more than this many bytes above its starting point.
pub const HARD_CAP: usize = 1 << 30;

/// [`System`], counting the bytes each thread holds while [`measure`] runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

#[derive(Clone, Copy)]
struct State {
    active: bool,
    current: isize,
    peak: isize,
}

thread_local! {
    // `const` and `Copy`: no lazy initialization and no destructor, so using it from inside
    // the allocator neither allocates nor recurses.
    static STATE: Cell<State> = const {
        Cell::new(State { active: false, current: 0, peak: 0 })
    };
}

/// Adds `delta` bytes to this thread's count; `false` when that would pass the hard cap.
fn count(delta: isize) -> bool {
    STATE
        .try_with(|cell| {
            let mut state = cell.get();
            if !state.active {
                return true;
            }
            let next = state.current.saturating_add(delta);
            if delta > 0 && next > HARD_CAP as isize {
                return false;
            }
            state.current = next;
            state.peak = state.peak.max(next);
            cell.set(state);
            true
        })
        // The thread is being torn down: nothing to count.
        .unwrap_or(true)
}

// SAFETY: every method forwards to `System` with the same arguments; counting touches only a
// thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !count(layout.size() as isize) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !count(layout.size() as isize) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: `ptr` was allocated by `System` with `layout` (every path above forwards).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // While moving, both blocks may be live: count the new one first, then drop the old.
        if !count(new_size as isize) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `dealloc`; `new_size` is the caller's, checked by its contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if new.is_null() {
            count(-(new_size as isize));
        } else {
            count(-(layout.size() as isize));
        }
        new
    }
}

/// Runs `f` and returns its result and the most bytes this thread held at once above what it
/// held when `f` started. Always 0 unless [`Counting`] is the global allocator. Not
/// reentrant: a nested `measure` ends the outer one's counting.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    STATE.with(|cell| {
        cell.set(State {
            active: true,
            current: 0,
            peak: 0,
        });
    });
    // Stops counting even if `f` panics, so the unwinding does not count against anything.
    struct Stop;
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = STATE.try_with(|cell| {
                let mut state = cell.get();
                state.active = false;
                cell.set(state);
            });
        }
    }
    let stop = Stop;
    let result = f();
    drop(stop);
    let peak = STATE.with(|cell| cell.get().peak);
    (result, peak.max(0) as usize)
}
