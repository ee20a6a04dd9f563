//! The synchronisation primitives of [`ScheduledIo`](crate::scheduled_io::ScheduledIo): `std`
//! normally, `loom`'s model-checked twins under `--cfg corral_loom`, so the loom models in
//! `loom_tests` check the shipped code.

#[cfg(not(corral_loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
    }

    /// Locks `mutex`, ignoring poisoning: no code that holds it runs user code.
    pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(corral_loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::{Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
    }

    /// Locks `mutex` (loom's mutex does not poison).
    pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap()
    }
}
