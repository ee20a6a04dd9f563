//! [`JobCore`]: the state machine every job shares, whether it belongs to a coroutine, to a
//! scope function's frame, or is a plain completable `Job::new()`. The errors a cancelling job
//! collects live in [`cause`]; the stack that carries work from job to job without recursion
//! lives in [`work`](super::work).
//!
//! # States
//!
//! ```text
//!  New ──start──► Active ──body done, children left──► Completing ──last child──► Completed
//!   │               │                                      │
//!   └──cancel/fail──┴────────────cancel/fail───────────────┴──► Cancelling ──body dropped,
//!                                                                 last child──► Cancelled
//! ```
//!
//! The public state is mirrored in an atomic byte ([`JobState`]) so `is_active` and friends
//! never lock. Every transition happens under the job's spin lock ([`SpinLock`]), which also
//! guards the children, the completion entries (handlers and join wakers), the parent link and
//! the collected errors.
//!
//! # Rules (kotlinx's; `docs/semantics.md`, and rules R1-R12 of `docs/conformance.md`)
//!
//! 1. A job reaches a final state only when its body is done **and** it has no children left.
//!    Exactly one caller observes that condition becoming true under the lock
//!    ([`JobCore::take_finalization`]), so finalization runs once.
//! 2. Cancellation flows down always: cancelling a job cancels its children, each after the
//!    job's lock is released, so a cancellation holds one job lock at a time.
//! 3. A failure (not a cancellation) flows up (kotlinx `childCancelled`): the parent handles
//!    it (coroutines and scopes do; supervisors do not; plain jobs do if an ancestor does) and
//!    cancels itself with it if it is not a supervisor.
//! 4. The final error is the first failure collected, or else the first cancellation; other
//!    distinct failures become its `suppressed` list. Cancellations are never suppressed.
//! 5. A failure the parent does not handle is reported by the job itself
//!    ([`JobNode::report_unhandled`](crate::job::JobNode::report_unhandled)) after it reached
//!    its final state and before its completion entries run.
//! 6. Completion entries (handlers and join wakers) run in registration order, synchronously
//!    on the thread that finalizes; then the parent learns that the child is gone.
//!
//! # Lock discipline
//!
//! No method calls into a waker or into user code while holding `inner`, and no method waits
//! for another job's lock while holding it, with one exception: [`JobCore::attach_child`]
//! holds the lock of the child it attaches while it takes the parent's lock. That cannot
//! deadlock: the child is being created, so no other thread can reach it yet and nobody holds
//! or waits for its lock (it becomes reachable only through the parent's children, under the
//! parent's lock, which the attach holds until the link is written).
//!
//! Work decided under the lock is carried out after it is released: a cancellation is planned
//! by [`JobCore::take_cancellation`] and carried out by [`JobCore::run_cancellation`], a
//! finalization is planned by [`JobCore::take_finalization`] and carried out by
//! [`JobCore::run_finalization`]. Work that reaches another job goes through the work stack
//! ([`work`](super::work)), so no call nests once per level of the tree.

use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicU64 as StdAtomicU64;
use std::sync::atomic::Ordering as StdOrdering;
use std::task::Waker;

use crate::current::Shields;
use crate::error::JobError;
use crate::handler;
use crate::job::cause::{self, Causes};
use crate::job::children::{ChildKey, ChildTicket, Children};
use crate::job::entries::Entries;
use crate::job::work::{complete_ancestors, Work, WorkStack};
use crate::job::Job;
use crate::loom::sync::atomic::{AtomicU8, Ordering};
use crate::loom::sync::{lock, SpinLock, SpinLockGuard};
use crate::slab::{Drained, SlabKey};

/// The public state of a job (the state table of `docs/semantics.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum JobState {
    /// Created with `CoroutineStart::Lazy` and not started yet.
    New = 0,
    /// Running its body.
    Active = 1,
    /// Body done, waiting for children. Still `is_active`.
    Completing = 2,
    /// Cancelled or failed, waiting for its body to be dropped and its children to finish.
    Cancelling = 3,
    /// Final: ended by cancellation or failure.
    Cancelled = 4,
    /// Final: ended normally.
    Completed = 5,
}

impl JobState {
    fn from_u8(value: u8) -> JobState {
        match value {
            0 => JobState::New,
            1 => JobState::Active,
            2 => JobState::Completing,
            3 => JobState::Cancelling,
            4 => JobState::Cancelled,
            _ => JobState::Completed,
        }
    }

