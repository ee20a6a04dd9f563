//! Jobs: the nodes of the structured-concurrency tree.
//!
//! A [`Job`] is a handle (cheap to clone, compared by identity, never cancelling when dropped)
//! to a node that is either a coroutine's task, a scope function's frame, or a plain job made
//! by [`Job::new`] / [`SupervisorJob`]. All of them share the state machine of
//! [`state_machine::JobCore`]; what differs is behind the [`JobNode`] trait: what "stopping the body"
//! means when the job is cancelled, and who reports an unhandled failure.

mod cause;
mod children;
mod entries;
mod join;
mod standalone;
pub(crate) mod state_machine;
mod work;
#[cfg(all(test, not(corral_loom)))]
mod work_tests;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Weak};

use crate::current::Shields;
use crate::error::JobError;
use crate::slab::SlabKey;
use crate::wake_batch::WakeBatch;

pub use self::join::Join;
use self::standalone::{raise_handler_panics, StandaloneJob};
pub use self::state_machine::JobState;
use self::state_machine::{CompletionEntry, JobCore, JobKind};

/// What a job node adds to the shared state machine.
pub(crate) trait JobNode: Send + Sync + 'static {
    /// The shared state machine.
    fn core(&self) -> &JobCore;

    /// The job started cancelling while its body is not done: stop the body (a coroutine is
    /// scheduled so its future is dropped at its current suspension; a scope frame is woken).
    /// `self` is the caller's handle, given away: a coroutine's becomes its runnable, which
    /// may go to `wakes` to be dispatched with its siblings'. Returns the handle back when the
    /// body is done at once (a plain job, kotlinx `onCancelComplete`): the state machine then
    /// completes it itself, without a nested call.
    fn on_cancelling(self: Arc<Self>, wakes: &mut WakeBatch) -> Option<Job>;

    /// A lazy job was started by `start`, `join` or `await`: run its body.
    fn start_body(self: Arc<Self>, this: &Job);

    /// The job ended with a failure no parent handles (kotlinx `handleJobException`). Only
    /// `launch` coroutines report (to their `CoroutineExceptionHandler`); others ignore it.
    fn report_unhandled(&self, error: &JobError);

    /// Completion handlers of this job panicked. Coroutines report the panics to their
    /// exception handler; plain jobs re-raise the first one to the user's call that finalized
    /// them, else report them (see `standalone`). Never unwinds.
    fn completion_handlers_panicked(&self, panics: Vec<Box<dyn Any + Send>>);

    /// The coroutine's name, for diagnostics.
    fn name(&self) -> Option<&str> {
        None
    }

    /// The shield counters this node owns when it is the outermost frame of a poll: a task's,
    /// or a scope's polled outside any coroutine (see [`crate::current`]). Others own none.
    fn shields(&self) -> Option<&Shields> {
        None
    }

    /// Makes the body look at its state again (a coroutine is scheduled, a scope frame
    /// woken): a shield of this node was lowered from outside its poll, so a cancelled body
    /// that the shield protected may now be dropped.
    fn wake_body(self: Arc<Self>) {}
}

/// A handle to a job: a node of the structured-concurrency tree (Kotlin `Job`).
///
/// Cloning is cheap; clones are equal (`==` is identity). Dropping a handle never cancels
/// anything: the tree owns the coroutines.
///
/// # Examples
///
/// ```
/// use corral_core::Job;
///
/// let parent = Job::new();
/// let child = Job::new_child(&parent);
/// assert!(parent.complete());          // parent now waits for its child
/// assert!(parent.is_active() && !parent.is_completed());
/// assert!(child.complete());
/// assert!(parent.is_completed() && !parent.is_cancelled());
/// ```
#[derive(Clone)]
pub struct Job {
    node: Arc<dyn JobNode>,
}

impl Job {
    pub(crate) fn from_node(node: Arc<dyn JobNode>) -> Job {
        Job { node }
    }

    pub(crate) fn node(&self) -> &dyn JobNode {
        &*self.node
    }

    pub(crate) fn node_arc(&self) -> Arc<dyn JobNode> {
        self.node.clone()
    }

    /// The node, with this handle's reference.
    pub(crate) fn into_node(self) -> Arc<dyn JobNode> {
        self.node
    }

    pub(crate) fn core(&self) -> &JobCore {
        self.node.core()
    }

    /// A handle that keeps the node's allocation (not the node) alive; see [`Job::is`].
    pub(crate) fn downgrade(&self) -> Weak<dyn JobNode> {
        Arc::downgrade(&self.node)
    }

