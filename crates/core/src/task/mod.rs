//! The coroutine task: one allocation holding everything a coroutine needs.
//!
//! ```text
//! Arc<Task<B>> ─┬─ header:  TaskState (atomic word), shield counters
//!               ├─ job:     JobCore (state byte + mutex-guarded tree data)
//!               ├─ context: dispatcher, name, exception handler
//!               ├─ stage:   Init(closure) | Running(future) | Done      (guarded by RUNNING)
//!               └─ output:  Option<T>                                     (written once, taken once)
//! ```
//!
//! The same allocation is reached through three kinds of reference counted handles, none of
//! which allocates: [`Runnable`] (queued by dispatchers), `Waker` (the std `Wake` impl on the
//! `Arc`), and [`Job`] / `Deferred` (user handles).
//!
//! # Running
//!
//! [`Task::run`] claims `RUNNING` ([`state`]), pushes the coroutine's [`Frame`], and then:
//! 1. first run: if the job is already cancelled and the start is not Atomic, drops the
//!    closure without calling it; otherwise calls it and polls the future;
//! 2. later runs: if the job is cancelled and unshielded, drops the future (the coroutine was
//!    woken to be dropped, on its own dispatcher) unless its last suspension point asked to
//!    see the cancellation (`current::poll_on_cancel`, an awaited `Deferred`); otherwise polls
//!    it;
//! 3. after a `Pending` poll, drops the future if the job is cancelled and unshielded (every
//!    suspension is a cancellation point); otherwise releases `RUNNING` and re-dispatches if it
//!    was woken meanwhile;
//! 4. on completion (value, panic, `Err`, drop) marks the state complete *before* telling the
//!    job, so no wake can reach a finished future.
//!
//! Panics of user code (the closure, `poll`, and the future's destructor) are caught: a panic
//! fails the job; a panic while dropping a cancelled future is a failure that beats the
//! cancellation.

mod body;
pub(crate) mod state;

use std::any::Any;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};

pub(crate) use self::body::{AsyncBody, Body, LaunchBody, TryLaunchBody};
use self::state::{EndRun, StartRun, TaskState, WakeAction};
use crate::context::Context;
use crate::current::{self, Frame, ShieldBases, Shields, YieldRequest};
use crate::dispatcher::{Dispatch, Dispatcher};
use crate::error::{DispatchError, JobError};
use crate::handler;
use crate::job::core::{BodyOutcome, JobCore, JobKind, JobState};
use crate::job::{Job, JobNode};
use crate::loom::cell::UnsafeCell;
use crate::runnable::{RunTask, Runnable};
use crate::trampoline;

enum Stage<B: Body> {
    Init(B),
    Running(B::Fut),
    Done,
}

/// A coroutine; see the module docs.
pub(crate) struct Task<B: Body> {
    state: TaskState,
    /// See [`crate::current`]: raised by non-cancellable sections of this coroutine.
    shields: Shields,
    job: JobCore,
    /// The coroutine's context without its job element (the job is `self`).
    context: Context,
    stage: UnsafeCell<Stage<B>>,
    output: UnsafeCell<Option<B::Output>>,
}

// SAFETY: `stage` and `output` are only accessed by the thread holding `RUNNING` (stage, and the
// single write of output), or, for `output`, by the unique `Deferred` after the job is final
// (see `take_output`); all other fields are `Sync`. `B` and its future are `Send`, which is what
// moving their use between threads requires.
unsafe impl<B: Body> Sync for Task<B> {}

impl<B: Body> Task<B> {
    /// A new task; `context` must hold no job element (the task's job is itself, and its parent
    /// link lives in the job).
    pub(crate) fn new(
        context: Context,
        kind: JobKind,
        lazy: bool,
        state: usize,
        body: B,
    ) -> Arc<Task<B>> {
        let initial = if lazy {
            JobState::New
        } else {
            JobState::Active
        };
        Arc::new(Task {
            state: TaskState::new(state),
            shields: Shields::new(),
            job: JobCore::new(kind, initial),
            context,
            stage: UnsafeCell::new(Stage::Init(body)),
            output: UnsafeCell::new(None),
        })
    }

