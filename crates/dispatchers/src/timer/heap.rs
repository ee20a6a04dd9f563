//! [`TimerHeap`]: an indexed binary min-heap of deadlines with O(log n) insert, cancel and
//! pop.
//!
//! Entries live in a slab (`entries`) addressed by a [`TimerKey`] (slot index plus a generation
//! so a stale key never cancels someone else's timer); the heap (`nodes`) orders
//! `(deadline, sequence)` pairs and each entry remembers its node's position, which is what
//! makes cancellation O(log n) instead of kotlinx's lazy removal or a linear scan. Timers with
//! the same deadline fire in insertion order (the sequence number), as kotlinx's delayed queue.
//!
//! # Invariants
//!
//! * `entries[nodes[i].index].position == i` for every heap node `i`.
//! * A free slot has `position == FREE` and is on the `free` list; its generation has been
//!   bumped, so keys handed out for its previous use no longer match.
//! * Memory: a node is 32 bytes and an entry 32 bytes; both vectors shrink when a burst of
//!   timers is gone (at most twice the live count is kept), so 100k sleeping coroutines cost
//!   about 6.4 MB here while they sleep and little after.

use std::task::Waker;
use std::time::Instant;

/// What happens when a timer is due.
pub(crate) enum TimerAction {
    /// Wake a suspended `delay`.
    Wake(Waker),
    /// Run a callback (`schedule_timeout`); it runs on the thread that fires the timer.
    Call(Box<dyn FnOnce() + Send>),
}

impl TimerAction {
    /// Performs the action; a panicking callback is reported, never propagated into the
    /// timer thread or the event loop.
    pub(crate) fn fire(self) {
        match self {
            TimerAction::Wake(waker) => waker.wake(),
            TimerAction::Call(callback) => {
                if let Err(payload) =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(callback))
                {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "<non-string panic payload>".to_owned());
                    tracing::error!(%message, "a timeout callback panicked");
                    eprintln!("corral: a timeout callback panicked: {message}");
                }
            }
        }
    }
}

/// Names one timer in a [`TimerHeap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    index: u32,
    generation: u32,
}

const FREE: u32 = u32::MAX;

struct Node {
    deadline: Instant,
    sequence: u64,
    index: u32,
}

impl Node {
    fn before(&self, other: &Node) -> bool {
        (self.deadline, self.sequence) < (other.deadline, other.sequence)
    }
}

struct Entry {
    position: u32,
    generation: u32,
    action: Option<TimerAction>,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct TimerHeap {
    nodes: Vec<Node>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    sequence: u64,
}

impl TimerHeap {
    /// Live timers.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The earliest deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.nodes.first().map(|node| node.deadline)
    }

