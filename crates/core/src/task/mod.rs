//! The coroutine task: one allocation holding everything a coroutine needs.
//!
//! ```text
//! Arc<Task<B>> ─┬─ header:  TaskState (atomic word), shield counters
//!               ├─ job:     JobCore (state byte + spin-lock-guarded tree data)
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
//! # Pinning
//!
//! The future is pinned where the stage holds it, inside the task's allocation, from its first
//! poll until its destructor ran. Every ending (completion, cancellation, rejection by the
//! dispatcher, the task freed with its body still live) goes through `drop_stage`, which drops
//! it in place; nothing moves it out first.
//!
//! # Panics
//!
//! Every piece of user code the task runs is inside `catch_unwind`: the closure, `poll`, the
//! future's destructor, `try_launch`'s error conversion, the destructor of a value discarded
//! after cancellation, and the destructors run when the task is freed. A panic fails the job;
//! a panic while dropping a cancelled future or a discarded value is a failure that beats the
//! cancellation; one when the task is freed goes to the coroutine's exception handler.

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
use crate::error::{report_uncaught_panic, DispatchError, JobError};
use crate::handler;
use crate::job::state_machine::{BodyOutcome, JobCore, JobKind, JobState};
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
                job,
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
        self.stage.with_mut(|stage| {
            // SAFETY: the caller holds `RUNNING`, the lock of `stage` (module docs of `state`).
            let stage = unsafe { &mut *stage };
            self.step_stage(stage, job, atomic_start, frame)
        })
    }

    fn step_stage(
        self: &Arc<Self>,
        stage: &mut Stage<B>,
        job: &Job,
        atomic_start: bool,
        frame: &Frame,
    ) -> Option<(BodyOutcome, Option<B::Output>)> {
        if let Stage::Init(_) = stage {
            if job.is_cancelled() && !atomic_start {
                return Some((drop_stage(stage), None));
            }
            // The closure is not pinned: moving it out to call it is fine.
            let Stage::Init(body) = std::mem::replace(stage, Stage::Done) else {
                unreachable!()
            };
            let context = self.context.clone().with_job(job.clone());
            match catch(|| body.call(context)) {
                Ok(future) => *stage = Stage::Running(future),
                Err(error) => return Some((BodyOutcome::Failed(error), None)),
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
        // SAFETY: the future lives in the task's allocation and is never moved: `drop_stage`
        // drops it where it lies, the only way the stage leaves `Running`.
        let future = unsafe { Pin::new_unchecked(future) };
        let waker = self.borrowed_waker();
        let mut cx = TaskContext::from_waker(&waker);
        match catch(|| future.poll(&mut cx)) {
            Ok(Poll::Ready(value)) => {
                let dropped = drop_stage(stage);
                Some(finish::<B>(job, value, dropped))
            }
            Ok(Poll::Pending) if frame.must_drop() => Some((drop_stage(stage), None)),
            Ok(Poll::Pending) => None,
            Err(error) => {
                // A second panic from the destructor of a panicked future is dropped: the
                // first failure wins.
                let _ = drop_stage(stage);
                Some((BodyOutcome::Failed(error), None))
            }
        }
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

impl<B: Body> Drop for Task<B> {
    /// The last reference went, on whatever thread released it (a worker, the timer thread, a
    /// user's thread dropping a handle), so nothing here may unwind. Normally the stage is
    /// `Done` and only an unread output is left (a `Deferred` dropped unawaited, or a value
    /// that raced with a cancellation). A live stage means the body never ended: a runnable
    /// dropped unrun by its dispatcher, or a lazy root never started; its closure or future is
    /// dropped here, in place. Nobody is left to receive a panic of these destructors, so it
    /// goes to the coroutine's exception handler.
    fn drop(&mut self) {
        let stage_failed = self.stage.with_mut(|stage| {
            // SAFETY: `&mut self`: no other reference to the task exists any more.
            let stage = unsafe { &mut *stage };
            match stage {
                Stage::Done => None,
                _ => match drop_stage(stage) {
                    BodyOutcome::Failed(error) => Some(error),
                    _ => None,
                },
            }
        });
        // SAFETY: `&mut self`: no other reference to the task exists any more.
        let output = self.output.with_mut(|slot| unsafe { (*slot).take() });
        let output_failed = output.and_then(|value| catch(move || drop(value)).err());
        for error in stage_failed.iter().chain(&output_failed) {
            handler::handle_coroutine_exception(&self.context, self.job.id(), error);
        }
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

/// A `Dispatch` may be the user's, and the trampoline re-raises a closure's panic to its
/// caller: neither may unwind into the job machinery or the runtime thread that wakes the
/// coroutine (a cancellation, a timer, a finalization), so a panic is reported here. The
/// coroutine it was dispatching is then lost with the runnable, as with any dispatcher that
/// drops work.
fn submit_to(dispatcher: &dyn Dispatch, runnable: Runnable, fair: bool) {
    let submitted = panic::catch_unwind(AssertUnwindSafe(move || {
        if !dispatcher.is_dispatch_needed() {
            trampoline::run_in_place(runnable);
        } else if fair {
            dispatcher.dispatch_yield(runnable);
        } else {
            dispatcher.dispatch(runnable);
        }
    }));
    if let Err(payload) = submitted {
        report_uncaught_panic(payload);
    }
}

/// Runs user code (a poll, a closure, a destructor, an error conversion) and turns its panic
/// into a failure, so it never unwinds into the runtime thread that runs the task.
fn catch<R>(user_code: impl FnOnce() -> R) -> Result<R, JobError> {
    panic::catch_unwind(AssertUnwindSafe(user_code)).map_err(JobError::from_panic)
}

/// Drops whatever the stage holds where it lies, and marks it done.
///
/// A running future was pinned in the task's allocation, and Pin's drop guarantee says its
/// memory is neither moved nor reused before its destructor ran: intrusive wait lists (tokio's
/// semaphore, timer wheels) keep its address until then. So it is dropped in place, never
/// moved out first. A panic of the destructor is returned as the failure. The stage is `Done`
/// afterwards whatever happened: a destructor that panicked has still ended the value (the
/// unwind drops its remaining fields), so it must not be dropped again.
fn drop_stage<B: Body>(stage: &mut Stage<B>) -> BodyOutcome {
    let slot: *mut Stage<B> = stage;
    // SAFETY: `slot` comes from a `&mut`, so it is valid and exclusively ours; the value in it
    // is dropped once here and overwritten below without being read again.
    let dropped = catch(|| unsafe { std::ptr::drop_in_place(slot) });
    // SAFETY: as above; the old value is gone (dropped, or ended by its panicking destructor),
    // so writing over it neither leaks nor drops anything twice.
    unsafe { std::ptr::write(slot, Stage::Done) };
    match dropped {
        Ok(()) => BodyOutcome::Dropped,
        Err(error) => BodyOutcome::Failed(error),
    }
}

/// The outcome of a body whose future returned `value` and was then dropped (`dropped`).
///
/// User code runs here too: `try_launch`'s error conversion and the destructor of a value that
/// is discarded, both caught. A value produced after cancellation is discarded (rule R5); a
/// panic of its destructor fails the job, like one of a cancelled future's destructor.
fn finish<B: Body>(
    job: &Job,
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
        match self.state.start_run() {
            StartRun::Complete => {}
            StartRun::Run { atomic_start } => self.run_holding(atomic_start),
        }
    }

    fn reject(self: Arc<Self>, error: DispatchError) {
        tracing::warn!(coroutine = self.job.id(), %error, "dispatcher rejected a coroutine");
        let job = self.job();
        job.cancel_by_runtime(JobError::failure(error.to_string()));
        // Drop the body here: its dispatcher will never run it.
        match self.state.start_run() {
            StartRun::Complete => {}
            StartRun::Run { .. } => {
                let outcome = self.stage.with_mut(|stage| {
                    // SAFETY: `RUNNING` was just claimed by this thread: it alone reaches the
                    // stage, and the future in it is dropped where it was pinned.
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

    fn shields(&self) -> Option<&Shields> {
        Some(&self.shields)
    }

    fn wake_body(self: Arc<Self>) {
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

#[cfg(all(test, not(corral_loom)))]
mod tests {
    //! The task's endings without any dispatcher (its resumes run in place), so they also run
    //! under Miri.

    use std::future::Future;
    use std::marker::PhantomPinned;
    use std::panic::{self, AssertUnwindSafe};
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::task::{Context as TaskContext, Poll};

    use super::{drop_stage, LaunchBody, Stage};
    use crate::builder::{async_, launch, CoroutineStart};
    use crate::context::{Context, CoroutineExceptionHandler};
    use crate::current;
    use crate::job::state_machine::BodyOutcome;

    /// Records where it was polled and where it was dropped; pending until dropped.
    struct AddressCheck {
        polled_at: Arc<AtomicUsize>,
        dropped_at: Arc<AtomicUsize>,
        _pinned: PhantomPinned,
    }

    impl AddressCheck {
        fn new() -> (AddressCheck, Arc<AtomicUsize>, Arc<AtomicUsize>) {
            let (polled_at, dropped_at) = (Arc::default(), Arc::default());
            let check = AddressCheck {
                polled_at: Arc::clone(&polled_at),
                dropped_at: Arc::clone(&dropped_at),
                _pinned: PhantomPinned,
            };
            (check, polled_at, dropped_at)
        }
    }

    impl Future for AddressCheck {
        type Output = ();

        fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
            let here: *const AddressCheck = &*self;
            self.polled_at.store(here as usize, Ordering::SeqCst);
            Poll::Pending
        }
    }

    impl Drop for AddressCheck {
        fn drop(&mut self) {
            let here: *const AddressCheck = self;
            self.dropped_at.store(here as usize, Ordering::SeqCst);
        }
    }

    #[test]
    fn finding_01_a_cancelled_coroutine_is_dropped_where_it_was_polled() {
        let (check, polled_at, dropped_at) = AddressCheck::new();
        let job = launch(Context::new(), CoroutineStart::Default, move |_| check);
        assert_ne!(polled_at.load(Ordering::SeqCst), 0, "ran in place");
        job.cancel();
        assert!(job.is_completed());
        assert_eq!(
            dropped_at.load(Ordering::SeqCst),
            polled_at.load(Ordering::SeqCst)
        );
    }

    /// Ready at once; its destructor counts and then panics.
    struct PanicsOnDrop(Arc<AtomicUsize>);

    impl Future for PanicsOnDrop {
        type Output = ();

        fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
            Poll::Ready(())
        }
    }

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            panic!("destructor");
        }
    }

    type PanickingBody = LaunchBody<fn(Context) -> PanicsOnDrop>;

    #[test]
    fn drop_stage_ends_a_panicking_destructor_once_and_leaves_done() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut stage: Box<Stage<PanickingBody>> =
            Box::new(Stage::Running(PanicsOnDrop(Arc::clone(&drops))));
        let outcome = drop_stage(&mut stage);
        assert!(
            matches!(&outcome, BodyOutcome::Failed(error) if error.to_string().contains("destructor"))
        );
        assert!(matches!(*stage, Stage::Done));
        drop(stage);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once");
    }

    /// Panics with its message when dropped.
    struct PanicOnDrop(&'static str);

    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("{}", self.0);
        }
    }

    #[test]
    fn finding_05_a_value_discarded_after_cancellation_fails_the_job_when_its_drop_panics() {
        let deferred = async_(Context::new(), CoroutineStart::Default, |_| async {
            current::current_job().expect("in a coroutine").cancel();
            PanicOnDrop("late value")
        });
        let error = deferred.completion_error().expect("ended");
        assert!(
            error.is_failure() && error.to_string().contains("late value"),
            "{error}"
        );
    }

    #[test]
    fn finding_05_an_unread_output_whose_drop_panics_goes_to_the_handler() {
        let handled: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&handled);
        let handler = CoroutineExceptionHandler::new(move |_, error| {
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(error.to_string());
        });
        let deferred = async_(
            Context::new() + handler,
            CoroutineStart::Default,
            |_| async { PanicOnDrop("unread output") },
        );
        assert!(deferred.is_completed());
        let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(deferred)));
        assert!(
            dropped.is_ok(),
            "the output's panic unwound into the caller"
        );
        let handled = handled.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(*handled, vec!["unread output".to_owned()]);
    }
}