    pub(crate) fn job(self: &Arc<Self>) -> Job {
        Job::from_node(self.clone())
    }

    /// The task's own reference as a `Job` handle (no reference count touched).
    pub(crate) fn into_job(self: Arc<Self>) -> Job {
        Job::from_node(self)
    }

    /// A `Job` handle for the duration of a run, without touching the reference count (two
    /// atomic operations per poll saved; tokio's `WakerRef` trick). Clones of it are real,
    /// counted handles.
    pub(crate) fn borrowed_job(self: &Arc<Self>) -> ManuallyDrop<Job> {
        let task: *const Task<B> = Arc::as_ptr(self);
        let node: *const dyn JobNode = task;
        // The `ManuallyDrop` never releases the reference it did not take, and it is forgotten
        // before `self`, which keeps the task alive.
        // `node` is a live `Arc<Task<B>>`'s pointer after an unsized coercion.
        // SAFETY: that is what `Arc::from_raw` accepts.
        ManuallyDrop::new(Job::from_node(unsafe { Arc::from_raw(node) }))
    }

    /// The waker for a poll, without touching the reference count (see `borrowed_job`).
    /// Clones made by the future (`cx.waker().clone()`) are real, counted wakers.
    fn borrowed_waker(self: &Arc<Self>) -> ManuallyDrop<Waker> {
        let task: *const Task<B> = Arc::as_ptr(self);
        // The waker built here is never dropped (so it never releases the reference it did not
        // take) and lives only for the poll, during which `self` keeps the task alive.
        // SAFETY: `task` is the pointer of a live `Arc<Task<B>>`.
        ManuallyDrop::new(Waker::from(unsafe { Arc::from_raw(task) }))
    }

    /// Wakes the task (see [`TaskState::wake`]) and dispatches it if this call must.
    pub(crate) fn wake_task(self: &Arc<Self>) {
        if self.state.wake() == WakeAction::Dispatch {
            self.schedule(false);
        }
    }

    /// Hands the task to its dispatcher, or runs it in place (trampoline) when no dispatch is
    /// needed. The caller owns the `SCHEDULED` bit.
    fn schedule(self: &Arc<Self>, fair: bool) {
        let runnable = Runnable::new(self.clone());
        submit(self.context.dispatcher(), runnable, fair);
    }

    /// [`schedule`](Self::schedule) with a reference the caller gives up (the runner's after a
    /// poll, a waker's in `wake`): on a process-wide dispatcher that reference becomes the
    /// runnable's, saving an increment and a decrement of the count, two locked instructions
    /// per yield or wake. Elsewhere it is cloned as usual: the runnable may run and free the
    /// task on another thread while `dispatch` is still executing, and a dispatcher owned only
    /// by tasks would then be freed under it; a `'static` one cannot be.
    fn schedule_owned(self: Arc<Self>, fair: bool) {
        match self.context.dispatcher().and_then(Dispatcher::as_static) {
            Some(dispatcher) => submit_to(dispatcher, Runnable::new(self), fair),
            None => self.schedule(fair),
        }
    }

    /// Polls the task inline on the calling thread with `RUNNING` already held by the caller
    /// (CoroutineStart::Undispatched: the task was created `RUNNING`).
    pub(crate) fn run_inline_first(self: Arc<Self>) {
        self.run_holding(true);
    }

    fn run_holding(self: Arc<Self>, atomic_start: bool) {
        let job = self.borrowed_job();
        let job: &Job = &job;
        let outcome = {
            let yield_flag: *const dyn YieldRequest = &*self as &dyn YieldRequest;
            let frame = Frame::new(
                job,
                &self.context,
                &self.shields,
                ShieldBases::default(),
                Some(yield_flag),
                None, // a task runs on its context's dispatcher
            );
            let _guard = current::enter(&frame);
            self.step(job, atomic_start, &frame)
        };
        match outcome {
            Some((outcome, output)) => {
                if let Some(value) = output {
                    // The `Deferred` reads `output` only after the job is final, and the
                    // JobCore state's Release/Acquire orders that read after this write.
                    // SAFETY: written once, by the holder of `RUNNING`, before the job is told.
                    self.output.with_mut(|slot| unsafe { *slot = Some(value) });
                }
                self.state.complete();
                job.core().body_completed(job, outcome);
            }
            None => match self.state.end_run() {
                EndRun::Idle => {}
                EndRun::Dispatch { fair } => self.schedule_owned(fair),
            },
        }
    }

