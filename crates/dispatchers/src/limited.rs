//! [`LimitedDispatcher`]: a view of a dispatcher that runs at most `n` runnables at once
//! (kotlinx's `limitedParallelism`).
//!
//! # Invariants
//!
//! * Never more than `n` loops (so never more than `n` runnables of this view at once), and a
//!   loop is only dispatched after the queue was seen non-empty by its starter, so the view
//!   never occupies an underlying thread with nothing to do.
//! * Every loop is the same `Arc`: starting one allocates nothing.
//! * A runnable that panics does not lose its loop's place: the loop re-dispatches itself
//!   before the panic continues into the underlying dispatcher's handler.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use corral_core::{Dispatch, DispatchError, Dispatcher, RunTask, Runnable, TaskMode};
use crossbeam_queue::SegQueue;

/// Runnables a loop runs before re-dispatching itself (kotlinx's `LimitedDispatcher` batch, 16).
pub(crate) const BATCH: usize = 16;

/// Panics unless `parallelism` is at least 1, naming `dispatcher` (Kotlin's
/// `checkParallelism`, with the call in the message).
pub(crate) fn check_parallelism(dispatcher: &dyn fmt::Display, parallelism: usize) {
    assert!(
        parallelism >= 1,
        "{dispatcher}.limited_parallelism({parallelism}): parallelism must be at least 1"
    );
}

/// A view of a dispatcher that runs at most `n` runnables at once (kotlinx's
/// `limitedParallelism`). Made by [`Dispatcher::limited_parallelism`].
///
/// # Algorithm
///
/// The view has its own lock-free FIFO queue and a count of *worker loops* it has running on
/// the underlying dispatcher. `dispatch` pushes the runnable, then starts a loop if fewer than
/// `n` run (a CAS on the count). A loop runs up to 16 runnables from the queue and then
/// re-dispatches itself with a fair (FIFO) dispatch, so sibling views and other work on the
/// underlying dispatcher get their turn. A loop that finds the queue empty gives up its place
/// and then looks once more (a runnable pushed while it was leaving must not be stranded).
pub struct LimitedDispatcher {
    shared: Arc<Shared>,
    /// Where this view's own `limited_parallelism` views go: `None` nests them inside this
    /// view; IO sets it to the blocking side so its views are elastic siblings.
    views_over: Option<Dispatcher>,
}

struct Shared {
    underlying: Dispatcher,
    parallelism: usize,
    queue: SegQueue<Runnable>,
    running: AtomicUsize,
    name: String,
    /// The loop runnable's own handle, to re-dispatch itself without allocating.
    this: Weak<Shared>,
}

impl LimitedDispatcher {
    /// A view of `underlying` running at most `parallelism` runnables at once, displayed as
    /// `name` (default: `<underlying>.limitedParallelism(<n>)`).
    ///
    /// # Panics
    ///
    /// If `parallelism` is 0.
    pub fn new(
        underlying: Dispatcher,
        parallelism: usize,
        name: Option<String>,
    ) -> LimitedDispatcher {
        check_parallelism(&underlying, parallelism);
        let name =
            name.unwrap_or_else(|| format!("{underlying}.limitedParallelism({parallelism})"));
        LimitedDispatcher {
            shared: Arc::new_cyclic(|this| Shared {
                underlying,
                parallelism,
                queue: SegQueue::new(),
                running: AtomicUsize::new(0),
                name,
                this: this.clone(),
            }),
            views_over: None,
        }
    }

    /// Makes `limited_parallelism(n)` of this view a sibling over `base` instead of a nested
    /// view (how `Dispatchers::io()` gives elastic views of the blocking side).
    pub(crate) fn with_views_over(mut self, base: Dispatcher) -> LimitedDispatcher {
        self.views_over = Some(base);
        self
    }

    /// The most runnables of this view running at once.
    pub fn parallelism(&self) -> usize {
        self.shared.parallelism
    }
}

impl Shared {
    /// Takes a loop place if one is free.
    fn try_start_loop(&self) -> bool {
        let mut running = self.running.load(Ordering::SeqCst);
        while running < self.parallelism {
            match self.running.compare_exchange_weak(
                running,
                running + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(actual) => running = actual,
            }
        }
        false
    }

    fn loop_runnable(&self) -> Runnable {
        Runnable::from_task(self.this.upgrade().expect("a running view is alive"))
    }

    /// Starts a loop if there is queued work and a free place.
    fn start_loop_if_needed(&self) {
        if self.try_start_loop() {
            if self.queue.is_empty() {
                // Raced with a loop that took the work: leave, and look once more.
                self.running.fetch_sub(1, Ordering::SeqCst);
                if !self.queue.is_empty() {
                    self.start_loop_if_needed();
                }
                return;
            }
            self.underlying.dispatch(self.loop_runnable());
        }
    }

    /// The next runnable, or `None` after giving the loop's place back.
    fn next_or_leave(&self) -> Option<Runnable> {
        loop {
            if let Some(runnable) = self.queue.pop() {
                return Some(runnable);
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
            // A dispatch that saw all places taken before our decrement relies on us.
            if self.queue.is_empty() || !self.try_start_loop() {
                return None;
            }
        }
    }
}

impl RunTask for Shared {
    fn run(self: Arc<Self>) {
        for _ in 0..BATCH {
            let Some(runnable) = self.next_or_leave() else {
                return;
            };
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| runnable.run())) {
                self.underlying.dispatch_yield(self.loop_runnable());
                panic::resume_unwind(payload);
            }
        }
        // Batch done: keep the place, go to the back of the underlying queue.
        self.underlying.dispatch_yield(self.loop_runnable());
    }

    fn reject(self: Arc<Self>, error: DispatchError) {
        // The underlying dispatcher is closed: everything queued here fails the same way.
        self.running.fetch_sub(1, Ordering::SeqCst);
        while let Some(runnable) = self.queue.pop() {
            runnable.reject(error.clone());
        }
    }
}

impl Dispatch for LimitedDispatcher {
    fn dispatch(&self, runnable: Runnable) {
        self.shared.queue.push(runnable);
        self.shared.start_loop_if_needed();
    }

    fn task_mode(&self) -> TaskMode {
        self.shared.underlying.task_mode()
    }

    fn limited_parallelism(&self, this: &Dispatcher, parallelism: usize) -> Dispatcher {
        check_parallelism(self, parallelism);
        if let Some(base) = &self.views_over {
            let name = format!("{self}.limitedParallelism({parallelism})");
            return Dispatcher::new(LimitedDispatcher::new(
                base.clone(),
                parallelism,
                Some(name),
            ));
        }
        if parallelism >= self.shared.parallelism {
            return this.clone();
        }
        Dispatcher::new(LimitedDispatcher::new(this.clone(), parallelism, None))
    }
}

impl fmt::Display for LimitedDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shared.name)
    }
}

impl fmt::Debug for LimitedDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitedDispatcher")
            .field("name", &self.shared.name)
            .field("parallelism", &self.shared.parallelism)
            .field("running", &self.shared.running.load(Ordering::Relaxed))
            .field("queued", &self.shared.queue.len())
            .finish()
    }
}
