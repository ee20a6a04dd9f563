//! [`TaskState`]: the atomic word that serialises a task's polls and wakes.
//!
//! | bit | name | meaning |
//! | --- | --- | --- |
//! | 0 | `SCHEDULED` | a run is owed: a [`Runnable`](crate::Runnable) for this task is queued, or, while `RUNNING`, the poll must be repeated (re-dispatched) when it returns. A wake may set it on a `COMPLETE` task, where it means nothing. |
//! | 1 | `RUNNING` | a thread polls (or drops) the future; works as the lock of the task's stage. Never set together with `COMPLETE`. |
//! | 2 | `COMPLETE` | the future is gone (returned, failed or dropped); never unset. Wakes are ignored. |
//! | 3 | `YIELD` | the owed run was requested by `yield_now`: re-dispatch fairly (FIFO). |
//! | 4 | `ATOMIC_START` | `CoroutineStart::Atomic`: the first run polls the body even if the job is cancelled. Cleared by the first run. |
//! | 5.. | runs | how many runs `start_run` began (wrapping), for debug dumps: counted by the CAS that claims `RUNNING` anyway, so counting costs no extra atomic operation. Cleared by `complete`. |
//!
//! # Why a wake is never lost and a task never polled twice at once
//!
//! A wake sets `SCHEDULED` with one `fetch_or`. If the task was idle (no bit set), the waker now
//! owns the duty to dispatch it and does so. (`yield_now` with the task's own waker is the
//! runner waking itself: it sets no bit during the poll, and `end_run` sets `SCHEDULED` in the
//! CAS that releases `RUNNING`, one read-modify-write per yield instead of two.) If it was `RUNNING`, the runner clears `RUNNING` with a
//! CAS that fails if `SCHEDULED` appeared meanwhile, and then re-dispatches: the wake is
//! honoured after the poll, never concurrently with it. If `SCHEDULED` was already set, a run is
//! already owed and that run polls after this wake (it starts with a CAS that acquires the
//! waker's release). So every wake is followed by at least one poll, and only the holder of
//! `RUNNING` touches the future.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};

pub(crate) const SCHEDULED: usize = 0b0_0001;
pub(crate) const RUNNING: usize = 0b0_0010;
pub(crate) const COMPLETE: usize = 0b0_0100;
pub(crate) const YIELD: usize = 0b0_1000;
pub(crate) const ATOMIC_START: usize = 0b1_0000;
/// One run in the run counter (the bits above the flags).
pub(crate) const RUN_UNIT: usize = 0b10_0000;
/// The shift of the run counter.
const RUN_SHIFT: u32 = RUN_UNIT.trailing_zeros();

/// See the module docs.
pub(crate) struct TaskState {
    word: AtomicUsize,
}

/// What the caller of [`TaskState::wake`] must do.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum WakeAction {
    /// Dispatch the task (this caller set `SCHEDULED` on an idle task).
    Dispatch,
    /// Nothing: it runs, is already owed a run, or is complete.
    None,
}

/// What the runner got from [`TaskState::start_run`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum StartRun {
    /// `RUNNING` is held. `atomic_start` tells whether this is an Atomic first run.
    Run { atomic_start: bool },
    /// The task completed already (a late runnable): drop it.
    Complete,
}

/// What the runner must do after a poll returned `Pending`, from [`TaskState::end_run`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum EndRun {
    /// Idle until woken.
    Idle,
    /// Woken during the poll: dispatch again (`fair` after `yield_now`).
    Dispatch { fair: bool },
}

impl TaskState {
    pub(crate) fn new(initial: usize) -> TaskState {
        TaskState {
            word: AtomicUsize::new(initial),
        }
    }

    /// The bits right now, for a debug dump (a racy snapshot; orders nothing).
    pub(crate) fn peek(&self) -> usize {
        self.word.load(Ordering::Relaxed)
    }

    /// Runs begun by [`start_run`](Self::start_run) (a racy snapshot, for debug dumps).
    pub(crate) fn runs(&self) -> u64 {
        (self.peek() >> RUN_SHIFT) as u64
    }

    /// Records a wake; see [`WakeAction`].
    ///
    /// Always one read-modify-write, even when a run is already owed: its Release half is what
    /// publishes the waker's writes (the data it woke us for) to the runner's Acquire in
    /// `start_run` / `end_run`; a plain load would let a runner that already claimed the owed
    /// run miss them (found by `loom_wake_during_poll_is_not_lost`).
    pub(crate) fn wake(&self) -> WakeAction {
        let previous = self.word.fetch_or(SCHEDULED, Ordering::AcqRel);
        if previous & (COMPLETE | SCHEDULED | RUNNING) == 0 {
            WakeAction::Dispatch
        } else {
            WakeAction::None
        }
    }

    /// Marks the owed run as fair (`yield_now`). Only called by the thread holding `RUNNING`.
    pub(crate) fn request_yield(&self) {
        self.word.fetch_or(YIELD, Ordering::Relaxed);
    }

    /// Claims `RUNNING` for an owed run (clears `SCHEDULED`, `YIELD`, `ATOMIC_START`).
    #[inline]
    pub(crate) fn start_run(&self) -> StartRun {
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            if current & COMPLETE != 0 {
                return StartRun::Complete;
            }
            // A real check, not a debug one: the `Running` guard of `StageCell` relies on it
            // for exclusive access to the stage. A test of a value already loaded.
            assert!(
                current & RUNNING == 0,
                "task polled concurrently (state {current:#b})"
            );
            debug_assert!(current & SCHEDULED != 0, "task run without being scheduled");
            let next =
                ((current | RUNNING) & !(SCHEDULED | YIELD | ATOMIC_START)).wrapping_add(RUN_UNIT);
            // AcqRel: acquires the previous runner's release in `end_run` (the stage it left)
            // and the wakers' releases.
            match self.word.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return StartRun::Run {
                        atomic_start: current & ATOMIC_START != 0,
                    }
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Releases `RUNNING` after a `Pending` poll; see [`EndRun`]. `yielded`: the poll called
    /// `yield_now` with the task's own waker, a wake by the runner itself, made here: the same
    /// CAS sets `SCHEDULED` (so a later wake does not dispatch too) and the runner re-dispatches
    /// fairly.
    #[inline]
    pub(crate) fn end_run(&self, yielded: bool) -> EndRun {
        let mut current = self.word.load(Ordering::Acquire);
        let owed = if yielded { SCHEDULED } else { 0 };
        loop {
            debug_assert!(current & RUNNING != 0);
            let next = (current & !RUNNING) | owed;
            // Release: publishes the stage to the next runner (pairs with `start_run`).
            match self.word.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if yielded => return EndRun::Dispatch { fair: true },
                Ok(_) if current & SCHEDULED != 0 => {
                    return EndRun::Dispatch {
                        fair: current & YIELD != 0,
                    }
                }
                Ok(_) => return EndRun::Idle,
                Err(actual) => current = actual,
            }
        }
    }

    /// Marks the future gone (called by the holder of `RUNNING`); wakes are ignored from now on.
    pub(crate) fn complete(&self) {
        // An RMW, not a store: it must be ordered after any concurrent wake's `fetch_or` in the
        // word's modification order. Release pairs with Acquire loads of late runnables.
        self.word.swap(COMPLETE, Ordering::AcqRel);
    }
}
