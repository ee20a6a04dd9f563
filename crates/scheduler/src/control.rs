//! [`ControlWord`]: threads and free CPU permits packed in one atomic word, and the count of
//! blocking tasks beside it.
//!
//! Layout of the word (kotlinx's `CoroutineScheduler.controlState`, without its blocking
//! field):
//!
//! ```text
//! bits  0..32  created threads
//! bits 32..64  free CPU permits
//! ```
//!
//! Both fields are bounded by [`MAX_POOL_SIZE`] (< 2^21), far below their 32 bits, so no
//! update can carry into the other field. The count of blocking tasks is *not* in the word:
//! it counts tasks, not threads, so it is unbounded (every queued `ProbablyBlocking` task
//! counts), and kotlinx's 21-bit field overflowed into the permits after 2^21 queued blocking
//! tasks. It lives in its own `AtomicUsize`, which cannot overflow: each counted task is a
//! live heap allocation, and a process cannot hold `usize::MAX` of them.
//!
//! # Invariants
//!
//! * No field ever goes below zero or above [`MAX_POOL_SIZE`]: every update that could is a
//!   CAS with a bound check, and the blind adds (blocking tasks) are paired — the increment
//!   happens *before* the task is published, so its decrement (after the task ran) can never
//!   come first (kotlinx #3642 is exactly that bug). Debug builds assert every field after each
//!   update.
//! * Free permits never exceed the core pool size.
//! * The compensation rule ("add a thread while fewer than `core` threads are left for CPU
//!   work", [`try_add_compensating_thread`](ControlWord::try_add_compensating_thread)) reads
//!   the blocking count and the thread count from two atomics. It can only err towards adding
//!   a thread: a blocking count that grew after the read comes with its own compensation call
//!   (every increment is followed by one, see `pool.rs`), and one that shrank only makes the
//!   new thread unneeded (it retires after the keep-alive). The loom model
//!   `loom_tests/control.rs` checks that no interleaving leaves blocking tasks uncompensated.

use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const FIELD_BITS: u32 = 32;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
const CREATED_SHIFT: u32 = 0;
const PERMITS_SHIFT: u32 = FIELD_BITS;

/// The largest supported pool size: kotlinx's `MAX_SUPPORTED_POOL_SIZE` (2^21 - 2), kept so
/// the per-slot tables the pool allocates up front stay reasonable.
pub const MAX_POOL_SIZE: usize = (1 << 21) - 2;

// Both packed fields hold at most `MAX_POOL_SIZE`, so neither can carry into the other.
const _: () = assert!((MAX_POOL_SIZE as u64) < FIELD_MASK);

/// A snapshot of the control word and the blocking count (read one after the other: exact
/// for each field, racy between them; for monitoring, tests and hints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    word: u64,
    blocking: usize,
}

impl Snapshot {
    fn field(self, shift: u32) -> usize {
        ((self.word >> shift) & FIELD_MASK) as usize
    }

    /// Threads that exist (workers created and not retired).
    pub(crate) fn created(self) -> usize {
        self.field(CREATED_SHIFT)
    }

    /// Blocking tasks that are queued or running.
    pub(crate) fn blocking(self) -> usize {
        self.blocking
    }

    /// CPU permits nobody holds.
    pub(crate) fn free_permits(self) -> usize {
        self.field(PERMITS_SHIFT)
    }
}

/// The packed control word and the blocking count; see the module docs.
#[derive(Debug)]
pub(crate) struct ControlWord {
    word: AtomicU64,
    blocking: AtomicUsize,
    core_pool_size: usize,
}

impl ControlWord {
    /// All `core_pool_size` permits free, no thread, no blocking task.
    pub(crate) fn new(core_pool_size: usize) -> ControlWord {
        assert!(core_pool_size <= MAX_POOL_SIZE);
        ControlWord {
            word: AtomicU64::new((core_pool_size as u64) << PERMITS_SHIFT),
            blocking: AtomicUsize::new(0),
            core_pool_size,
        }
    }

    pub(crate) fn load(&self) -> Snapshot {
        let word = self.word.load(Ordering::SeqCst);
        Snapshot {
            word,
            blocking: self.blocking.load(Ordering::SeqCst),
        }
    }

    /// Threads that exist.
    pub(crate) fn created(&self) -> usize {
        ((self.word.load(Ordering::SeqCst) >> CREATED_SHIFT) & FIELD_MASK) as usize
    }

    fn check(&self, word: u64) {
        let snapshot = Snapshot { word, blocking: 0 };
        debug_assert!(snapshot.created() <= MAX_POOL_SIZE, "{snapshot:?}");
        debug_assert!(
            snapshot.free_permits() <= self.core_pool_size,
            "more free permits than the core pool size: {snapshot:?}"
        );
    }