    /// `is_active` of the table: Active and Completing.
    pub fn is_active(self) -> bool {
        matches!(self, JobState::Active | JobState::Completing)
    }

    /// `is_completed` of the table: the two final states.
    pub fn is_completed(self) -> bool {
        matches!(self, JobState::Cancelled | JobState::Completed)
    }

    /// `is_cancelled` of the table: from the moment cancellation starts.
    pub fn is_cancelled(self) -> bool {
        matches!(self, JobState::Cancelling | JobState::Cancelled)
    }
}

/// What kind of job this is; decides how it treats its children's failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// A coroutine started by `launch`: reports unhandled failures to the exception handler.
    Launch,
    /// A coroutine started by `async_`: keeps its failure for `await`, never reports it.
    Async,
    /// A scope function's frame or a `with_context` coroutine: its failure is returned to the
    /// caller, never sent up to the caller's job.
    Scoped,
    /// `supervisor_scope`: a scoped job whose children fail independently.
    SupervisorScoped,
    /// `Job::new()`: completable by hand.
    Completable,
    /// `SupervisorJob::new()`: completable, children fail independently.
    Supervisor,
}

impl JobKind {
    /// The `kind` field of a coroutine's `runtime.spawn` span.
    pub(crate) fn span_kind(self) -> &'static str {
        match self {
            JobKind::Launch => "launch",
            JobKind::Async => "async",
            _ => "scoped",
        }
    }

    fn is_supervisor(self) -> bool {
        matches!(self, JobKind::Supervisor | JobKind::SupervisorScoped)
    }

    fn is_scoped(self) -> bool {
        matches!(self, JobKind::Scoped | JobKind::SupervisorScoped)
    }

    fn is_completable(self) -> bool {
        matches!(self, JobKind::Completable | JobKind::Supervisor)
    }
}

/// Source of job and coroutine ids (1, 2, 3, ...). A plain std atomic: ids only need to be
/// unique, so loom need not model it.
static NEXT_JOB_ID: StdAtomicU64 = StdAtomicU64::new(1);

/// The state machine shared by all jobs; see the module docs.
pub(crate) struct JobCore {
    id: u64,
    kind: JobKind,
    /// Mirror of `inner.state` for lock-free reads. Written only under `inner`'s lock (Release),
    /// read anywhere (Acquire, pairs with those stores so a reader that sees a final state also
    /// sees the final error and the output stored before it).
    state: AtomicU8,
    /// The shield counters of the frames this job owns (a task's, or a scope's polled outside
    /// any coroutine; see [`crate::current`]). Here rather than in the task: six bytes that
    /// fill this struct's padding.
    shields: Shields,
    inner: SpinLock<JobInner>,
}

struct JobInner {
    state: JobState,
    /// The parent; taken when the job completes.
    parent: Option<Job>,
    /// Our key in the parent's children, meaningful while `parent` is set. Beside it rather
    /// than in a tuple with it: the 4-byte key then shares a word with the flags of this
    /// struct instead of padding the pair. A `Cell` so that [`JobCore::attach_child`] can write
    /// it while the parent, reached through `parent`, is locked.
    key_in_parent: Cell<ChildKey>,
    children: Children,
    /// Completion entries in registration order.
    completion: Entries,
    body_done: bool,
    /// The errors collected while cancelling (kotlinx `Finishing`), then the final error
    /// ([`JobInner::final_error`]).
    causes: Causes,
    /// Whether the parent has been told about the root failure (so it is told once).
    parent_notified: bool,
}

impl JobInner {
    /// The final error: `None` before the final state and after a normal end.
    fn final_error(&self) -> Option<&JobError> {
        if self.state.is_completed() {
            self.causes.final_error()
        } else {
            None
        }
    }
}

/// A user completion handler: called once with the final error (`None` after a normal end).
pub(crate) type CompletionHandler = Box<dyn FnOnce(Option<&JobError>) + Send>;

/// Something to run when the job reaches its final state.
pub(crate) enum CompletionEntry {
    /// A user handler from `invoke_on_completion`.
    Handler(CompletionHandler),
    /// A waiter (`join`, `await`, a scope frame waiting for its children): woken.
    Waker(Waker),
    /// A user handler from `invoke_on_cancelling` (kotlinx `invokeOnCompletion(onCancelling =
    /// true)`): taken out and run with the cause as soon as the job starts cancelling; still
    /// here at a normal completion, where it runs with `None` like a `Handler`.
    CancellingHandler(CompletionHandler),
}

