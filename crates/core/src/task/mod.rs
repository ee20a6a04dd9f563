//! The coroutine task: one allocation holding everything a coroutine needs.
//!
//! ```text
//! Arc<Task<B>> ─┬─ cell:    StageCell (stage.rs): a lock whose lock bit is RUNNING
//!               │            ├─ state:  TaskState (atomic word, state.rs)
//!               │            ├─ stage:  Init(closure) | Running(future) | Done   (under RUNNING)
//!               │            └─ output: Option<T>                    (written once, taken once)
//!               ├─ shields: shield counters (`current`)
//!               ├─ job:     JobCore (state byte + spin-lock-guarded tree data)
//!               ├─ elements: the context's dispatcher, name, exception handler, values
//!               └─ location: the builder call that created it (`#[track_caller]`)
//! ```
//!
//! The same allocation is reached through three kinds of reference counted handles, none of
//! which allocates: [`Runnable`](crate::Runnable) (queued by dispatchers), `Waker` (the std
//! `Wake` impl on the `Arc`), and [`Job`] / `Deferred` (user handles).
//!
//! The module is split as tokio's task module is:
//! * [`state`]: the atomic state word that serialises polls and wakes;
//! * `stage`: the stage and the output behind the `RUNNING` bit, reached only through the
//!   `Running` guard that claiming `RUNNING` returns, so the run loop needs no `unsafe`;
//! * `run`: the run loop below and the completion path, and the `RunTask` impl;
//! * `waker`: the `Wake` impl, the borrowed waker of a poll, `yield_now`'s request and the
//!   hand-over to the dispatcher;
//! * `body`: what a coroutine runs, and how its output becomes the job's result.
//!
//! # Running
//!
//! `RunTask::run` claims `RUNNING` ([`state`]), pushes the coroutine's
//! [`Frame`](crate::current::Frame), and then:
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
mod run;
mod stage;
pub(crate) mod state;
mod waker;

use std::any::Any;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

pub(crate) use self::body::{AsyncBody, Body, LaunchBody, TryLaunchBody};
use self::stage::StageCell;
use crate::context::{Context, Elements};
use crate::current::Shields;
use crate::debug::{self, Probe, RunState};
use crate::error::JobError;
use crate::handler;
use crate::job::state_machine::{JobCore, JobKind, JobState};
use crate::job::{Job, JobNode};
use crate::wake_batch::WakeBatch;

/// A coroutine; see the module docs.
pub(crate) struct Task<B: Body> {
    /// The state word, and the stage and output it guards.
    cell: StageCell<B>,
    /// The job, with the shield counters raised by non-cancellable sections of this coroutine
    /// (see [`crate::current`]).
    job: JobCore,
    /// The coroutine's context without its job element (the job is `self`).
    elements: Elements,
    /// Where the builder was called: for dumps, spans and stall warnings. Everything else
    /// debugging records lives in the debug registry, not here.
    location: &'static Location<'static>,
}

impl<B: Body> Task<B> {
    /// A new task; `context` must hold no job element (the task's job is itself, and its parent
    /// link lives in the job).
    pub(crate) fn new(
        context: Context,
        kind: JobKind,
        lazy: bool,
        state: usize,
        body: B,
        location: &'static Location<'static>,
    ) -> Arc<Task<B>> {
        let initial = if lazy {
            JobState::New
        } else {
            JobState::Active
        };
        let task = Arc::new(Task {
            cell: StageCell::new(state, body),
            job: JobCore::new(kind, initial),
            elements: context.into_elements(),
            location,
        });
        debug::on_spawn(
            &task,
            task.job.id(),
            &task.elements,
            kind.span_kind(),
            location,
        );
        task
    }

    /// Hands `error` to the coroutine's exception handler, which sees the coroutine's context
    /// without its job (this also runs while the task is freed, when no handle to it can be
    /// made). A rare path: the context is put together only here.
    fn handle_exception(&self, error: &JobError) {
        handler::handle_coroutine_exception(&self.elements.to_context(None), self.job.id(), error);
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
        // `node` is a live `Arc<Task<B>>`'s pointer after an unsized coercion, which
        // `Arc::from_raw` accepts; the `ManuallyDrop` never releases the reference it did not take,
        // and the caller forgets it before `self`.
        // SAFETY: `self` keeps the task alive meanwhile, so the pointer stays valid.
        ManuallyDrop::new(Job::from_node(unsafe { Arc::from_raw(node) }))
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
        let stage_failed = self.cell.drop_live_stage();
        let output = self.cell.take_unread_output();
        let output_failed = output.and_then(|value| catch(move || drop(value)).err());
        for error in stage_failed.iter().chain(&output_failed) {
            self.handle_exception(error);
        }
    }
}