    /// One step of the body with `RUNNING` held. Returns the outcome when the body is done.
    fn step(
        self: &Arc<Self>,
        job: &Job,
        atomic_start: bool,
        frame: &Frame,
    ) -> Option<(BodyOutcome, Option<B::Output>)> {
        // SAFETY: the caller holds `RUNNING`, the lock of `stage` (module docs of `state`).
        self.stage.with_mut(|stage| unsafe {
            let stage = &mut *stage;
            if let Stage::Init(_) = stage {
                if job.is_cancelled() && !atomic_start {
                    return Some((drop_stage(stage), None));
                }
                let Stage::Init(body) = std::mem::replace(stage, Stage::Done) else {
                    unreachable!()
                };
                let context = self.context.clone().with_job(job.clone());
                match panic::catch_unwind(AssertUnwindSafe(|| body.call(context))) {
                    Ok(future) => *stage = Stage::Running(future),
                    Err(payload) => {
                        return Some((BodyOutcome::Failed(JobError::from_panic(payload)), None))
                    }
                }
            } else if !self.shields.take_poll_on_cancel() && frame.must_drop() {
                // Woken to be dropped. Unless the suspension point asked to see the
                // cancellation (`current::poll_on_cancel`: a `Deferred` whose failure is
                // delivered even to a cancelled awaiter, ASYNC-02 / ASYNC-05 (b)); then the
                // future is polled once more and dropped after that poll if still pending.
                return Some((drop_stage(stage), None));
            }
            let Stage::Running(future) = stage else {
                unreachable!("a completed task is never run")
            };
            // SAFETY: the future lives in the task's allocation and is never moved until it is
            // dropped in place (the stage only changes by dropping it).
            let future = Pin::new_unchecked(future);
            let waker = self.borrowed_waker();
            let mut cx = TaskContext::from_waker(&waker);
            match panic::catch_unwind(AssertUnwindSafe(|| future.poll(&mut cx))) {
                Ok(Poll::Ready(value)) => {
                    let dropped = drop_stage(stage);
                    if let BodyOutcome::Failed(error) = dropped {
                        return Some((BodyOutcome::Failed(error), None));
                    }
                    match B::finish(value) {
                        // A value produced after cancellation is discarded (rule R5).
                        Ok(output) if !job.is_cancelled() => {
                            Some((BodyOutcome::Completed, Some(output)))
                        }
                        Ok(_) => Some((BodyOutcome::Completed, None)),
                        Err(error) => Some((BodyOutcome::Failed(error), None)),
                    }
                }
                Ok(Poll::Pending) if frame.must_drop() => Some((drop_stage(stage), None)),
                Ok(Poll::Pending) => None,
                Err(payload) => {
                    let error = JobError::from_panic(payload);
                    // A second panic from the destructor of a panicked future is dropped: the
                    // first failure wins.
                    let _ = drop_stage(stage);
                    Some((BodyOutcome::Failed(error), None))
                }
            }
        })
    }

    /// The value of an `async_` body, for its `Deferred` (at most once).
    ///
    /// # Safety
    ///
    /// Call only after the job reached a final state (observed with Acquire), and only from the
    /// unique owner of the output (the `Deferred`).
    pub(crate) unsafe fn take_output(&self) -> Option<B::Output> {
        // SAFETY: the caller's contract: no runner writes `output` after the job is final.
        self.output.with_mut(|slot| unsafe { (*slot).take() })
    }
}

/// Dispatches `runnable` on `dispatcher`, or runs it in place (trampoline) when there is none
/// or it needs no dispatch.
fn submit(dispatcher: Option<&Dispatcher>, runnable: Runnable, fair: bool) {
    match dispatcher {
        Some(dispatcher) => submit_to(dispatcher.as_dispatch(), runnable, fair),
        None => trampoline::run_in_place(runnable),
    }
}

