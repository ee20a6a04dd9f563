//! [`CoroutineScope`] and [`GlobalScope`]: where coroutines are launched from.
//!
//! A scope is a [`Context`] whose job is the parent of every coroutine launched from it. The
//! builders combine the scope's context with the builder's (the right side wins per element)
//! and add `Dispatchers::default()` when neither names a dispatcher (kotlinx
//! `newCoroutineContext`); the scope's own context is left as it is.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;

use corral_core::{Context, CoroutineStart, Deferred, Dispatcher, Job};
use corral_dispatchers::Dispatchers;

/// A scope to launch coroutines in (Kotlin `CoroutineScope`); the block of every builder gets
/// the new coroutine's own scope.
///
/// # Examples
///
/// ```
/// use corral_scopes::{run_blocking, CoroutineScope};
/// use corral_core::Job;
///
/// let scope = CoroutineScope::new(Job::new());
/// let job = scope.launch(|_| async { println!("on Dispatchers.Default") });
/// run_blocking(|_| async move { job.join().await }).unwrap();
/// ```
#[derive(Clone)]
pub struct CoroutineScope {
    context: Context,
}

impl CoroutineScope {
    /// A root scope (Kotlin `CoroutineScope(ctx)`): its job is the job `context` names, or a new
    /// `Job::new()`. Coroutines launched from it run on the context's dispatcher, or on
    /// `Dispatchers::default()` if it names none.
    pub fn new(context: impl Into<Context>) -> CoroutineScope {
        let context = context.into();
        let context = if context.job().is_some() {
            context
        } else {
            context.with_job(Job::new())
        };
        CoroutineScope { context }
    }

    /// The scope of a coroutine or scope function with this context.
    pub fn from_context(context: Context) -> CoroutineScope {
        CoroutineScope { context }
    }

    /// The scope's context.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The scope's job (for a coroutine's scope, the coroutine's job).
    ///
    /// # Panics
    ///
    /// If the scope's context has no job (only a `NonCancellable` element); scopes made by
    /// this crate always have one.
    pub fn job(&self) -> Job {
        self.context
            .job()
            .cloned()
            .expect("this CoroutineScope's context has no Job")
    }

    /// `true` while the scope's job is active (or it has none).
    pub fn is_active(&self) -> bool {
        self.context.is_active()
    }

    /// Cancels the scope's job and so every coroutine launched from it.
    pub fn cancel(&self) {
        if let Some(job) = self.context.job() {
            job.cancel();
        }
    }

    fn child_context(&self, context: Context) -> Context {
        (self.context.clone() + context).or_dispatcher(Dispatchers::default)
    }

    /// [`child_context`](Self::child_context) with no extra elements (a plain `launch` or
    /// `async_`): the scope's own context, without merging an empty one into it.
    fn own_child_context(&self) -> Context {
        self.context.clone().or_dispatcher(Dispatchers::default)
    }

