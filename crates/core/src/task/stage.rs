//! [`StageCell`]: the task's stage (closure, pinned future, or nothing) and its output slot,
//! behind the `RUNNING` bit of the task's state word, which the cell owns.
//!
//! The cell works as a lock whose lock word is the [`TaskState`]: [`StageCell::start_run`]
//! claims `RUNNING` and returns a [`Running`] guard, and only the guard reaches the stage. It
//! gives the run loop what it needs (take the closure, store the future, poll it pinned, drop
//! the stage, store the output) without any `unsafe` at the call sites, and it is given up by
//! the transition that releases `RUNNING` ([`Running::end_run`], [`Running::complete`]).
//!
//! # Invariants
//!
//! 1. At most one [`Running`] guard exists per cell: `start_run` returns one only after its
//!    compare-and-swap set `RUNNING` from clear, nothing else sets it except the creation of a
//!    task that starts `RUNNING` (whose creator makes the one guard with
//!    [`StageCell::assume_running`]), and only consuming the guard clears it. The state word's
//!    Release/Acquire hands the stage from one guard to the next.
//! 2. A future stored in the stage is pinned there: nothing in this module moves it, and the
//!    stage leaves `Running` only through [`drop_stage`], which drops it in place.
//! 3. The output is written once, by the guard that completes the task, before the job is told;
//!    after that only the unique owner of the output reads it ([`StageCell::take_output`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::body::Body;
use super::catch;
use super::state::{EndRun, StartRun, TaskState, WakeAction};
use crate::error::JobError;
use crate::job::state_machine::BodyOutcome;
use crate::loom::cell::UnsafeCell;

/// What the task holds of its body.
pub(super) enum Stage<B: Body> {
    /// Not started: the closure, called on the first run.
    Init(B),
    /// Started: the future, pinned here (invariant 2).
    Running(B::Fut),
    /// Ended: returned, failed or dropped.
    Done,
}

/// See the module docs.
pub(super) struct StageCell<B: Body> {
    state: TaskState,
    stage: UnsafeCell<Stage<B>>,
    output: UnsafeCell<Option<B::Output>>,
}

// SAFETY: `stage` and `output` are reached only through the one `Running` guard of the cell,
// which the state word hands from thread to thread with Release/Acquire (invariant 1), or, for
// `output` after completion, by its unique owner (invariant 3); the state word is atomic. The
// closure, the future and the output are `Send` (`Body`), which is what using them on the
// thread that holds the guard requires.
unsafe impl<B: Body> Sync for StageCell<B> {}

impl<B: Body> StageCell<B> {
    /// A cell holding the closure `body`, with the state word `state`.
    pub(super) fn new(state: usize, body: B) -> StageCell<B> {
        StageCell {
            state: TaskState::new(state),
            stage: UnsafeCell::new(Stage::Init(body)),
            output: UnsafeCell::new(None),
        }
    }

    /// Claims `RUNNING` for an owed run: the guard, and whether this is an Atomic first run;
    /// `None` if the task completed already (a late runnable).
    pub(super) fn start_run(&self) -> Option<(Running<'_, B>, bool)> {
        match self.state.start_run() {
            StartRun::Run { atomic_start } => Some((Running { cell: self }, atomic_start)),
            StartRun::Complete => None,
        }
    }

    /// The guard of a task created `RUNNING` (`CoroutineStart::Undispatched`), for its first
    /// run.
    ///
    /// # Safety
    ///
    /// The cell was created with `RUNNING` set, and this is the only call for it, before any
    /// other guard: no `start_run` can have claimed the stage, because the bit was never clear.
    pub(super) unsafe fn assume_running(&self) -> Running<'_, B> {
        Running { cell: self }
    }

    /// Records a wake; see [`TaskState::wake`].
    /// The state word's bits right now (for debug dumps only).
    pub(super) fn peek_state(&self) -> usize {
        self.state.peek()
    }

    /// Runs begun so far (for debug dumps only).
    pub(super) fn runs(&self) -> u64 {
        self.state.runs()
    }

    pub(super) fn wake(&self) -> WakeAction {
        self.state.wake()
    }

    /// See [`TaskState::request_yield`].
    pub(super) fn request_yield(&self) {
        self.state.request_yield();
    }

    /// The output of a completed task, for its `Deferred` (at most once).
    ///
    /// # Safety
    ///
    /// Call only after the job reached a final state (observed with Acquire), and only from the
    /// unique owner of the output (the `Deferred`).
    pub(super) unsafe fn take_output(&self) -> Option<B::Output> {
        // By the caller's contract the job is final, so the guard that wrote the output is gone and
        // no guard will come (invariant 3).
        // SAFETY: the caller is the output's only reader, so nothing else touches the slot.
        self.output.with_mut(|slot| unsafe { (*slot).take() })
    }

    /// For the task's destructor: drops a stage that is still live (a body that never ended),
    /// in place, and returns the failure of its destructor, if it panicked.
    pub(super) fn drop_live_stage(&mut self) -> Option<JobError> {
        // SAFETY: `&mut self` proves that no guard and no other reference to the cell exist.
        let stage = self.stage.with_mut(|stage| unsafe { &mut *stage });
        match stage {
            Stage::Done => None,
            _ => match drop_stage(stage) {
                BodyOutcome::Failed(error) => Some(error),
                _ => None,
            },
        }
    }

    /// For the task's destructor: the output nobody took.
    pub(super) fn take_unread_output(&mut self) -> Option<B::Output> {
        // SAFETY: `&mut self` proves that no guard and no other reference to the cell exist.
        self.output.with_mut(|slot| unsafe { (*slot).take() })
    }
}

