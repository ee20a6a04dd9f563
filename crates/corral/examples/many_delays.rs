//! 100 000 coroutines each `delay(1 s)` finish in about a second, on a handful of threads, and
//! each costs a few hundred bytes while it sleeps (live heap bytes counted by a wrapping
//! global allocator, read once every coroutine has suspended).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral::prelude::*;

const COROUTINES: usize = 100_000;

/// The system allocator, counting live bytes.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // The caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        // SAFETY: that contract is what `System.alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // The caller guarantees that `ptr` came from this allocator's `alloc` with `layout`, and
        // every `alloc` here is `System`'s.
        // SAFETY: that contract is what `System.dealloc` requires.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The process's thread count (Linux), for the summary line.
fn threads() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:").map(|n| n.trim().to_owned()))
        })
        .unwrap_or_else(|| "?".to_owned())
}

fn main() -> Result<(), JobError> {
    let started = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    // Start the shared scheduler first, so its threads are not counted per coroutine.
    run_blocking(|_| with_context(Dispatchers::default(), |_| async {}))??;
    let start = Instant::now();
    let bytes_per_coroutine = {
        let (started, done) = (started.clone(), done.clone());
        run_blocking(move |scope| async move {
            let before = LIVE_BYTES.load(Ordering::Relaxed);
            for _ in 0..COROUTINES {
                let (started, done) = (started.clone(), done.clone());
                scope.launch_with(
                    Dispatchers::default(),
                    CoroutineStart::Default,
                    move |_| async move {
                        started.fetch_add(1, Ordering::Relaxed);
                        delay(Duration::from_secs(1)).await;
                        done.fetch_add(1, Ordering::Relaxed);
                    },
                );
            }
            while started.load(Ordering::Relaxed) < COROUTINES {
                delay(Duration::from_millis(5)).await;
            }
            let live = LIVE_BYTES.load(Ordering::Relaxed) - before;
            println!(
                "all {COROUTINES} suspended after {} ms, on {} threads",
                start.elapsed().as_millis(),
                threads()
            );
            live / COROUTINES as isize
        })?
    };
    println!(
        "{} coroutines each delayed 1 s: all done after {} ms; {bytes_per_coroutine} live heap \
         bytes per sleeping coroutine (task, timer entry, and its place in the parent's child list)",
        done.load(Ordering::Relaxed),
        start.elapsed().as_millis()
    );
    Ok(())
}