/// Runs user code (a poll, a closure, a destructor, an error conversion) and turns its panic
/// into a failure, so it never unwinds into the runtime thread that runs the task.
fn catch<R>(user_code: impl FnOnce() -> R) -> Result<R, JobError> {
    panic::catch_unwind(AssertUnwindSafe(user_code)).map_err(JobError::from_panic)
}

impl<B: Body> JobNode for Task<B> {
    fn core(&self) -> &JobCore {
        &self.job
    }

    fn on_cancelling(self: Arc<Self>, wakes: &mut WakeBatch) -> Option<Job> {
        // Schedule the task so its future is dropped at its suspension, on its own dispatcher.
        self.wake_to_drop(wakes);
        None
    }

    fn start_body(self: Arc<Self>, _this: &Job) {
        self.wake_task();
    }

    fn shields(&self) -> Option<&Shields> {
        Some(self.job.shields())
    }

    fn wake_body(self: Arc<Self>) {
        self.wake_task();
    }

    fn report_unhandled(&self, error: &JobError) {
        if self.job.kind() == JobKind::Launch {
            self.handle_exception(error);
        }
    }

    fn completion_handlers_panicked(&self, panics: Vec<Box<dyn Any + Send>>) {
        for payload in panics {
            let error = JobError::from_panic(payload);
            self.handle_exception(&error);
        }
    }

    fn name(&self) -> Option<&str> {
        self.elements.name()
    }
}

impl<B: Body> Probe for Task<B> {
    fn probe_job(self: Arc<Self>) -> Job {
        self.into_job()
    }

    fn probe_name(&self) -> Option<String> {
        self.elements.name().map(str::to_owned)
    }

    fn probe_dispatcher(&self) -> Option<String> {
        self.elements.dispatcher().map(ToString::to_string)
    }

    fn probe_run_state(&self) -> RunState {
        let bits = self.cell.peek_state();
        if bits & state::RUNNING != 0 {
            RunState::Running
        } else if bits & state::SCHEDULED != 0 {
            RunState::Queued
        } else {
            RunState::Suspended
        }
    }

    fn probe_location(&self) -> &'static Location<'static> {
        self.location
    }

    fn probe_polls(&self) -> u64 {
        self.cell.runs()
    }
}

/// The output side of an `async_` task, for `Deferred<T>` (type-erased over the body).
pub(crate) trait OutputSlot<T>: Send + Sync {
    /// The value of the completed coroutine (at most once).
    ///
    /// # Safety
    ///
    /// Call only after the job reached a final state (observed with Acquire), and only from the
    /// unique owner of the output (the `Deferred`).
    unsafe fn take(&self) -> Option<T>;
}

impl<B: Body> OutputSlot<B::Output> for Task<B> {
    unsafe fn take(&self) -> Option<B::Output> {
        // This method's contract: the job is final and the caller owns the output.
        // SAFETY: that is the contract `StageCell::take_output` requires.
        unsafe { self.cell.take_output() }
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod layout_tests {
    use std::mem::size_of;

    use super::{LaunchBody, Task};

    fn task_size<F, Fut>(_: &F) -> usize
    where
        F: FnOnce(crate::Context) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        size_of::<Task<LaunchBody<F>>>()
    }

    /// The task of a `launch` whose closure captures one pointer, as `docs/architecture.md`
    /// ("What a coroutine costs") adds it up field by field.
    #[test]
    fn a_launch_capturing_one_pointer_is_224_bytes() {
        let captured = Box::new(1_u8);
        let body = move |_| async move {
            let _ = &captured;
            std::future::pending::<()>().await;
        };
        assert_eq!(task_size(&body), 224);
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

    use crate::builder::{async_, launch, CoroutineStart};
    use crate::context::{Context, CoroutineExceptionHandler};
    use crate::current;

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
