//! The current coroutine frame of each thread.
//!
//! While a coroutine is polled, its task pushes a [`Frame`] naming its job, its context and its
//! *shield* counter; a scope frame (`coroutine_scope`, `with_context(NonCancellable, ..)`)
//! polled inside it pushes another one on top. The innermost frame answers `current_job()`,
//! `is_active()` and the cancellation checks of suspension points.
//!
//! # Shield counter
//!
//! A frame's body is dropped at a suspension when its job is cancelled **and** no inner
//! section shields it: `with_context(NonCancellable, ..)` and the cleanup part of
//! `with_cleanup` raise the shield of the task for as long as they run (across suspensions).
//! Each frame remembers the shield value at its entry (`shield_base`); it may drop its body
//! only when the shield is back at that value, so shields inside a frame protect it while
//! shields outside it do not.
//!
//! # Who owns a shield
//!
//! The counters belong to the *owner* of the outermost frame: the task, or the scope job of a
//! scope polled outside any coroutine (both job nodes, see `JobNode::shields`). A
//! [`ShieldGuard`] holds a weak handle to that owner instead of a pointer to its counters:
//! dropped, it lowers the counter only if the owner is still alive, so it never touches freed
//! memory, wherever the guard went. (Weak, not counted: a guard inside its own task's future
//! must not keep that task alive, or a forgotten coroutine would leak through the cycle.)
//!
//! A section's future (a `with_cleanup`, a scope frame) can be boxed and moved to another
//! coroutine between polls. The shield is raised for the coroutine that *polls* the section:
//! each poll first calls [`keep_shield`], which, when the section is now polled by another
//! owner, lowers the counter of the former one and raises the new one's. So:
//! * the former coroutine is no longer protected by the section: cancelled, it is dropped at its
//!   next suspension like any other (it is not left waiting in Cancelling for a cleanup that no
//!   longer belongs to it);
//! * the section follows the cancellation of the coroutine polling it now: a `with_cleanup`
//!   body is dropped and its cleanup run when that coroutine is cancelled, and its cleanup, like
//!   a non-cancellable section, protects that coroutine while it runs;
//! * a section moved away and not polled again keeps shielding the coroutine that polled it
//!   last, until it is polled elsewhere or dropped (a frame cannot tell a future moved out of
//!   its body from one its body holds but did not poll this time).
//!
//! Scope frames likewise take their shield bases again when their owner changes (see
//! `Scoped`), before their inner sections move their shields over.
//!
//! Levels are compared with `<=`, not `==`: a section moving away lowers its former owner's
//! counter out of LIFO order, possibly below the base of a frame or the level of a watcher
//! entered after it, which must then not wait for a level that will not come back. Without
//! moves the counters never go below a live frame's base or a live guard's level, and `<=` is
//! `==`.
//!
//! # Safety of the raw pointers
//!
//! A frame holds raw pointers (its job, context, shield owner and counters, yield flag and the
//! dispatcher it runs on) and `CURRENT` holds a raw pointer to the innermost frame. Two rules
//! keep every one of them valid while it can be read:
//! 1. A frame is made by the poll that pushes it, from references that poll holds (the task's
//!    own fields, or the pinned scope future's), or copied from the enclosing frame, which
//!    outlives it; the frame itself lives on that poll's stack.
//! 2. A frame is reachable from `CURRENT` only inside [`enter`] (or [`enter_catching`]),
//!    which pushes it, runs its closure and pops it again when the closure returns *or
//!    unwinds*; so frames leave in LIFO order and none is left behind once its poll's borrow
//!    of it ends. [`with_frame`] lends the innermost frame only for the duration of its own
//!    closure.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::Weak;
use std::task::{Poll, Waker};

use crate::context::{Context, Elements, JobElement};
use crate::dispatcher::Dispatcher;
use crate::error::JobError;
use crate::job::state_machine::JobCore;
use crate::job::{Job, JobNode};
use crate::loom::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use crate::trampoline;

