//! [`run_blocking`], [`run_blocking_with`] and [`run_main_loop`]: bridging blocking code and
//! coroutines on the calling thread's event loop.
//!
//! The root coroutine is a scope frame polled *on the calling thread*, so its block may borrow
//! from the caller and need not be `Send`. Its wake-ups are ordered with the loop's other work:
//! a wake enqueues a marker runnable in the loop's FIFO queue, and the root is polled when the
//! loop reaches that marker (so `launch A; launch B; print C` prints `CAB`, and a root that
//! yields goes behind the work queued before it). The loop runs until the root frame — the
//! block and every descendant — has completed.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use corral_core::{scoped_with_host, Context, Dispatcher, JobError, Runnable, ScopeKind};
use corral_dispatchers::EventLoop;

use crate::scope::CoroutineScope;

/// Runs `block` as the root coroutine on an event loop owned by the calling thread (Kotlin
/// `runBlocking`), and blocks until it and all its children are complete. The loop is the
/// dispatcher of every child that names no other. A nested call on the same thread drives the
/// same loop (so the outer loop's coroutines keep running). A failed or cancelled root gives
/// `Err` (a child's failure cancels the root and is returned, it never reaches a handler).
///
/// # Examples
///
/// ```
/// use corral_scopes::run_blocking;
///
/// let out = run_blocking(|scope| async move {
///     let answer = scope.async_(|_| async { 6 * 7 });
///     answer.await.unwrap()
/// });
/// assert_eq!(out.unwrap(), 42);
/// ```
pub fn run_blocking<F, Fut, T>(block: F) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut,
    Fut: Future<Output = T>,
{
    run_blocking_with(Context::new(), block)
}

/// [`run_blocking`] with a context: its job becomes the root's parent (a cancelled one makes
/// the call return at once without running `block`), its dispatcher (if any) is inherited by
/// the children instead of the loop, its name and exception handler are the root's.
pub fn run_blocking_with<F, Fut, T>(context: impl Into<Context>, block: F) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut,
    Fut: Future<Output = T>,
{
    let event_loop = EventLoop::current();
    let _entered = event_loop.enter();
    drive(&event_loop, context.into(), block)
}

/// Like [`run_blocking`], and for its whole duration the calling thread's loop *is*
/// `Dispatchers::main()`. At most one main loop runs at a time per process; a second
/// concurrent call returns `Err` with a clear message instead of hanging.
pub fn run_main_loop<F, Fut, T>(block: F) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut,
    Fut: Future<Output = T>,
{
    let event_loop = EventLoop::current();
    let _entered = event_loop.enter();
    let _main = event_loop
        .make_main()
        .map_err(|error| JobError::failure(format!("run_main_loop: {error}")))?;
    drive(&event_loop, Context::new(), block)
}

fn drive<F, Fut, T>(event_loop: &EventLoop, context: Context, block: F) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut,
    Fut: Future<Output = T>,
{
    context.ensure_active()?;
    let context = context.or_dispatcher(|| event_loop.dispatcher());
    // The root runs here, on this thread's loop, whatever dispatcher its context names for
    // the coroutines it launches.
    let runs_on = event_loop.dispatcher();
    let mut root = pin!(scoped_with_host(
        context,
        runs_on,
        ScopeKind::Coroutine,
        move |ctx| { block(CoroutineScope::from_context(ctx)) }
    ));
    let root_waker = Arc::new(RootWaker {
        loop_dispatcher: event_loop.dispatcher(),
        turn: Arc::new(AtomicBool::new(false)),
        queued: Arc::new(AtomicBool::new(false)),
    });
    let waker = Waker::from(root_waker.clone());
    let mut cx = TaskContext::from_waker(&waker);
    // The root is polled here, not as a task: the thread hook's run for this thread.
    corral_core::thread_hook::run_on_this_thread();
    loop {
        if let Poll::Ready(result) = root.as_mut().poll(&mut cx) {
            return result;
        }
        // Acquire: pairs with the Release store of the marker runnable.
        event_loop.run_until(&mut || root_waker.turn.swap(false, Ordering::AcqRel));
    }
}

/// The waker of the root frame; see the module docs.
struct RootWaker {
    loop_dispatcher: Dispatcher,
    /// Set by the marker when the loop reaches it: the root's turn to be polled.
    turn: Arc<AtomicBool>,
    /// A marker is in the queue already (wakes are coalesced until it runs).
    queued: Arc<AtomicBool>,
}

impl Wake for RootWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let (turn, queued) = (self.turn.clone(), self.queued.clone());
        self.loop_dispatcher.dispatch(Runnable::from_fn(move || {
            queued.store(false, Ordering::Release);
            turn.store(true, Ordering::Release);
        }));
    }
}
