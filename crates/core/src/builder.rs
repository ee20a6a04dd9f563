//! Coroutine builders: [`launch`], [`try_launch`], [`async_`] with the four [`CoroutineStart`]
//! modes.
//!
//! These are the mechanisms; the user-facing `CoroutineScope::launch` of `corral-scopes` calls
//! them with the scope's context plus the builder's, after adding the default dispatcher.
//! Here a context without a dispatcher resumes its coroutine in place (through the
//! trampoline), which is what a Kotlin coroutine without a `ContinuationInterceptor` does.
//!
//! # Creation protocol
//!
//! 1. The task is allocated (one allocation) with its initial state word: `SCHEDULED` for
//!    Default (and Atomic, with `ATOMIC_START`), idle for Lazy, `RUNNING` for Undispatched (so
//!    nothing can dispatch it before its inline first poll). A task created `SCHEDULED` owes
//!    its creator the first dispatch: a wake before that (a cancellation in step 2) finds a run
//!    already owed and does nothing, exactly as if the creator had woken it first, and the
//!    creator saves the wake's read-modify-write.
//! 2. It is attached to its parent, the context's job (a `NonCancellable` job element or none
//!    makes a root). A cancelling parent cancels it right away; a final parent refuses it and
//!    cancels it.
//! 3. It is started: Default and Atomic are dispatched (or run in place); Lazy waits for
//!    `start`/`join`/`await`; Undispatched is polled inline now, until its first suspension,
//!    even if it was cancelled in step 2.

use std::error::Error as StdError;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use crate::context::Context;
use crate::deferred::Deferred;
use crate::job::attach;
use crate::job::state_machine::JobKind;
use crate::job::Job;
use crate::task::state::{ATOMIC_START, RUNNING, RUN_UNIT, SCHEDULED};
use crate::task::{AsyncBody, Body, LaunchBody, Task, TryLaunchBody};

/// When a new coroutine starts (Kotlin `CoroutineStart`).
///
/// # Examples
///
/// ```
/// use corral_core::{launch, Context, CoroutineStart, JobState};
///
/// // Lazy: created, not started, until `start`, `join` or an await.
/// let job = launch(Context::new(), CoroutineStart::Lazy, |_| async {});
/// assert_eq!(job.state(), JobState::New);
/// assert!(job.start()); // no dispatcher in the context: it runs in place, to its end
/// assert!(job.is_completed());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CoroutineStart {
    /// Dispatched now; if cancelled before it first runs, its body never runs.
    #[default]
    Default,
    /// Not started until `start()`, `join()` or awaiting its `Deferred`; cancelled while
    /// New, it completes at once and its body never runs.
    Lazy,
    /// Dispatched now; runs until its first suspension even if cancelled before it started.
    Atomic,
    /// Polled at once on the calling thread until its first suspension (not cancellable before
    /// that); later resumes use its dispatcher.
    Undispatched,
}

/// Starts a coroutine running `block` (Kotlin `launch`). `context` is the complete context:
/// its job element is the parent, its dispatcher runs the coroutine (none: in place).
#[track_caller]
pub fn launch<F, Fut>(context: Context, start: CoroutineStart, block: F) -> Job
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    spawn(context, start, JobKind::Launch, LaunchBody(block)).into_job()
}

/// [`launch`] for a fallible body: an `Err` fails the job exactly like a panic does (a
/// cancellation `JobError`, as returned by `ensure_active()?`, cancels it instead).
#[track_caller]
pub fn try_launch<F, Fut, E>(context: Context, start: CoroutineStart, block: F) -> Job
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
{
    spawn(
        context,
        start,
        JobKind::Launch,
        TryLaunchBody(block, PhantomData),
    )
    .into_job()
}

/// Starts a coroutine computing a value (Kotlin `async`). Its failure is kept for the
/// [`Deferred`] and never reported to an exception handler (it still fails its parent).
#[track_caller]
pub fn async_<F, Fut, T>(context: Context, start: CoroutineStart, block: F) -> Deferred<T>
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let task = spawn(context, start, JobKind::Async, AsyncBody(block));
    Deferred::new(task.job(), task)
}

/// Starts a *scoped* coroutine: like [`async_`], but its failure is returned through the
/// `Deferred` only and never sent to the parent job (the caller rethrows it). This is what
/// `with_context` on another dispatcher runs its block in.
#[track_caller]
pub fn async_scoped<F, Fut, T>(context: Context, start: CoroutineStart, block: F) -> Deferred<T>
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let task = spawn(context, start, JobKind::Scoped, AsyncBody(block));
    Deferred::new(task.job(), task)
}

#[track_caller]
fn spawn<B: Body>(
    mut context: Context,
    start: CoroutineStart,
    kind: JobKind,
    body: B,
) -> Arc<Task<B>> {
    // Moved out, not cloned: the parent's reference count is shared with every sibling.
    let parent = context.take_parent();
    let (lazy, initial) = match start {
        CoroutineStart::Default => (false, SCHEDULED),
        CoroutineStart::Lazy => (true, 0),
        CoroutineStart::Atomic => (false, SCHEDULED | ATOMIC_START),
        // Its inline first run claims no `RUNNING` through `start_run`, which counts runs.
        CoroutineStart::Undispatched => (false, RUNNING | RUN_UNIT),
    };
    let location = Location::caller();
    let task = Task::new(context, kind, lazy, initial, body, location);
    {
        let job = task.borrowed_job();
        tracing::trace!(coroutine = job.id(), ?start, ?kind, "coroutine created");
        if let Some(parent) = parent {
            attach(&job, parent);
        }
    }
    match start {
        // Created `SCHEDULED`: this caller owns the first dispatch (step 1).
        CoroutineStart::Default | CoroutineStart::Atomic => task.schedule_first(),
        CoroutineStart::Lazy => {}
        // An Undispatched task is created `RUNNING` (above): no wake since then could
        // dispatch it and no runnable could run it.
        // SAFETY: `RUNNING` is held by this caller alone, so this first run is the only one.
        CoroutineStart::Undispatched => unsafe { task.clone().run_inline_first() },
    }
    task
}