    /// Launches a coroutine (Kotlin `launch`): dispatched now, a child of the scope's job.
    /// A panic fails it, cancels its parent unless that is a supervisor, and reaches the
    /// exception handler if no parent handles it.
    #[track_caller]
    pub fn launch<F, Fut>(&self, block: F) -> Job
    where
        F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        corral_core::launch(
            self.own_child_context(),
            CoroutineStart::Default,
            move |ctx| block(CoroutineScope::from_context(ctx)),
        )
    }

    /// [`launch`](CoroutineScope::launch) with extra context elements and a start mode.
    #[track_caller]
    pub fn launch_with<F, Fut>(
        &self,
        context: impl Into<Context>,
        start: CoroutineStart,
        block: F,
    ) -> Job
    where
        F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        corral_core::launch(self.child_context(context.into()), start, move |ctx| {
            block(CoroutineScope::from_context(ctx))
        })
    }

    /// `launch` for a fallible body: an `Err` fails the job exactly like a panic does (a
    /// cancellation `JobError`, e.g. from `ensure_active()?`, cancels it instead).
    #[track_caller]
    pub fn try_launch<F, Fut, E>(&self, block: F) -> Job
    where
        F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    {
        corral_core::try_launch(
            self.own_child_context(),
            CoroutineStart::Default,
            move |ctx| block(CoroutineScope::from_context(ctx)),
        )
    }

    /// [`try_launch`](CoroutineScope::try_launch) with extra context elements and a start mode.
    #[track_caller]
    pub fn try_launch_with<F, Fut, E>(
        &self,
        context: impl Into<Context>,
        start: CoroutineStart,
        block: F,
    ) -> Job
    where
        F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    {
        corral_core::try_launch(self.child_context(context.into()), start, move |ctx| {
            block(CoroutineScope::from_context(ctx))
        })
    }

    /// Starts a coroutine computing a value (Kotlin `async`); await the [`Deferred`].
    #[track_caller]
    pub fn async_<F, Fut, T>(&self, block: F) -> Deferred<T>
    where
        F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        corral_core::async_(
            self.own_child_context(),
            CoroutineStart::Default,
            move |ctx| block(CoroutineScope::from_context(ctx)),
        )
    }

    /// [`async_`](CoroutineScope::async_) with extra context elements and a start mode.
    #[track_caller]
    pub fn async_with<F, Fut, T>(
        &self,
        context: impl Into<Context>,
        start: CoroutineStart,
        block: F,
    ) -> Deferred<T>
    where
        F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        corral_core::async_(self.child_context(context.into()), start, move |ctx| {
            block(CoroutineScope::from_context(ctx))
        })
    }

    /// The dispatcher launched coroutines run on.
    pub fn dispatcher(&self) -> Dispatcher {
        self.context
            .dispatcher()
            .cloned()
            .unwrap_or_else(Dispatchers::default)
    }
}

impl fmt::Debug for CoroutineScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CoroutineScope")
            .field(&self.context)
            .finish()
    }
}

/// The scope of root coroutines that belong to no parent and run on `Dispatchers::default()`
/// unless told otherwise (Kotlin `GlobalScope`). Prefer a scope with a job you own.
///
/// # Examples
///
/// ```
/// use corral_scopes::{run_blocking, GlobalScope};
///
/// let job = GlobalScope::launch(|_| async { println!("on Dispatchers.Default") });
/// assert!(job.parent().is_none()); // a root: nobody waits for it or cancels it
/// let join = job.join();
/// run_blocking(|_| join).unwrap();
/// assert!(job.is_completed());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct GlobalScope;

impl GlobalScope {
    fn scope() -> CoroutineScope {
        CoroutineScope::from_context(Context::new())
    }

    /// A root coroutine (Kotlin `GlobalScope.launch`).
    #[track_caller]
    pub fn launch<F, Fut>(block: F) -> Job
    where
        F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::scope().launch(block)
    }

    /// [`launch`](GlobalScope::launch) with extra context elements and a start mode.
    #[track_caller]
    pub fn launch_with<F, Fut>(context: impl Into<Context>, start: CoroutineStart, block: F) -> Job
    where
        F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::scope().launch_with(context, start, block)
    }

    /// A root fallible coroutine.
    #[track_caller]
    pub fn try_launch<F, Fut, E>(block: F) -> Job
    where
        F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    {
        Self::scope().try_launch(block)
    }

    /// A root coroutine computing a value (Kotlin `GlobalScope.async`).
    #[track_caller]
    pub fn async_<F, Fut, T>(block: F) -> Deferred<T>
    where
        F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        Self::scope().async_(block)
    }

    /// [`async_`](GlobalScope::async_) with extra context elements and a start mode.
    #[track_caller]
    pub fn async_with<F, Fut, T>(
        context: impl Into<Context>,
        start: CoroutineStart,
        block: F,
    ) -> Deferred<T>
    where
        F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        Self::scope().async_with(context, start, block)
    }
}
