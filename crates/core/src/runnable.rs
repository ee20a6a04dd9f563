//! [`Runnable`]: the type-erased unit of work that dispatchers queue and run.
//!
//! A runnable is either a coroutine's task (running it polls the coroutine once) or a plain
//! closure handed to an executor. Dispatchers and the scheduler never see anything else: they
//! move runnables between queues and call [`Runnable::run`] exactly once per runnable.
//!
//! # Invariants
//!
//! * A `Runnable` is not `Clone`: each one is run, rejected or dropped exactly once.
//! * Making a runnable for an existing task does not allocate (it is one more reference to the
//!   task's own allocation); only [`Runnable::from_fn`] allocates, once, for the closure.
//! * Dropping a runnable without running it is allowed (a closed executor may do so); for a
//!   coroutine it only releases a reference, the coroutine itself is failed through
//!   [`Runnable::reject`] by whoever decided not to run it.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crate::error::{report_uncaught_panic, DispatchError};

/// The behaviour behind a [`Runnable`]. Implemented by coroutine tasks and by closures, and by
/// dispatchers that re-dispatch the same piece of work many times (a limited view's worker
/// loop): wrapping an `Arc` with [`Runnable::from_task`] does not allocate.
pub trait RunTask: Send + Sync + 'static {
    /// Runs the work once.
    fn run(self: Arc<Self>);
    /// Called instead of `run` when the dispatcher refuses the work (for example because its
    /// executor is closed). Coroutines fail with `error`; closures are dropped.
    fn reject(self: Arc<Self>, error: DispatchError);
    /// The id of the coroutine behind this runnable, if any (for tracing). Defaults to `None`.
    fn coroutine_id(&self) -> Option<u64> {
        None
    }
}

/// A unit of work for a dispatcher: run it once with [`run`](Runnable::run).
///
/// # Examples
///
/// ```
/// use corral_core::Runnable;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let hits = Arc::new(AtomicUsize::new(0));
/// let counter = hits.clone();
/// let runnable = Runnable::from_fn(move || {
///     counter.fetch_add(1, Ordering::Relaxed);
/// });
/// runnable.run();
/// assert_eq!(hits.load(Ordering::Relaxed), 1);
/// ```
pub struct Runnable {
    task: Arc<dyn RunTask>,
}

impl Runnable {
    pub(crate) fn new(task: Arc<dyn RunTask>) -> Runnable {
        Runnable { task }
    }

    /// Wraps shared work without allocating: each call makes one more runnable for the same
    /// `task`, run (or rejected) once per runnable.
    pub fn from_task<T: RunTask>(task: Arc<T>) -> Runnable {
        Runnable::new(task)
    }

    /// Wraps a plain closure (one allocation). Used by executors that also accept closures.
    pub fn from_fn<F>(f: F) -> Runnable
    where
        F: FnOnce() + Send + 'static,
    {
        Runnable::new(Arc::new(ClosureTask { f: OwnedOnly(f) }))
    }

    /// Runs the work. For a coroutine this polls it once (or drops it, if it was cancelled);
    /// panics of user code are caught inside and never unwind into the caller. A closure made
    /// by [`from_fn`](Runnable::from_fn) runs as it is: its panic does unwind into the caller,
    /// which is how executors report it to the thread's uncaught-panic path.
    pub fn run(self) {
        self.task.run();
    }

    /// Gives up on running this work because the dispatcher cannot accept it. A coroutine is
    /// failed with `error` (its future is dropped here, on the calling thread); a closure is
    /// dropped without running.
    pub fn reject(self, error: DispatchError) {
        self.task.reject(error);
    }

    /// The id of the coroutine this runnable would resume, or `None` for a plain closure.
    pub fn coroutine_id(&self) -> Option<u64> {
        self.task.coroutine_id()
    }
}

impl fmt::Debug for Runnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.coroutine_id() {
            Some(id) => write!(f, "Runnable {{ coroutine: #{id} }}"),
            None => f.pad("Runnable { closure }"),
        }
    }
}

/// Holds a value that is only ever reached by value, never through `&self`.
///
/// That makes it `Sync` whatever the value is, which is what lets a `Send`-only closure sit
/// behind the `Arc<dyn RunTask>` of a [`Runnable`] (the same idea as the `sync_wrapper` crate).
struct OwnedOnly<F>(F);

// SAFETY: `OwnedOnly` exposes no method taking `&self`, so no shared reference to the inner value
// can ever be created from a `&OwnedOnly`; sharing the wrapper between threads therefore shares
// nothing. The value itself is moved out only by the unique owner (see `ClosureTask::run`).
unsafe impl<F: Send> Sync for OwnedOnly<F> {}

struct ClosureTask<F> {
    f: OwnedOnly<F>,
}

impl<F> RunTask for ClosureTask<F>
where
    F: FnOnce() + Send + 'static,
{
    fn run(self: Arc<Self>) {
        // The closure task is created in `Runnable::from_fn` with a single reference that is never
        // cloned, so the unwrap always succeeds.
        if let Ok(task) = Arc::try_unwrap(self) {
            (task.f.0)();
        }
    }

    fn reject(self: Arc<Self>, error: DispatchError) {
        tracing::debug!(%error, "closure rejected by its dispatcher; dropped without running");
        // The closure's captures are user values: a panic of their `Drop` is reported, so the
        // dispatcher rejecting a whole queue carries on with the rest.
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(self))) {
            report_uncaught_panic(payload);
        }
    }

    fn coroutine_id(&self) -> Option<u64> {
        None
    }
}
