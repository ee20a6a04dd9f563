//! [`Parker`]: puts one worker thread to sleep until another thread notifies it.
//!
//! A notification that arrives before the sleep is kept (a token, like `std::thread::park`),
//! so the notify/park race cannot lose a wake-up. The mutex is only taken on the slow path of
//! parking and unparking, never while dispatching to a busy pool.
//!
//! With a [`ParkDriver`](crate::ParkDriver) installed the sleep is the driver's wait: `driving`
//! is set under the mutex before the driver is entered, and an unpark that sees it interrupts
//! the driver, so the token is never left unseen while the thread waits in the driver.

use std::time::Duration;

use crate::loom::sync::{lock, Condvar, Mutex};

#[derive(Debug, Default)]
struct State {
    /// The wake-up token.
    notified: bool,
    /// The thread is (about to be) inside the park driver.
    driving: bool,
}

/// A one-thread sleep/wake primitive with a sticky notification token.
#[derive(Debug, Default)]
pub(crate) struct Parker {
    state: Mutex<State>,
    condvar: Condvar,
}

impl Parker {
    /// Sleeps until notified or until `timeout` passes; consumes the token. Returns `true` if
    /// it was notified. A park driver calls `about_to_wake` before it wakes tasks (see
    /// [`ParkDriver`](crate::ParkDriver)).
    #[cfg(not(corral_loom))]
    pub(crate) fn park_timeout(&self, timeout: Duration, about_to_wake: &dyn Fn()) -> bool {
        let mut state = lock(&self.state);
        if !state.notified {
            if let Some(driver) = crate::park_driver::park_driver() {
                state.driving = true;
                drop(state);
                let drove = driver.park(timeout, &|| lock(&self.state).notified, about_to_wake);
                state = lock(&self.state);
                state.driving = false;
                if drove {
                    return std::mem::take(&mut state.notified);
                }
            }
        }
        if !state.notified {
            state = self
                .condvar
                .wait_timeout(state, timeout)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        std::mem::take(&mut state.notified)
    }

    /// Loom has no timed waits: sleeps until notified (and the models install no driver).
    #[cfg(corral_loom)]
    pub(crate) fn park_timeout(&self, _timeout: Duration, _about_to_wake: &dyn Fn()) -> bool {
        let mut state = lock(&self.state);
        while !state.notified {
            state = self.condvar.wait(state).unwrap();
        }
        std::mem::take(&mut state.notified)
    }

    /// Wakes the sleeper, or makes its next park return at once.
    pub(crate) fn unpark(&self) {
        let mut state = lock(&self.state);
        state.notified = true;
        let driving = state.driving;
        drop(state);
        if driving {
            if let Some(driver) = crate::park_driver::park_driver() {
                driver.unpark();
            }
        }
        self.condvar.notify_one();
    }
}
