//! Test fixtures for corral-core's scenario tests: a single-threaded event loop dispatcher
//! (the `run_blocking` loop of kotlinx's [RB] scenarios, minus timers), a small `Scope`
//! wrapper so tests read like the scenarios, and the `expect(n)` step recorder.
#![allow(dead_code, unused_imports, unreachable_pub)] // each test binary uses a different part of the fixtures

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use corral_core::{
    async_, launch, try_launch, Context, CoroutineStart, Deferred, Dispatch, Dispatcher, Job,
    JobError, Runnable,
};

mod steps;
pub use steps::{forever, Finally, Recorder, Steps};

/// A FIFO queue of runnables drained by [`run_blocking`] on the test thread.
#[derive(Default)]
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

/// A second dispatcher that forwards to the same loop (kotlinx's "wrapper dispatcher": a
/// *different* dispatcher that runs on the same event loop).
pub struct Forwarding(pub Dispatcher);

impl fmt::Display for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Forwarding")
    }
}

impl Dispatch for Forwarding {
    fn dispatch(&self, runnable: Runnable) {
        self.0.dispatch(runnable);
    }

    fn limited_parallelism(&self, this: &Dispatcher, _parallelism: usize) -> Dispatcher {
        this.clone()
    }
}

/// What the test body receives: the coroutine's context plus builder helpers.
#[derive(Clone, Debug)]
pub struct Scope {
    pub context: Context,
}

impl Scope {
    pub fn new(context: Context) -> Scope {
        Scope { context }
    }

    pub fn job(&self) -> Job {
        self.context
            .job()
            .cloned()
            .expect("a coroutine scope has a job")
    }

    pub fn dispatcher(&self) -> Dispatcher {
        self.context.dispatcher().cloned().expect("a dispatcher")
    }

    pub fn launch<F, Fut>(&self, block: F) -> Job
    where
        F: FnOnce(Scope) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.launch_with(Context::new(), CoroutineStart::Default, block)
    }

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

    pub fn async_<F, Fut, T>(&self, block: F) -> Deferred<T>
    where
        F: FnOnce(Scope) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.async_with(Context::new(), CoroutineStart::Default, block)
    }

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