/// The work to do after a job reached its final state; produced under the lock by
/// [`JobCore::take_finalization`] and carried out by [`JobCore::run_finalization`].
pub(crate) struct Finalization {
    /// The final error, when the completion work needs it (a failure to report, handlers to
    /// call); `None` for a normal end and for a cancellation that only wakes waiters.
    final_error: Option<JobError>,
    suppressed: Vec<JobError>,
    entries: Drained<CompletionEntry>,
    parent: Option<(Job, ChildTicket)>,
}

/// How a body ended, as told to [`JobCore::body_completed`].
#[derive(Debug)]
pub(crate) enum BodyOutcome {
    /// Returned normally (its value, if any, was stored by the caller already).
    Completed,
    /// Was dropped because the job was cancelled (or never ran).
    Dropped,
    /// Panicked, returned `Err`, or panicked while being dropped.
    Failed(JobError),
}

/// What happened when a child was attached.
pub(crate) enum Attach {
    /// Attached.
    Attached,
    /// Attached, but the parent is cancelling: cancel the child with this error.
    AttachedCancelled(JobError),
    /// Not attached because the parent is final: the child must be cancelled with this error.
    Refused(JobError),
}

impl JobCore {
    pub(crate) fn new(kind: JobKind, initial: JobState) -> JobCore {
        debug_assert!(matches!(initial, JobState::New | JobState::Active));
        JobCore {
            id: NEXT_JOB_ID.fetch_add(1, StdOrdering::Relaxed),
            kind,
            state: AtomicU8::new(initial as u8),
            shields: Shields::new(),
            inner: SpinLock::new(JobInner {
                state: initial,
                parent: None,
                key_in_parent: Cell::new(ChildKey::UNUSED),
                children: Children::new(),
                completion: Entries::new(),
                body_done: false,
                causes: Causes::default(),
                parent_notified: false,
            }),
        }
    }

