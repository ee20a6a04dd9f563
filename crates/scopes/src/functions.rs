//! The scope functions: [`coroutine_scope`], [`supervisor_scope`], [`with_context`],
//! [`with_timeout`] (and [`with_timeout_or_none`]).
//!
//! All of them create a scoped job under the caller's job, wait for every descendant, and
//! return `Err` instead of failing the caller (kotlinx rule R7). Entry rules (trap T1 of `docs/conformance.md`):
//! `coroutine_scope`, `supervisor_scope` and `with_timeout` run their block even if the caller
//! is already cancelled (the scope is born cancelled and returns a cancellation afterwards);
//! `with_context` checks the combined context first and does not run its block if it is
//! cancelled.
//!
//! Outside any coroutine they still work; the new scope then has no parent.
//!
//! Dropping one of their futures before it returned (select-style racing, any combinator)
//! cancels the block and its children at once; they stay children of the caller's job, which
//! does not complete before they have ended.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use corral_core::{
    async_scoped, current_context, current_job, host_dispatcher, is_active, scoped, yield_now,
    Context, CoroutineStart, Deferred, Job, JobError, NonCancellable, ScopeKind,
};
use corral_dispatchers::virtual_time::hold_virtual_time;
use corral_dispatchers::{schedule_timeout, TimeoutHandle};
use pin_project_lite::pin_project;

use crate::scope::CoroutineScope;

fn caller_context() -> Context {
    current_context().unwrap_or_default()
}

/// Runs `block` in place in a new scope whose job is a child of the caller's (Kotlin
/// `coroutineScope`): returns its value once every coroutine launched in it has completed, or
/// the first failure (a failing child cancels the scope and its siblings; the caller is not
/// cancelled). The block may borrow from the caller.
///
/// # Examples
///
/// ```
/// use corral_scopes::{coroutine_scope, run_blocking};
///
/// let sum = run_blocking(|_| async {
///     coroutine_scope(|scope| async move {
///         let a = scope.async_(|_| async { 1 });
///         let b = scope.async_(|_| async { 2 });
///         a.await.unwrap() + b.await.unwrap()
///     })
///     .await
/// })
/// .unwrap();
/// assert_eq!(sum.unwrap(), 3);
/// ```
pub async fn coroutine_scope<F, Fut, T>(block: F) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut,
    Fut: Future<Output = T>,
{
    scoped(caller_context(), ScopeKind::Coroutine, move |ctx| {
        block(CoroutineScope::from_context(ctx))
    })
    .await
}

/// Like [`coroutine_scope`], but the children fail independently (Kotlin `supervisorScope`):
/// a failing child goes to its exception handler and cancels nobody. A failure of the block
/// itself still cancels all children and is returned.
pub async fn supervisor_scope<F, Fut, T>(block: F) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut,
    Fut: Future<Output = T>,
{
    scoped(caller_context(), ScopeKind::Supervisor, move |ctx| {
        block(CoroutineScope::from_context(ctx))
    })
    .await
}

/// Runs `block` with the caller's context plus `context` and returns its result (Kotlin
/// `withContext`).
///
/// * If the combined context is cancelled (the caller, or a job named in `context`), returns
///   the cancellation without running `block`.
/// * Same dispatcher (or none named): runs in place, no dispatch on entry or exit.
/// * `NonCancellable`: the block runs to its end even if the caller is cancelled meanwhile.
/// * Another dispatcher: the block runs there, the caller resumes on its own dispatcher; a
///   successful result is discarded if the caller was cancelled before it resumed.
///
/// Naming a `Job` (e.g. `SupervisorJob::new()`) makes the block's scope a child of that job;
/// it does **not** make the block a supervisor (kotlinx behaves so too).
pub async fn with_context<F, Fut, T>(context: impl Into<Context>, block: F) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    match route(context.into()) {
        Route::Cancelled(error) => Err(error),
        Route::InPlace(combined) => {
            scoped(combined, ScopeKind::Coroutine, move |ctx| {
                block(CoroutineScope::from_context(ctx))
            })
            .await
        }
        Route::Dispatched {
            combined,
            waiting_side,
        } => dispatched(combined, waiting_side, block).await,
    }
}

/// Where the block of a [`with_context`] runs.
enum Route {
    /// The combined context is cancelled: the block does not run.
    Cancelled(JobError),
    /// In place, in a scope with the combined context.
    InPlace(Context),
    /// On another dispatcher, while the caller waits in `waiting_side`.
    Dispatched {
        combined: Context,
        waiting_side: Context,
    },
}

