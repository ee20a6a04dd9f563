//! [`SpinLock`]: the lock of every job's state (`JobCore`), a test-and-test-and-set lock that
//! spins briefly, then yields the thread, and never sleeps in the kernel.
//!
//! # Why not `std::sync::Mutex`
//!
//! A parent's lock is taken by the worker that spawns a child (attach) and by the worker that
//! completes one (detach), so two workers meet on it all the time. Under that contention the
//! std mutex goes into its "contended" state, after which waiting is a `futex` sleep and
//! every unlock a `futex` wake, both syscalls: in `spawn_many_local` profiles (`perf record`
//! on `corral-bench --filter spawn_many_local`) 12% of worker time was `lock_contended` and as
//! much again kernel scheduling. Job locks are held only for a few field updates, never across
//! user code or a waker, and across another job's lock only to attach a child nobody else can
//! reach yet (the lock discipline of `job/state_machine.rs`), so a waiter is better off
//! spinning until the holder is done. If the holder was preempted, the waiter yields its time
//! slice after [`SPINS_BEFORE_YIELD`] checks instead of burning it.
//! Unlocking is a plain release store, where the std mutex needs a swap to look for sleepers.
//!
//! # Invariants
//!
//! * `locked` is `true` exactly while a [`SpinLockGuard`] exists; only its owner reads or
//!   writes `value`.
//! * Acquire on taking the lock and Release on dropping the guard order each holder's writes
//!   before the next holder's reads (loom model `loom_spin_lock`).
//!
//! Under `--cfg corral_loom` the job state uses loom's own mutex, so the job models explore the
//! job protocol, not this lock's spinning; this lock has its own model.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::loom::sync::atomic::{AtomicBool, Ordering};

/// Failed checks of the lock word before a waiter yields its time slice. Each check is a load
/// and a `spin_loop` hint (`pause`, tens of cycles): a few microseconds, well above the hold
/// time of a job lock when its holder is running.
const SPINS_BEFORE_YIELD: u32 = 64;

/// See the module docs.
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands `value` to one thread at a time (invariant 1), with the ordering of
// invariant 2, so sharing the lock shares no `&T` or `&mut T` between threads at once; `T`
// itself moves between threads, hence `T: Send`.
unsafe impl<T: Send> Sync for SpinLock<T> {}

/// Proof of holding a [`SpinLock`]; unlocks when dropped.
pub(crate) struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> SpinLock<T> {
    pub(crate) fn new(value: T) -> SpinLock<T> {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, spinning and then yielding while another thread holds it.
    pub(crate) fn lock(&self) -> SpinLockGuard<'_, T> {
        let mut checks = 0u32;
        loop {
            // Acquire: pairs with the Release store of the previous holder's guard.
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return SpinLockGuard { lock: self };
            }
            // Test before the next test-and-set: waiting on a plain load keeps the cache line
            // shared instead of bouncing it between waiters.
            while self.locked.load(Ordering::Relaxed) {
                checks = checks.saturating_add(1);
                wait(checks);
            }
        }
    }
}

/// One wait step of a waiter that has checked the lock `checks` times.
#[cfg(not(corral_loom))]
fn wait(checks: u32) {
    if checks < SPINS_BEFORE_YIELD {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Under loom every wait step yields, so the model lets the holder run.
#[cfg(corral_loom)]
fn wait(_checks: u32) {
    loom::thread::yield_now();
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // The guard exists, so this thread holds the lock (invariant 1).
        // SAFETY: nobody else touches `value` until the guard, which `&self` borrows, drops.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // The guard exists, so this thread holds the lock (invariant 1) and nobody else touches
        // `value` until the guard is dropped.
        // SAFETY: `&mut self` makes this the only reference made through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        // Release: publishes this holder's writes to the next one (pairs with `lock`).
        self.lock.locked.store(false, Ordering::Release);
    }
}

impl<T> fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpinLock")
            .field("locked", &self.locked.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use std::sync::Arc;
    use std::thread;

    use super::SpinLock;

    /// Mutual exclusion under real contention: every increment is kept (a lost update would
    /// show a non-atomic read-modify-write racing another holder's).
    #[test]
    fn contended_increments_are_all_kept() {
        const THREADS: usize = 4;
        const INCREMENTS: usize = 20_000;
        let counter = Arc::new(SpinLock::new(0usize));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let counter = counter.clone();
                thread::spawn(move || {
                    for _ in 0..INCREMENTS {
                        let mut guard = counter.lock();
                        let seen = *guard;
                        thread::yield_now(); // widen the window a broken lock would race in
                        *guard = seen + 1;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(*counter.lock(), THREADS * INCREMENTS);
    }
}