    /// Adds a timer; `true` in the second field if it is now the earliest (the firing thread
    /// must then be told to wake up sooner).
    pub(crate) fn insert(&mut self, deadline: Instant, action: TimerAction) -> (TimerKey, bool) {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.entries.len()).expect("more than 2^32 timers");
                self.entries.push(Entry {
                    position: FREE,
                    generation: 0,
                    action: None,
                });
                index
            }
        };
        let position = self.nodes.len();
        self.sequence += 1;
        self.nodes.push(Node {
            deadline,
            sequence: self.sequence,
            index,
        });
        let entry = &mut self.entries[index as usize];
        entry.position = position as u32;
        entry.action = Some(action);
        let key = TimerKey {
            index,
            generation: entry.generation,
        };
        self.sift_up(position);
        (key, self.entries[index as usize].position == 0)
    }

    /// Replaces the waker of a pending `delay` timer; `false` if the timer is gone (fired or
    /// cancelled).
    pub(crate) fn update_waker(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.live_entry(key) {
            Some(entry) => {
                if let Some(TimerAction::Wake(current)) = &mut entry.action {
                    if !current.will_wake(waker) {
                        current.clone_from(waker);
                    }
                }
                true
            }
            None => false,
        }
    }

    /// Removes a pending timer, returning its action; `None` if it already fired or was
    /// removed.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<TimerAction> {
        let position = self.live_entry(key)?.position as usize;
        let action = self.remove_at(position);
        self.shrink_if_sparse();
        Some(action)
    }

    /// Moves the actions of every timer due at `now` into `due`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant, due: &mut Vec<TimerAction>) {
        while self.nodes.first().is_some_and(|node| node.deadline <= now) {
            due.push(self.remove_at(0));
        }
        self.shrink_if_sparse();
    }

    /// Removes every timer, in firing order (the reference check of the tests).
    #[cfg(test)]
    fn drain(&mut self) -> Vec<(Instant, TimerAction)> {
        let mut out = Vec::new();
        while let Some(node) = self.nodes.first() {
            let deadline = node.deadline;
            out.push((deadline, self.remove_at(0)));
        }
        out
    }

    fn live_entry(&mut self, key: TimerKey) -> Option<&mut Entry> {
        self.entries
            .get_mut(key.index as usize)
            .filter(|entry| entry.generation == key.generation && entry.position != FREE)
    }

    fn remove_at(&mut self, position: usize) -> TimerAction {
        let last = self.nodes.len() - 1;
        self.nodes.swap(position, last);
        let node = self.nodes.pop().expect("remove_at on an empty heap");
        if position < self.nodes.len() {
            self.entries[self.nodes[position].index as usize].position = position as u32;
            let settled = self.sift_up(position);
            self.sift_down(settled);
        }
        let entry = &mut self.entries[node.index as usize];
        entry.position = FREE;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(node.index);
        entry.action.take().expect("a live timer has an action")
    }

    /// Gives memory back after a burst: keeps at most twice the live count of slots.
    fn shrink_if_sparse(&mut self) {
        const MIN_KEPT: usize = 64;
        if self.nodes.is_empty() && self.entries.len() > MIN_KEPT {
            self.entries = Vec::new();
            self.free = Vec::new();
            self.nodes = Vec::new();
        } else if self.nodes.capacity() > MIN_KEPT && self.nodes.len() * 4 < self.nodes.capacity() {
            self.nodes.shrink_to(self.nodes.len() * 2);
        }
    }

    fn sift_up(&mut self, mut position: usize) -> usize {
        while position > 0 {
            let parent = (position - 1) / 2;
            if !self.nodes[position].before(&self.nodes[parent]) {
                break;
            }
            self.swap_nodes(position, parent);
            position = parent;
        }
        position
    }

    fn sift_down(&mut self, mut position: usize) {
        loop {
            let left = 2 * position + 1;
            let right = left + 1;
            let mut smallest = position;
            if left < self.nodes.len() && self.nodes[left].before(&self.nodes[smallest]) {
                smallest = left;
            }
            if right < self.nodes.len() && self.nodes[right].before(&self.nodes[smallest]) {
                smallest = right;
            }
            if smallest == position {
                return;
            }
            self.swap_nodes(position, smallest);
            position = smallest;
        }
    }

    fn swap_nodes(&mut self, a: usize, b: usize) {
        self.nodes.swap(a, b);
        self.entries[self.nodes[a].index as usize].position = a as u32;
        self.entries[self.nodes[b].index as usize].position = b as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn recorder(log: &Arc<Mutex<Vec<u32>>>, id: u32) -> TimerAction {
        let log = log.clone();
        TimerAction::Call(Box::new(move || log.lock().unwrap().push(id)))
    }

    #[test]
    fn fires_in_deadline_then_insertion_order_and_cancels() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let base = Instant::now();
        let mut heap = TimerHeap::default();
        let at = |ms| base + Duration::from_millis(ms);
        let (_, earliest) = heap.insert(at(30), recorder(&log, 30));
        assert!(earliest);
        let (key_10, earliest) = heap.insert(at(10), recorder(&log, 10));
        assert!(earliest);
        heap.insert(at(20), recorder(&log, 20));
        let (_, earliest) = heap.insert(at(20), recorder(&log, 21));
        assert!(!earliest);
        let (key_5, _) = heap.insert(at(5), recorder(&log, 5));
        assert!(heap.remove(key_5).is_some());
        assert!(heap.remove(key_5).is_none(), "a key works once");
        let mut due = Vec::new();
        heap.pop_due(at(20), &mut due);
        due.into_iter().for_each(TimerAction::fire);
        assert_eq!(*log.lock().unwrap(), vec![10, 20, 21]);
        assert!(
            heap.remove(key_10).is_none(),
            "a fired timer cannot be cancelled"
        );
        assert_eq!(heap.len(), 1);
        assert_eq!(heap.next_deadline(), Some(at(30)));
    }

    #[test]
    fn stale_keys_never_cancel_a_reused_slot() {
        let base = Instant::now();
        let mut heap = TimerHeap::default();
        let (old, _) = heap.insert(base, TimerAction::Call(Box::new(|| {})));
        assert!(heap.remove(old).is_some());
        let (new, _) = heap.insert(base, TimerAction::Call(Box::new(|| {})));
        assert!(heap.remove(old).is_none());
        assert!(heap.remove(new).is_some());
    }

    /// Random inserts and removals against a sorted reference list.
    #[test]
    fn random_operations_match_a_sorted_reference() {
        let base = Instant::now();
        let mut heap = TimerHeap::default();
        let mut reference: Vec<(u64, u64, TimerKey)> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut sequence = 0;
        // Miri interprets every heap operation: a few hundred keep it within seconds there.
        let operations = if cfg!(miri) { 300 } else { 5_000 };
        for _ in 0..operations {
            if next() % 3 != 0 || reference.is_empty() {
                let ms = next() % 1000;
                sequence += 1;
                let (key, _) = heap.insert(
                    base + Duration::from_millis(ms),
                    TimerAction::Call(Box::new(|| {})),
                );
                reference.push((ms, sequence, key));
            } else {
                let victim = (next() as usize) % reference.len();
                let (_, _, key) = reference.swap_remove(victim);
                assert!(heap.remove(key).is_some());
            }
            assert_eq!(heap.len(), reference.len());
        }
        reference.sort_unstable_by_key(|&(ms, sequence, _)| (ms, sequence));
        let drained: Vec<Instant> = heap
            .drain()
            .into_iter()
            .map(|(deadline, _)| deadline)
            .collect();
        let expected: Vec<Instant> = reference
            .iter()
            .map(|&(ms, _, _)| base + Duration::from_millis(ms))
            .collect();
        assert_eq!(drained, expected);
    }
}
