//! Scoped frames: running a block *in place* under a new job (the mechanism of
//! `coroutine_scope`, `supervisor_scope`, `with_timeout` and same-dispatcher or
//! `NonCancellable` `with_context` in `corral-scopes`).
//!
//! The protocol is documented on [`scoped`].
//!
//! # Shields
//!
//! A scope frame's shield bases belong to the coroutine that polls it (see "Who owns a shield"
//! in [`crate::current`]). They are taken at the first poll, and again whenever the frame is
//! polled by another owner than the one they were taken from (the scope future was moved to
//! another coroutine): a non-cancellable scope then moves its hard shield to the new owner.
//! The scope *job* does not move: it stays a child of the job it was created under, which
//! still waits for it and still cancels it.

use std::any::Any;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use pin_project_lite::pin_project;

use crate::context::{Context, Elements, JobElement};
use crate::current::{self, Frame, ShieldBases, ShieldGuard, ShieldKind, Shields};
use crate::dispatcher::Dispatcher;
use crate::error::{drop_panic_payload, JobError};
use crate::handler;
use crate::job::state_machine::{BodyOutcome, JobCore, JobKind, JobState};
use crate::job::{attach, Job, JobNode, Join};
use crate::thread_context;
use crate::wake_batch::WakeBatch;

/// Whether a scope's children fail independently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeKind {
    /// `coroutine_scope`: a failing child cancels the scope and its siblings.
    Coroutine,
    /// `supervisor_scope`: children fail independently.
    Supervisor,
}

/// Runs `block` in place under a new scope job.
///
/// # Protocol
///
/// 1. On first poll a scope job is created (kind Scoped or SupervisorScoped) and attached to
///    the parent named by the context's job element (a `NonCancellable` element makes it a root
///    and raises the hard shield of the enclosing task for the frame's whole life). A cancelled
///    parent makes the job born cancelled; the block still runs until its first suspension
///    (kotlinx: scope functions do not check cancellation on entry).
/// 2. The block is polled with the scope's frame pushed, so `current_job()` is the scope job and
///    children launched from the block's scope attach to it.
/// 3. When the scope job is cancelled (a child failed, the caller was cancelled, a timeout),
///    the scope job wakes the frame, which drops the block at its suspension, unless a
///    non-cancellable section inside it shields it.
/// 4. After the block ended (value, panic, drop) the frame waits for the scope job to be final
///    (all descendants done) and returns the value, or the job's error. A value produced
///    after the job was cancelled is discarded.
/// 5. Dropping the frame before it returned (the caller's coroutine is dropped, or a
///    select-style combinator drops the losing branch) cancels the scope job at once, whether
///    the block still runs or only children are left, and drops the block (in place and
///    synchronously, as any dropped future: suspending cleanups inside the block itself cannot
///    run; the children's can). The scope job stays attached to its parent, which does not
///    complete before the cancelled children have.
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