    /// `true` if `node` is this job's node. Sound as an identity test: a live `Weak` keeps
    /// its allocation, so no other node can sit at that address meanwhile.
    pub(crate) fn is(&self, node: &Weak<dyn JobNode>) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.node), node.as_ptr())
    }

    /// A completable root job (Kotlin `Job()`): active until [`complete`](Job::complete) or
    /// [`cancel`](Job::cancel), and then complete once its children are.
    #[allow(clippy::new_without_default)] // `Job::default()` would read as "the default job"
    pub fn new() -> Job {
        StandaloneJob::create(JobKind::Completable, None)
    }

    /// A completable job that is a child of `parent` (Kotlin `Job(parent)`).
    pub fn new_child(parent: &Job) -> Job {
        StandaloneJob::create(JobKind::Completable, Some(parent))
    }

    /// The unique id of this job (the coroutine id for coroutines).
    pub fn id(&self) -> u64 {
        self.core().id()
    }

    /// The current state (see [`JobState`]).
    pub fn state(&self) -> JobState {
        self.core().state()
    }

    /// Completes a job made by [`new`](Job::new), [`new_child`](Job::new_child) or
    /// [`SupervisorJob`]: it becomes Completing and completes once its children are. Returns
    /// `false` if it was already completing, cancelled or complete, and for coroutines.
    ///
    /// # Panics
    ///
    /// Re-raises the first panic of a completion handler of a plain job that this call brought
    /// to its final state, after all the work of the call is done (kotlinx throws a
    /// `CompletionHandlerException`).
    pub fn complete(&self) -> bool {
        matches!(
            self.core().kind(),
            JobKind::Completable | JobKind::Supervisor
        ) && raise_handler_panics(|| self.core().complete(self))
    }

    /// Completes a plain job with a failure (Kotlin `completeExceptionally`): it is cancelled,
    /// the failure goes to its parent as a child failure would, and it ends Cancelled with
    /// `error` once its children are done. Returns `false` if the job was not active or is a
    /// coroutine.
    ///
    /// # Panics
    ///
    /// As [`complete`](Job::complete).
    pub fn complete_exceptionally(&self, error: JobError) -> bool {
        if !matches!(
            self.core().kind(),
            JobKind::Completable | JobKind::Supervisor
        ) || !self.is_active()
            || self.core().is_body_done()
        {
            return false;
        }
        raise_handler_panics(|| self.core().cancel(self, error));
        true
    }

    /// Starts a coroutine created with `CoroutineStart::Lazy`. Returns `true` if this call
    /// started it, `false` if it was already started, finished, or is not lazy.
    pub fn start(&self) -> bool {
        if self.core().start() {
            self.node_arc().start_body(self);
            true
        } else {
            false
        }
    }

    /// Cancels the job and, recursively, its children. Idempotent. A cancelled coroutine's
    /// future is dropped at its next suspension (on its own dispatcher).
    ///
    /// # Panics
    ///
    /// As [`complete`](Job::complete): a completion handler's panic of a plain job this call
    /// finalized is re-raised here once every handler ran. Handler panics of coroutines go to
    /// their exception handler instead.
    pub fn cancel(&self) {
        self.cancel_with(JobError::cancelled("Job was cancelled"));
    }

    /// Cancels the job with a given error. A cancellation error cancels; a failure fails the
    /// job (and, like a child's failure, reaches its parent).
    ///
    /// # Panics
    ///
    /// As [`cancel`](Job::cancel).
    pub fn cancel_with(&self, error: JobError) {
        raise_handler_panics(|| self.core().cancel(self, error));
    }

    /// [`cancel_with`](Job::cancel_with) for the runtime's own machinery: never re-raises a
    /// handler's panic (they are reported), so nothing unwinds through the runtime.
    pub(crate) fn cancel_by_runtime(&self, error: JobError) {
        self.core().cancel(self, error);
    }

    /// Waits until the job is complete, children included. Never fails; starts a lazy job.
    /// Inside a coroutine it is a cancellation point: a cancelled caller is dropped here even
    /// if the job is already complete.
    pub fn join(&self) -> Join {
        Join::new(self.clone())
    }

    /// [`cancel`](Job::cancel) then [`join`](Job::join).
    pub fn cancel_and_join(&self) -> impl Future<Output = ()> + Send + 'static {
        self.cancel();
        self.join()
    }

    /// Active or Completing.
    pub fn is_active(&self) -> bool {
        self.state().is_active()
    }

    /// Completed or Cancelled (final).
    pub fn is_completed(&self) -> bool {
        self.state().is_completed()
    }

    /// From the moment cancellation (or failure) started.
    pub fn is_cancelled(&self) -> bool {
        self.core().is_cancelled()
    }

    /// `Ok` while active; otherwise the cancellation cause (a completed job is not active
    /// either, as in kotlinx).
    pub fn ensure_active(&self) -> Result<(), JobError> {
        if self.is_active() {
            Ok(())
        } else {
            Err(self
                .core()
                .cancellation_cause()
                .unwrap_or_else(|| JobError::cancelled("Job is not active")))
        }
    }

    /// How the job ended: `None` while not final or after a normal completion.
    pub fn completion_error(&self) -> Option<JobError> {
        self.core().final_error()
    }

    /// The parent job; `None` for roots and once the job has completed.
    pub fn parent(&self) -> Option<Job> {
        self.core().parent()
    }

    /// The children that have not completed yet.
    pub fn children(&self) -> Vec<Job> {
        self.core().children()
    }

    /// Runs `handler` once when the job reaches its final state, with `None` after a normal
    /// completion. Registered after completion, it runs at once on the calling thread.
    /// Handlers run synchronously on the completing thread, in registration order.
    pub fn invoke_on_completion(
        &self,
        handler: impl FnOnce(Option<&JobError>) + Send + 'static,
    ) -> CompletionHandle {
        match self
            .core()
            .register(CompletionEntry::Handler(Box::new(handler)))
        {
            Ok(key) => CompletionHandle {
                registration: Some((self.clone(), key)),
            },
            Err(CompletionEntry::Handler(handler)) => {
                let error = self.core().final_error();
                handler(error.as_ref());
                CompletionHandle { registration: None }
            }
            Err(_) => unreachable!("registered a handler"),
        }
    }

    /// Kotlin `invokeOnCompletion(onCancelling = true)`: runs `handler` once, as soon as the job
    /// starts cancelling (or failing), with the cause, synchronously on the thread that cancels
    /// it and before the job waits for its body and children; or with `None` when the job
    /// completes normally without ever being cancelled. Registered on a job that is already
    /// cancelling or final, it runs at once on the calling thread (with the root cause, or the
    /// final error).
    pub fn invoke_on_cancelling(
        &self,
        handler: impl FnOnce(Option<&JobError>) + Send + 'static,
    ) -> CompletionHandle {
        match self.core().register_cancelling(Box::new(handler)) {
            Ok(key) => CompletionHandle {
                registration: Some((self.clone(), key)),
            },
            Err((handler, cause)) => {
                handler(cause.as_ref());
                CompletionHandle { registration: None }
            }
        }
    }
}