/// One coroutine frame; see the module docs.
pub(crate) struct Frame {
    job: *const Job,
    /// `job`'s state machine, looked up once when the frame is made: the cancellation checks
    /// of every suspension point read its state without a virtual call.
    core: *const JobCore,
    /// The context of the frame; its job element, if any, is never read (the job is `job`).
    context: *const Elements,
    /// The job whose node holds `shields` (see "Who owns a shield" in the module docs).
    owner: *const Job,
    /// `owner`'s counters, read directly on every poll (no virtual call).
    shields: *const Shields,
    hard_base: ShieldLevel,
    watch_base: ShieldLevel,
    /// Set by `yield_now` in the task that owns this frame (null outside tasks).
    yield_flag: Option<*const dyn YieldRequest>,
    /// Where this frame's code actually runs, when that is not its context's dispatcher (null
    /// otherwise). A block entered with `scoped_with_host` runs on its host (say, an event loop
    /// the calling thread drives) while its context names another dispatcher for its children;
    /// nested frames run wherever their enclosing frame runs. A dispatch check (may a switch to
    /// dispatcher `D` be skipped?) needs this to compare with where the code really runs.
    runs_on: *const Dispatcher,
    prev: Cell<*const Frame>,
}

/// How `yield_now` tells the running task to re-dispatch itself fairly.
pub(crate) trait YieldRequest {
    /// Marks the owed re-run as fair. If `waker` is the task's own waker, also records the wake
    /// itself (one atomic operation instead of two) and returns `true`: the caller must then
    /// not wake `waker`. With any other waker (a combinator's), returns `false` and the caller
    /// wakes it as usual.
    fn request_yield(&self, waker: &Waker) -> bool;
}

thread_local! {
    static CURRENT: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

/// The shield levels a frame was entered at (see the module docs): its body may be dropped
/// only when the counters are back at these values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ShieldBases {
    hard: ShieldLevel,
    watch: ShieldLevel,
}

impl Frame {
    /// A frame entered at `bases` (a task's own frame: the default, zero; a scope frame: the
    /// levels captured once, when the scope was first entered, *not* at each poll, or a
    /// `with_cleanup` watching across suspensions would look like part of the scope).
    /// `owner`'s node must hold `shields` (`JobNode::shields`).
    pub(crate) fn new(
        job: &Job,
        context: &Elements,
        owner: &Job,
        shields: &Shields,
        bases: ShieldBases,
        yield_flag: Option<*const dyn YieldRequest>,
        runs_on: Option<&Dispatcher>,
    ) -> Frame {
        debug_assert!(owner
            .node()
            .shields()
            .is_some_and(|own| ptr::eq(own, shields)));
        Frame {
            job,
            core: job.core(),
            context,
            owner,
            shields,
            hard_base: bases.hard,
            watch_base: bases.watch,
            yield_flag,
            runs_on: runs_on.map_or(ptr::null(), |dispatcher| dispatcher as *const Dispatcher),
            prev: Cell::new(ptr::null()),
        }
    }

    /// The outermost frame of a task's run: the task's own job (its state machine `core`,
    /// passed in so the poll path makes no virtual call for it), context, counters and yield
    /// flag, entered at zero shields and running on its context's dispatcher.
    #[inline]
    pub(crate) fn task(
        job: &Job,
        core: &JobCore,
        context: &Elements,
        yield_flag: *const dyn YieldRequest,
    ) -> Frame {
        debug_assert!(ptr::eq(job.core(), core));
        let shields = core.shields();
        debug_assert!(job
            .node()
            .shields()
            .is_some_and(|own| ptr::eq(own, shields)));
        Frame {
            job,
            core,
            context,
            owner: job,
            shields,
            hard_base: 0,
            watch_base: 0,
            yield_flag: Some(yield_flag),
            runs_on: ptr::null(),
            prev: Cell::new(ptr::null()),
        }
    }

    /// A frame nested in `self` (a scope function's), with its own job and context. It runs in
    /// place, so wherever `self` runs, unless `runs_on` says otherwise.
    pub(crate) fn nested(
        &self,
        job: &Job,
        context: &Elements,
        bases: ShieldBases,
        runs_on: Option<&Dispatcher>,
    ) -> Frame {
        let runs_on = runs_on.or_else(|| self.runs_on());
        Frame::new(
            job,
            context,
            self.owner(),
            self.shields(),
            bases,
            self.yield_flag,
            runs_on,
        )
    }

    /// The job owning this frame's shield counters (see the module docs).
    pub(crate) fn owner(&self) -> &Job {
        // The owner's job was lent by the poll that built this frame and outlives the frame.
        // SAFETY: rule 1 of the module docs keeps `owner` valid while `&self` is borrowed.
        unsafe { &*self.owner }
    }

