//! [`new_fixed_thread_pool_context`] and [`new_single_thread_context`]: dispatchers with their
//! own threads (Kotlin's `newFixedThreadPoolContext`), closable.

use std::fmt;
use std::ops::{Add, Deref};
use std::sync::Arc;
use std::time::Duration;

use corral_core::{Context, Dispatch, Dispatcher, Runnable, TaskMode};
use corral_scheduler::CoroutineScheduler;

use crate::dispatchers::Dispatchers;
use crate::scheduler_dispatcher::SchedulerDispatch;

/// A dispatcher with its own threads (Kotlin's `newFixedThreadPoolContext`), closable.
/// Derefs to [`Dispatcher`].
///
/// Each is a [`CoroutineScheduler`] with `core = max = n` and Kotlin's thread names (`name`
/// for one thread, `name-1`..`name-n` otherwise), and the stack size of
/// `CORRAL_THREAD_STACK_SIZE` if set (see [`crate::config`]). [`ExecutorDispatcher::close`]
/// stops taking work: what was queued still runs, and later dispatches fail their coroutine with
/// [`DispatchError::Closed`](corral_core::DispatchError) naming the dispatcher (never a hang).
/// The threads also stop once the last handle to the dispatcher is gone, since nobody can
/// dispatch to it any more.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// use corral_core::{launch, Context, CoroutineStart};
/// use corral_dispatchers::new_fixed_thread_pool_context;
///
/// let pool = new_fixed_thread_pool_context(2, "workers");
/// assert_eq!(pool.to_string(), "workers");
/// let (sender, names) = mpsc::channel();
/// launch(Context::from(&pool), CoroutineStart::Default, move |_| async move {
///     let name = std::thread::current().name().map(str::to_owned);
///     sender.send(name).unwrap();
/// });
/// assert_eq!(names.recv().unwrap().as_deref(), Some("workers-1"));
/// assert!(pool.close_and_wait(Duration::from_secs(5)));
/// assert!(pool.is_closed());
/// ```
#[derive(Clone)]
pub struct ExecutorDispatcher {
    dispatcher: Dispatcher,
    inner: Arc<ExecutorDispatch>,
}

/// The `Dispatch` behind an executor: shuts its pool down when the last handle drops.
struct ExecutorDispatch {
    inner: SchedulerDispatch,
}

/// A dispatcher with `threads` threads named `name-1`..`name-N` (Kotlin
/// `newFixedThreadPoolContext`).
///
/// # Panics
///
/// If `threads` is 0 or `name` is empty (the message names the call).
///
/// # Examples
///
/// ```
/// let pool = corral_dispatchers::new_fixed_thread_pool_context(2, "uploads");
/// assert_eq!(pool.to_string(), "uploads");
/// pool.close();
/// ```
pub fn new_fixed_thread_pool_context(threads: usize, name: &str) -> ExecutorDispatcher {
    assert!(
        threads >= 1,
        "new_fixed_thread_pool_context({threads}, {name:?}): expected at least one thread"
    );
    let thread_prefix = name.to_owned();
    let single = threads == 1;
    let scheduler = CoroutineScheduler::builder()
        .core_pool_size(threads)
        .max_pool_size(threads)
        .name(name)
        .thread_name(move |number| {
            if single {
                thread_prefix.clone()
            } else {
                format!("{thread_prefix}-{number}")
            }
        });
    let scheduler = match Dispatchers::shared_config().thread_stack_size {
        Some(bytes) => scheduler.thread_stack_size(bytes),
        None => scheduler,
    }
    .build()
    .unwrap_or_else(|error| panic!("new_fixed_thread_pool_context({threads}, {name:?}): {error}"));
    let inner = Arc::new(ExecutorDispatch {
        inner: SchedulerDispatch::new(scheduler, TaskMode::NonBlocking, name, Some(threads)),
    });
    ExecutorDispatcher {
        dispatcher: Dispatcher::from_arc(inner.clone()),
        inner,
    }
}

/// A dispatcher with one thread named `name` (Kotlin `newSingleThreadContext`).
pub fn new_single_thread_context(name: &str) -> ExecutorDispatcher {
    new_fixed_thread_pool_context(1, name)
}

impl ExecutorDispatcher {
    /// Stops accepting work: queued work still runs on the executor's threads, which then
    /// exit; later dispatches fail their coroutine with a "closed" error. Does not wait.
    pub fn close(&self) {
        self.inner.inner.scheduler().shutdown(Duration::ZERO);
    }

    /// Stops accepting work and waits up to `timeout` for the threads to finish what was
    /// queued; `true` if they all did.
    pub fn close_and_wait(&self, timeout: Duration) -> bool {
        self.inner.inner.scheduler().shutdown(timeout).is_clean()
    }

    /// `true` once closed.
    pub fn is_closed(&self) -> bool {
        self.inner.inner.scheduler().is_shut_down()
    }

    /// The dispatcher handle (also reachable through `Deref`).
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }
}

impl Deref for ExecutorDispatcher {
    type Target = Dispatcher;

    fn deref(&self) -> &Dispatcher {
        &self.dispatcher
    }
}

impl From<ExecutorDispatcher> for Dispatcher {
    fn from(executor: ExecutorDispatcher) -> Dispatcher {
        executor.dispatcher
    }
}

impl From<&ExecutorDispatcher> for Dispatcher {
    fn from(executor: &ExecutorDispatcher) -> Dispatcher {
        executor.dispatcher.clone()
    }
}

/// An executor is a context element like its dispatcher (Kotlin: an
/// `ExecutorCoroutineDispatcher` is a `CoroutineContext`), so `with_context(pool.clone(), ..)`
/// and `launch_with(&pool, ..)` work as they do with a [`Dispatcher`].
impl From<ExecutorDispatcher> for Context {
    fn from(executor: ExecutorDispatcher) -> Context {
        Context::from(executor.dispatcher)
    }
}

impl From<&ExecutorDispatcher> for Context {
    fn from(executor: &ExecutorDispatcher) -> Context {
        Context::from(executor.dispatcher.clone())
    }
}

/// `pool + CoroutineName::new("x")`, the right side winning per key.
impl<T: Into<Context>> Add<T> for ExecutorDispatcher {
    type Output = Context;

    fn add(self, right: T) -> Context {
        Context::from(self) + right
    }
}

impl Dispatch for ExecutorDispatch {
    fn dispatch(&self, runnable: Runnable) {
        self.inner.dispatch(runnable);
    }

    fn dispatch_yield(&self, runnable: Runnable) {
        self.inner.dispatch_yield(runnable);
    }

    fn limited_parallelism(&self, this: &Dispatcher, parallelism: usize) -> Dispatcher {
        self.inner.limited_parallelism(this, parallelism)
    }
}

impl Drop for ExecutorDispatch {
    fn drop(&mut self) {
        self.inner.scheduler().shutdown(Duration::ZERO);
    }
}

impl fmt::Display for ExecutorDispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl fmt::Display for ExecutorDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.dispatcher, f)
    }
}

impl fmt::Debug for ExecutorDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorDispatcher")
            .field("name", &self.dispatcher.to_string())
            .field("closed", &self.is_closed())
            .finish()
    }
}
