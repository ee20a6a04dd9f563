//! [`ScheduledIo`]: the readiness of one registered socket and the wakers waiting on it (see
//! the "Readiness and wakers" section of the [`reactor`](crate::reactor) docs).
//!
//! Invariant: the reactor sets the ready bits *before* it takes the waiter lock to wake, and a
//! waiter re-reads the bits *under* that lock before it registers, so a waiter either sees the
//! new bits or is in the list the reactor drains. A `WouldBlock` clears a bit only if the word
//! (bits and event tick) is unchanged since the attempt read it. The loom models in
//! `loom_tests` check both.

use std::task::{Context, Poll, Waker};

use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::loom::sync::{lock, Mutex};

pub(crate) const READABLE: u64 = 1;
pub(crate) const WRITABLE: u64 = 1 << 1;
pub(crate) const READ_CLOSED: u64 = 1 << 2;
pub(crate) const WRITE_CLOSED: u64 = 1 << 3;
pub(crate) const ERROR: u64 = 1 << 4;
const BITS_MASK: u64 = 0xff;
/// Wakers taken out of the lists per lock (a stack array, so waking allocates nothing).
const WAKE_BATCH: usize = 32;
const TICK_ONE: u64 = 1 << 8;

/// The direction an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Readable, accept, receive.
    Read,
    /// Writable, connect, send.
    Write,
}

impl Direction {
    /// The bits that let an operation in this direction try its system call.
    fn mask(self) -> u64 {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }

    /// The bit a `WouldBlock` clears (closed and error states stay until the socket goes).
    fn clearable(self) -> u64 {
        match self {
            Direction::Read => READABLE,
            Direction::Write => WRITABLE,
        }
    }

    fn index(self) -> usize {
        match self {
            Direction::Read => 0,
            Direction::Write => 1,
        }
    }

    /// The waiter id reserved for the `poll_*` methods of this direction (`poll_read`,
    /// `poll_write`), which have no future of their own to hold an id: their `&mut self`
    /// receiver makes them the only user of the slot.
    pub(crate) fn poll_slot(self) -> u64 {
        self.index() as u64
    }
}

/// The first waiter id handed to a future (the ones below are [`Direction::poll_slot`]s).
const FIRST_FUTURE_ID: u64 = 2;

/// What an operation saw when it found its socket ready; given back to
/// [`ScheduledIo::clear_readiness`] on `WouldBlock`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadyEvent {
    word: u64,
    direction: Direction,
}

#[derive(Debug)]
struct Waiters {
    next_id: u64,
    /// Read waiters, then write waiters.
    lists: [Vec<(u64, Waker)>; 2],
}

/// The readiness of one registered socket and the wakers waiting on it.
#[derive(Debug)]
pub(crate) struct ScheduledIo {
    /// Ready bits (low byte) and the event tick (above); see the module docs.
    readiness: AtomicU64,
    waiters: Mutex<Waiters>,
}

impl ScheduledIo {
    pub(crate) fn new() -> ScheduledIo {
        ScheduledIo {
            readiness: AtomicU64::new(0),
            waiters: Mutex::new(Waiters {
                next_id: FIRST_FUTURE_ID,
                lists: [Vec::new(), Vec::new()],
            }),
        }
    }

