//! [`Idle`]: which workers sleep, which search for work, and how a submitter wakes one.
//!
//! # The no-lost-wake-up rule
//!
//! A worker out of work *searches* (steals) for a while, then *parks*. A submitter publishes its
//! task and then wakes a parked worker **only if nobody is searching** (Go's and tokio's
//! throttle: kotlinx wakes or creates a thread on every dispatch). That is
//! safe because of the order both sides follow, all with sequentially consistent operations:
//!
//! * submitter: publish the task, then read the searching count, then (if zero) pop a parked
//!   worker and claim it;
//! * worker: push itself on the parked stack and mark itself parked, then leave the searching
//!   count, then re-check every queue it could take work from, and only then sleep.
//!
//! If the submitter saw a searcher, that searcher's exit from searching comes later in the
//! total order, so its re-check sees the task. If it saw none, every worker that is not
//! running a task is either on the parked stack (and gets claimed) or will re-check the
//! queues after our publication. A claimed worker is counted as searching *by the waker*, so
//! a burst of submissions wakes one worker, not one per task.
//!
//! # Sleepers
//!
//! Each worker slot has a [`Sleeper`] state: `RUNNING`, `PARKED` (announced, maybe asleep),
//! `CLAIMED` (a waker took it), `RETIRED` (left after its keep-alive). `PARKED -> CLAIMED` and
//! `PARKED -> RETIRED` are both CASes, so a worker is never both woken and retired (kotlinx's
//! `workerCtl`). A popped worker whose state is not `PARKED` is skipped; the worker notices it
//! left the stack and re-checks the queues itself before sleeping.

use std::time::Duration;

use crate::index_stack::IndexStack;
use crate::loom::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use crate::parker::Parker;

const RUNNING: u8 = 0;
const PARKED: u8 = 1;
const CLAIMED: u8 = 2;
const RETIRED: u8 = 3;

#[derive(Debug, Default)]
struct Sleeper {
    state: AtomicU8,
    parker: Parker,
}

/// How a wait on the parked stack ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// A waker claimed this worker; it now counts as searching.
    Claimed,
    /// The worker was popped without being claimed, or cancelled its park: look for work again.
    Rescan,
    /// The keep-alive passed while parked and unclaimed.
    TimedOut,
}

/// The searching count, the parked stack and the per-slot sleepers; see the module docs.
#[derive(Debug)]
pub(crate) struct Idle {
    searching: AtomicUsize,
    parked: IndexStack,
    sleepers: Box<[Sleeper]>,
}

impl Idle {
    /// Room for workers in slots `0..capacity`.
    pub(crate) fn new(capacity: usize) -> Idle {
        Idle {
            searching: AtomicUsize::new(0),
            parked: IndexStack::new(capacity),
            sleepers: (0..capacity).map(|_| Sleeper::default()).collect(),
        }
    }

    /// Workers currently searching (a racy hint).
    #[inline]
    pub(crate) fn searching(&self) -> usize {
        self.searching.load(Ordering::SeqCst)
    }