/// Decides where the block of a [`with_context`] runs. Out of line: scopes nest, and what the
/// first poll of a scope function keeps on the stack is paid once per level.
#[inline(never)]
fn route(context: Context) -> Route {
    let caller = caller_context();
    let combined = caller.clone() + context;
    if let Err(error) = combined.ensure_active() {
        return Route::Cancelled(error);
    }
    // Compared with where the caller runs, not with the dispatcher its context names: the root
    // of `run_blocking_with(D, ..)` names `D` but runs on the caller's loop (DISP-01 (d)).
    let same_dispatcher = match (host_dispatcher(), combined.dispatcher()) {
        (Some(a), Some(b)) => a.same_as(b),
        (None, None) => true,
        _ => false,
    };
    if same_dispatcher {
        Route::InPlace(combined)
    } else {
        // The caller waits inside an in-place non-cancellable frame, so a cancellation of the
        // caller while the block runs elsewhere is not a drop of this future: it flows down to
        // the block (a child of the caller's job), and the block's outcome comes back.
        Route::Dispatched {
            combined,
            waiting_side: caller + NonCancellable,
        }
    }
}

/// [`with_context`] on another dispatcher: the block runs there as a child coroutine while the
/// caller waits in `waiting_side`. A failure is delivered as it is, even to a cancelled caller
/// (WCTX-05); a value is not (prompt cancellation, rule R4): the caller is then dropped at the
/// yield below.
async fn dispatched<F, Fut, T>(
    combined: Context,
    waiting_side: Context,
    block: F,
) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let dispatched = move |target: Context| async move {
        let deferred = async_scoped(target, CoroutineStart::Default, move |ctx| {
            block(CoroutineScope::from_context(ctx))
        });
        // A `Deferred` dropped unawaited does not cancel its coroutine; this one must be when
        // the `with_context` future is dropped before it returned (select-style racing): the
        // block is cancelled at once and, being a child of the caller's job, holds that job's
        // completion until it ended.
        CancelOnDrop(deferred).await
    };
    // In a test, the virtual clock waits for the block instead of jumping past it.
    let hold = hold_virtual_time();
    let caller_job = hold.as_ref().and_then(|_| current_job());
    let result = scoped(waiting_side, ScopeKind::Coroutine, move |_| {
        dispatched(combined)
    })
    .await
    .and_then(|result| result);
    if let Some(caller_job) = caller_job {
        settle_children(&caller_job).await;
    }
    drop(hold);
    if result.is_ok() && !is_active() {
        yield_now().await;
    }
    result
}

/// Waits, yielding, until no child of `job` is complete but still attached: the block's
/// coroutine wakes its awaiter as it completes, on its own thread, and tells its parent (the
/// caller's job) just after. Released in that window, a virtual-time hold would let the test
/// loop find everything idle while the caller's scope still waits for that child, and jump the
/// clock past it (a `with_timeout` around the `with_context` would fire). Yielding keeps the
/// loop busy for the few instructions the other thread needs. Only with a hold (in a test).
#[inline(never)]
async fn settle_children(job: &Job) {
    while job.children().iter().any(Job::is_completed) {
        yield_now().await;
    }
}

/// Awaits a `Deferred` and cancels its job if dropped before (a no-op once the job completed).
/// It owns the `Deferred` rather than a second handle to its job: no reference count is
/// bumped and dropped per `with_context` hop.
struct CancelOnDrop<T>(Deferred<T>);

impl<T> Future for CancelOnDrop<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        let job = self.0.job();
        if !job.is_completed() {
            // `Job::cancel` re-raises a plain descendant job's handler panic to its caller;
            // here the caller is a destructor (perhaps running during an unwind), so the panic
            // is reported instead of raised.
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| job.cancel())) {
                corral_core::error::report_uncaught_panic(payload);
            }
        }
    }
}

/// Runs `block` in place like [`coroutine_scope`], cancelling it (and its children) if it has
/// not completed after `duration` (Kotlin `withTimeout`). The error then has `is_timeout()`
/// and kotlinx's message, `"Timed out waiting for N ms"`. A zero duration returns
/// `"Timed out immediately"` without running the block; `Duration::MAX` never times out.
///
/// A block that completes without ever suspending keeps its value even if the timer fired
/// meanwhile (kotlinx RB-07).
pub async fn with_timeout<F, Fut, T>(duration: Duration, block: F) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    timed(duration, block).await.0
}