    /// The current shield levels, to enter a nested frame at.
    pub(crate) fn current_levels(&self) -> ShieldBases {
        let shields = self.shields();
        // Relaxed: see `Shields`.
        ShieldBases {
            hard: shields.hard.load(Ordering::Relaxed),
            watch: shields.watch.load(Ordering::Relaxed),
        }
    }

    fn job(&self) -> &Job {
        // The frame's job was lent by the poll that built this frame and outlives the frame.
        // SAFETY: rule 1 of the module docs keeps `job` valid while `&self` is borrowed.
        unsafe { &*self.job }
    }

    /// The state machine of the frame's job.
    fn core(&self) -> &JobCore {
        // `core` is the state machine inside the node of `job`, which the poll that built this
        // frame lent and which outlives the frame.
        // SAFETY: rule 1 of the module docs keeps `core` valid while `&self` is borrowed.
        unsafe { &*self.core }
    }

    pub(crate) fn context(&self) -> &Elements {
        // The context was lent by the poll that built this frame and outlives the frame.
        // SAFETY: rule 1 of the module docs keeps `context` valid while `&self` is borrowed.
        unsafe { &*self.context }
    }

    /// The dispatcher this frame's code runs on (see `runs_on`); `None` for a frame whose
    /// context names no dispatcher (it runs in place wherever it is resumed).
    fn runs_on(&self) -> Option<&Dispatcher> {
        // `runs_on` is null or points at a dispatcher lent by the poll that built this frame,
        // which outlives the frame.
        // SAFETY: rule 1 of the module docs keeps a non-null `runs_on` valid while `&self` is.
        let runs_on = unsafe { self.runs_on.as_ref() };
        runs_on.or_else(|| self.context().dispatcher())
    }

    pub(crate) fn shields(&self) -> &Shields {
        // The counters belong to the owner's node, which outlives the frame (rule 1 of the module
        // docs).
        // SAFETY: `&self` keeps the frame alive.
        unsafe { &*self.shields }
    }

    /// `true` when this frame's body must be dropped at the current suspension: its job is
    /// cancelled and nothing inside it shields or watches (see the module docs).
    #[inline]
    pub(crate) fn must_drop(&self) -> bool {
        let shields = self.shields();
        self.core().is_cancelled()
            && shields.hard.load(Ordering::Relaxed) <= self.hard_base
            && shields.watch.load(Ordering::Relaxed) <= self.watch_base
    }

    /// `true` when suspension points inside this frame must stay pending so the body is dropped
    /// (by the frame itself, or by a `with_cleanup` watching it).
    fn cancellation_requested(&self) -> bool {
        self.core().is_cancelled() && self.shields().hard.load(Ordering::Relaxed) <= self.hard_base
    }
}

/// The two counters of a task that protect its frames from being dropped; see the module docs.
///
/// Relaxed throughout: they are raised and read only by the thread polling their owner. A guard
/// lowered on another thread wakes the owner afterwards (see `ShieldGuard`'s drop), and that
/// wake orders the decrement before the owner's next poll.
///
/// Six bytes: they live in the padding of every [`JobCore`](crate::job::state_machine::JobCore)
/// (a task's, a scope frame's), so no job pays a word for them.
#[derive(Debug, Default)]
pub(crate) struct Shields {
    /// Raised by non-cancellable sections: nothing outside them is dropped.
    hard: AtomicU16,
    /// Raised by `with_cleanup` bodies: the `with_cleanup` drops its body itself, then runs its
    /// cleanup under a hard shield.
    watch: AtomicU16,
    /// Set during a poll by a suspension point that must see a later cancellation (see
    /// [`poll_on_cancel`]); the task reads and clears it before its next poll.
    poll_on_cancel: AtomicBool,
    /// Set during a task's poll by `yield_now` with the task's own waker: the runner woke
    /// itself, and the task makes that wake when it releases `RUNNING` after the poll
    /// (`TaskState::end_run`), instead of a read-modify-write of its state word per yield.
    /// Unused by scope jobs.
    yielded: AtomicBool,
}

