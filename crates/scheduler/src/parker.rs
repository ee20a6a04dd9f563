//! [`Parker`]: puts one worker thread to sleep until another thread notifies it.
//!
//! A notification that arrives before the sleep is kept (a token, like `std::thread::park`),
//! so the notify/park race cannot lose a wake-up. The mutex is only taken on the slow path of
//! parking and unparking, never while dispatching to a busy pool.
//!
//! With a [`ParkDriver`](crate::ParkDriver) installed the sleep is the driver's wait: `driving`
//! is set under the mutex before the driver is entered, `polling` when the thread holds the
//! driver and passed its `woken` check (and cleared once the driver delivers events, after
//! which it does not block). An unpark that sees `polling` interrupts the driver; one that sees
//! `driving` alone needs nothing (the thread re-reads the token under the mutex before it
//! blocks anywhere); only a thread outside the driver is woken through the condition variable.
//! So the token is never left unseen, at one system call per unpark at most.

use std::time::Duration;

use crate::loom::sync::{lock, Condvar, Mutex};

#[derive(Debug, Default)]
struct State {
    /// The wake-up token.
    notified: bool,
    /// The thread is inside the park driver's `park` (maybe waiting for its turn to drive).
    driving: bool,
    /// The thread holds the driver and passed its `woken` check: it waits (or is about to) in
    /// the driver, and only [`ParkDriver::unpark`](crate::ParkDriver::unpark) reaches it.
    polling: bool,
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
                let woken = || {
                    let mut state = lock(&self.state);
                    state.polling = !state.notified;
                    state.notified
                };
                // Once the driver delivers events it does not block again: a waker from then on
                // need not interrupt it (no write to the driver's waker, and no spurious
                // return of its next wait).
                let delivering = || {
                    lock(&self.state).polling = false;
                    about_to_wake();
                };
                let drove = driver.park(timeout, &woken, &delivering);
                state = lock(&self.state);
                state.driving = false;
                state.polling = false;
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
    ///
    /// One system call at most: a thread inside the driver is not on the condition variable
    /// (it re-reads the token under the mutex after the driver returns, and before the driver
    /// blocks through `woken`), so only a polling one needs the driver interrupted, and only a
    /// thread outside the driver needs the condition variable.
    pub(crate) fn unpark(&self) {
        let mut state = lock(&self.state);
        state.notified = true;
        let (driving, polling) = (state.driving, state.polling);
        drop(state);
        if polling {
            if let Some(driver) = crate::park_driver::park_driver() {
                driver.unpark();
            }
        } else if !driving {
            self.condvar.notify_one();
        }
    }
}
