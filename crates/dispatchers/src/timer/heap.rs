//! [`TimerHeap`]: an indexed binary min-heap of deadlines with O(log n) insert, cancel and
//! pop.
//!
//! Entries live in a slab (`entries`) addressed by a [`TimerKey`]; the heap (`nodes`) orders
//! `(deadline, sequence)` pairs and each entry remembers its node's position, which is what
//! makes cancellation O(log n) instead of kotlinx's lazy removal or a linear scan. Timers with
//! the same deadline fire in insertion order (the sequence number), as kotlinx's delayed queue.
//!
//! # Keys
//!
//! A key is the slot index plus the timer's sequence number. Sequence numbers come from one
//! 64-bit counter per heap that only grows (2^64 inserts never happen) and that nothing resets,
//! not even [`TimerHeap::shrink_if_sparse`] when it replaces the vectors; so a key names one
//! timer for the whole life of the heap. The key of a fired or cancelled timer (a `Delay` woken
//! but not polled yet, a `TimeoutHandle` whose callback ran) matches nothing any more, however
//! often its slot was reused or the heap shrank: every operation that takes a key is a no-op
//! for it. Slots carry no generation of their own: a key is live exactly when its slot holds a
//! node and that node carries the key's sequence number.
//!
//! # Invariants
//!
//! * `entries[nodes[i].index].position == i` for every heap node `i`.
//! * A free slot has `position == FREE` and is on the `free` list.
//! * Sequence numbers of nodes are distinct and never reused.
//! * Memory: a node is 24 bytes and an entry 32 bytes (the sequence number is split between
//!   them, see [`Node`]); both vectors shrink when a burst of timers is gone (at most twice the
//!   live count is kept), so 100k sleeping coroutines cost about 5.6 MB here, plus the vectors'
//!   growth slack, while they sleep and little after.

use std::task::Waker;
use std::time::Instant;

use corral_core::error::report_uncaught_panic;

/// What happens when a timer is due.
pub(crate) enum TimerAction {
    /// Wake a suspended `delay`.
    Wake(Waker),
    /// Run a callback (`schedule_timeout`); it runs on the thread that fires the timer.
    Call(Box<dyn FnOnce() + Send>),
}

impl TimerAction {
    /// Performs the action. A panic of user code (a callback, or a `Waker` implemented by the
    /// user that polled a `delay`) is reported as an uncaught panic of this thread, never
    /// propagated into the timer thread or the event loop, and never stops the timers due
    /// with it from firing.
    pub(crate) fn fire(self) {
        let fired = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match self {
            TimerAction::Wake(waker) => waker.wake(),
            TimerAction::Call(callback) => callback(),
        }));
        if let Err(payload) = fired {
            report_uncaught_panic(payload);
        }
    }
}

/// Names one timer in a [`TimerHeap`] for the heap's whole life (see the module docs).
///
/// Packed to 4-byte alignment: 12 bytes instead of 16, so a `Delay` (which holds one next to an
/// `Arc` and its deadline) does not grow by a word. Fields are only ever copied, never borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(4))]
pub(crate) struct TimerKey {
    index: u32,
    sequence: u64,
}

const FREE: u32 = u32::MAX;

/// A heap node: 24 bytes. The timer's 64-bit sequence number is split between the node (its
/// low half, in what would be the node's padding) and the entry (its high half, in the entry's
/// padding): a whole `u64` in the node would make it 32 bytes, 8 more per sleeping coroutine
/// and another 8 per slot of vector slack.
struct Node {
    deadline: Instant,
    index: u32,
    sequence_low: u32,
}

struct Entry {
    position: u32,
    /// The high half of the live timer's sequence number (see [`Node`]).
    sequence_high: u32,
    action: Option<TimerAction>,
}