impl Shields {
    fn counter(&self, kind: ShieldKind) -> &AtomicU16 {
        match kind {
            ShieldKind::Hard => &self.hard,
            ShieldKind::Watch => &self.watch,
        }
    }
}

impl Shields {
    pub(crate) fn new() -> Shields {
        Shields {
            hard: AtomicU16::new(0),
            watch: AtomicU16::new(0),
            poll_on_cancel: AtomicBool::new(false),
            yielded: AtomicBool::new(false),
        }
    }

    /// Records that the task's poll woke the task itself for a yield (see `yielded`). Only the
    /// thread polling the task calls it.
    #[inline]
    pub(crate) fn set_yielded(&self) {
        // Relaxed: see `take_flag`.
        self.yielded.store(true, Ordering::Relaxed);
    }

    /// Whether the poll that just returned woke its task for a yield, and clears it.
    #[inline]
    pub(crate) fn take_yielded(&self) -> bool {
        take_flag(&self.yielded)
    }

    /// Whether the last poll asked to be polled once more if the coroutine is cancelled, and
    /// clears the request (each poll makes its own).
    #[inline]
    pub(crate) fn take_poll_on_cancel(&self) -> bool {
        take_flag(&self.poll_on_cancel)
    }
}

/// Reads a per-poll flag of [`Shields`] and clears it. Relaxed, and a load plus a store rather
/// than a swap: only the thread polling the task touches these flags, and this runs on every
/// poll (a locked RMW there costs ~20 cycles).
#[inline]
fn take_flag(flag: &AtomicBool) -> bool {
    let set = flag.load(Ordering::Relaxed);
    if set {
        flag.store(false, Ordering::Relaxed);
    }
    set
}

/// Called by a suspension point about to return `Pending` whose wake-up may carry an error to
/// deliver even to a cancelled coroutine (a `Deferred` awaiting a job that may fail: kotlinx's
/// `AwaitContinuation` resumes a cancelled awaiter with the awaited job's failure). If the
/// coroutine is cancelled while suspended there, its task polls it once more instead of
/// dropping the future unpolled; suspension points then stay pending unless they have such an
/// error, and the future is dropped after that poll. The request lasts until the next poll.
pub(crate) fn poll_on_cancel() {
    with_frame(|frame| {
        if let Some(frame) = frame {
            // Relaxed: see `take_flag`.
            frame
                .shields()
                .poll_on_cancel
                .store(true, Ordering::Relaxed);
        }
    });
}

/// Runs `f` with `frame` pushed as the current frame of this thread, and pops the frame again
/// when `f` returns or unwinds (rule 2 of the module docs).
///
/// Always inlined, in debug builds too, so it costs no stack frame of its own.
#[inline(always)]
pub(crate) fn enter<R>(frame: &Frame, f: impl FnOnce() -> R) -> R {
    push(frame);
    let _popped = PopOnDrop(frame);
    f()
}

/// [`enter`] for a caller that catches the panic of `f` anyway (a scope frame polling its
/// block): one closure where `enter` and `catch_unwind` would take two, so one stack frame less
/// in debug builds, once per nesting level of scopes.
#[inline(always)]
pub(crate) fn enter_catching<R>(frame: &Frame, f: impl FnOnce() -> R) -> std::thread::Result<R> {
    push(frame);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    pop(frame);
    result
}

/// Makes `frame` the current frame of this thread (only [`enter`] and [`enter_catching`] do).
#[inline]
fn push(frame: &Frame) {
    CURRENT.with(|current| {
        frame.prev.set(current.get());
        current.set(frame);
    });
}

/// Makes the frame `frame` was pushed on the current one again.
#[inline]
fn pop(frame: &Frame) {
    CURRENT.with(|current| {
        debug_assert!(ptr::eq(current.get(), frame), "frames popped out of order");
        current.set(frame.prev.get());
    });
}

/// Pops its frame when dropped: when [`enter`]'s closure returns or unwinds. Private, so only
/// `enter` holds one.
struct PopOnDrop<'a>(&'a Frame);

impl Drop for PopOnDrop<'_> {
    fn drop(&mut self) {
        pop(self.0);
    }
}

/// Runs `f` with the innermost frame, if any.
pub(crate) fn with_frame<R>(f: impl FnOnce(Option<&Frame>) -> R) -> R {
    let frame = CURRENT.with(Cell::get);
    // A non-null `CURRENT` points at a frame whose `enter` has not returned yet, so it is alive,
    // and it stays alive while `f` runs on this thread.
    // SAFETY: `f` can only push and pop frames nested inside it (rule 2 of the module docs).
    f(unsafe { frame.as_ref() })
}