/// [`scoped`] for a block polled by a `host` dispatcher other than the one its context names:
/// the block's own code runs on `host` (for example an event loop the calling thread drives),
/// while the coroutines it launches go to the context's dispatcher.
/// [`host_dispatcher`](crate::host_dispatcher) reports `host` inside the block, so a dispatch
/// check made there (is a switch to dispatcher `D` needed?) compares with where the code really
/// runs.
pub fn scoped_with_host<F, Fut>(
    context: Context,
    host: Dispatcher,
    kind: ScopeKind,
    block: F,
) -> Scoped<F, Fut>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future,
{
    scoped_frame(context, Some(host), kind, block)
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
        bases: ShieldBases::default(),
        bases_owner: 0,
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
        // Where the block runs when that is not the context's dispatcher (see `scoped_with_host`).
        runs_on: Option<Dispatcher>,
        kind: ScopeKind,
        job: Option<(Job, Arc<ScopeJob>)>,
        // The shield levels at the first poll by the current owner: the frame's bases at every
        // poll (see the module docs).
        bases: ShieldBases,
        // The id of the job owning the counters `bases` were read from (0: none yet; job ids
        // start at 1).
        bases_owner: u64,
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
                // Dropped before it returned (rule 5): the block, if it still runs, and the
                // children are cancelled now.
                if !job.is_completed() {
                    job.cancel_by_runtime(JobError::cancelled("Job was cancelled"));
                }
                if this.future.is_some() {
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

// Scope frames nest by nature: the block of a scope polls the scopes inside it from within this
// poll, so whatever this poll keeps on the stack is paid once per level of nesting. The poll
// keeps only the frame and the block's poll there; the rest (the first poll's setup, calling the
// block, the block's end, waiting for the children) lives in functions of its own, out of line,
// whose stack is released before the block is polled or is used only after it ended.
impl<F, Fut> Future for Scoped<F, Fut>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future,
{
    type Output = Result<Fut::Output, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.job.is_none() {
            *this.job = Some(ScopeJob::create(*this.kind, this.context));
        }
        let (job, node) = this.job.as_ref().expect("created at the first poll");
        let owner = current::with_frame(|outer| outer.map_or(job.id(), |outer| outer.owner().id()));
        if owner != *this.bases_owner {
            *this.bases = take_bases();
            *this.bases_owner = owner;
        }
        if this.context.is_non_cancellable() {
            current::keep_shield(this.hard_shield, ShieldKind::Hard);
        }
        if this.join.is_none() {
            let frame = block_frame(
                job,
                node,
                cx.waker(),
                this.context,
                *this.bases,
                this.runs_on.as_ref(),
            );
            let started = match this.block.take() {
                Some(block) => start(block, this.context, job, this.future.as_mut(), &frame),
                None => Ok(()),
            };
            let polled = match (started, this.future.as_mut().as_pin_mut()) {
                (Ok(()), Some(block)) => Ok(thread_context::around_scope_poll(
                    this.context.elements(),
                    || current::enter_catching(&frame, || block.poll(cx)),
                )),
                (Ok(()), None) => unreachable!("the block is running"),
                (Err(error), _) => Err(error),
            };
            if let Ok(Ok(Poll::Pending)) = polled {
                if !frame.must_drop() {
                    return Poll::Pending;
                }
            }
            let (outcome, value) = block_done(this.future.as_mut(), polled, job, &frame);
            *this.value = value;
            *this.join = Some(block_ended(job, outcome));
        }
        wait_children(this.job, this.join, this.value, this.hard_shield, cx)
    }
}

/// The shield levels of the coroutine polling the scope now (none outside coroutines: the
/// frame then uses its own job's counters, from zero). Out of line: it runs once per owner.
#[cold]
#[inline(never)]
fn take_bases() -> ShieldBases {
    current::with_frame(|outer| outer.map(Frame::current_levels)).unwrap_or_default()
}

/// Records the waker to wake at a cancellation, and makes the frame the block is polled in:
/// nested in the enclosing coroutine's frame, or a root frame owned by the scope job (its own
/// shield counters) outside any coroutine. The context's job element is not the frame's job
/// (the scope job is), and the frame never reads it.
#[inline(never)]
fn block_frame(
    job: &Job,
    node: &ScopeJob,
    waker: &Waker,
    context: &Context,
    bases: ShieldBases,
    runs_on: Option<&Dispatcher>,
) -> Frame {
    node.set_waker(waker);
    current::with_frame(|outer| match outer {
        Some(outer) => outer.nested(job, context.elements(), bases, runs_on),
        None => Frame::new(
            job,
            context.elements(),
            job,
            node.core.shields(),
            bases,
            None,
            runs_on,
        ),
    })
}

/// Calls the block (once, with `frame` pushed) and stores its future; a panic of the block is
/// the scope's failure.
#[cold]
#[inline(never)]
fn start<F, Fut>(
    block: F,
    context: &Context,
    job: &Job,
    mut future: Pin<&mut Option<Fut>>,
    frame: &Frame,
) -> Result<(), JobError>
where
    F: FnOnce(Context) -> Fut,
{
    let scope_context = context.clone().without_job().with_job(job.clone());
    match current::enter_catching(frame, || block(scope_context)) {
        Ok(block_future) => {
            future.set(Some(block_future));
            Ok(())
        }
        Err(payload) => Err(JobError::from_panic(payload)),
    }
}

/// The block ended: the scope job's body is done, and the frame now waits for it to be final.
#[cold]
#[inline(never)]
fn block_ended(job: &Job, outcome: BodyOutcome) -> Join {
    job.core().body_completed(job, outcome);
    job.join()
}

/// The block returned, panicked, failed to start, or must be dropped at its suspension: drops
/// it in place and gives how it ended, with its value if it returned one before any
/// cancellation.
#[cold]
#[inline(never)]
fn block_done<Fut: Future>(
    mut future: Pin<&mut Option<Fut>>,
    polled: Result<std::thread::Result<Poll<Fut::Output>>, JobError>,
    job: &Job,
    frame: &Frame,
) -> (BodyOutcome, Option<Fut::Output>) {
    // The block is dropped in its frame, as it was polled (its destructor sees the scope).
    current::enter(frame, || {
        let mut drop_block = || match panic::catch_unwind(AssertUnwindSafe(|| future.set(None))) {
            Ok(()) => BodyOutcome::Dropped,
            Err(payload) => BodyOutcome::Failed(JobError::from_panic(payload)),
        };
        match polled {
            // The block panicked when called: there is no future.
            Err(error) => (BodyOutcome::Failed(error), None),
            Ok(Ok(Poll::Ready(value))) => match drop_block() {
                BodyOutcome::Dropped if !job.is_cancelled() => {
                    (BodyOutcome::Completed, Some(value))
                }
                // A value produced after cancellation is discarded; a panic of its destructor
                // fails the scope (it must not unwind past the scope job, which would then never
                // complete).
                BodyOutcome::Dropped => {
                    match panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
                        Ok(()) => (BodyOutcome::Completed, None),
                        Err(payload) => (BodyOutcome::Failed(JobError::from_panic(payload)), None),
                    }
                }
                failed => {
                    // The block's destructor failed first and wins.
                    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value)))
                    {
                        drop_panic_payload(payload);
                    }
                    (failed, None)
                }
            },
            Ok(Ok(Poll::Pending)) => (drop_block(), None),
            Ok(Err(payload)) => {
                let error = JobError::from_panic(payload);
                // A second panic from the destructor of a panicked block is dropped: the first
                // failure wins.
                let _ = drop_block();
                (BodyOutcome::Failed(error), None)
            }
        }
    })
}