/// Proof that this thread holds `RUNNING` of one cell, and with it the cell's stage (invariant
/// 1). Given up by [`end_run`](Running::end_run) or [`complete`](Running::complete).
#[must_use = "RUNNING is released only by `end_run` or `complete`"]
pub(super) struct Running<'a, B: Body> {
    cell: &'a StageCell<B>,
}

impl<B: Body> Running<'_, B> {
    /// Runs `f` on the stage.
    fn with_stage<R>(&mut self, f: impl FnOnce(&mut Stage<B>) -> R) -> R {
        // The guard proves that this thread holds `RUNNING`, so no other thread reaches the stage
        // (invariant 1).
        // SAFETY: `&mut self` makes this the only reference to it here.
        self.cell.stage.with_mut(|stage| f(unsafe { &mut *stage }))
    }

    /// Whether the body was not started yet (the stage holds the closure).
    pub(super) fn is_init(&mut self) -> bool {
        self.with_stage(|stage| matches!(stage, Stage::Init(_)))
    }

    /// Moves the closure out to call it (it is not pinned); the stage is `Done` until
    /// [`set_future`](Self::set_future).
    pub(super) fn take_closure(&mut self) -> B {
        self.with_stage(|stage| match std::mem::replace(stage, Stage::Done) {
            Stage::Init(body) => body,
            _ => unreachable!("the closure is taken once, on the first run"),
        })
    }

    /// Stores the future the closure returned, where it stays pinned (invariant 2).
    pub(super) fn set_future(&mut self, future: B::Fut) {
        self.with_stage(|stage| *stage = Stage::Running(future));
    }

    /// Polls the future where it lies. Panics if the stage holds no future.
    pub(super) fn poll(&mut self, cx: &mut TaskContext<'_>) -> Poll<<B::Fut as Future>::Output> {
        self.with_stage(|stage| {
            let Stage::Running(future) = stage else {
                unreachable!("a completed task is never run")
            };
            // SAFETY: the future is never moved out of the stage (invariant 2).
            unsafe { Pin::new_unchecked(future) }.poll(cx)
        })
    }

    /// Drops whatever the stage holds, in place; see [`drop_stage`].
    pub(super) fn drop_stage(&mut self) -> BodyOutcome {
        self.with_stage(drop_stage)
    }

    /// Releases `RUNNING` after a `Pending` poll; see [`EndRun`] and
    /// [`TaskState::end_run`] for `yielded`.
    pub(super) fn end_run(self, yielded: bool) -> EndRun {
        self.cell.state.end_run(yielded)
    }

    /// Stores the output, if any, and marks the task complete (the stage must be `Done`), so
    /// no wake reaches the finished body; the job is told afterwards by the caller.
    pub(super) fn complete(mut self, output: Option<B::Output>) {
        debug_assert!(self.with_stage(|stage| matches!(stage, Stage::Done)));
        if let Some(value) = output {
            self.cell.output.with_mut(|slot| {
                // The guard proves that this thread holds `RUNNING`, and the output is read
                // only after the job is final, which the caller makes it only after this write
                // (invariant 3); the job state's Release/Acquire orders that read after it.
                // SAFETY: no other thread reads or writes the slot during this write.
                unsafe { *slot = Some(value) }
            });
        }
        self.cell.state.complete();
    }
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
    // `slot` comes from a `&mut`, so it is valid and exclusively ours, and the value in it is
    // dropped only here.
    // SAFETY: the write below replaces the value without reading or dropping it.
    let dropped = catch(|| unsafe { std::ptr::drop_in_place(slot) });
    // `slot` is valid and exclusively ours, and the old value has ended (dropped, or ended by its
    // panicking destructor).
    // SAFETY: writing over the slot neither leaks the old value nor drops it twice.
    unsafe { std::ptr::write(slot, Stage::Done) };
    match dropped {
        Ok(()) => BodyOutcome::Dropped,
        Err(error) => BodyOutcome::Failed(error),
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context as TaskContext, Poll};

    use super::{drop_stage, Stage};
    use crate::context::Context;
    use crate::job::state_machine::BodyOutcome;
    use crate::task::LaunchBody;

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
}
