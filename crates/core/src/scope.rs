//! Scoped frames: running a block *in place* under a new job (the mechanism of
//! `coroutine_scope`, `supervisor_scope`, `with_timeout` and same-dispatcher or
//! `NonCancellable` `with_context` in `corral-scopes`).
//!
//! # Protocol
//!
//! 1. On first poll a scope job is created (kind Scoped or SupervisorScoped) and attached to
//!    the parent named by the context's job element (a `NonCancellable` element makes it a root
//!    and raises the hard shield of the enclosing task for the frame's whole life). A cancelled
//!    parent makes the job born cancelled; the block still runs until its first suspension
//!    (kotlinx: scope functions do not check cancellation on entry).
//! 2. The block is polled with the scope's frame pushed, so `current_job()` is the scope job and
//!    children launched from the block's scope attach to it.
//! 3. When the scope job is cancelled (a child failed, the caller was cancelled, a timeout),
//!    the scope job wakes the frame, which drops the block at its suspension, unless a
//!    non-cancellable section inside it shields it.
//! 4. After the block ended (value, panic, drop) the frame waits for the scope job to be final
//!    (all descendants done) and returns the value, or the job's error. A value produced
//!    after the job was cancelled is discarded.
//! 5. Dropping the frame early (the caller's coroutine is dropped) cancels the scope job and
//!    drops the block; the children finish on their own and the scope job completes then.

use std::any::Any;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use pin_project_lite::pin_project;

use crate::context::{Context, JobElement};
use crate::current::{self, Frame, ShieldBases, ShieldGuard, ShieldKind, Shields};
use crate::dispatcher::Dispatcher;
use crate::error::JobError;
use crate::handler;
use crate::job::core::{BodyOutcome, JobCore, JobKind, JobState};
use crate::job::{attach, Job, JobNode, Join};

/// Whether a scope's children fail independently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeKind {
    /// `coroutine_scope`: a failing child cancels the scope and its siblings.
    Coroutine,
    /// `supervisor_scope`: children fail independently.
    Supervisor,
}

/// Runs `block` in place under a new scope job; see the module docs.
///
/// `context` is the block's full context: its job element names the parent (the caller's job
/// for `coroutine_scope`), its other elements are what the block's scope carries.
pub fn scoped<F, Fut>(context: Context, kind: ScopeKind, block: F) -> Scoped<F, Fut>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future,
{
    scoped_frame(context, None, kind, block)
}

/// [`scoped`] for a block that runs on `runs_on` while its context names another dispatcher
/// for the coroutines it launches: the root of `run_blocking_with(D, ..)`, polled by the
/// calling thread's event loop (see [`running_dispatcher`](crate::running_dispatcher)).
pub fn scoped_on<F, Fut>(
    context: Context,
    runs_on: Dispatcher,
    kind: ScopeKind,
    block: F,
) -> Scoped<F, Fut>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future,
{
    scoped_frame(context, Some(runs_on), kind, block)
}

fn scoped_frame<F, Fut>(
    context: Context,
    runs_on: Option<Dispatcher>,
    kind: ScopeKind,
    block: F,
) -> Scoped<F, Fut>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future,
{
    Scoped {
        block: Some(block),
        context,
        runs_on,
        kind,
        job: None,
        own_shields: Shields::new(),
        bases: ShieldBases::default(),
        hard_shield: None,
        value: None,
        join: None,
        future: None,
    }
}

pin_project! {
    /// Future of [`scoped`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Scoped<F, Fut: Future> {
        block: Option<F>,
        context: Context,
        // Where the block runs when that is not the context's dispatcher (see `scoped_on`).
        runs_on: Option<Dispatcher>,
        kind: ScopeKind,
        job: Option<(Job, Arc<ScopeJob>)>,
        // Used as the frame's counters when the scope is polled outside any coroutine.
        own_shields: Shields,
        // The shield levels at the first poll: the frame's bases at every poll.
        bases: ShieldBases,
        hard_shield: Option<ShieldGuard>,
        value: Option<Fut::Output>,
        join: Option<Join>,
        #[pin]
        future: Option<Fut>,
    }

    impl<F, Fut: Future> PinnedDrop for Scoped<F, Fut> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let Some((job, _)) = this.job.as_ref() {
                if this.future.is_some() {
                    // Dropped before the block ended (rule 5).
                    job.cancel();
                    let dropped = panic::catch_unwind(AssertUnwindSafe(|| this.future.set(None)));
                    let outcome = match dropped {
                        Ok(()) => BodyOutcome::Dropped,
                        Err(payload) => BodyOutcome::Failed(JobError::from_panic(payload)),
                    };
                    job.core().body_completed(job, outcome);
                }
            }
        }
    }
}