    /// Starts searching unless half of `workers` already are (tokio's limit, which keeps a
    /// burst of idle workers from hammering each other's queues). `true` if started.
    pub(crate) fn try_start_searching(&self, workers: usize) -> bool {
        if 2 * self.searching.load(Ordering::SeqCst) >= workers.max(1) {
            return false;
        }
        self.searching.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Counts a worker about to start as searching (without the limit of
    /// [`try_start_searching`](Idle::try_start_searching), like a claimed worker).
    pub(crate) fn add_searcher(&self) {
        self.searching.fetch_add(1, Ordering::SeqCst);
    }

    /// Stops searching; `true` if this was the last searcher.
    pub(crate) fn stop_searching(&self) -> bool {
        let previous = self.searching.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(previous > 0, "searching count underflow");
        previous == 1
    }

    /// Called after publishing work: wakes a parked worker if nobody is searching.
    #[inline]
    pub(crate) fn notify_work(&self) -> bool {
        // Orders the caller's publication (whatever queue it used) before the load below.
        crate::loom::sync::atomic::fence(Ordering::SeqCst);
        self.searching.load(Ordering::SeqCst) == 0 && self.wake_one()
    }

    /// Wakes one parked worker (counted as searching); `false` if none is parked.
    pub(crate) fn wake_one(&self) -> bool {
        while let Some(index) = self.parked.pop() {
            let sleeper = &self.sleepers[index];
            // Counted before the claim so the sleeper never sees itself claimed but uncounted.
            self.searching.fetch_add(1, Ordering::SeqCst);
            if sleeper
                .state
                .compare_exchange(PARKED, CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                sleeper.parker.unpark();
                tracing::trace!(worker = index + 1, "woke a parked worker");
                return true;
            }
            self.stop_searching();
        }
        false
    }

    /// Claims every parked worker (shutdown): each wakes and sees the pool closing.
    pub(crate) fn wake_all(&self) {
        while self.wake_one() {}
        for sleeper in self.sleepers.iter() {
            sleeper.parker.unpark();
        }
    }

    /// Step one of parking: announce worker `index` as parked and leave searching if it was
    /// (`true` if it was the last searcher). The caller then re-checks the queues and calls
    /// [`cancel_park`](Idle::cancel_park) or [`wait`](Idle::wait).
    pub(crate) fn announce_park(&self, index: usize, was_searching: bool) -> bool {
        self.parked.push(index);
        self.sleepers[index].state.store(PARKED, Ordering::SeqCst);
        let last_searcher = was_searching && self.stop_searching();
        // Pairs with the fence in `notify_work` (a store-buffer pattern): either the submitter
        // sees this worker parked or searching, or the caller's re-check sees the task. The
        // RMW above would be enough in the C++ model, but loom (which treats `SeqCst` RMWs as
        // `AcqRel`) found the interleaving without it, and this is the slow path anyway.
        crate::loom::sync::atomic::fence(Ordering::SeqCst);
        last_searcher
    }

    /// The worker found work after announcing: back to running. [`Wake::Claimed`] if a waker
    /// claimed it meanwhile (it is then counted as searching).
    pub(crate) fn cancel_park(&self, index: usize) -> Wake {
        let state = &self.sleepers[index].state;
        match state.compare_exchange(PARKED, RUNNING, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => Wake::Rescan,
            Err(found) => {
                debug_assert_eq!(found, CLAIMED);
                // The claimer's unpark token may still arrive: the next park then returns
                // early once, which every caller treats as a spurious wake-up.
                state.store(RUNNING, Ordering::SeqCst);
                Wake::Claimed
            }
        }
    }

    /// Sleeps until claimed, popped, or `timeout`. [`Wake::TimedOut`] may come early (a
    /// spurious wake-up of the thread): the caller checks its own deadline.
    ///
    /// With a park driver the sleep is the driver's wait; a driver that wakes tasks first
    /// claims this worker itself ([`claim_self`](Idle::claim_self)), and the wait then returns
    /// [`Wake::Claimed`].
    pub(crate) fn wait(&self, index: usize, timeout: Duration) -> Wake {
        let sleeper = &self.sleepers[index];
        let self_claimed = std::cell::Cell::new(false);
        let about_to_wake = || {
            if !self_claimed.replace(true) {
                self.claim_self();
            }
        };
        loop {
            match sleeper.state.load(Ordering::SeqCst) {
                CLAIMED => {
                    sleeper.state.store(RUNNING, Ordering::SeqCst);
                    return Wake::Claimed;
                }
                PARKED if !self.parked.contains(index) => return self.cancel_park(index),
                PARKED => {}
                other => unreachable!("a waiting worker in state {other}"),
            }
            let notified = sleeper.parker.park_timeout(timeout, &about_to_wake);
            if self_claimed.get() {
                return self.end_self_claim(index);
            }
            if !notified && sleeper.state.load(Ordering::SeqCst) == PARKED {
                return Wake::TimedOut;
            }
        }
    }

    /// A parked worker's park driver is about to wake tasks: counts the worker as searching
    /// first, so those wake-ups (submissions) find a searcher and wake nobody else, and the
    /// worker must then look for work ([`end_self_claim`](Idle::end_self_claim)). The same
    /// order as a waker's claim in [`wake_one`](Idle::wake_one): counted, then published.
    pub(crate) fn claim_self(&self) {
        self.searching.fetch_add(1, Ordering::SeqCst);
    }

    /// After [`claim_self`](Idle::claim_self): leaves the parked state as a searcher. If a
    /// waker claimed the worker meanwhile it was counted twice, so one count is given back.
    pub(crate) fn end_self_claim(&self, index: usize) -> Wake {
        if self.cancel_park(index) == Wake::Claimed {
            self.stop_searching();
        }
        Wake::Claimed
    }

    /// After [`Wake::TimedOut`]: marks the worker retired unless a waker claims it first.
    /// `false` means it was claimed (it now counts as searching and must run).
    pub(crate) fn try_retire(&self, index: usize) -> bool {
        self.sleepers[index]
            .state
            .compare_exchange(PARKED, RETIRED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Undoes [`try_retire`](Idle::try_retire) when the pool may not shrink after all: the
    /// worker is parked again (or, if it was popped meanwhile, rescans when it waits).
    pub(crate) fn unretire(&self, index: usize) {
        self.sleepers[index].state.store(PARKED, Ordering::SeqCst);
    }

    /// A new worker takes slot `index` (possibly one a retired worker left in the stack).
    pub(crate) fn reset(&self, index: usize) {
        self.sleepers[index].state.store(RUNNING, Ordering::SeqCst);
    }
}
