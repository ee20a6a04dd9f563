//! Plain jobs: `Job::new()`, `Job::new_child(..)` and `SupervisorJob`, which have no body.
//!
//! Their "body" is done when they are completed by hand or cancelled (kotlinx
//! `onCancelComplete`): a cancelled plain job completes as soon as its children have.
//!
//! # Where a completion handler's panic goes
//!
//! A plain job has no exception handler of its own. kotlinx throws a handler's exception (as a
//! `CompletionHandlerException`) to whoever completed or cancelled the job; when that is the
//! runtime (a child finishing on a worker, a timer firing), the exception ends in the exception
//! handler of whatever coroutine was completing. corral keeps the first half and makes the
//! second safe:
//!
//! * During a user's call of `cancel`, `cancel_with`, `complete` or `complete_exceptionally`
//!   ([`raise_handler_panics`]), the panics of the plain jobs finalized by that call are
//!   collected and the first is re-raised to that caller once all the work of the call is done
//!   (the others are dropped: a panic payload cannot carry a suppressed list).
//! * Anywhere else (finalization driven by the runtime on a worker, the timer thread, an event
//!   loop) they are reported to the default exception handler and never unwind: a panic in
//!   the middle of the job machinery would leave parents waiting forever and kill the thread.
//!
//! # Invariants
//!
//! * The job machinery never calls the raising entry points: it cancels through
//!   [`Job::cancel_by_runtime`] and `JobCore` directly. A runtime caller outside this crate
//!   (a `with_timeout` firing on a timer thread) calls them only inside a `catch_unwind` that
//!   reports what they raise, after the whole cancellation is done.
//! * Each raising call owns its own collection (the previous one is put back when it returns),
//!   so a panic is re-raised to the innermost user call that finalized the job, never to an
//!   outer one running on the same thread.

use std::any::Any;
use std::cell::RefCell;
use std::panic;
use std::sync::Arc;

use crate::context::Context;
use crate::error::{drop_panic_payload, JobError};
use crate::handler;
use crate::job::state_machine::{JobCore, JobKind, JobState};
use crate::job::{attach, Job, JobNode};
use crate::wake_batch::WakeBatch;

type Payload = Box<dyn Any + Send>;

thread_local! {
    /// The handler panics collected for the innermost raising call running on this thread;
    /// `None` outside any.
    static RAISED: RefCell<Option<Vec<Payload>>> = const { RefCell::new(None) };
}

/// Runs `call` (a user's `cancel`, `complete`, ...) and then re-raises to the caller the first
/// completion-handler panic of a plain job finalized during it; see the module docs.
pub(crate) fn raise_handler_panics<R>(call: impl FnOnce() -> R) -> R {
    /// Puts the enclosing call's collection back, even if `call` unwinds.
    struct Scope {
        outer: Option<Option<Vec<Payload>>>,
    }

    impl Scope {
        fn restore(&mut self) -> Vec<Payload> {
            let outer = self.outer.take().unwrap_or_default();
            RAISED
                .try_with(|raised| raised.replace(outer))
                .ok()
                .flatten()
                .unwrap_or_default()
        }
    }

    impl Drop for Scope {
        fn drop(&mut self) {
            if self.outer.is_some() {
                self.restore().into_iter().for_each(drop_panic_payload);
            }
        }
    }

    let outer = RAISED
        .try_with(|raised| raised.replace(Some(Vec::new())))
        .ok()
        .flatten();
    let mut scope = Scope { outer: Some(outer) };
    let result = call();
    let mut panics = scope.restore().into_iter();
    if let Some(first) = panics.next() {
        panics.for_each(drop_panic_payload);
        panic::resume_unwind(first);
    }
    result
}

pub(crate) struct StandaloneJob {
    core: JobCore,
}

impl StandaloneJob {
    pub(crate) fn create(kind: JobKind, parent: Option<&Job>) -> Job {
        let job = Job::from_node(Arc::new(StandaloneJob {
            core: JobCore::new(kind, JobState::Active),
        }));
        if let Some(parent) = parent {
            attach(&job, parent.clone());
        }
        job
    }
}

impl JobNode for StandaloneJob {
    fn core(&self) -> &JobCore {
        &self.core
    }

    fn on_cancelling(self: Arc<Self>, _wakes: &mut WakeBatch) -> Option<Job> {
        // No body to stop: cancelled, a plain job only waits for its children.
        Some(Job::from_node(self))
    }

    fn start_body(self: Arc<Self>, _this: &Job) {
        // Plain jobs are created Active; `JobCore::start` never succeeds for them.
    }

    fn report_unhandled(&self, _error: &JobError) {
        // kotlinx: a plain job does not handle exceptions itself; the failing child reports.
    }

    fn completion_handlers_panicked(&self, panics: Vec<Payload>) {
        // Every handler ran. Raised to a user's call in progress, else reported (module docs).
        let mut unraised = Some(panics);
        let _ = RAISED.try_with(|raised| {
            if let Some(collected) = raised.borrow_mut().as_mut() {
                collected.extend(unraised.take().into_iter().flatten());
            }
        });
        for payload in unraised.into_iter().flatten() {
            let error = JobError::from_panic(payload);
            handler::handle_coroutine_exception(&Context::new(), self.core.id(), &error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caught<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
        panic::catch_unwind(panic::AssertUnwindSafe(f))
    }

    /// A raising call nested in another (a handler of the outer job cancels an inner one):
    /// each call gets the panics of the jobs it finalized, the outer collection survives.
    #[test]
    fn nested_raising_calls_each_get_their_own_panics() {
        let outer = Job::new();
        let inner = Job::new();
        let inner2 = inner.clone();
        let seen_inside = Arc::new(std::sync::Mutex::new(None));
        let seen = seen_inside.clone();
        let _ = outer.invoke_on_completion(move |_| {
            let raised = caught(|| inner2.cancel()).unwrap_err();
            *seen.lock().unwrap() = raised.downcast_ref::<&str>().copied();
            panic!("outer handler");
        });
        let _ = inner.invoke_on_completion(|_| panic!("inner handler"));
        let raised = caught(|| outer.cancel()).unwrap_err();
        assert_eq!(raised.downcast_ref::<&str>(), Some(&"outer handler"));
        assert_eq!(*seen_inside.lock().unwrap(), Some("inner handler"));
        assert!(RAISED.with(|raised| raised.borrow().is_none()));
    }

    /// Finalized by the runtime (no user call in progress on the thread), a plain job's handler
    /// panic is reported and does not unwind.
    #[test]
    fn handler_panic_outside_a_user_call_is_reported() {
        let job = Job::new();
        let _ = job.invoke_on_completion(|_| panic!("reported"));
        let result = caught(|| job.cancel_by_runtime(JobError::cancelled("test")));
        assert!(result.is_ok());
        assert!(job.is_completed());
    }
}
