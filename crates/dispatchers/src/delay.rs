//! [`delay`] and [`schedule_timeout`]: suspending for a while, and running a callback later.
//!
//! A `delay` registers its waker in a timer heap the first time it is polled (the heap of the
//! event loop entered on the polling thread, else the shared timer thread's, see
//! [`crate::timer`]; in a coroutine whose dispatcher has a virtual clock, the heap of that
//! clock, fixed when the `delay` is created, see [`crate::virtual_time`]); later polls only refresh the waker if it changed. A `delay` dropped
//! before it fires (its coroutine was cancelled, or a `select`-like combinator moved on)
//! removes its timer in O(log n). The state is five words (40 bytes): with the coroutine's own
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
use crate::virtual_time::virtual_timers;

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
    let state = if duration.is_zero() {
        DelayState::Done
    } else {
        let timers = virtual_timers();
        DelayState::Unregistered {
            deadline: deadline_after(timers.as_deref(), duration),
            timers,
        }
    };
    Delay { state }
}

/// `duration` from now on the clock of `timers` (real time for `None`); `None` if too far away
/// to represent.
fn deadline_after(timers: Option<&Timers>, duration: Duration) -> Option<Instant> {
    let now = timers.map_or_else(Instant::now, Timers::now);
    now.checked_add(duration)
}

/// The future of [`delay`].
#[must_use = "futures do nothing unless awaited"]
pub struct Delay {
    state: DelayState,
}

/// One enum rather than separate fields: a sleeping coroutine holds its `Delay`, and the
/// registered variant (the host, a 12-byte key and the deadline) is the only large one.
enum DelayState {
    /// Zero duration, or fired: ready.
    Done,
    /// Not polled yet. A `None` deadline never fires. `timers`: the virtual clock's heap the
    /// timer goes to (`None`: the real clock, heap chosen at the first poll).
    Unregistered {
        deadline: Option<Instant>,
        timers: Option<Arc<Timers>>,
    },
    /// Waiting in `host`'s heap under `key`.
    Registered {
        deadline: Instant,
        host: Host,
        key: TimerKey,
    },
}

/// Whose heap a registered `Delay` waits in. The shared timer thread's heap lives as long as
/// the process, so a `Delay` there holds no reference count: registering and dropping one
/// touch no shared counter (every worker's sleepers would otherwise bump the same `Arc`).
enum Host {
    /// The shared timer thread's heap ([`shared_timers`]).
    Shared,
    /// An event loop's heap (which outlives the loop if the shared thread adopts it), or a
    /// virtual clock's ([`crate::virtual_time`]).
    Loop(Arc<Timers>),
}

impl Host {
    fn timers(&self) -> &Timers {
        match self {
            Host::Shared => shared_timers(),
            Host::Loop(timers) => timers,
        }
    }
}

impl Future for Delay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        match &self.state {
            DelayState::Done => Poll::Ready(()),
            // Until cancelled: the coroutine is dropped at this suspension.
            DelayState::Unregistered { deadline: None, .. } => Poll::Pending,
            DelayState::Registered { host, key, .. } => {
                if host.timers().update_waker(*key, cx.waker()) {
                    Poll::Pending
                } else {
                    // Fired (a wake-up can only come from firing, or be spurious after it).
                    self.state = DelayState::Done;
                    Poll::Ready(())
                }
            }
            DelayState::Unregistered {
                deadline: Some(deadline),
                timers,
            } if *deadline <= timers.as_deref().map_or_else(Instant::now, Timers::now) => {
                self.state = DelayState::Done;
                Poll::Ready(())
            }
            DelayState::Unregistered {
                deadline: Some(deadline),
                timers,
            } => {
                let deadline = *deadline;
                let host = match timers {
                    Some(timers) => Host::Loop(timers.clone()),
                    None => event_loop::current_timers().map_or(Host::Shared, Host::Loop),
                };
                let key = host
                    .timers()
                    .insert(deadline, TimerAction::Wake(cx.waker().clone()));
                self.state = DelayState::Registered {
                    deadline,
                    host,
                    key,
                };
                Poll::Pending
            }
        }
    }
}

impl Drop for Delay {
    fn drop(&mut self) {
        if let DelayState::Registered { host, key, .. } = &self.state {
            host.timers().cancel(*key);
        }
    }
}

impl fmt::Debug for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (deadline, registered) = match &self.state {
            DelayState::Done => (None, false),
            DelayState::Unregistered { deadline, .. } => (*deadline, false),
            DelayState::Registered { deadline, .. } => (Some(*deadline), true),
        };
        f.debug_struct("Delay")
            .field("deadline", &deadline)
            .field("registered", &registered)
            .finish()
    }
}

/// Runs `callback` on the shared timer thread after `after`, unless the returned handle is
/// cancelled or dropped first. Used by `with_timeout`; keep callbacks short (they delay other
/// timers), e.g. cancelling a job. Called in a coroutine whose dispatcher has a virtual clock
/// (a test), `after` is virtual time and the test loop runs the callback.
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
    let timers = virtual_timers();
    let key = deadline_after(timers.as_deref(), after).map(|deadline| {
        let host = match timers.as_deref() {
            Some(timers) => timers,
            None => shared_timers(),
        };
        host.insert(deadline, TimerAction::Call(Box::new(callback)))
    });
    TimeoutHandle { key, timers }
}

/// Cancels a [`schedule_timeout`] callback when cancelled or dropped.
#[must_use = "dropping the handle cancels the callback"]
pub struct TimeoutHandle {
    /// The callback's timer; `None` for a timeout too far away to ever fire, and once
    /// cancelled.
    key: Option<TimerKey>,
    /// The virtual clock's heap holding the timer; `None`: the shared timer thread's.
    timers: Option<Arc<Timers>>,
}

impl TimeoutHandle {
    /// Cancels the callback; `true` if it had not run yet (it then never runs).
    pub fn cancel(mut self) -> bool {
        self.cancel_in_place()
    }

    fn cancel_in_place(&mut self) -> bool {
        let timers = match self.timers.as_deref() {
            Some(timers) => timers,
            None => shared_timers(),
        };
        self.key.take().is_some_and(|key| timers.cancel(key))
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