fn submit_to(dispatcher: &dyn Dispatch, runnable: Runnable, fair: bool) {
    if !dispatcher.is_dispatch_needed() {
        trampoline::run_in_place(runnable);
    } else if fair {
        dispatcher.dispatch_yield(runnable);
    } else {
        dispatcher.dispatch(runnable);
    }
}

/// Drops whatever the stage holds (catching a panic of its destructor) and marks it done.
fn drop_stage<B: Body>(stage: &mut Stage<B>) -> BodyOutcome {
    let old = std::mem::replace(stage, Stage::Done);
    match panic::catch_unwind(AssertUnwindSafe(move || drop(old))) {
        Ok(()) => BodyOutcome::Dropped,
        Err(payload) => BodyOutcome::Failed(JobError::from_panic(payload)),
    }
}

impl<B: Body> RunTask for Task<B> {
    fn run(self: Arc<Self>) {
        match self.state.start_run() {
            StartRun::Complete => {}
            StartRun::Run { atomic_start } => self.run_holding(atomic_start),
        }
    }

    fn reject(self: Arc<Self>, error: DispatchError) {
        tracing::warn!(coroutine = self.job.id(), %error, "dispatcher rejected a coroutine");
        let job = self.job();
        job.cancel_with(JobError::failure(error.to_string()));
        // Drop the body here: its dispatcher will never run it.
        match self.state.start_run() {
            StartRun::Complete => {}
            StartRun::Run { .. } => {
                let outcome = self.stage.with_mut(|stage| {
                    // SAFETY: `RUNNING` was just claimed by this thread.
                    drop_stage(unsafe { &mut *stage })
                });
                self.state.complete();
                job.core().body_completed(&job, outcome);
            }
        }
    }

    fn coroutine_id(&self) -> Option<u64> {
        Some(self.job.id())
    }
}

impl<B: Body> Wake for Task<B> {
    fn wake(self: Arc<Self>) {
        if self.state.wake() == WakeAction::Dispatch {
            self.schedule_owned(false);
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_task();
    }
}

impl<B: Body> YieldRequest for Task<B> {
    fn request_yield(&self, waker: &Waker) -> bool {
        // Our own waker's data pointer is this task (the std `Wake` impl on `Arc<Task<B>>`).
        if std::ptr::eq(waker.data(), (self as *const Self).cast()) {
            self.state.yield_wake();
            true
        } else {
            self.state.request_yield();
            false
        }
    }
}

impl<B: Body> JobNode for Task<B> {
    fn core(&self) -> &JobCore {
        &self.job
    }

    fn on_cancelling(self: Arc<Self>, _this: &Job) -> bool {
        // Schedule the task so its future is dropped at its suspension, on its own dispatcher.
        self.wake_task();
        false
    }

    fn start_body(self: Arc<Self>, _this: &Job) {
        self.wake_task();
    }

    fn report_unhandled(&self, error: &JobError) {
        if self.job.kind() == JobKind::Launch {
            handler::handle_coroutine_exception(&self.context, self.job.id(), error);
        }
    }

    fn completion_handlers_panicked(&self, panics: Vec<Box<dyn Any + Send>>) {
        for payload in panics {
            let error = JobError::from_panic(payload);
            handler::handle_coroutine_exception(&self.context, self.job.id(), &error);
        }
    }

    fn name(&self) -> Option<&str> {
        self.context.name()
    }
}

/// The output side of an `async_` task, for `Deferred<T>` (type-erased over the body).
pub(crate) trait OutputSlot<T>: Send + Sync {
    /// # Safety
    ///
    /// As [`Task::take_output`].
    unsafe fn take(&self) -> Option<T>;
}

impl<B: Body> OutputSlot<B::Output> for Task<B> {
    unsafe fn take(&self) -> Option<B::Output> {
        // SAFETY: forwarded contract.
        unsafe { self.take_output() }
    }
}
