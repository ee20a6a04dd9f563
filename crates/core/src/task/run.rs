//! The run loop: one run of a task with `RUNNING` held (steps 1 to 4 of the module docs of
//! [`task`](super)), its completion path, and the [`RunTask`] side of a task (run, reject).

use std::future::Future;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use super::body::Body;
use super::stage::Running;
use super::state::EndRun;
use super::{catch, Task};
use crate::context::JobElement;
use crate::current::{self, Frame, YieldRequest};
use crate::debug;
use crate::error::{DispatchError, JobError};
use crate::job::state_machine::{BodyOutcome, JobCore};
use crate::job::Job;
use crate::runnable::RunTask;
use crate::thread_context;

impl<B: Body> Task<B> {
    /// Polls the task inline on the calling thread with `RUNNING` already held
    /// (`CoroutineStart::Undispatched`: the task was created `RUNNING`).
    ///
    /// # Safety
    ///
    /// The task was created with `RUNNING` set, and this is its first run: called once, by its
    /// creator, before anything could run it.
    pub(crate) unsafe fn run_inline_first(self: Arc<Self>) {
        // By the caller's contract the task was created `RUNNING` and no guard for it was made yet.
        // SAFETY: that is exactly `assume_running`'s contract.
        let running = unsafe { self.cell.assume_running() };
        if let EndRun::Dispatch { fair } = self.run_holding(running, true) {
            self.schedule_owned(fair);
        }
    }

    /// One run: steps the body with its frame pushed, then completes the task or releases
    /// `RUNNING`. Returns whether the caller must dispatch the task again (it was woken during
    /// the run; `Idle` after completion too): the caller's reference then becomes the
    /// runnable's (`schedule_owned`), which it can give only once the guard is gone.
    fn run_holding(self: &Arc<Self>, mut running: Running<'_, B>, atomic_start: bool) -> EndRun {
        crate::thread_hook::run_on_this_thread();
        let job = self.borrowed_job();
        let job: &Job = &job;
        let outcome = {
            let yield_flag: *const dyn YieldRequest = &**self as &dyn YieldRequest;
            let frame = Frame::task(job, &self.job, &self.elements, yield_flag);
            thread_context::around_poll(&self.elements, || {
                debug::around_poll(
                    || self.job.id(),
                    self.location,
                    || {
                        current::enter(&frame, || {
                            self.step(&mut running, job, atomic_start, &frame)
                        })
                    },
                )
            })
        };
        match outcome {
            Some((outcome, output)) => {
                running.complete(output);
                // The task's own core, not `job.core()`: no dynamic call on the completion path.
                self.job.body_completed(job, outcome);
                EndRun::Idle
            }
            None => running.end_run(self.job.shields().take_yielded()),
        }
    }

    /// One step of the body with `RUNNING` held. Returns the outcome when the body is done.
    fn step(
        self: &Arc<Self>,
        running: &mut Running<'_, B>,
        job: &Job,
        atomic_start: bool,
        frame: &Frame,
    ) -> Option<(BodyOutcome, Option<B::Output>)> {
        if running.is_init() {
            if self.job.is_cancelled() && !atomic_start {
                return Some((running.drop_stage(), None));
            }
            let body = running.take_closure();
            let context = self.elements.to_context(Some(JobElement::Job(job.clone())));
            match catch(|| body.call(context)) {
                Ok(future) => running.set_future(future),
                Err(error) => return Some((BodyOutcome::Failed(error), None)),
            }
        } else if !self.job.shields().take_poll_on_cancel() && frame.must_drop() {
            // Woken to be dropped. Unless the suspension point asked to see the
            // cancellation (`current::poll_on_cancel`: a `Deferred` whose failure is
            // delivered even to a cancelled awaiter, ASYNC-02 / ASYNC-05 (b)); then the
            // future is polled once more and dropped after that poll if still pending.
            return Some((running.drop_stage(), None));
        }
        let waker = self.borrowed_waker();
        let mut cx = TaskContext::from_waker(&waker);
        match catch(|| running.poll(&mut cx)) {
            Ok(Poll::Ready(value)) => {
                let dropped = running.drop_stage();
                Some(finish::<B>(&self.job, value, dropped))
            }
            Ok(Poll::Pending) if frame.must_drop() => Some((running.drop_stage(), None)),
            Ok(Poll::Pending) => None,
            Err(error) => {
                // A second panic from the destructor of a panicked future is dropped: the
                // first failure wins.
                let _ = running.drop_stage();
                Some((BodyOutcome::Failed(error), None))
            }
        }
    }
}

/// The outcome of a body whose future returned `value` and was then dropped (`dropped`).
///
/// User code runs here too: `try_launch`'s error conversion and the destructor of a value that
/// is discarded, both caught. A value produced after cancellation is discarded (rule R5); a
/// panic of its destructor fails the job, like one of a cancelled future's destructor.
fn finish<B: Body>(
    job: &JobCore,
    value: <B::Fut as Future>::Output,
    dropped: BodyOutcome,
) -> (BodyOutcome, Option<B::Output>) {
    if let BodyOutcome::Failed(error) = dropped {
        // The future's destructor failed first and that failure wins; a second panic, from the
        // value's destructor, is dropped.
        let _ = catch(move || drop(value));
        return (BodyOutcome::Failed(error), None);
    }
    match catch(move || B::finish(value)) {
        Ok(Ok(output)) if !job.is_cancelled() => (BodyOutcome::Completed, Some(output)),
        Ok(Ok(discarded)) => match catch(move || drop(discarded)) {
            Ok(()) => (BodyOutcome::Completed, None),
            Err(error) => (BodyOutcome::Failed(error), None),
        },
        Ok(Err(error)) | Err(error) => (BodyOutcome::Failed(error), None),
    }
}

impl<B: Body> RunTask for Task<B> {
    fn run(self: Arc<Self>) {
        let Some((running, atomic_start)) = self.cell.start_run() else {
            return;
        };
        if let EndRun::Dispatch { fair } = self.run_holding(running, atomic_start) {
            self.schedule_owned(fair);
        }
    }

    fn reject(self: Arc<Self>, error: DispatchError) {
        tracing::warn!(coroutine = self.job.id(), %error, "dispatcher rejected a coroutine");
        let job = self.job();
        job.cancel_by_runtime(JobError::failure(error.to_string()));
        // Drop the body here, where it was pinned: its dispatcher will never run it.
        if let Some((mut running, _)) = self.cell.start_run() {
            let outcome = running.drop_stage();
            running.complete(None);
            job.core().body_completed(&job, outcome);
        }
    }

    fn coroutine_id(&self) -> Option<u64> {
        Some(self.job.id())
    }
}