/// The halves of a sequence number as [`Node`] and [`Entry`] keep them.
fn split(sequence: u64) -> (u32, u32) {
    ((sequence >> 32) as u32, sequence as u32)
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
                    sequence_high: 0,
                    action: None,
                });
                index
            }
        };
        let position = self.nodes.len();
        // Never wraps: 2^64 inserts would take centuries at any rate a heap can sustain.
        self.sequence += 1;
        let key = TimerKey {
            index,
            sequence: self.sequence,
        };
        let (sequence_high, sequence_low) = split(self.sequence);
        self.nodes.push(Node {
            deadline,
            index,
            sequence_low,
        });
        let entry = &mut self.entries[index as usize];
        entry.position = position as u32;
        entry.sequence_high = sequence_high;
        entry.action = Some(action);
        self.sift_up(position);
        (key, self.entries[index as usize].position == 0)
    }

    /// Replaces the waker of a pending `delay` timer; `false` if the timer is gone (fired or
    /// cancelled).
    pub(crate) fn update_waker(&mut self, key: TimerKey, waker: &Waker) -> bool {
        if self.live_position(key).is_none() {
            return false;
        }
        if let Some(TimerAction::Wake(current)) = &mut self.entries[key.index as usize].action {
            if !current.will_wake(waker) {
                current.clone_from(waker);
            }
        }
        true
    }

    /// Removes a pending timer, returning its action; `None` if it already fired or was
    /// removed.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<TimerAction> {
        let position = self.live_position(key)?;
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

    /// The heap position of the timer `key` names, `None` if it fired or was removed. The
    /// slot's node must carry the key's sequence number: the slot may hold a later timer, or
    /// (after a shrink) be another slot altogether.
    fn live_position(&self, key: TimerKey) -> Option<usize> {
        let entry = self.entries.get(key.index as usize)?;
        if entry.position == FREE {
            return None;
        }
        let (high, low) = split(key.sequence);
        let live =
            entry.sequence_high == high && self.nodes[entry.position as usize].sequence_low == low;
        live.then_some(entry.position as usize)
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
        self.free.push(node.index);
        entry.action.take().expect("a live timer has an action")
    }

    /// Gives memory back after a burst: keeps at most twice the live count of slots. Replacing
    /// the vectors forgets which slots existed, which is harmless: keys are checked against
    /// `sequence`, which survives (see the module docs).
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
            if !self.before(position, parent) {
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
            if left < self.nodes.len() && self.before(left, smallest) {
                smallest = left;
            }
            if right < self.nodes.len() && self.before(right, smallest) {
                smallest = right;
            }
            if smallest == position {
                return;
            }
            self.swap_nodes(position, smallest);
            position = smallest;
        }
    }

    /// Whether the node at `a` fires before the one at `b`: by deadline, then by sequence
    /// number (insertion order). Only a tie of deadlines reads the entries' halves.
    fn before(&self, a: usize, b: usize) -> bool {
        let (a, b) = (&self.nodes[a], &self.nodes[b]);
        match a.deadline.cmp(&b.deadline) {
            std::cmp::Ordering::Equal => {
                let high = |node: &Node| self.entries[node.index as usize].sequence_high;
                (high(a), a.sequence_low) < (high(b), b.sequence_low)
            }
            order => order.is_lt(),
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
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use proptest::prelude::*;

    fn recorder(log: &Arc<Mutex<Vec<u32>>>, id: u32) -> TimerAction {
        let log = log.clone();
        TimerAction::Call(Box::new(move || log.lock().unwrap().push(id)))
    }

    /// A payload whose own `Drop` panics.
    struct Evil;

    impl Drop for Evil {
        fn drop(&mut self) {
            panic!("the payload's drop");
        }
    }

    struct PanickingWaker;

    impl std::task::Wake for PanickingWaker {
        fn wake(self: Arc<Self>) {
            std::panic::panic_any(Evil);
        }
    }

    /// A user waker and a callback that panic (with payloads whose drop panics too) are
    /// contained by `fire`: the thread firing them carries on.
    #[test]
    fn finding_05_fire_contains_panicking_wakers_and_callbacks() {
        let actions = [
            TimerAction::Wake(Waker::from(Arc::new(PanickingWaker))),
            TimerAction::Call(Box::new(|| std::panic::panic_any(Evil))),
        ];
        for action in actions {
            let fired = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| action.fire()));
            assert!(fired.is_ok(), "a timer action's panic escaped `fire`");
        }
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

    /// The case of finding 2: a burst of more than `MIN_KEPT` timers all fire, the heap
    /// empties and replaces its vectors, and new timers reuse the low slots. The fired
    /// timers' keys must match none of them.
    #[test]
    fn finding_02_keys_of_fired_timers_survive_shrinking() {
        let base = Instant::now();
        let mut heap = TimerHeap::default();
        let fired: Vec<TimerKey> = (0..200)
            .map(|_| heap.insert(base, TimerAction::Call(Box::new(|| {}))).0)
            .collect();
        let mut due = Vec::new();
        heap.pop_due(base, &mut due);
        assert_eq!(due.len(), 200);
        assert_eq!(heap.entries.len(), 0, "the heap shrank");
        let log = Arc::new(Mutex::new(Vec::new()));
        let live: Vec<TimerKey> = (0..100)
            .map(|id| {
                heap.insert(base + Duration::from_secs(1), recorder(&log, id))
                    .0
            })
            .collect();
        let (waker, woken) = counting_waker();
        for &stale in &fired {
            assert!(
                !heap.update_waker(stale, &waker),
                "a fired key updates nothing"
            );
            assert!(heap.remove(stale).is_none(), "a fired key cancels nothing");
        }
        assert_eq!(heap.len(), 100);
        heap.pop_due(base + Duration::from_secs(1), &mut due);
        due.drain(..).for_each(TimerAction::fire);
        assert_eq!(*log.lock().unwrap(), (0..100).collect::<Vec<_>>());
        assert_eq!(woken.load(Ordering::SeqCst), 0);
        assert!(live.iter().all(|&key| heap.remove(key).is_none()));
    }

    #[test]
    fn keys_stay_as_small_as_a_word_and_a_half() {
        assert_eq!(std::mem::size_of::<TimerKey>(), 12);
        assert_eq!(std::mem::size_of::<Option<TimerKey>>(), 16);
    }

    /// 56 bytes per timer (module docs, "Memory").
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_node_and_an_entry_take_56_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 24);
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    /// Insertion order across a change of the sequence number's high half: the node's low
    /// half alone would order 2^32 before 2^32 - 1.
    #[test]
    fn ties_are_ordered_by_the_whole_sequence_number() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let base = Instant::now();
        let mut heap = TimerHeap {
            sequence: u64::from(u32::MAX) - 2,
            ..TimerHeap::default()
        };
        for id in 0..6 {
            heap.insert(base, recorder(&log, id));
        }
        let mut due = Vec::new();
        heap.pop_due(base, &mut due);
        due.into_iter().for_each(TimerAction::fire);
        assert_eq!(*log.lock().unwrap(), (0..6).collect::<Vec<_>>());
    }

    /// A key whose low half matches a live timer's but whose high half does not names nothing.
    #[test]
    fn keys_differing_in_the_high_half_do_not_match() {
        let base = Instant::now();
        let mut heap = TimerHeap::default();
        let (live, _) = heap.insert(base, TimerAction::Call(Box::new(|| {})));
        let forged = TimerKey {
            index: live.index,
            sequence: live.sequence + (1 << 32),
        };
        assert!(heap.remove(forged).is_none());
        assert!(heap.remove(live).is_some());
    }

    fn counting_waker() -> (Waker, Arc<AtomicUsize>) {
        struct Count(Arc<AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(AtomicUsize::new(0));
        (Waker::from(Arc::new(Count(count.clone()))), count)
    }

    /// Random inserts and removals against a sorted reference list.
    #[test]
    #[cfg_attr(miri, ignore = "safe code only; long under the interpreter")]
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
        let operations = 5_000;
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

    #[derive(Clone, Debug)]
    enum Op {
        /// Inserts `count` timers due `ms` milliseconds (plus their rank) after the base.
        Insert { ms: u64, count: usize },
        /// Removes the live timer `n % live`.
        Remove(usize),
        /// Uses the key of the fired or removed timer `n % stale`: remove and update_waker.
        Stale(usize),
        /// Replaces the waker of the live timer `n % live`.
        UpdateWaker(usize),
        /// Fires everything due `ms` milliseconds after the base.
        PopDue(u64),
        /// Fires everything: the heap empties, and shrinks if it held more than 64 slots.
        PopAll,
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..50_u64, prop_oneof![4 => Just(1_usize), 1 => 60..120_usize])
                .prop_map(|(ms, count)| Op::Insert { ms, count }),
            3 => any::<usize>().prop_map(Op::Remove),
            4 => any::<usize>().prop_map(Op::Stale),
            2 => any::<usize>().prop_map(Op::UpdateWaker),
            2 => (0..60_u64).prop_map(Op::PopDue),
            1 => Just(Op::PopAll),
        ]
    }

    /// A timer of the model: its id, which the action records (callbacks) or whose waker
    /// counts (delays).
    struct Live {
        id: u64,
        key: TimerKey,
        wake: Option<Arc<AtomicUsize>>,
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Random sequences against a model: a `BTreeMap` ordered by (deadline, insertion),
        /// with the keys of fired and removed timers replayed. A stale key must never cancel,
        /// steal the waker of, or otherwise touch a live timer, across slot reuse and across
        /// the shrink that replaces the vectors when a large heap empties.
        #[test]
        #[cfg_attr(miri, ignore = "safe code only; long under the interpreter")]
        fn heap_matches_a_model_and_stale_keys_are_no_ops(
            ops in proptest::collection::vec(op_strategy(), 1..120)
        ) {
            let base = Instant::now();
            let log = Arc::new(Mutex::new(Vec::new()));
            let mut heap = TimerHeap::default();
            let mut model: BTreeMap<(u64, u64), Live> = BTreeMap::new();
            let mut stale: Vec<TimerKey> = Vec::new();
            let mut next_id = 0_u64;
            let (foreign_waker, foreign_wakes) = counting_waker();
            let fire_and_check = |model: &mut BTreeMap<(u64, u64), Live>,
                                  due: Vec<(u64, u64)>,
                                  actions: Vec<TimerAction>,
                                  stale: &mut Vec<TimerKey>|
             -> Result<(), TestCaseError> {
                prop_assert_eq!(actions.len(), due.len());
                log.lock().unwrap().clear();
                actions.into_iter().for_each(TimerAction::fire);
                let mut expected_log = Vec::new();
                for slot in due {
                    let live = model.remove(&slot).unwrap();
                    match live.wake {
                        Some(count) => prop_assert_eq!(count.load(Ordering::SeqCst), 1),
                        None => expected_log.push(live.id as u32),
                    }
                    stale.push(live.key);
                }
                prop_assert_eq!(&*log.lock().unwrap(), &expected_log);
                Ok(())
            };
            for op in ops {
                match op {
                    Op::Insert { ms, count } => {
                        for rank in 0..count as u64 {
                            let deadline_ms = ms + rank % 7;
                            let id = next_id;
                            next_id += 1;
                            let (action, wake) = if id % 2 == 0 {
                                (recorder(&log, id as u32), None)
                            } else {
                                let (waker, count) = counting_waker();
                                (TimerAction::Wake(waker), Some(count))
                            };
                            let (key, earliest) =
                                heap.insert(base + Duration::from_millis(deadline_ms), action);
                            let expected_earliest =
                                model.keys().next().is_none_or(|&(first, _)| deadline_ms < first);
                            prop_assert_eq!(earliest, expected_earliest);
                            model.insert((deadline_ms, id), Live { id, key, wake });
                        }
                    }
                    Op::Remove(n) if !model.is_empty() => {
                        let slot = *model.keys().nth(n % model.len()).unwrap();
                        let key = model[&slot].key;
                        let action = heap.remove(key);
                        prop_assert!(action.is_some());
                        fire_and_check(&mut model, vec![slot], vec![action.unwrap()], &mut stale)?;
                    }
                    Op::Stale(n) if !stale.is_empty() => {
                        let key = stale[n % stale.len()];
                        prop_assert!(!heap.update_waker(key, &foreign_waker));
                        prop_assert!(heap.remove(key).is_none());
                    }
                    Op::UpdateWaker(n) if !model.is_empty() => {
                        let slot = *model.keys().nth(n % model.len()).unwrap();
                        let live = model.get_mut(&slot).unwrap();
                        if live.wake.is_some() {
                            let (waker, count) = counting_waker();
                            live.wake = Some(count);
                            prop_assert!(heap.update_waker(live.key, &waker));
                        } else {
                            prop_assert!(heap.update_waker(live.key, &foreign_waker));
                        }
                    }
                    Op::PopDue(ms) => {
                        let due: Vec<(u64, u64)> =
                            model.keys().copied().filter(|&(at, _)| at <= ms).collect();
                        let mut actions = Vec::new();
                        heap.pop_due(base + Duration::from_millis(ms), &mut actions);
                        fire_and_check(&mut model, due, actions, &mut stale)?;
                    }
                    Op::PopAll => {
                        let due: Vec<(u64, u64)> = model.keys().copied().collect();
                        let mut actions = Vec::new();
                        heap.pop_due(base + Duration::from_secs(3600), &mut actions);
                        fire_and_check(&mut model, due, actions, &mut stale)?;
                        prop_assert!(heap.entries.len() <= 64, "an empty heap keeps at most 64 slots");
                    }
                    Op::Remove(_) | Op::Stale(_) | Op::UpdateWaker(_) => {}
                }
                prop_assert_eq!(heap.len(), model.len());
                prop_assert_eq!(
                    heap.next_deadline(),
                    model.keys().next().map(|&(ms, _)| base + Duration::from_millis(ms))
                );
                prop_assert_eq!(foreign_wakes.load(Ordering::SeqCst), 0);
            }
        }
    }
}
