//! The synchronisation primitives core's shared state is built from: `std` normally, `loom`'s
//! model-checked twins under `--cfg corral_loom`.
//!
//! Shared state in this crate always imports from here (`crate::loom::sync::...`), never from
//! `std::sync` directly, so the loom models in `src/loom_tests/` check the shipped code.

#[cfg(not(corral_loom))]
pub(crate) mod sync {
    // Job state is guarded by a spin-then-yield lock, not `std::sync::Mutex`: see `spin_lock`.
    pub(crate) use crate::spin_lock::{SpinLock, SpinLockGuard};

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            AtomicBool, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
    }

    /// Takes `spin_lock`. The lock does not poison: core never panics while holding one of
    /// its locks (user code runs outside them), so the data stays consistent.
    pub(crate) fn lock<T>(spin_lock: &SpinLock<T>) -> SpinLockGuard<'_, T> {
        spin_lock.lock()
    }
}

#[cfg(corral_loom)]
pub(crate) mod sync {
    // The job models explore the job protocol with loom's mutex in the spin lock's place;
    // the spin lock has a model of its own (`loom_tests/loom_spin_lock.rs`).
    pub(crate) use loom::sync::{Mutex as SpinLock, MutexGuard as SpinLockGuard};

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            AtomicBool, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
    }

    /// Takes `spin_lock` (loom's mutex, which does not poison).
    pub(crate) fn lock<T>(spin_lock: &SpinLock<T>) -> SpinLockGuard<'_, T> {
        spin_lock.lock().unwrap()
    }
}

#[cfg(not(corral_loom))]
pub(crate) mod cell {
    /// `std`'s `UnsafeCell` with loom's closure API, so call sites compile under both backends.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(corral_loom)]
pub(crate) mod cell {
    pub(crate) use loom::cell::UnsafeCell;
}
