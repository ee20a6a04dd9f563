//! A counting global allocator: live heap bytes and allocation count, for the memory rows.
//!
//! Counting is off except inside a [`Window`], so the timed workloads pay one relaxed load
//! per allocation and nothing else. A window measures *differences*: bytes allocated minus
//! bytes freed while it is open (a block allocated before the window and freed inside it
//! counts negative, which is why workloads quiesce between samples). Every runtime is
//! measured through the same window in the same way.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};

/// The process's allocator: [`System`], plus counters while a [`Window`] is open.
#[derive(Debug)]
pub(crate) struct Counting;

static ENABLED: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn on_alloc(size: usize) {
    if ENABLED.load(Relaxed) {
        LIVE.fetch_add(size as isize, Relaxed);
        ALLOCATIONS.fetch_add(1, Relaxed);
    }
}

fn on_dealloc(size: usize) {
    if ENABLED.load(Relaxed) {
        LIVE.fetch_sub(size as isize, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`, which is
        // what `System.alloc` requires; the arguments are passed on unchanged.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            on_alloc(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract for `layout`, which
        // is what `System.alloc_zeroed` requires; the arguments are passed on unchanged.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            on_alloc(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees that `ptr` came from this allocator with `layout`, and
        // every allocation here is `System`'s, which is what `System.dealloc` requires.
        unsafe { System.dealloc(ptr, layout) };
        on_dealloc(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, and `ptr` came from
        // `System` (every allocation here is its), which is what `System.realloc` requires.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            on_dealloc(layout.size());
            on_alloc(new_size);
        }
        new
    }
}

/// An open measurement window (at most one at a time): counting runs until it is dropped.
#[derive(Debug)]
pub(crate) struct Window {
    live_at_open: isize,
    allocations_at_open: usize,
}

impl Window {
    /// Starts counting.
    pub(crate) fn open() -> Window {
        let was_open = ENABLED.swap(true, Relaxed);
        assert!(
            !was_open,
            "only one allocation window may be open at a time"
        );
        Window {
            live_at_open: LIVE.load(Relaxed),
            allocations_at_open: ALLOCATIONS.load(Relaxed),
        }
    }

    /// Bytes allocated and not freed since the window opened.
    pub(crate) fn live_bytes(&self) -> isize {
        LIVE.load(Relaxed) - self.live_at_open
    }

    /// Allocations made since the window opened.
    pub(crate) fn allocations(&self) -> usize {
        ALLOCATIONS.load(Relaxed) - self.allocations_at_open
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        ENABLED.store(false, Relaxed);
    }
}