    /// Applies `change` to the word with a CAS loop while it returns `Some`; `true` if it did.
    fn update(&self, mut change: impl FnMut(Snapshot) -> Option<u64>) -> bool {
        let mut current = self.word.load(Ordering::SeqCst);
        loop {
            let snapshot = Snapshot {
                word: current,
                blocking: 0,
            };
            let Some(next) = change(snapshot) else {
                return false;
            };
            match self
                .word
                .compare_exchange_weak(current, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    self.check(next);
                    return true;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Counts one more thread if fewer than `limit` exist; `true` if counted.
    #[cfg(test)]
    pub(crate) fn try_add_thread(&self, limit: usize) -> bool {
        self.update(|s| (s.created() < limit).then(|| s.word + (1 << CREATED_SHIFT)))
    }

    /// Counts one more thread if fewer than `limit` exist *and* fewer than `core` of them are
    /// free for CPU work (the compensation rule; see the module docs for why the blocking
    /// count may be read beside the word). `true` if counted.
    #[inline]
    pub(crate) fn try_add_compensating_thread(&self, limit: usize) -> bool {
        let core = self.core_pool_size;
        self.update(|s| {
            let blocking = self.blocking.load(Ordering::SeqCst);
            let cpu_capable = s.created().saturating_sub(blocking);
            (s.created() < limit && cpu_capable < core).then(|| s.word + (1 << CREATED_SHIFT))
        })
    }

    /// Uncounts a thread if more than `floor` exist; `true` if it was uncounted.
    pub(crate) fn try_remove_thread(&self, floor: usize) -> bool {
        self.update(|s| (s.created() > floor).then(|| s.word - (1 << CREATED_SHIFT)))
    }

    /// Uncounts a thread unconditionally (a thread that failed to start, or shutdown).
    pub(crate) fn remove_thread(&self) {
        let previous = Snapshot {
            word: self.word.fetch_sub(1 << CREATED_SHIFT, Ordering::SeqCst),
            blocking: 0,
        };
        debug_assert!(
            previous.created() > 0,
            "thread count underflow: {previous:?}"
        );
    }

    /// Counts a blocking task; call *before* publishing it.
    pub(crate) fn add_blocking(&self) {
        let previous = self.blocking.fetch_add(1, Ordering::SeqCst);
        debug_assert!(previous < usize::MAX, "blocking count overflow");
    }

    /// Uncounts a blocking task after it ran (or was dropped unrun).
    pub(crate) fn remove_blocking(&self) {
        let previous = self.blocking.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(previous > 0, "blocking count underflow");
    }

    /// Takes a free CPU permit; `false` if none is free.
    pub(crate) fn try_acquire_permit(&self) -> bool {
        self.update(|s| (s.free_permits() > 0).then(|| s.word - (1 << PERMITS_SHIFT)))
    }

    /// Gives a CPU permit back.
    pub(crate) fn release_permit(&self) {
        let previous = self.word.fetch_add(1 << PERMITS_SHIFT, Ordering::SeqCst);
        self.check(previous + (1 << PERMITS_SHIFT));
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_bleed_into_each_other() {
        let word = ControlWord::new(4);
        assert_eq!(word.load().free_permits(), 4);
        assert!(word.try_add_thread(MAX_POOL_SIZE));
        word.add_blocking();
        word.add_blocking();
        assert!(word.try_acquire_permit());
        let s = word.load();
        assert_eq!((s.created(), s.blocking(), s.free_permits()), (1, 2, 3));
        word.remove_blocking();
        word.remove_blocking();
        word.release_permit();
        assert!(word.try_remove_thread(0));
        assert_eq!(word.load(), ControlWord::new(4).load());
    }

    #[test]
    fn permits_and_threads_are_bounded() {
        let word = ControlWord::new(1);
        assert!(word.try_acquire_permit());
        assert!(!word.try_acquire_permit());
        assert!(word.try_add_thread(1));
        assert!(!word.try_add_thread(1));
        assert!(!word.try_remove_thread(1));
        // One thread, one blocking task: no thread is free for CPU work, so compensate.
        word.add_blocking();
        assert!(word.try_add_compensating_thread(8));
        assert!(!word.try_add_compensating_thread(8));
    }

    /// Finding 9: kotlinx's 21-bit blocking field carried into the permits after 2^21 queued
    /// blocking tasks (the pool then ran CPU work on far more threads than it has permits).
    #[test]
    #[cfg_attr(
        miri,
        ignore = "four million interpreted atomic operations; no unsafe involved"
    )]
    fn finding_09_blocking_count_beyond_2_pow_21_leaves_permits_and_threads_intact() {
        const BLOCKING: usize = (1 << 21) + 10;
        let word = ControlWord::new(2);
        assert!(word.try_add_thread(4));
        for _ in 0..BLOCKING {
            word.add_blocking();
        }
        let s = word.load();
        assert_eq!(
            (s.created(), s.blocking(), s.free_permits()),
            (1, BLOCKING, 2)
        );
        assert!(word.try_acquire_permit());
        assert!(word.try_acquire_permit());
        assert!(
            !word.try_acquire_permit(),
            "a third permit appeared: {:?}",
            word.load()
        );
        for _ in 0..BLOCKING {
            word.remove_blocking();
        }
        word.release_permit();
        word.release_permit();
        let s = word.load();
        assert_eq!((s.created(), s.blocking(), s.free_permits()), (1, 0, 2));
    }
}