    /// Ready for `direction`, or registers `cx`'s waker under the waiter id in `id` (allocating
    /// one on the first call) and returns `Pending`.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        id: &mut Option<u64>,
    ) -> Poll<ReadyEvent> {
        let word = self.readiness.load(Ordering::Acquire);
        if word & direction.mask() != 0 {
            return Poll::Ready(ReadyEvent { word, direction });
        }
        let mut waiters = lock(&self.waiters);
        // Re-read under the lock: the reactor sets the bits before it takes the lock to wake.
        let word = self.readiness.load(Ordering::Acquire);
        if word & direction.mask() != 0 {
            return Poll::Ready(ReadyEvent { word, direction });
        }
        let id = *id.get_or_insert_with(|| {
            let next = waiters.next_id;
            waiters.next_id += 1;
            next
        });
        let list = &mut waiters.lists[direction.index()];
        match list.iter_mut().find(|(entry, _)| *entry == id) {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => list.push((id, cx.waker().clone())),
        }
        Poll::Pending
    }

    /// An operation got `WouldBlock` after `event`: clears the ready bit unless an event came
    /// in since (then the next attempt tries the system call again).
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        let cleared = event.word & !event.direction.clearable();
        // Failure means the word changed: a newer event, or the other direction's clear. Either
        // way the caller just tries once more.
        let _ = self.readiness.compare_exchange(
            event.word,
            cleared,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Whether an operation in `direction` would try its system call now.
    #[cfg(test)]
    pub(crate) fn is_ready(&self, direction: Direction) -> bool {
        self.readiness.load(Ordering::Acquire) & direction.mask() != 0
    }

    /// Removes the waker of waiter `id` (a dropped future), if it is still registered.
    pub(crate) fn remove_waiter(&self, direction: Direction, id: u64) {
        let mut waiters = lock(&self.waiters);
        let list = &mut waiters.lists[direction.index()];
        if let Some(position) = list.iter().position(|(entry, _)| *entry == id) {
            list.swap_remove(position);
        }
    }

    /// Records an event's bits and wakes the waiters of the directions it makes ready.
    pub(crate) fn set_readiness(&self, bits: u64) {
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                Some((word & !BITS_MASK).wrapping_add(TICK_ONE) | (word & BITS_MASK) | bits)
            });
        // Woken outside the lock (a waker may poll its future in place, an unconfined
        // coroutine, which takes the lock again), in batches on the stack so the lists keep
        // their capacity. Only as many as were waiting when the event came: a waiter that
        // re-registers meanwhile waits for the next event.
        let mut left = usize::MAX;
        loop {
            let mut batch: [Option<Waker>; WAKE_BATCH] = [const { None }; WAKE_BATCH];
            let mut taken = 0;
            {
                let mut waiters = lock(&self.waiters);
                if left == usize::MAX {
                    left = [Direction::Read, Direction::Write]
                        .into_iter()
                        .filter(|direction| bits & direction.mask() != 0)
                        .map(|direction| waiters.lists[direction.index()].len())
                        .sum();
                }
                for direction in [Direction::Read, Direction::Write] {
                    if bits & direction.mask() == 0 {
                        continue;
                    }
                    let list = &mut waiters.lists[direction.index()];
                    while taken < WAKE_BATCH.min(left) {
                        let Some((_, waker)) = list.pop() else { break };
                        batch[taken] = Some(waker);
                        taken += 1;
                    }
                }
            }
            left -= taken;
            for waker in batch.iter_mut().take(taken) {
                waker.take().expect("taken above").wake();
            }
            if taken == 0 || left == 0 {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wouldblock_after_a_newer_event_keeps_the_bit() {
        let io = ScheduledIo::new();
        io.set_readiness(READABLE);
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let Poll::Ready(seen) = io.poll_ready(&mut cx, Direction::Read, &mut None) else {
            panic!("readable after the event");
        };
        io.set_readiness(READABLE); // arrives between the attempt and its WouldBlock
        io.clear_readiness(seen);
        assert!(io
            .poll_ready(&mut cx, Direction::Read, &mut None)
            .is_ready());
    }

    #[test]
    fn a_removed_waiter_is_not_woken() {
        let io = ScheduledIo::new();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut id = None;
        assert!(io
            .poll_ready(&mut cx, Direction::Read, &mut id)
            .is_pending());
        assert_eq!(lock(&io.waiters).lists[0].len(), 1);
        io.remove_waiter(Direction::Read, id.unwrap());
        assert!(lock(&io.waiters).lists[0].is_empty());
    }
}
