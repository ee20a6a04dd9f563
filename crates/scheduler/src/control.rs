//! [`ControlWord`]: threads, blocking tasks and free CPU permits packed in one atomic word.
//!
//! Layout (kotlinx's `controlState`, reference doc §2.2), 21 bits per field:
//!
//! ```text
//! bits  0..21  created threads
//! bits 21..42  blocking tasks, pending or running
//! bits 42..63  free CPU permits
//! ```
//!
//! One word lets a thread read a consistent snapshot of all three (the compensation rule
//! "threads able to run CPU work = created - blocking" needs two of them at once).
//!
//! # Invariants
//!
//! * No field ever goes below zero or above [`MAX_POOL_SIZE`]: every update that could is a
//!   CAS with a bound check, and the blind adds (blocking tasks) are paired — the increment
//!   happens *before* the task is published, so its decrement (after the task ran) can never
//!   come first (kotlinx #3642 is exactly that bug). Debug builds assert every field after each
//!   update.
//! * Free permits never exceed the core pool size.

use crate::loom::sync::atomic::{AtomicU64, Ordering};

const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
const CREATED_SHIFT: u32 = 0;
const BLOCKING_SHIFT: u32 = FIELD_BITS;
const PERMITS_SHIFT: u32 = 2 * FIELD_BITS;

/// The largest supported pool size: what one 21-bit field holds, minus kotlinx's margin of one
/// (2^21 - 2, kotlinx `MAX_SUPPORTED_POOL_SIZE`).
pub const MAX_POOL_SIZE: usize = (1 << FIELD_BITS) - 2;

/// A snapshot of the control word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot(u64);

impl Snapshot {
    fn field(self, shift: u32) -> usize {
        ((self.0 >> shift) & FIELD_MASK) as usize
    }

    /// Threads that exist (workers created and not retired).
    pub(crate) fn created(self) -> usize {
        self.field(CREATED_SHIFT)
    }

    /// Blocking tasks that are queued or running.
    pub(crate) fn blocking(self) -> usize {
        self.field(BLOCKING_SHIFT)
    }

    /// CPU permits nobody holds.
    pub(crate) fn free_permits(self) -> usize {
        self.field(PERMITS_SHIFT)
    }

    /// Threads assumed able to run CPU work: those not (about to be) taken by blocking tasks.
    pub(crate) fn cpu_capable(self) -> usize {
        self.created().saturating_sub(self.blocking())
    }
}

/// The packed control word; see the module docs.
#[derive(Debug)]
pub(crate) struct ControlWord {
    word: AtomicU64,
    core_pool_size: usize,
}

impl ControlWord {
    /// All `core_pool_size` permits free, no thread, no blocking task.
    pub(crate) fn new(core_pool_size: usize) -> ControlWord {
        assert!(core_pool_size <= MAX_POOL_SIZE);
        ControlWord {
            word: AtomicU64::new((core_pool_size as u64) << PERMITS_SHIFT),
            core_pool_size,
        }
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.word.load(Ordering::SeqCst))
    }

    fn check(&self, snapshot: Snapshot) -> Snapshot {
        debug_assert!(snapshot.created() <= MAX_POOL_SIZE, "{snapshot:?}");
        debug_assert!(snapshot.blocking() <= MAX_POOL_SIZE, "{snapshot:?}");
        debug_assert!(
            snapshot.free_permits() <= self.core_pool_size,
            "more free permits than the core pool size: {snapshot:?}"
        );
        snapshot
    }

    /// Applies `change` with a CAS loop while it returns `Some`; returns the new snapshot.
    fn update(&self, mut change: impl FnMut(Snapshot) -> Option<u64>) -> Option<Snapshot> {
        let mut current = self.word.load(Ordering::SeqCst);
        loop {
            let next = change(Snapshot(current))?;
            match self
                .word
                .compare_exchange_weak(current, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Some(self.check(Snapshot(next))),
                Err(actual) => current = actual,
            }
        }
    }

    /// Counts one more thread if fewer than `limit` exist; `true` if counted.
    pub(crate) fn try_add_thread(&self, limit: usize) -> bool {
        self.update(|s| (s.created() < limit).then(|| s.0 + (1 << CREATED_SHIFT)))
            .is_some()
    }

    /// Counts one more thread if fewer than `limit` exist *and* fewer than `core` of them are
    /// free for CPU work (the compensation rule). `true` if counted.
    pub(crate) fn try_add_compensating_thread(&self, limit: usize) -> bool {
        let core = self.core_pool_size;
        self.update(|s| {
            (s.created() < limit && s.cpu_capable() < core).then(|| s.0 + (1 << CREATED_SHIFT))
        })
        .is_some()
    }

    /// Uncounts a thread if more than `floor` exist; `true` if it was uncounted.
    pub(crate) fn try_remove_thread(&self, floor: usize) -> bool {
        self.update(|s| (s.created() > floor).then(|| s.0 - (1 << CREATED_SHIFT)))
            .is_some()
    }

    /// Uncounts a thread unconditionally (a thread that failed to start, or shutdown).
    pub(crate) fn remove_thread(&self) {
        let previous = Snapshot(self.word.fetch_sub(1 << CREATED_SHIFT, Ordering::SeqCst));
        debug_assert!(
            previous.created() > 0,
            "thread count underflow: {previous:?}"
        );
    }

    /// Counts a blocking task; call *before* publishing it. Returns the new snapshot.
    pub(crate) fn add_blocking(&self) -> Snapshot {
        let previous = Snapshot(self.word.fetch_add(1 << BLOCKING_SHIFT, Ordering::SeqCst));
        self.check(Snapshot(previous.0 + (1 << BLOCKING_SHIFT)))
    }

    /// Uncounts a blocking task after it ran (or was dropped unrun).
    pub(crate) fn remove_blocking(&self) {
        let previous = Snapshot(self.word.fetch_sub(1 << BLOCKING_SHIFT, Ordering::SeqCst));
        debug_assert!(
            previous.blocking() > 0,
            "blocking count underflow: {previous:?}"
        );
    }

    /// Takes a free CPU permit; `false` if none is free.
    pub(crate) fn try_acquire_permit(&self) -> bool {
        self.update(|s| (s.free_permits() > 0).then(|| s.0 - (1 << PERMITS_SHIFT)))
            .is_some()
    }

    /// Gives a CPU permit back.
    pub(crate) fn release_permit(&self) {
        let previous = Snapshot(self.word.fetch_add(1 << PERMITS_SHIFT, Ordering::SeqCst));
        self.check(Snapshot(previous.0 + (1 << PERMITS_SHIFT)));
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
        assert_eq!(s.cpu_capable(), 0);
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
}