impl<F, Fut> Future for Scoped<F, Fut>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future,
{
    type Output = Result<Fut::Output, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.job.is_none() {
            let (job, node) = ScopeJob::create(*this.kind, this.context);
            *this.bases =
                current::with_frame(|outer| outer.map(Frame::current_levels)).unwrap_or_default();
            if this.context.is_non_cancellable() {
                *this.hard_shield = current::raise_shield(ShieldKind::Hard);
            }
            *this.job = Some((job, node));
        }
        let (job, node) = this.job.as_ref().expect("created above");
        if this.join.is_none() {
            node.set_waker(cx.waker());
            let block_context = this.context.clone().without_job();
            let own_shields: &Shields = this.own_shields;
            let runs_on = this.runs_on.as_ref();
            let frame = current::with_frame(|outer| match outer {
                Some(outer) => outer.nested(job, &block_context, *this.bases, runs_on),
                None => Frame::new(job, &block_context, own_shields, *this.bases, None, runs_on),
            });
            let result = {
                let _guard = current::enter(&frame);
                let mut result = None;
                if let Some(block) = this.block.take() {
                    let scope_context = block_context.clone().with_job(job.clone());
                    match panic::catch_unwind(AssertUnwindSafe(|| block(scope_context))) {
                        Ok(future) => this.future.set(Some(future)),
                        Err(payload) => {
                            let error = JobError::from_panic(payload);
                            result = Some(Step::Done(BodyOutcome::Failed(error), None));
                        }
                    }
                }
                result.unwrap_or_else(|| step(this.future.as_mut(), cx, &frame, job))
            };
            match result {
                Step::Pending => return Poll::Pending,
                Step::Done(outcome, value) => {
                    *this.value = value;
                    job.core().body_completed(job, outcome);
                    *this.join = Some(job.join());
                }
            }
        }
        let join = this.join.as_mut().expect("the block ended");
        match join.poll_completion(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                *this.hard_shield = None;
                Poll::Ready(match job.completion_error() {
                    Some(error) => Err(error),
                    None => Ok(this
                        .value
                        .take()
                        .expect("a scope that completed normally has its block's value")),
                })
            }
        }
    }
}

enum Step<T> {
    Pending,
    Done(BodyOutcome, Option<T>),
}

/// Polls the block once with its frame pushed; drops it when the frame must drop it.
fn step<Fut: Future>(
    mut future: Pin<&mut Option<Fut>>,
    cx: &mut TaskContext<'_>,
    frame: &Frame,
    job: &Job,
) -> Step<Fut::Output> {
    let polled = {
        let pinned = future.as_mut().as_pin_mut().expect("block is running");
        panic::catch_unwind(AssertUnwindSafe(|| pinned.poll(cx)))
    };
    let drop_block =
        |mut future: Pin<&mut Option<Fut>>| match panic::catch_unwind(AssertUnwindSafe(|| {
            future.set(None)
        })) {
            Ok(()) => BodyOutcome::Dropped,
            Err(payload) => BodyOutcome::Failed(JobError::from_panic(payload)),
        };
    match polled {
        Ok(Poll::Ready(value)) => {
            let outcome = drop_block(future);
            let value = if job.is_cancelled() {
                None
            } else {
                Some(value)
            };
            match outcome {
                BodyOutcome::Dropped => Step::Done(BodyOutcome::Completed, value),
                failed => Step::Done(failed, None),
            }
        }
        Ok(Poll::Pending) if frame.must_drop() => Step::Done(drop_block(future), None),
        Ok(Poll::Pending) => Step::Pending,
        Err(payload) => {
            let error = JobError::from_panic(payload);
            let _ = drop_block(future);
            Step::Done(BodyOutcome::Failed(error), None)
        }
    }
}

/// The job node of a scope frame.
pub(crate) struct ScopeJob {
    core: JobCore,
    context: Context,
    waker: Mutex<Option<Waker>>,
}

impl ScopeJob {
    fn create(kind: ScopeKind, context: &Context) -> (Job, Arc<ScopeJob>) {
        let job_kind = match kind {
            ScopeKind::Coroutine => JobKind::Scoped,
            ScopeKind::Supervisor => JobKind::SupervisorScoped,
        };
        let node = Arc::new(ScopeJob {
            core: JobCore::new(job_kind, JobState::Active),
            context: context.clone().without_job(),
            waker: Mutex::new(None),
        });
        let job = Job::from_node(node.clone());
        if let Some(JobElement::Job(parent)) = context.job_element() {
            attach(&job, parent);
        }
        (job, node)
    }

    fn set_waker(&self, waker: &Waker) {
        let mut slot = self
            .waker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}

impl JobNode for ScopeJob {
    fn core(&self) -> &JobCore {
        &self.core
    }

    fn on_cancelling(self: Arc<Self>, _this: &Job) -> bool {
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(waker) = waker {
            waker.wake();
        }
        false
    }

    fn start_body(self: Arc<Self>, _this: &Job) {
        // Scope jobs are created Active.
    }

    fn report_unhandled(&self, _error: &JobError) {
        // Scopes return their failure to the caller instead.
    }

    fn completion_handlers_panicked(&self, panics: Vec<Box<dyn Any + Send>>) {
        for payload in panics {
            let error = JobError::from_panic(payload);
            handler::handle_coroutine_exception(&self.context, self.core.id(), &error);
        }
    }

    fn name(&self) -> Option<&str> {
        self.context.name()
    }
}
