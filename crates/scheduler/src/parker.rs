//! [`Parker`]: puts one worker thread to sleep until another thread notifies it.
//!
//! A notification that arrives before the sleep is kept (a token, like `std::thread::park`),
//! so the notify/park race cannot lose a wake-up. The mutex is only taken on the slow path of
//! parking and unparking, never while dispatching to a busy pool.

use std::time::Duration;

use crate::loom::sync::{lock, Condvar, Mutex};

/// A one-thread sleep/wake primitive with a sticky notification token.
#[derive(Debug, Default)]
pub(crate) struct Parker {
    notified: Mutex<bool>,
    condvar: Condvar,
}

impl Parker {
    /// Sleeps until notified or until `timeout` passes; consumes the token. Returns `true` if
    /// it was notified.
    #[cfg(not(corral_loom))]
    pub(crate) fn park_timeout(&self, timeout: Duration) -> bool {
        let mut notified = lock(&self.notified);
        if !*notified {
            notified = self
                .condvar
                .wait_timeout(notified, timeout)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        std::mem::take(&mut *notified)
    }

    /// Loom has no timed waits: sleeps until notified.
    #[cfg(corral_loom)]
    pub(crate) fn park_timeout(&self, _timeout: Duration) -> bool {
        let mut notified = lock(&self.notified);
        while !*notified {
            notified = self.condvar.wait(notified).unwrap();
        }
        std::mem::take(&mut *notified)
    }

    /// Wakes the sleeper, or makes its next park return at once.
    pub(crate) fn unpark(&self) {
        *lock(&self.notified) = true;
        self.condvar.notify_one();
    }
}
