//! [`RunNext`]: the one-task "run next" slot of a worker (kotlinx's `lastScheduledTask`,
//! tokio's LIFO slot).
//!
//! A coroutine dispatched from a worker usually continues the conversation of the task that
//! woke it (a reply in a ping-pong), so it runs next on the same worker while its data is hot.
//! Two rules keep the slot from hurting:
//!
//! * **Not stranded** (tokio #4941): if the owner is stuck in a long task, thieves may take the
//!   slot's task once it has waited [`RUN_NEXT_STEAL_DELAY`]. A thief measures that wait
//!   itself (the owner records no timestamps on its hot path): the owner counts the tasks it
//!   starts, the slot is stamped with that count when filled, and a stamp still equal to the
//!   owner's count means the owner has not moved on since.
//! * **Not monopolising**: the worker takes at most a few slot tasks in a row before it looks
//!   at its ring (see the worker loop).
//!
//! # Protocol
//!
//! The slot is a tiny lock: `EMPTY -> BUSY -> FULL -> BUSY -> EMPTY`. Whoever moves it to
//! `BUSY` alone touches the value, so the owner and a thief can never both take the task. The
//! owner never waits: if a thief holds the slot, the owner's new task goes to the ring instead.
//!
//! Only the owner fills the slot ([`RunNext::put`]), and only `put` leaves `EMPTY`; takers
//! (owner or thief) move `FULL -> BUSY` by CAS. So an `EMPTY` the owner reads stays `EMPTY`
//! until the owner itself changes it: the owner fills an empty slot with plain stores (its
//! acquire load of `EMPTY` orders the write after the last taker's read, the release store of
//! `FULL` publishes it), without a read-modify-write, on every spawn and wake from a worker.
//! Displacing a task (`FULL`) still takes the CAS, since a thief may be taking it.
//! The loom model `loom_tests::run_next` checks both.

use std::mem::MaybeUninit;
use std::time::Duration;

use corral_core::Runnable;

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// How long a task waits in a busy worker's slot before other workers may take it (kotlinx's
/// `WORK_STEALING_TIME_RESOLUTION_NS`, 100 µs).
pub(crate) const RUN_NEXT_STEAL_DELAY: Duration = Duration::from_micros(100);

const EMPTY: u8 = 0;
const BUSY: u8 = 1;
const FULL: u8 = 2;

/// The slot; see the module docs.
#[derive(Debug)]
pub(crate) struct RunNext {
    state: AtomicU8,
    /// The owner's task count when the slot was filled.
    stamp: AtomicU32,
    value: UnsafeCell<MaybeUninit<Runnable>>,
}

// SAFETY: `value` is only accessed by the thread that moved `state` to BUSY (see the module
// docs), with acquire/release ordering on `state` handing it over; `Runnable` is `Send`.
unsafe impl Send for RunNext {}
// SAFETY: shared access to `value` is only by the thread that moved `state` to BUSY, which
// acquire/release on `state` hands from thread to thread (module docs); `Runnable` is `Send`.
unsafe impl Sync for RunNext {}

impl Default for RunNext {
    fn default() -> RunNext {
        RunNext {
            state: AtomicU8::new(EMPTY),
            stamp: AtomicU32::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }
}

impl RunNext {
    /// Puts `task` in the slot, stamped with the owner's task count. Returns the task that must
    /// go to the ring instead: the previous occupant, or `task` itself if a thief holds the slot.
    #[inline]
    ///
    /// Only the slot's owner calls this (see the module docs).
    pub(crate) fn put(&self, task: Runnable, stamp: u32) -> Option<Runnable> {
        // Acquire: the last taker's release of `EMPTY` happens before our write of the value.
        if self.state.load(Ordering::Acquire) == EMPTY {
            self.value.with_mut(|value| {
                // Only the owner (this thread) moves the slot out of EMPTY, so it is ours alone
                // until the store of FULL below, and holds no value the write could leak.
                // SAFETY: nobody else reads or writes the value while the slot is EMPTY.
                unsafe { (*value).write(task) };
            });
            self.stamp.store(stamp, Ordering::Relaxed);
            self.state.store(FULL, Ordering::Release);
            return None;
        }
        if self
            .state
            .compare_exchange(FULL, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            let previous = self.value.with_mut(|value| {
                // We moved the slot FULL -> BUSY; the acquire CAS ordered the value's write
                // before this read.
                // SAFETY: the slot is ours alone and holds an initialised value.
                unsafe { std::mem::replace(&mut *value, MaybeUninit::new(task)).assume_init() }
            });
            self.stamp.store(stamp, Ordering::Relaxed);
            self.state.store(FULL, Ordering::Release);
            return Some(previous);
        }
        Some(task)
    }

    /// Takes the task in the slot, if any and if nobody else is taking it.
    pub(crate) fn take(&self) -> Option<Runnable> {
        // A plain load first: the slot is usually empty when a worker looks (yields and ring
        // work never use it), and a failed CAS costs as much as a successful one.
        if self.state.load(Ordering::Relaxed) != FULL {
            return None;
        }
        if self
            .state
            .compare_exchange(FULL, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        let task = self.value.with_mut(|value| {
            // We moved the slot FULL -> BUSY, so it is ours alone and holds a value (ordered by the
            // acquire CAS), moved out once.
            // SAFETY: the slot is EMPTY afterwards.
            unsafe { (*value).assume_init_read() }
        });
        self.state.store(EMPTY, Ordering::Release);
        Some(task)
    }

    /// The stamp of the task in the slot, if the slot is full (a racy hint for thieves).
    pub(crate) fn full_stamp(&self) -> Option<u32> {
        (self.state.load(Ordering::Acquire) == FULL).then(|| self.stamp.load(Ordering::Relaxed))
    }

    /// `true` if a task is (probably) in the slot.
    pub(crate) fn is_full(&self) -> bool {
        self.state.load(Ordering::Acquire) == FULL
    }
}

impl Drop for RunNext {
    fn drop(&mut self) {
        drop(self.take());
    }
}
