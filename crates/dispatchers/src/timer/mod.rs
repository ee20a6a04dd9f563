//! Timers: the heap ([`heap`]), the hosts that own heaps ([`Timers`]) and the shared timer
//! thread that fires the timers of coroutines not on an event loop.
//!
//! # Who fires a timer
//!
//! * A `delay` polled on a thread whose [`EventLoop`](crate::EventLoop) is entered goes into
//!   that loop's heap, and the loop fires it between tasks (due timers before newly queued
//!   tasks, kotlinx's `processNextEvent`). No other thread is involved.
//! * Anything else goes into the heap of the shared timer thread (`corral-timer`), which sleeps
//!   until the earliest deadline and wakes the waker; the waker dispatches the coroutine
//!   straight to its own dispatcher (one hop, no second executor in between).
//! * When an event loop exits with timers left (coroutines of other scopes still sleeping),
//!   the shared thread *adopts* its heap: keys held by those `delay`s stay valid, so they can
//!   still be cancelled in O(log n).
//!
//! # Invariants
//!
//! * A heap's lock is never held while an action fires (wakers may dispatch, callbacks may do
//!   anything).
//! * Inserting a new earliest timer always reaches the firing thread: the shared thread through
//!   its `signal` flag (set under its mutex, so no wake-up is lost), a loop through an unpark.

pub(crate) mod heap;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use heap::{TimerAction, TimerHeap, TimerKey};

/// A heap of timers and the thread that fires them.
pub(crate) struct Timers {
    heap: Mutex<TimerHeap>,
    /// Whether the heap holds a timer: written under the heap's lock after every change, read
    /// without it by [`fire_due_now`](Self::fire_due_now), so a dispatch onto a loop with no
    /// timers reads no clock and takes no lock. A stale `true` costs one look at the heap; a
    /// stale `false` only delays the timer to the loop's next step, which fires it anyway.
    pending: AtomicBool,
    /// The event loop thread that fires these timers; `None` for the shared timer thread (and
    /// for a loop's heap once the shared thread adopted it).
    firing_thread: Mutex<Option<std::thread::Thread>>,
    /// The virtual time of a test loop's heap (`None`: real time). Only the test loop moves
    /// it, forward only.
    virtual_now: Option<Mutex<Instant>>,
}

impl Timers {
    pub(crate) fn new(firing_thread: Option<std::thread::Thread>) -> Arc<Timers> {
        Arc::new(Timers {
            heap: Mutex::new(TimerHeap::default()),
            pending: AtomicBool::new(false),
            firing_thread: Mutex::new(firing_thread),
            virtual_now: None,
        })
    }

    /// A heap in virtual time starting at `start`, fired by the test loop of `thread`.
    pub(crate) fn new_virtual(thread: std::thread::Thread, start: Instant) -> Arc<Timers> {
        Arc::new(Timers {
            heap: Mutex::new(TimerHeap::default()),
            pending: AtomicBool::new(false),
            firing_thread: Mutex::new(Some(thread)),
            virtual_now: Some(Mutex::new(start)),
        })
    }

    /// This heap's time: the virtual clock of a test loop's heap, else `Instant::now()`.
    pub(crate) fn now(&self) -> Instant {
        match &self.virtual_now {
            Some(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
            None => Instant::now(),
        }
    }

    /// Moves a virtual clock forward to `to` (never back).
    pub(crate) fn advance_to(&self, to: Instant) {
        if let Some(now) = &self.virtual_now {
            let mut now = now.lock().unwrap_or_else(PoisonError::into_inner);
            *now = (*now).max(to);
        }
    }

    /// The earliest deadline, if any timer is live.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap().next_deadline()
    }

    fn heap(&self) -> MutexGuard<'_, TimerHeap> {
        // Never poisoned in practice: no user code runs under this lock.
        self.heap.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a timer and tells its firing thread if it is the new earliest.
    pub(crate) fn insert(&self, deadline: Instant, action: TimerAction) -> TimerKey {
        let (key, earliest) = {
            let mut heap = self.heap();
            let inserted = heap.insert(deadline, action);
            self.pending.store(true, Ordering::Relaxed);
            inserted
        };
        if earliest {
            self.earliest_changed();
        }
        key
    }

    /// Cancels a timer; `true` if it had not fired. The action is dropped outside the lock.
    pub(crate) fn cancel(&self, key: TimerKey) -> bool {
        let removed = {
            let mut heap = self.heap();
            let removed = heap.remove(key);
            self.pending.store(heap.len() > 0, Ordering::Relaxed);
            removed
        };
        removed.is_some()
    }

