//! The single-threaded event loop of corral-core's scenario tests: [`TestLoop`] (a FIFO
//! dispatcher drained on the test thread), [`run_blocking`] (kotlinx's `runBlocking` on it,
//! minus timers) and [`Scope`], a small wrapper over a coroutine's context so tests read like
//! the scenarios.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use corral_core::{
    async_, launch, try_launch, Context, CoroutineStart, Deferred, Dispatch, Dispatcher, Job,
    JobError, Runnable,
};

/// A FIFO queue of runnables drained by [`run_blocking`] on the test thread.
#[derive(Debug, Default)]
pub struct TestLoop {
    queue: Mutex<VecDeque<Runnable>>,
}

impl fmt::Display for TestLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TestLoop")
    }
}

impl Dispatch for TestLoop {
    fn dispatch(&self, runnable: Runnable) {
        self.queue.lock().unwrap().push_back(runnable);
    }

    fn limited_parallelism(&self, this: &Dispatcher, _parallelism: usize) -> Dispatcher {
        this.clone()
    }
}

/// What the test body receives: the coroutine's context plus builder helpers.
#[derive(Clone, Debug)]
pub struct Scope {
    /// The coroutine's context.
    pub context: Context,
}

impl Scope {
    /// The scope of a coroutine whose context is `context`.
    pub fn new(context: Context) -> Scope {
        Scope { context }
    }

    /// The coroutine's job.
    ///
    /// # Panics
    ///
    /// If the context has no job.
    pub fn job(&self) -> Job {
        self.context
            .job()
            .cloned()
            .expect("a coroutine scope has a job")
    }

    /// The coroutine's dispatcher.
    ///
    /// # Panics
    ///
    /// If the context has no dispatcher.
    pub fn dispatcher(&self) -> Dispatcher {
        self.context.dispatcher().cloned().expect("a dispatcher")
    }

    /// kotlinx `launch { }`: a child coroutine in this scope's context, started by default.
    pub fn launch<F, Fut>(&self, block: F) -> Job
    where
        F: FnOnce(Scope) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.launch_with(Context::new(), CoroutineStart::Default, block)
    }

    /// kotlinx `launch(context, start) { }`: a child coroutine in this scope's context plus
    /// `context`.
    pub fn launch_with<F, Fut>(
        &self,
        context: impl Into<Context>,
        start: CoroutineStart,
        block: F,
    ) -> Job
    where
        F: FnOnce(Scope) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        launch(self.context.clone() + context.into(), start, move |ctx| {
            block(Scope::new(ctx))
        })
    }

    /// [`launch_with`](Scope::launch_with) for a body that may fail: an `Err` fails the job.
    pub fn try_launch_with<F, Fut>(
        &self,
        context: impl Into<Context>,
        start: CoroutineStart,
        block: F,
    ) -> Job
    where
        F: FnOnce(Scope) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        try_launch(self.context.clone() + context.into(), start, move |ctx| {
            block(Scope::new(ctx))
        })
    }

    /// kotlinx `async { }`: a child coroutine with a result, started by default.
    pub fn async_<F, Fut, T>(&self, block: F) -> Deferred<T>
    where
        F: FnOnce(Scope) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.async_with(Context::new(), CoroutineStart::Default, block)
    }

    /// kotlinx `async(context, start) { }`: a child coroutine with a result in this scope's
    /// context plus `context`.
    pub fn async_with<F, Fut, T>(
        &self,
        context: impl Into<Context>,
        start: CoroutineStart,
        block: F,
    ) -> Deferred<T>
    where
        F: FnOnce(Scope) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        async_(self.context.clone() + context.into(), start, move |ctx| {
            block(Scope::new(ctx))
        })
    }
}

/// kotlinx `runBlocking(H) { body }` on a fresh [`TestLoop`]: the root is a scoped coroutine
/// (a child failure is returned, not reported). Panics if the loop runs dry while the root is
/// not complete (a hang in a timer-less single-threaded world).
pub fn run_blocking_with<F, Fut, T>(context: impl Into<Context>, block: F) -> Result<T, JobError>
where
    F: FnOnce(Scope) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let test_loop = Arc::new(TestLoop::default());
    let dispatcher = Dispatcher::from_arc(test_loop.clone());
    let context = Context::new() + dispatcher + context.into();
    let mut root = corral_core::async_scoped(context, CoroutineStart::Default, move |ctx| {
        block(Scope::new(ctx))
    });
    loop {
        let next = test_loop.queue.lock().unwrap().pop_front();
        match next {
            Some(runnable) => runnable.run(),
            None => break,
        }
    }
    root.try_take()
        .expect("the event loop ran dry before the root coroutine completed (deadlock)")
}

/// `run_blocking_with` with an empty context.
pub fn run_blocking<F, Fut, T>(block: F) -> Result<T, JobError>
where
    F: FnOnce(Scope) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    run_blocking_with(Context::new(), block)
}
