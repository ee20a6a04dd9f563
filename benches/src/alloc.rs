//! A counting global allocator and the process's resident memory: the memory rows.
//!
//! Counting is off except inside a [`Window`], so the timed workloads pay one relaxed load
//! per allocation and nothing else. A window measures *differences*: bytes allocated minus
//! bytes freed while it is open (a block allocated before the window and freed inside it
//! counts negative, which is why [`Window::open`] first lets earlier frees settle). Every
//! runtime is measured through the same window in the same way.
//!
//! A window counts three things, because each alone misleads:
//! * **Layout bytes**: what the runtime asked for (`Layout::size`). This is what a task
//!   layout "costs" on paper, and what older reports showed.
//! * **Usable bytes**: the size of the block the allocator actually handed out
//!   (`malloc_usable_size` on glibc: the size class, including rounding and the space an
//!   over-aligned layout leaves unused inside its chunk). This is the honest per-allocation
//!   cost; on other platforms it falls back to the layout size.
//! * **Resident bytes**: the growth of the process's resident set (`/proc/self/statm`, Linux
//!   only) across the window. Before reading the baseline the window returns free heap
//!   memory to the system (`malloc_trim(0)`), so that memory a previous sample freed is not
//!   silently reused and the delta is what the runtime really made resident (chunk headers,
//!   alignment gaps and fragmentation included).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::thread;
use std::time::Duration;

/// How long [`Window::open`] waits before reading its baselines, so that frees a runtime
/// defers after its last sample (corral frees a parent's child slab shortly after the
/// parent's `join` returns; tokio and async-executor free tasks on their workers) land
/// before the window, not inside the next runtime's window. A few scheduler ticks.
pub(crate) const SETTLE: Duration = Duration::from_millis(20);

/// The process's allocator: [`System`], plus counters while a [`Window`] is open.
#[derive(Debug)]
pub(crate) struct Counting;

static ENABLED: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static LIVE_USABLE: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// The usable size of a live block of `System`'s that was allocated with `layout`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn usable_size(ptr: *mut u8, _layout: Layout) -> usize {
    // SAFETY: every caller passes a non-null pointer returned by `System` (which is glibc's
    // malloc family on this target) and not yet freed, which is what `malloc_usable_size`
    // requires.
    unsafe { libc::malloc_usable_size(ptr.cast()) }
}

/// The usable size of a live block: the layout size where the allocator cannot tell.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn usable_size(_ptr: *mut u8, layout: Layout) -> usize {
    layout.size()
}

fn on_alloc(ptr: *mut u8, layout: Layout) {
    if ENABLED.load(Relaxed) {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        LIVE_USABLE.fetch_add(usable_size(ptr, layout) as isize, Relaxed);
        ALLOCATIONS.fetch_add(1, Relaxed);
    }
}