    /// See [`TimerHeap::update_waker`].
    pub(crate) fn update_waker(&self, key: TimerKey, waker: &std::task::Waker) -> bool {
        self.heap().update_waker(key, waker)
    }

    /// Fires every due timer; returns the next deadline.
    pub(crate) fn fire_due(&self, now: Instant, scratch: &mut Vec<TimerAction>) -> Option<Instant> {
        let next = {
            let mut heap = self.heap();
            heap.pop_due(now, scratch);
            self.pending.store(heap.len() > 0, Ordering::Relaxed);
            heap.next_deadline()
        };
        scratch.drain(..).for_each(TimerAction::fire);
        next
    }

    /// Fires the timers due now, if the heap holds any (kotlinx's `enqueueDelayedTasks` at the
    /// start of every `enqueue`: a task queued after a timer became due runs after it).
    pub(crate) fn fire_due_now(&self) {
        if self.pending.load(Ordering::Relaxed) {
            self.fire_due(Instant::now(), &mut Vec::new());
        }
    }

    /// Live timers.
    pub(crate) fn len(&self) -> usize {
        self.heap().len()
    }

    fn earliest_changed(&self) {
        let loop_thread = self
            .firing_thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match loop_thread {
            Some(thread) => thread.unpark(),
            None => shared().signal(),
        }
    }

    /// Hands this (event loop) heap to the shared timer thread, which fires it from now on.
    pub(crate) fn hand_to_shared_timer(self: &Arc<Timers>) {
        *self
            .firing_thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        if self.len() > 0 {
            shared().adopt(self.clone());
        }
    }
}

/// The shared timer thread's state.
struct SharedTimer {
    own: Arc<Timers>,
    /// Heaps of exited event loops, fired until empty.
    adopted: Mutex<Vec<Arc<Timers>>>,
    /// Set when the earliest deadline may have moved; the thread re-reads its heaps.
    signal: Mutex<bool>,
    condvar: Condvar,
}

impl SharedTimer {
    fn signal(&self) {
        *self.signal.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.condvar.notify_one();
    }

    fn adopt(&self, timers: Arc<Timers>) {
        self.adopted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(timers);
        self.signal();
    }

    fn run(&self) {
        let mut scratch = Vec::new();
        loop {
            let now = Instant::now();
            let mut next = self.own.fire_due(now, &mut scratch);
            let adopted: Vec<Arc<Timers>> = {
                let mut adopted = self.adopted.lock().unwrap_or_else(PoisonError::into_inner);
                adopted.retain(|timers| timers.len() > 0);
                adopted.clone()
            };
            for timers in adopted {
                if let Some(deadline) = timers.fire_due(now, &mut scratch) {
                    next = Some(next.map_or(deadline, |next| next.min(deadline)));
                }
            }
            let mut signalled = self.signal.lock().unwrap_or_else(PoisonError::into_inner);
            while !*signalled {
                signalled = match next {
                    None => self
                        .condvar
                        .wait(signalled)
                        .unwrap_or_else(PoisonError::into_inner),
                    Some(deadline) => {
                        let now = Instant::now();
                        if deadline <= now {
                            break;
                        }
                        self.condvar
                            .wait_timeout(signalled, deadline - now)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                };
            }
            *signalled = false;
        }
    }
}

/// The name of the shared timer thread.
pub const TIMER_THREAD_NAME: &str = "corral-timer";

/// The shared timer, once started.
static SHARED: OnceLock<&'static SharedTimer> = OnceLock::new();

/// Timers waiting on the shared timer thread (its own and those of exited event loops); a
/// running event loop fires its own timers and they are not counted. Does not start the thread.
pub fn pending_timers() -> usize {
    SHARED.get().map_or(0, |timer| {
        let adopted: usize = timer
            .adopted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|timers| timers.len())
            .sum();
        timer.own.len() + adopted
    })
}

fn shared() -> &'static SharedTimer {
    SHARED.get_or_init(|| {
        let timer: &'static SharedTimer = Box::leak(Box::new(SharedTimer {
            own: Timers::new(None),
            adopted: Mutex::new(Vec::new()),
            signal: Mutex::new(false),
            condvar: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name(TIMER_THREAD_NAME.to_owned())
            .spawn(move || timer.run())
            .unwrap_or_else(|error| {
                panic!("corral: cannot start the `{TIMER_THREAD_NAME}` thread: {error}")
            });
        timer
    })
}

/// The shared timer thread's heap.
pub(crate) fn shared_timers() -> &'static Timers {
    &shared().own
}
