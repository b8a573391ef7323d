//! Tests only: the allocator counts what each thread has allocated and the most it held at once,
//! so a test can assert that reading a hostile file stays within a memory bound.
//!
//! Counts are per thread (a thread-local, no lock), and only while a thread measures
//! ([`measure`]); memory freed on another thread is not subtracted, which only makes the peak
//! larger, never smaller.

#![expect(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; this one only adds counting to the system's"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Meter;

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static HELD: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged; the counting touches only
// const-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_up(layout.size());
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_down(layout.size());
        // SAFETY: the caller's contract is System's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_down(layout.size());
        count_up(new_size);
        // SAFETY: the caller's contract is System's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static METER: Meter = Meter;

fn count_up(size: usize) {
    if MEASURING.with(Cell::get) {
        let held = HELD.with(|h| {
            let held = h.get() + size;
            h.set(held);
            held
        });
        PEAK.with(|p| p.set(p.get().max(held)));
    }
}

fn count_down(size: usize) {
    if MEASURING.with(Cell::get) {
        HELD.with(|h| h.set(h.get().saturating_sub(size)));
    }
}

/// Runs `work` and returns its result with the most it held allocated at once on this thread.
pub(crate) fn measure<T>(work: impl FnOnce() -> T) -> (T, usize) {
    HELD.with(|h| h.set(0));
    PEAK.with(|p| p.set(0));
    MEASURING.with(|m| m.set(true));
    let result = work();
    MEASURING.with(|m| m.set(false));
    (result, PEAK.with(Cell::get))
}