/// Counts the free of the live block `ptr`; called before it is freed.
fn on_dealloc(ptr: *mut u8, layout: Layout) {
    if ENABLED.load(Relaxed) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        LIVE_USABLE.fetch_sub(usable_size(ptr, layout) as isize, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counters only observe sizes of live blocks.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`, which is
        // what `System.alloc` requires; the arguments are passed on unchanged.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            on_alloc(ptr, layout);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract for `layout`, which
        // is what `System.alloc_zeroed` requires; the arguments are passed on unchanged.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            on_alloc(ptr, layout);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_dealloc(ptr, layout);
        // SAFETY: the caller guarantees that `ptr` came from this allocator with `layout`, and
        // every allocation here is `System`'s, which is what `System.dealloc` requires.
        unsafe { System.dealloc(ptr, layout) };
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_usable = usable_size(ptr, layout);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, and `ptr` came from
        // `System` (every allocation here is its), which is what `System.realloc` requires.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() && ENABLED.load(Relaxed) {
            // The caller guarantees that `layout.align()` with `new_size` is a valid layout.
            let new_layout = Layout::from_size_align(new_size, layout.align())
                .expect("realloc's caller passes a valid size for the alignment");
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
            LIVE_USABLE.fetch_add(
                usable_size(new, new_layout) as isize - old_usable as isize,
                Relaxed,
            );
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        new
    }
}

/// The process's resident set in bytes (`/proc/self/statm`), or `None` where it cannot be
/// read (not Linux).
pub(crate) fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> usize {
    // SAFETY: `sysconf` has no preconditions; `_SC_PAGESIZE` is a valid name.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// Returns free heap memory to the system, so that a resident-set delta measured next counts
/// what is allocated, not what happened to be free already.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    // SAFETY: `malloc_trim` has no preconditions; it only releases free memory of glibc's
    // arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Nothing to return where the allocator is not glibc's.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

/// What a window saw, as differences since it opened.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Reading {
    /// Layout bytes allocated and not freed.
    pub(crate) layout_bytes: isize,
    /// Usable (allocator size class) bytes allocated and not freed.
    pub(crate) usable_bytes: isize,
    /// Growth of the resident set, if it can be read.
    pub(crate) resident_bytes: Option<isize>,
    /// Allocations made.
    pub(crate) allocations: usize,
}

/// An open measurement window (at most one at a time): counting runs until it is dropped.
#[derive(Debug)]
pub(crate) struct Window {
    live_at_open: isize,
    usable_at_open: isize,
    resident_at_open: Option<usize>,
    allocations_at_open: usize,
}

impl Window {
    /// Lets earlier frees settle ([`SETTLE`]), returns free heap memory to the system, reads
    /// the baselines and starts counting.
    pub(crate) fn open() -> Window {
        thread::sleep(SETTLE);
        trim_heap();
        let resident_at_open = resident_bytes();
        let was_open = ENABLED.swap(true, Relaxed);
        assert!(
            !was_open,
            "only one allocation window may be open at a time"
        );
        Window {
            live_at_open: LIVE.load(Relaxed),
            usable_at_open: LIVE_USABLE.load(Relaxed),
            resident_at_open,
            allocations_at_open: ALLOCATIONS.load(Relaxed),
        }
    }

    /// Usable bytes allocated and not freed since the window opened (cheap: two loads).
    pub(crate) fn usable_bytes(&self) -> isize {
        LIVE_USABLE.load(Relaxed) - self.usable_at_open
    }

    /// Everything the window saw so far.
    pub(crate) fn read(&self) -> Reading {
        Reading {
            layout_bytes: LIVE.load(Relaxed) - self.live_at_open,
            usable_bytes: self.usable_bytes(),
            resident_bytes: self
                .resident_at_open
                .zip(resident_bytes())
                .map(|(before, now)| now as isize - before as isize),
            allocations: ALLOCATIONS.load(Relaxed) - self.allocations_at_open,
        }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        ENABLED.store(false, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::Window;

    /// Large enough that the allocations of tests running beside this one are noise.
    const BLOCK: usize = 4 << 20;
    const NOISE: isize = 256 << 10;

    #[test]
    fn a_window_counts_layout_usable_and_resident_bytes_and_frees() {
        let window = Window::open();
        let mut block = vec![0u8; BLOCK];
        // Touch every page, so that the block is resident (calloc'd memory may not be).
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        let live = window.read();
        assert!(
            (BLOCK as isize..BLOCK as isize + NOISE).contains(&live.layout_bytes),
            "{live:?}"
        );
        assert!(live.usable_bytes >= live.layout_bytes - NOISE, "{live:?}");
        if let Some(resident) = live.resident_bytes {
            assert!(resident >= BLOCK as isize / 2, "{live:?}");
        }
        assert!(live.allocations >= 1);
        drop(block);
        let freed = window.read();
        assert!(freed.layout_bytes.abs() < NOISE, "{freed:?}");
        assert!(freed.usable_bytes.abs() < NOISE, "{freed:?}");
    }
}