/// [`with_timeout`] that gives `Ok(None)` when *its own* timeout expires (Kotlin
/// `withTimeoutOrNull`); other errors, an outer timeout included, are returned as they are.
pub async fn with_timeout_or_none<F, Fut, T>(
    duration: Duration,
    block: F,
) -> Result<Option<T>, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    match timed(duration, block).await {
        (Ok(value), _) => Ok(Some(value)),
        (Err(_), true) => Ok(None),
        (Err(error), false) => Err(error),
    }
}

/// The shared body of the timeouts: the result, and whether an `Err` is this call's own
/// timeout.
async fn timed<F, Fut, T>(duration: Duration, block: F) -> (Result<T, JobError>, bool)
where
    F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    if duration.is_zero() {
        return (
            Err(JobError::timeout_with_message("Timed out immediately")),
            true,
        );
    }
    let (caller, name, timer, undisturbed) = timed_setup();
    let result = {
        let (timer, undisturbed) = (timer.clone(), undisturbed.clone());
        scoped(caller, ScopeKind::Coroutine, move |ctx| {
            if duration != Duration::MAX {
                arm_timeout(&ctx, duration, name.as_deref(), &timer);
            }
            FirstPoll {
                inner: block(CoroutineScope::from_context(ctx)),
                suspended: false,
                slot: undisturbed,
            }
        })
        .await
    };
    timed_result(result, timer, undisturbed)
}

/// The shared state of a timed scope whose timer has `TimeoutHandle` and error.
type TimerSlot = Arc<Mutex<Option<(TimeoutHandle, JobError)>>>;

/// The caller's context and name and the timed scope's shared slots, for [`timed`]. Out of
/// line, like everything around a scope's poll that is not the poll itself (scopes nest: see
/// `route`).
#[inline(never)]
fn timed_setup<T>() -> (Context, Option<String>, TimerSlot, Arc<Mutex<Option<T>>>) {
    let caller = caller_context();
    let name = caller.name().map(str::to_owned);
    (caller, name, Arc::default(), Arc::default())
}

/// Starts the timer that cancels the scope of `ctx` after `duration`, and keeps its handle and
/// error in `timer`.
#[inline(never)]
fn arm_timeout(
    ctx: &Context,
    duration: Duration,
    name: Option<&str>,
    timer: &Mutex<Option<(TimeoutHandle, JobError)>>,
) {
    let job = ctx.job().cloned().expect("a scope has a job");
    let error = JobError::timeout(duration, name);
    let fire = error.clone();
    let handle = schedule_timeout(duration, move || job.cancel_with(fire));
    *timer.lock().unwrap_or_else(PoisonError::into_inner) = Some((handle, error));
}

/// The result of [`timed`] once its scope ended: cancels the timer and tells whether an `Err`
/// is this call's own timeout.
#[inline(never)]
fn timed_result<T>(
    result: Result<Option<T>, JobError>,
    timer: Arc<Mutex<Option<(TimeoutHandle, JobError)>>>,
    undisturbed: Arc<Mutex<Option<T>>>,
) -> (Result<T, JobError>, bool) {
    let own_timeout = match timer.lock().unwrap_or_else(PoisonError::into_inner).take() {
        Some((handle, error)) => {
            handle.cancel();
            Some(error)
        }
        None => None,
    };
    let undisturbed = undisturbed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    match result {
        Ok(Some(value)) => (Ok(value), false),
        Ok(None) => (
            Ok(undisturbed.expect("a block that never suspended left its value")),
            false,
        ),
        Err(error) => {
            let ours = own_timeout.is_some_and(|own| own.same_as(&error));
            match undisturbed {
                Some(value) if ours => (Ok(value), false),
                _ => (Err(error), ours),
            }
        }
    }
}

pin_project! {
    /// Passes the block's value through as `Some`, except when the block completed on its very
    /// first poll: then the value goes to `slot` (where a timeout that fired meanwhile cannot
    /// discard it) and the output is `None`.
    struct FirstPoll<Fut: Future> {
        #[pin]
        inner: Fut,
        suspended: bool,
        slot: Arc<Mutex<Option<Fut::Output>>>,
    }
}

impl<Fut: Future> Future for FirstPoll<Fut> {
    type Output = Option<Fut::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Ready(value) if !*this.suspended => {
                *this.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
                Poll::Ready(None)
            }
            Poll::Ready(value) => Poll::Ready(Some(value)),
            Poll::Pending => {
                *this.suspended = true;
                Poll::Pending
            }
        }
    }
}