    /// The shield counters of the frames this job owns.
    pub(crate) fn shields(&self) -> &Shields {
        &self.shields
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn kind(&self) -> JobKind {
        self.kind
    }

    /// The current public state, without locking.
    pub(crate) fn state(&self) -> JobState {
        // Acquire: pairs with the Release store in `set_state`.
        JobState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// `state().is_cancelled()` without decoding the byte: the check every poll makes (two or
    /// three times), so it compares the raw value instead of going through `from_u8`.
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        // Acquire: as in `state`.
        let state = self.state.load(Ordering::Acquire);
        state == JobState::Cancelling as u8 || state == JobState::Cancelled as u8
    }

    fn set_state(&self, inner: &mut JobInner, state: JobState) {
        inner.state = state;
        // Release: pairs with the Acquire load in `state`.
        self.state.store(state as u8, Ordering::Release);
    }

    /// The final error, once the job is final (`None` if it completed normally or is not final).
    pub(crate) fn final_error(&self) -> Option<JobError> {
        lock(&self.inner).final_error().cloned()
    }

    /// The current cancellation cause (for `ensure_active` and `current error` queries): the
    /// root failure wrapped in a cancellation, or the first cancellation. `None` when not
    /// cancelled. A normally completed job reports a plain cancellation ("Job has completed").
    pub(crate) fn cancellation_cause(&self) -> Option<JobError> {
        let inner = lock(&self.inner);
        match inner.state {
            // Final: `take_finalization` moved the causes into `final_error`, so the cause is
            // read from there.
            JobState::Cancelled => Some(cause::cancelled_cause(inner.final_error())),
            JobState::Cancelling => Some(inner.causes.cancelling_cause()),
            JobState::Completed => Some(JobError::cancelled("Job has completed")),
            _ => None,
        }
    }

    /// The failure (not a cancellation) this job is failing with (Cancelling) or failed with
    /// (Cancelled); `None` otherwise (kotlinx `Finishing.rootCause` / `CompletedExceptionally`
    /// of an awaited job, restricted to failures).
    pub(crate) fn root_failure(&self) -> Option<JobError> {
        let inner = lock(&self.inner);
        match inner.state {
            JobState::Cancelling => inner.causes.root_failure().cloned(),
            JobState::Cancelled => inner.final_error().filter(|e| e.is_failure()).cloned(),
            _ => None,
        }
    }

    /// New → Active. Returns `true` if this call started the job.
    pub(crate) fn start(&self) -> bool {
        // Fast path without the lock: only a New job can start, and nothing returns to New.
        if self.state() != JobState::New {
            return false;
        }
        let mut inner = lock(&self.inner);
        if inner.state == JobState::New {
            self.set_state(&mut inner, JobState::Active);
            true
        } else {
            false
        }
    }

    /// Attaches `child` to the job `this` and records the link in the child (rule: a child of a
    /// final parent is refused and cancelled; a child of a cancelling parent is attached and
    /// must be cancelled).
    ///
    /// The child's link is written while the parent's lock is held, so no cancellation of the
    /// parent can reach the child before the child knows its parent (otherwise the child could
    /// complete without telling it, and it would wait for the child forever). This is the one
    /// place where two job locks are held at once: the child's, then the parent's, and only for
    /// a child that nobody else can reach yet (it is being created, and it becomes reachable
    /// through the parent's children only under the parent's lock, which this call holds), so
    /// nobody ever waits for the child's lock meanwhile.
    ///
    /// `this` is given, not lent: the handle moves into the child's parent link, so a spawn that
    /// already owns one (moved out of its context) touches the parent's reference count, on a
    /// cache line all its siblings share, not at all. The child's lock is taken first so the
    /// parent can be locked through that link; the key, known only once the parent's lock is
    /// held, is written through a `Cell` beside it.
    pub(crate) fn attach_child(this: Job, child: &Job) -> Attach {
        let mut child_guard = lock(&child.core().inner);
        child_guard.parent = Some(this);
        let child_inner: &JobInner = &child_guard;
        let parent = child_inner
            .parent
            .as_ref()
            .expect("the link was just written");
        let mut inner = lock(&parent.core().inner);
        let cancel_with = match inner.state {
            JobState::Completed | JobState::Cancelled => {
                let cause = cause::refused_child_cause(inner.final_error());
                drop(inner);
                let refused = child_guard.parent.take();
                drop(child_guard);
                // Released outside the locks: it may be the last reference to the parent.
                drop(refused);
                return Attach::Refused(cause);
            }
            JobState::Cancelling => Some(inner.causes.child_cancellation_cause()),
            _ => None,
        };
        let key = inner.children.insert(child.clone());
        child_inner.key_in_parent.set(key);
        drop(inner);
        drop(child_guard);
        match cancel_with {
            Some(cause) => Attach::AttachedCancelled(cause),
            None => Attach::Attached,
        }
    }

    /// The parent, while this job is not final.
    pub(crate) fn parent(&self) -> Option<Job> {
        lock(&self.inner).parent.clone()
    }

    /// A snapshot of the children.
    pub(crate) fn children(&self) -> Vec<Job> {
        lock(&self.inner).children.iter().cloned().collect()
    }

    /// Whether the body is done (returned, failed or dropped).
    pub(crate) fn is_body_done(&self) -> bool {
        lock(&self.inner).body_done
    }

    /// Cancels the job with `error` (a cancellation, or a failure when a child or the body
    /// failed) and carries out all that follows (children, handlers, parent, finalization)
    /// before returning. `this` is the job's handle.
    pub(crate) fn cancel(&self, this: &Job, error: JobError) {
        // A handle of its own only when there is work: cancelling a final job touches no count.
        if let Some(cancellation) = self.decide_cancellation(error) {
            let mut work = WorkStack::new();
            JobCore::run_cancellation(this.clone(), cancellation, &mut work);
            work.drain();
        }
    }

    /// One job's part of a cancellation: decided under the lock
    /// ([`take_cancellation`](Self::take_cancellation)), carried out after it
    /// ([`run_cancellation`](Self::run_cancellation)). `this` is given, not lent: the handle
    /// travels with the work and, when the body is a coroutine to wake, becomes its runnable
    /// (a cancelled parent's 100 000 children touch no count for it).
    pub(super) fn cancel_step(this: Job, error: JobError, work: &mut WorkStack) {
        if let Some(cancellation) = this.core().decide_cancellation(error) {
            JobCore::run_cancellation(this, cancellation, work);
        }
    }

    /// [`take_cancellation`](Self::take_cancellation) under the lock.
    fn decide_cancellation(&self, error: JobError) -> Option<Cancellation> {
        let mut inner = lock(&self.inner);
        self.take_cancellation(&mut inner, error)
    }

    /// Decides, under the lock, what cancelling with `error` does (kotlinx
    /// `tryMakeCancelling`): records the error, moves the job to Cancelling if it was not yet,
    /// and takes out what must happen once the lock is released. `None` if the job is final.
    fn take_cancellation(&self, inner: &mut JobInner, error: JobError) -> Option<Cancellation> {
        let first_failure;
        let children: Vec<Job>;
        let mut body_to_drop = false;
        let started_cancelling;
        // The error is needed after the lock only by on-cancelling handlers and for telling
        // the parent about a failure; otherwise it moves into the job (see `Causes::record`).
        let needs_error = |inner: &JobInner, started: bool| {
            error.is_failure() || (started && inner.completion.has_cancelling_handlers())
        };
        let kept;
        match inner.state {
            JobState::Completed | JobState::Cancelled => return None,
            JobState::Cancelling => {
                started_cancelling = false;
                kept = needs_error(inner, false).then(|| error.clone());
                first_failure = inner.causes.record(error);
                children = Vec::new();
            }
            JobState::New | JobState::Active | JobState::Completing => {
                started_cancelling = true;
                let was_new = inner.state == JobState::New;
                kept = needs_error(inner, true).then(|| error.clone());
                first_failure = inner.causes.record(error);
                self.set_state(inner, JobState::Cancelling);
                if was_new {
                    // A lazy coroutine cancelled before it started: its body never runs.
                    inner.body_done = true;
                }
                body_to_drop = !inner.body_done;
                children = inner.children.iter().cloned().collect();
            }
        }
        let children = if children.is_empty() {
            None
        } else {
            Some((children, inner.causes.child_cancellation_cause()))
        };
        let notify_parent = first_failure && !inner.parent_notified && !self.kind.is_scoped();
        if notify_parent {
            inner.parent_notified = true;
        }
        let parent = if notify_parent {
            inner.parent.clone()
        } else {
            None
        };
        // The job starts cancelling now: its on-cancelling handlers leave the completion entries
        // (so finalization does not run them again) and run after the lock with the cause.
        let cancelling_handlers = if started_cancelling {
            inner
                .completion
                .take_matching(|entry| matches!(entry, CompletionEntry::CancellingHandler(_)))
        } else {
            Vec::new()
        };
        // A finalization needs the body done, so it never comes with a body to stop.
        let end = match self.take_finalization(inner) {
            Some(finalization) => End::Finalize(finalization),
            None if body_to_drop => End::StopBody,
            None => End::Later,
        };
        Some(Cancellation {
            children,
            rest: NotifyCancelling {
                kept,
                cancelling_handlers,
                parent,
                end,
            },
        })
    }

    /// Carries out a [`Cancellation`] outside the lock (kotlinx `notifyCancelling`): the
    /// children first, then the rest in [`notify_cancelling`](Self::notify_cancelling). With
    /// children, both are left on `work`, the children on top.
    fn run_cancellation(this: Job, cancellation: Cancellation, work: &mut WorkStack) {
        let Cancellation { children, rest } = cancellation;
        match children {
            Some((children, cause)) => {
                work.push(Work::Notify(this, rest));
                work.push(Work::CancelChildren(children.into_iter(), cause));
            }
            None => JobCore::notify_cancelling(this, rest, work),
        }
    }

    /// The rest of a cancellation once the children are cancelled (kotlinx `notifyCancelling`):
    /// the on-cancelling handlers in registration order, then the parent, then the body.
    pub(super) fn notify_cancelling(this: Job, rest: NotifyCancelling, work: &mut WorkStack) {
        let NotifyCancelling {
            kept,
            cancelling_handlers,
            parent,
            end,
        } = rest;
        if !cancelling_handlers.is_empty() {
            // User code: the wake-ups gathered before it are dispatched before it runs, in
            // the order they happened.
            work.wakes.flush();
        }
        let mut handler_panics = Vec::new();
        for entry in cancelling_handlers {
            if let CompletionEntry::CancellingHandler(handler) = entry {
                let cause = kept.as_ref().expect("kept for the on-cancelling handlers");
                if let Err(payload) =
                    panic::catch_unwind(AssertUnwindSafe(move || handler(Some(cause))))
                {
                    handler_panics.push(payload);
                }
            }
        }
        if !handler_panics.is_empty() {
            // Pushed first, so reported after everything this cancellation leads to.
            work.push(Work::Panicked(this.clone(), handler_panics));
        }
        if let Some(parent) = parent {
            // Rule 3: a failure cancels the parent unless it is a supervisor (kotlinx
            // `cancelParent` / `childCancelled`), and that happens before this job goes on.
            if !parent.core().kind.is_supervisor() {
                let failure = kept.expect("a failure is kept for the parent");
                if !matches!(end, End::Later) {
                    work.push(Work::End(this, end));
                }
                work.push(Work::Cancel(parent, failure));
                return;
            }
        }
        JobCore::end_cancelling(this, end, work);
    }

    /// The last part of a cancellation: stops the body (the handle goes to the node, see
    /// [`JobNode::on_cancelling`](crate::job::JobNode::on_cancelling)), or finalizes the job.
    pub(super) fn end_cancelling(this: Job, end: End, work: &mut WorkStack) {
        let next = match end {
            End::Later => None,
            End::StopBody => match this.into_node().on_cancelling(&mut work.wakes) {
                Some(this) => this.core().finish_body(&this, work),
                None => None,
            },
            End::Finalize(finalization) => this.core().run_finalization(&this, finalization, work),
        };
        complete_ancestors(next, work);
    }

    /// kotlinx `handlesException`: a plain job handles a failure if some ancestor is a
    /// coroutine or a scope (which will report or rethrow it).
    fn handles_exception(&self) -> bool {
        let mut parent = self.parent();
        while let Some(job) = parent {
            if !job.core().kind.is_completable() {
                return true;
            }
            parent = job.core().parent();
        }
        false
    }

    /// The body finished (see [`BodyOutcome`]).
    pub(crate) fn body_completed(&self, this: &Job, outcome: BodyOutcome) {
        if let BodyOutcome::Failed(error) = outcome {
            self.cancel(this, error);
        }
        let mut work = WorkStack::new();
        let next = self.finish_body(this, &mut work);
        complete_ancestors(next, &mut work);
        work.drain();
    }

    /// Marks the body done. Returns the parent to tell next if that made the job final (see
    /// [`run_finalization`](Self::run_finalization)).
    fn finish_body(&self, this: &Job, work: &mut WorkStack) -> Option<(Job, ChildTicket)> {
        let mut inner = lock(&self.inner);
        if inner.body_done {
            return None;
        }
        inner.body_done = true;
        if inner.state == JobState::Active {
            if inner.children.is_empty() && inner.completion.is_empty() {
                return self.finish_plain(inner);
            }
            self.set_state(&mut inner, JobState::Completing);
        }
        let finalization = self.take_finalization(&mut inner);
        drop(inner);
        finalization.and_then(|finalization| self.run_finalization(this, finalization, work))
    }

    /// The finalization of a job that was never cancelled, whose body ended normally, with no
    /// child and no completion entry left (most coroutines: a `launch` nobody joins, as a leaf
    /// or as the last link of a chain): rule 1 holds, and of
    /// [`take_finalization`](Self::take_finalization) and
    /// [`run_finalization`](Self::run_finalization) only the state change and the parent link
    /// remain, since a job that was never cancelling collected no error, there is no failure
    /// to report and no entry to run. Returns the parent to tell next.
    #[inline]
    fn finish_plain(&self, mut inner: SpinLockGuard<'_, JobInner>) -> Option<(Job, ChildTicket)> {
        debug_assert!(inner.body_done && inner.children.is_empty() && inner.completion.is_empty());
        debug_assert!(matches!(
            inner.state,
            JobState::Active | JobState::Completing
        ));
        debug_assert!(
            inner.causes.final_error().is_none(),
            "an active job has no cause"
        );
        self.set_state(&mut inner, JobState::Completed);
        let parent = inner.parent.take();
        let ticket = inner.key_in_parent.get().ticket(self.id);
        drop(inner);
        tracing::trace!(job = self.id, state = ?JobState::Completed, "job final");
        parent.map(|parent| (parent, ticket))
    }

    /// `complete()` of a completable job: the "body" of a plain job is done.
    /// Returns `false` if it was already completing, cancelling or final.
    pub(crate) fn complete(&self, this: &Job) -> bool {
        {
            let inner = lock(&self.inner);
            if inner.body_done || inner.state != JobState::Active {
                return false;
            }
        }
        self.body_completed(this, BodyOutcome::Completed);
        true
    }

    /// A child reached its final state; forget it. Returns the parent to tell next if that
    /// made this job final (see [`run_finalization`](Self::run_finalization)).
    pub(super) fn child_completed(
        &self,
        this: &Job,
        ticket: ChildTicket,
        work: &mut WorkStack,
    ) -> Option<(Job, ChildTicket)> {
        let mut inner = lock(&self.inner);
        let child = inner.children.remove(ticket);
        if inner.state == JobState::Completing
            && inner.children.is_empty()
            && inner.completion.is_empty()
        {
            // The last child of a job whose body ended normally and that nobody joins (a
            // link of a chain of spawns): the same short finalization as a leaf's.
            let next = self.finish_plain(inner);
            drop(child);
            return next;
        }
        let finalization = self.take_finalization(&mut inner);
        drop(inner);
        // Released outside the lock: it may be the last reference to a coroutine, whose
        // output's destructor is user code.
        drop(child);
        finalization.and_then(|finalization| self.run_finalization(this, finalization, work))
    }

    /// Registers a completion entry, or gives it back if the job is already final.
    pub(crate) fn register(&self, entry: CompletionEntry) -> Result<SlabKey, CompletionEntry> {
        let mut inner = lock(&self.inner);
        if inner.state.is_completed() {
            return Err(entry);
        }
        Ok(inner.completion.insert(entry))
    }

    /// Registers an on-cancelling handler, or gives it back with the error to run it with at
    /// once: the root cause if the job is already cancelling (the first failure, else the first
    /// cancellation), the final error if it is final.
    pub(crate) fn register_cancelling(
        &self,
        handler: CompletionHandler,
    ) -> Result<SlabKey, (CompletionHandler, Option<JobError>)> {
        let mut inner = lock(&self.inner);
        match inner.state {
            JobState::Cancelling => Err((handler, inner.causes.root_cause().cloned())),
            JobState::Cancelled | JobState::Completed => {
                Err((handler, inner.final_error().cloned()))
            }
            JobState::New | JobState::Active | JobState::Completing => Ok(inner
                .completion
                .insert(CompletionEntry::CancellingHandler(handler))),
        }
    }

    /// Replaces the waker of a registered waiter (re-poll of a join). Returns `false` if the
    /// entry is gone (the job completed and woke it).
    pub(crate) fn update_waker(&self, key: SlabKey, waker: &Waker) -> bool {
        let mut inner = lock(&self.inner);
        match inner.completion.get_mut(key) {
            Some(CompletionEntry::Waker(old)) => {
                if !old.will_wake(waker) {
                    *old = waker.clone();
                }
                true
            }
            _ => false,
        }
    }

    /// Removes a completion entry (a dropped join, a disposed handler); a no-op if it already
    /// ran or left (keys never repeat, so this never removes another entry).
    pub(crate) fn unregister(&self, key: SlabKey) {
        let removed = lock(&self.inner).completion.remove(key);
        // Dropped outside the lock: a handler's captures may run arbitrary destructors.
        drop(removed);
    }

    /// Decides, under the lock, whether the job reaches its final state now (rule 1). At most
    /// one caller ever gets `Some`.
    fn take_finalization(&self, inner: &mut JobInner) -> Option<Finalization> {
        if !inner.body_done || !inner.children.is_empty() || inner.state.is_completed() {
            return None;
        }
        let (state, final_error, suppressed) = if inner.state == JobState::Cancelling {
            let (error, suppressed) = inner.causes.take_final();
            (JobState::Cancelled, Some(error), suppressed)
        } else {
            (JobState::Completed, None, Vec::new())
        };
        self.set_state(inner, state);
        let entries = inner.completion.drain_in_order();
        // The completion work needs its own copy of the error only to report a failure or to
        // give it to handlers; a plain cancellation woken into join waiters needs none.
        let needs_error = final_error.as_ref().is_some_and(JobError::is_failure)
            || entries
                .as_slice()
                .iter()
                .any(|entry| !matches!(entry, CompletionEntry::Waker(_)));
        let for_completion = if needs_error {
            final_error.clone()
        } else {
            None
        };
        inner.causes.set_final(final_error);
        Some(Finalization {
            final_error: for_completion,
            suppressed,
            entries,
            parent: inner
                .parent
                .take()
                .map(|parent| (parent, inner.key_in_parent.get().ticket(self.id))),
        })
    }

    /// Carries out a [`Finalization`] outside the lock (rules 3, 5 and 6). Returns the parent
    /// that must learn next that this job is gone (the caller tells it, see
    /// [`complete_ancestors`]), or `None` when there is none or the rest was left on `work`.
    fn run_finalization(
        &self,
        this: &Job,
        mut finalization: Finalization,
        work: &mut WorkStack,
    ) -> Option<(Job, ChildTicket)> {
        // Scope functions rethrow their failure to their caller instead of reporting it.
        let mut handled = true;
        if let Some(error) = &finalization.final_error {
            error.set_suppressed(std::mem::take(&mut finalization.suppressed));
            if error.is_failure() && !self.kind.is_scoped() {
                handled = false;
                if let Some((parent, _)) = &finalization.parent {
                    let parent_core = parent.core();
                    if !parent_core.kind.is_supervisor() {
                        // Rule 3: the parent handles the failure and cancels itself with it
                        // before the rest of this finalization. Whether it handles it is read
                        // first: the ancestors it looks at stay as they are while this job is
                        // still its child. Only a `launch` coroutine reports an unhandled
                        // failure, so only one asks (the walk up would make a failing chain
                        // of plain jobs quadratic).
                        handled = self.kind != JobKind::Launch
                            || !parent_core.kind.is_completable()
                            || parent_core.handles_exception();
                        let cancel_parent = Work::Cancel(parent.clone(), error.clone());
                        work.push(Work::Finish(this.clone(), finalization, handled));
                        work.push(cancel_parent);
                        return None;
                    }
                }
            }
        }
        self.finish_finalization(this, finalization, handled, work)
    }

    /// The end of [`run_finalization`](Self::run_finalization), once the parent handled (or
    /// did not handle) a failure: report it if unhandled, run the completion entries.
    pub(super) fn finish_finalization(
        &self,
        this: &Job,
        finalization: Finalization,
        handled: bool,
        work: &mut WorkStack,
    ) -> Option<(Job, ChildTicket)> {
        let Finalization {
            final_error,
            entries,
            parent,
            ..
        } = finalization;
        if let Some(error) = final_error.as_ref().filter(|_| !handled) {
            this.node().report_unhandled(error);
        }
        tracing::trace!(job = self.id, state = ?self.state(), "job final");
        if !entries.as_slice().is_empty() {
            // Wakers and user handlers: what was gathered before goes out first (see
            // `notify_cancelling`).
            work.wakes.flush();
        }
        let mut handler_panics = Vec::new();
        for entry in entries {
            match entry {
                CompletionEntry::Waker(waker) => handler::wake_contained(waker),
                // An on-cancelling handler still registered here: the job was never
                // cancelled (else `cancel` took it out), so it runs with `None`.
                CompletionEntry::Handler(handler) | CompletionEntry::CancellingHandler(handler) => {
                    let error = final_error.as_ref();
                    if let Err(payload) =
                        panic::catch_unwind(AssertUnwindSafe(move || handler(error)))
                    {
                        handler_panics.push(payload);
                    }
                }
            }
        }
        if !handler_panics.is_empty() {
            // Pushed before the parent is told, so reported after it learnt the child is gone.
            work.push(Work::Panicked(this.clone(), handler_panics));
        }
        parent
    }
}

/// The work to do after a job's cancellation was decided; produced under the lock by
/// [`JobCore::take_cancellation`] and carried out by [`JobCore::run_cancellation`].
struct Cancellation {
    /// The children to cancel, in order, with the cause they are cancelled with; `None` when
    /// there are none.
    children: Option<(Vec<Job>, JobError)>,
    /// What follows once the children are cancelled.
    rest: NotifyCancelling,
}

/// The part of a cancellation that runs after the children are cancelled; see
/// [`JobCore::notify_cancelling`].
pub(super) struct NotifyCancelling {
    /// The error, when the on-cancelling handlers or the parent need it.
    kept: Option<JobError>,
    cancelling_handlers: Vec<CompletionEntry>,
    /// The parent to tell about a first failure.
    parent: Option<Job>,
    end: End,
}

/// How a cancelled job goes on towards its final state.
pub(super) enum End {
    /// Nothing to do now: its body or its last child finalizes it later.
    Later,
    /// The body is still running: stop it ([`JobNode::on_cancelling`](crate::job::JobNode::on_cancelling)).
    StopBody,
    /// The job became final under the lock.
    Finalize(Finalization),
}

impl fmt::Debug for JobCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobCore")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}
#[cfg(all(test, target_pointer_width = "64"))]
mod layout_tests {
    use std::mem::size_of;

    /// The bytes every coroutine pays for its job (`docs/architecture.md`, "What a coroutine
    /// costs"): a change that grows them should be deliberate.
    #[test]
    fn a_job_costs_136_bytes() {
        assert_eq!(size_of::<super::JobInner>(), 112);
        assert_eq!(size_of::<super::JobCore>(), 136);
    }
}