/// After the block ended: waits for the scope job to be final (all descendants done) and
/// gives the block's value, or the job's error.
#[inline(never)]
fn wait_children<T>(
    job: &Option<(Job, Arc<ScopeJob>)>,
    join: &mut Option<Join>,
    value: &mut Option<T>,
    hard_shield: &mut Option<ShieldGuard>,
    cx: &mut TaskContext<'_>,
) -> Poll<Result<T, JobError>> {
    let (job, _) = job.as_ref().expect("created at the first poll");
    let join = join.as_mut().expect("the block ended");
    match join.poll_completion(cx) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(()) => {
            *hard_shield = None;
            Poll::Ready(match job.completion_error() {
                Some(error) => Err(error),
                None => Ok(value
                    .take()
                    .expect("a scope that completed normally has its block's value")),
            })
        }
    }
}

/// The job node of a scope frame.
pub(crate) struct ScopeJob {
    core: JobCore,
    /// The scope's context without its job element: for its name and exception handler.
    elements: Elements,
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
            elements: context.elements().clone(),
            waker: Mutex::new(None),
        });
        let job = Job::from_node(node.clone());
        if let Some(JobElement::Job(parent)) = context.job_element() {
            attach(&job, parent.clone());
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

    fn on_cancelling(self: Arc<Self>, _wakes: &mut WakeBatch) -> Option<Job> {
        self.wake_body();
        None
    }

    /// The frame's counters when the scope is polled outside any coroutine (it then owns
    /// them; see "Who owns a shield" in [`crate::current`]).
    fn shields(&self) -> Option<&Shields> {
        Some(self.core.shields())
    }

    fn wake_body(self: Arc<Self>) {
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(waker) = waker {
            handler::wake_contained(waker);
        }
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
            handler::handle_coroutine_exception(
                &self.elements.to_context(None),
                self.core.id(),
                &error,
            );
        }
    }

    fn name(&self) -> Option<&str> {
        self.elements.name()
    }
}
