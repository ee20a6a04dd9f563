//! [`delay`] and [`schedule_timeout`]: suspending for a while, and running a callback later.
//!
//! A `delay` registers its waker in a timer heap the first time it is polled (the heap of the
//! event loop entered on the polling thread, else the shared timer thread's, see
//! [`crate::timer`]); later polls only refresh the waker if it changed. A `delay` dropped
//! before it fires (its coroutine was cancelled, or a `select`-like combinator moved on)
//! removes its timer in O(log n). The state is three words and a key: with the coroutine's own
//! allocation and the heap node, a sleeping coroutine costs little (see the crate docs and the
//! `delay-100k` row of `cargo xtask bench`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use crate::event_loop;
use crate::timer::heap::{TimerAction, TimerKey};
use crate::timer::{shared_timers, Timers};

/// Suspends the current coroutine for `duration` (Kotlin `delay`).
///
/// `Duration::ZERO` returns without suspending; `Duration::MAX` (or any duration too long to
/// represent as a deadline) suspends until the coroutine is cancelled. Cancellation removes
/// the timer at once.
///
/// # Examples
///
/// ```no_run
/// # async fn example() {
/// use std::time::Duration;
/// corral_dispatchers::delay(Duration::from_millis(10)).await;
/// # }
/// ```
pub fn delay(duration: Duration) -> Delay {
    Delay {
        deadline: deadline_after(duration),
        zero: duration.is_zero(),
        registration: None,
    }
}

fn deadline_after(duration: Duration) -> Option<Instant> {
    Instant::now().checked_add(duration)
}

/// The future of [`delay`].
#[must_use = "futures do nothing unless awaited"]
pub struct Delay {
    /// `None`: never fires.
    deadline: Option<Instant>,
    zero: bool,
    registration: Option<(Arc<Timers>, TimerKey)>,
}

impl Future for Delay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.zero {
            return Poll::Ready(());
        }
        let Some(deadline) = self.deadline else {
            return Poll::Pending; // until cancelled: the coroutine is dropped at this suspension
        };
        match &self.registration {
            Some((timers, key)) => {
                if timers.update_waker(*key, cx.waker()) {
                    Poll::Pending
                } else {
                    // Fired (a wake-up can only come from firing, or be spurious after it).
                    self.registration = None;
                    self.zero = true;
                    Poll::Ready(())
                }
            }
            None if deadline <= Instant::now() => {
                self.zero = true;
                Poll::Ready(())
            }
            None => {
                let timers =
                    event_loop::current_timers().unwrap_or_else(|| shared_timers().clone());
                let key = timers.insert(deadline, TimerAction::Wake(cx.waker().clone()));
                self.registration = Some((timers, key));
                Poll::Pending
            }
        }
    }
}

impl Drop for Delay {
    fn drop(&mut self) {
        if let Some((timers, key)) = self.registration.take() {
            timers.cancel(key);
        }
    }
}

impl fmt::Debug for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delay")
            .field("deadline", &self.deadline)
            .field("registered", &self.registration.is_some())
            .finish()
    }
}

/// Runs `callback` on the shared timer thread after `after`, unless the returned handle is
/// cancelled or dropped first. Used by `with_timeout`; keep callbacks short (they delay other
/// timers), e.g. cancelling a job.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let (sender, receiver) = mpsc::channel();
/// let handle = corral_dispatchers::schedule_timeout(Duration::from_millis(5), move || {
///     sender.send("fired").unwrap();
/// });
/// assert_eq!(receiver.recv().unwrap(), "fired");
/// assert!(!handle.cancel(), "already fired");
/// ```
pub fn schedule_timeout(
    after: Duration,
    callback: impl FnOnce() + Send + 'static,
) -> TimeoutHandle {
    let registration = deadline_after(after).map(|deadline| {
        let timers = shared_timers().clone();
        let key = timers.insert(deadline, TimerAction::Call(Box::new(callback)));
        (timers, key)
    });
    TimeoutHandle { registration }
}

/// Cancels a [`schedule_timeout`] callback when cancelled or dropped.
#[must_use = "dropping the handle cancels the callback"]
pub struct TimeoutHandle {
    /// `None` for a timeout too far away to ever fire.
    registration: Option<(Arc<Timers>, TimerKey)>,
}

impl TimeoutHandle {
    /// Cancels the callback; `true` if it had not run yet (it then never runs).
    pub fn cancel(mut self) -> bool {
        self.cancel_in_place()
    }

    fn cancel_in_place(&mut self) -> bool {
        self.registration
            .take()
            .is_some_and(|(timers, key)| timers.cancel(key))
    }
}

impl Drop for TimeoutHandle {
    fn drop(&mut self) {
        self.cancel_in_place();
    }
}

impl fmt::Debug for TimeoutHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutHandle").finish_non_exhaustive()
    }
}