impl PartialEq for Job {
    fn eq(&self, other: &Job) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.node), Arc::as_ptr(&other.node))
    }
}

impl Eq for Job {}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Job");
        d.field("id", &self.id());
        if let Some(name) = self.node().name() {
            d.field("name", &name);
        }
        d.field("state", &self.state()).finish()
    }
}

/// Returned by [`Job::invoke_on_completion`]: [`dispose`](CompletionHandle::dispose) removes
/// the handler before it runs. Dropping the handle keeps the handler registered.
#[derive(Debug)]
#[must_use = "dropping the handle keeps the handler; call dispose() to remove it"]
pub struct CompletionHandle {
    /// The job and the handler's entry; `None` when the handler ran at registration. The key
    /// never names another entry, so disposing after the handler ran (an on-cancelling handler
    /// runs when cancellation starts, long before the job is final) does nothing.
    registration: Option<(Job, SlabKey)>,
}

impl CompletionHandle {
    /// Removes the handler if it has not run yet; does nothing if it has.
    pub fn dispose(self) {
        if let Some((job, key)) = &self.registration {
            job.core().unregister(*key);
        }
    }
}

/// Supervisor jobs (Kotlin `SupervisorJob()`): their children fail independently.
///
/// A failing child of a supervisor does not cancel it nor its siblings; the child reports its
/// failure to its own `CoroutineExceptionHandler`.
///
/// # Examples
///
/// ```
/// use corral_core::{
///     try_launch, Context, CoroutineExceptionHandler, CoroutineStart, SupervisorJob,
/// };
///
/// let supervisor = SupervisorJob::new();
/// let quiet = CoroutineExceptionHandler::new(|_context, _error| {}); // instead of stderr
/// let context = Context::new() + supervisor.clone() + quiet;
/// let failed = try_launch(context, CoroutineStart::Default, |_| async { Err("refused") });
/// assert!(failed.is_cancelled()); // failed: Kotlin counts a failed job as cancelled
/// assert!(supervisor.is_active()); // its supervisor carries on
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SupervisorJob;

impl SupervisorJob {
    /// A root supervisor job.
    #[allow(clippy::new_ret_no_self)] // Kotlin's `SupervisorJob()` returns a `Job` too
    pub fn new() -> Job {
        StandaloneJob::create(JobKind::Supervisor, None)
    }

    /// A supervisor job that is a child of `parent`.
    pub fn child_of(parent: &Job) -> Job {
        StandaloneJob::create(JobKind::Supervisor, Some(parent))
    }
}

/// Attaches `child` (a freshly created, not yet published job) to `parent`, cancelling it if
/// the parent is cancelling or complete. The handle `parent` becomes the child's parent link.
pub(crate) fn attach(child: &Job, parent: Job) {
    use self::state_machine::Attach;
    match JobCore::attach_child(parent, child) {
        Attach::Attached => {}
        Attach::AttachedCancelled(cause) | Attach::Refused(cause) => child.cancel_by_runtime(cause),
    }
}