/// `true` if the current coroutine frame is cancelled and unshielded: suspension points then
/// stay pending so the frame drops its body (Kotlin's prompt cancellation).
pub(crate) fn cancellation_requested() -> bool {
    with_frame(|frame| frame.is_some_and(Frame::cancellation_requested))
}

/// A shield counter's value: how many sections of one kind are open in one coroutine. 16 bits
/// keep [`Shields`] inside a job's padding; raising past the maximum (65 535 nested sections)
/// panics in the coroutine that tried, a failure of that coroutine.
type ShieldLevel = u16;

/// Which counter a [`ShieldGuard`] raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShieldKind {
    /// Non-cancellable section.
    Hard,
    /// `with_cleanup` body.
    Watch,
}

/// Raises a counter of the current task (see the module docs); `None` outside coroutines.
pub(crate) fn raise_shield(kind: ShieldKind) -> Option<ShieldGuard> {
    with_frame(|frame| frame.map(|frame| raise_on(frame, kind)))
}

fn raise_on(frame: &Frame, kind: ShieldKind) -> ShieldGuard {
    let counter = frame.shields().counter(kind);
    // Relaxed: see `Shields`.
    let previous = counter.fetch_add(1, Ordering::Relaxed);
    if previous == ShieldLevel::MAX {
        counter.fetch_sub(1, Ordering::Relaxed);
        panic!(
            "more than {} nested non-cancellable sections or `with_cleanup` bodies in one coroutine",
            ShieldLevel::MAX
        );
    }
    let level = previous + 1;
    ShieldGuard {
        owner: frame.owner().downgrade(),
        kind,
        level,
    }
}

/// Called by a section at each poll, before polling what it shields: makes `guard` shield the
/// coroutine polling it now (see "Who owns a shield" in the module docs). A guard raised for
/// another owner is dropped (lowering that owner's counter) and a new one raised here; outside
/// coroutines the guard is dropped. Costs a thread-local read and a comparison when the owner
/// did not change.
pub(crate) fn keep_shield(guard: &mut Option<ShieldGuard>, kind: ShieldKind) {
    with_frame(|frame| {
        let same = match (guard.as_ref(), frame) {
            (Some(guard), Some(frame)) => frame.owner().is(&guard.owner),
            (None, None) => true,
            _ => false,
        };
        if !same {
            // Lowered on the former owner first: it no longer holds this section.
            drop(guard.take());
            *guard = frame.map(|frame| raise_on(frame, kind));
        }
    });
}

/// Lowers its counter again when dropped. It holds a weak handle to the counters' owner, so
/// it never dangles, whichever coroutine or thread ends up dropping it (module docs).
pub(crate) struct ShieldGuard {
    owner: Weak<dyn JobNode>,
    kind: ShieldKind,
    /// The counter's value right after this guard raised it.
    level: ShieldLevel,
}

impl ShieldGuard {
    /// For a watching guard (`with_cleanup`): `true` when the innermost frame is cancelled,
    /// not hard-shielded, and no other watcher inside this one is active, so the watcher must
    /// drop its body now. Called in the poll that ran [`keep_shield`] on this guard, so the
    /// frame's counters are the guard's.
    pub(crate) fn watched_frame_cancelled(&self) -> bool {
        with_frame(|frame| {
            frame.is_some_and(|frame| {
                debug_assert!(frame.owner().is(&self.owner), "a guard of another owner");
                frame.cancellation_requested()
                    && frame.shields().counter(self.kind).load(Ordering::Relaxed) <= self.level
            })
        })
    }
}

impl Drop for ShieldGuard {
    fn drop(&mut self) {
        // Usual case: dropped in its owner's poll, which keeps the owner alive.
        let lowered = with_frame(|frame| match frame {
            Some(frame) if frame.owner().is(&self.owner) => {
                frame
                    .shields()
                    .counter(self.kind)
                    .fetch_sub(1, Ordering::Relaxed);
                true
            }
            _ => false,
        });
        if !lowered {
            self.lower_elsewhere();
        }
    }
}

