//! [`SchedulerDispatch`]: a dispatcher that submits to a [`CoroutineScheduler`] in one task
//! mode. `Dispatchers::default()` is one in CPU mode; the unbounded blocking side under
//! `Dispatchers::io()` is one in blocking mode; fixed-size executors use one too.

use std::fmt;

use corral_core::{Dispatch, DispatchError, Dispatcher, Runnable, TaskMode};
use corral_scheduler::CoroutineScheduler;

use crate::limited::{check_parallelism, LimitedDispatcher};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct SchedulerDispatch {
    scheduler: CoroutineScheduler,
    mode: TaskMode,
    name: String,
    /// Views at or above this parallelism are the dispatcher itself (`None`: never, the
    /// blocking side is elastic).
    full_parallelism: Option<usize>,
}

impl SchedulerDispatch {
    pub(crate) fn new(
        scheduler: CoroutineScheduler,
        mode: TaskMode,
        name: impl Into<String>,
        full_parallelism: Option<usize>,
    ) -> SchedulerDispatch {
        crate::tokio_context::install();
        SchedulerDispatch {
            scheduler,
            mode,
            name: name.into(),
            full_parallelism,
        }
    }

    /// Inlined into `dispatch` and `dispatch_yield`, and the scheduler's submit path into it:
    /// one call level on the path of every wake. A rejection is out of line.
    #[inline]
    fn submit(&self, runnable: Runnable, fair: bool) {
        // `dispatch_yield` is the running coroutine (or view loop) re-queuing itself after a
        // yield (the `Dispatch` contract): a re-queue, which wakes no other worker.
        let submitted = if fair {
            self.scheduler.requeue(runnable, self.mode)
        } else {
            self.scheduler.dispatch(runnable, self.mode, false)
        };
        if let Err(rejected) = submitted {
            self.reject_closed(rejected.into_inner());
        }
    }

    #[cold]
    fn reject_closed(&self, runnable: Runnable) {
        runnable.reject(DispatchError::Closed {
            dispatcher: self.name.clone(),
        });
    }

    pub(crate) fn scheduler(&self) -> &CoroutineScheduler {
        &self.scheduler
    }
}

impl Dispatch for SchedulerDispatch {
    fn dispatch(&self, runnable: Runnable) {
        self.submit(runnable, false);
    }

    fn dispatch_yield(&self, runnable: Runnable) {
        self.submit(runnable, true);
    }

    fn task_mode(&self) -> TaskMode {
        self.mode
    }

    fn limited_parallelism(&self, this: &Dispatcher, parallelism: usize) -> Dispatcher {
        check_parallelism(self, parallelism);
        if self
            .full_parallelism
            .is_some_and(|full| parallelism >= full)
        {
            return this.clone();
        }
        Dispatcher::new(LimitedDispatcher::new(this.clone(), parallelism, None))
    }
}

impl fmt::Display for SchedulerDispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