impl ShieldGuard {
    /// Lowers the counter from outside the owner's poll: the section moved to another
    /// coroutine, or was dropped elsewhere. Out of line: sections rarely move.
    #[cold]
    fn lower_elsewhere(&self) {
        // Gone: its counters went with it, and nobody is left to protect.
        let Some(owner) = self.owner.upgrade() else {
            return;
        };
        owner
            .shields()
            .expect("a shield owner's node holds shield counters")
            .counter(self.kind)
            .fetch_sub(1, Ordering::Relaxed);
        // The owner may sit cancelled at a suspension that this shield kept from dropping its
        // body, and nothing else would wake it. The wake also orders this decrement before the
        // owner's next poll reads the counter.
        owner.wake_body();
    }
}

/// The job of the current coroutine (or of the innermost scope function's frame).
pub fn current_job() -> Option<Job> {
    with_frame(|frame| frame.map(|frame| frame.job().clone()))
}

/// The context of the current coroutine frame, its job included; `None` outside coroutines.
pub fn current_context() -> Option<Context> {
    with_frame(|frame| {
        frame.map(|frame| {
            frame
                .context()
                .to_context(Some(JobElement::Job(frame.job().clone())))
        })
    })
}

/// The dispatcher hosting the current coroutine's code right now (`None` outside coroutines
/// and in frames that run in place). Usually its context's dispatcher; not in a block entered
/// with [`scoped_with_host`](crate::scoped_with_host), whose code runs on its host while its
/// context names another dispatcher for its children. A switch to dispatcher `D` (as in
/// `with_context(D, ..)`) may skip dispatching only if this is `D`.
pub fn host_dispatcher() -> Option<Dispatcher> {
    with_frame(|frame| frame.and_then(Frame::runs_on).cloned())
}

/// [`host_dispatcher`] lent to `f` without cloning the handle (no reference count touched):
/// for code that only looks at the dispatcher, such as a timer asking for its clock.
pub fn with_host_dispatcher<R>(f: impl FnOnce(Option<&Dispatcher>) -> R) -> R {
    with_frame(|frame| f(frame.and_then(Frame::runs_on)))
}

/// `true` outside coroutines, else whether the current job is active (Kotlin `isActive`).
pub fn is_active() -> bool {
    with_frame(|frame| frame.is_none_or(|frame| frame.job().is_active()))
}

/// `Err` with the cancellation cause if the current coroutine is not active.
pub fn ensure_active() -> Result<(), JobError> {
    with_frame(|frame| frame.map_or(Ok(()), |frame| frame.job().ensure_active()))
}

/// `yield_now`'s poll, looking at the current frame once (it runs once per yield, on the
/// hottest path there is): a cancelled coroutine stays pending (and is dropped there); a
/// first poll asks the task to re-dispatch fairly and wakes it, unless the coroutine resumes
/// in place with no in-place work queued; a second poll completes. Outside coroutines it
/// yields once to whoever polls it.
#[inline]
pub(crate) fn poll_yield(yielded: &mut bool, waker: &Waker) -> Poll<()> {
    with_frame(|frame| {
        let Some(frame) = frame else {
            if std::mem::replace(yielded, true) {
                return Poll::Ready(());
            }
            waker.wake_by_ref();
            return Poll::Pending;
        };
        if frame.cancellation_requested() {
            return Poll::Pending;
        }
        if std::mem::replace(yielded, true) {
            return Poll::Ready(());
        }
        let in_place = frame
            .context()
            .dispatcher()
            .is_none_or(|d| !d.is_dispatch_needed());
        if in_place && !trampoline::has_queued() {
            return Poll::Ready(());
        }
        let woken = frame.yield_flag.is_some_and(|flag| {
            // The yield flag is the task that pushed the outermost frame.
            // SAFETY: rule 1 of the module docs makes the task outlive every frame of its run.
            unsafe { &*flag }.request_yield(waker)
        });
        if !woken {
            waker.wake_by_ref();
        }
        Poll::Pending
    })
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::Shields;

    /// Six bytes, which fit in the padding of a `JobCore` (its size is held by the job's
    /// layout test): the counters, the poll-on-cancel flag and the yield flag.
    #[test]
    fn shields_keep_their_size() {
        assert_eq!(std::mem::size_of::<Shields>(), 6);
    }
}
