//! [`InlineSlab`]: O(1) insert and remove by [`SlabKey`], the first entry inline; it holds a
//! job's completion entries. (A job's children need no stamps and have their own, smaller
//! slab: `job::children`.)
//!
//! # Keys
//!
//! A key is a slot (the inline slot, or an index into the spilled slots) plus the entry's
//! *stamp*: the value of a 64-bit counter per slab that every insert bumps and nothing ever
//! resets (2^64 inserts never happen), so a key names one entry for the whole life of the slab.
//! Slots are reused, and the key of a removed entry (a spent `invoke_on_cancelling` handle, a
//! woken `join`) must never reach the entry that now sits in its
//! slot: every operation that takes a key compares the stamp and is a no-op for a stale key.
//! Stamps also give the insertion order, which completion entries need (once slots are reused,
//! slot order is not insertion order).
//!
//! # Memory
//!
//! Most jobs never have more than one completion entry at a time (the `Deferred`, `join` or
//! scope frame waiting for them), so the first entry lives inline and costs no allocation. A second live
//! entry spills into a boxed header (slots, free list, length, counter) that the first spill
//! allocates, so a slab that never spilled is the inline entry, one word and a null pointer.
//! The counter lives in `inline_stamp` until the slab spills and in the header after, which
//! saves every job a word. A spilled slot is one word (the stamp while occupied, the free-list
//! link while vacant) and an `Option<T>`: no bigger than the tagged enum of the two would be.
//! Memory grows with the peak number of live entries, never per operation.
//!
//! # Invariants
//!
//! * The last stamp handed out is `spill.last_stamp` once the slab spilled, `inline_stamp`
//!   before (and again after [`InlineSlab::drain_in_order`] gave the spill back).
//! * An occupied slot's stamp (`inline_stamp` for the inline slot, `word` for a spilled one)
//!   is the stamp its entry got on insert; a vacant spilled slot's `word` is the next vacant
//!   index (`NO_FREE` ends the list), so it can never be compared with a key.
//! * Stamps are distinct and only ever grow, so a key matches at most one entry, ever.

/// Names one entry of an [`InlineSlab`] for the slab's whole life (see the module docs).
///
/// Packed to 4-byte alignment: 12 bytes instead of 16, so the `Join` future and
/// `Option<SlabKey>` stay as small as they were with a bare index. Fields are only ever copied,
/// never borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(4))]
pub(crate) struct SlabKey {
    /// `INLINE`, or an index into the spilled slots.
    index: u32,
    stamp: u64,
}

/// The slot index of the inline entry; spilled indices stay below it.
const INLINE: u32 = u32::MAX;
/// The end of the free list of spilled slots.
const NO_FREE: u32 = u32::MAX;

/// A slab whose first entry lives inline; see the module docs.
#[derive(Debug)]
pub(crate) struct InlineSlab<T> {
    inline: Option<T>,
    /// The inline entry's stamp; before the slab spills, also the last stamp handed out.
    inline_stamp: u64,
    spill: Option<Box<Spill<T>>>,
}

#[derive(Debug)]
struct Spill<T> {
    slots: Vec<Slot<T>>,
    /// Head of the free list, `NO_FREE` when empty.
    free_head: u32,
    len: usize,
    /// The last stamp handed out, inline entries included.
    last_stamp: u64,
}

#[derive(Debug)]
struct Slot<T> {
    /// The entry's stamp while `value` is `Some`; the next vacant index while it is `None`.
    word: u64,
    value: Option<T>,
}

impl<T> InlineSlab<T> {
    pub(crate) const fn new() -> InlineSlab<T> {
        InlineSlab {
            inline: None,
            inline_stamp: 0,
            spill: None,
        }
    }

    /// Whether no value is stored (O(1)).
    pub(crate) fn is_empty(&self) -> bool {
        self.inline.is_none() && self.spill.as_ref().is_none_or(|spill| spill.len == 0)
    }

    /// Adds an entry (inline if the inline slot is vacant) and returns its key.
    pub(crate) fn insert(&mut self, value: T) -> SlabKey {
        if self.inline.is_none() {
            // Never wraps: 2^64 inserts would take centuries.
            let stamp = match &mut self.spill {
                Some(spill) => {
                    spill.last_stamp += 1;
                    spill.last_stamp
                }
                None => self.inline_stamp + 1,
            };
            self.inline_stamp = stamp;
            self.inline = Some(value);
            return SlabKey {
                index: INLINE,
                stamp,
            };
        }
        let last_stamp = self.inline_stamp;
        self.spill
            .get_or_insert_with(|| {
                Box::new(Spill {
                    slots: Vec::new(),
                    free_head: NO_FREE,
                    len: 0,
                    last_stamp,
                })
            })
            .insert(value)
    }

    /// Removes the entry `key` names; `None` (and nothing changes) if it is already gone.
    pub(crate) fn remove(&mut self, key: SlabKey) -> Option<T> {
        if key.index == INLINE {
            if self.inline_stamp == key.stamp {
                self.inline.take()
            } else {
                None
            }
        } else {
            self.spill.as_mut()?.remove(key)
        }
    }

    /// The entry `key` names; `None` if it is gone.
    pub(crate) fn get_mut(&mut self, key: SlabKey) -> Option<&mut T> {
        if key.index == INLINE {
            self.inline
                .as_mut()
                .filter(|_| self.inline_stamp == key.stamp)
        } else {
            let slot = self.spill.as_mut()?.slots.get_mut(key.index as usize)?;
            let stamp = key.stamp;
            slot.value.as_mut().filter(|_| slot.word == stamp)
        }
    }

    /// The entries, the inline one first, then the spilled ones in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.inline.iter().chain(
            self.spill
                .iter()
                .flat_map(|spill| spill.slots.iter())
                .filter_map(|slot| slot.value.as_ref()),
        )
    }

    /// Removes the entries for which `pred` holds and returns them in insertion order.
    pub(crate) fn take_matching_in_order(&mut self, mut pred: impl FnMut(&T) -> bool) -> Vec<T> {
        let mut taken = Vec::new();
        if self.inline.as_ref().is_some_and(&mut pred) {
            taken.extend(self.inline.take().map(|value| (self.inline_stamp, value)));
        }
        if let Some(spill) = &mut self.spill {
            for index in 0..spill.slots.len() {
                let slot = &spill.slots[index];
                if slot.value.as_ref().is_some_and(&mut pred) {
                    let stamp = slot.word;
                    let key = SlabKey {
                        index: index as u32,
                        stamp,
                    };
                    taken.extend(spill.remove(key).map(|value| (stamp, value)));
                }
            }
        }
        // The common case (a cancellation with no on-cancelling handler) takes nothing: no sort,
        // no conversion.
        if taken.is_empty() {
            return Vec::new();
        }
        in_order(taken)
    }

    /// Removes every entry, returns them in insertion order, and gives the memory back. A
    /// slab that never spilled (the common case: one join or handler) gives its inline entry
    /// back without allocating.
    pub(crate) fn drain_in_order(&mut self) -> Drained<T> {
        let Some(spill) = self.spill.take() else {
            return Drained::Inline(self.inline.take());
        };
        let mut taken = Vec::with_capacity(spill.len + 1);
        if let Some(value) = self.inline.take() {
            taken.push((self.inline_stamp, value));
        }
        // The counter moves back inline (see the invariants), so stamps keep growing.
        self.inline_stamp = spill.last_stamp;
        taken.extend(
            spill
                .slots
                .into_iter()
                .filter_map(|slot| slot.value.map(|value| (slot.word, value))),
        );
        Drained::Spilled(in_order(taken).into_iter())
    }
}

/// The entries [`InlineSlab::drain_in_order`] took, in insertion order.
#[derive(Debug)]
pub(crate) enum Drained<T> {
    /// The slab never spilled: at most the inline entry.
    Inline(Option<T>),
    /// The slab had spilled: the entries, sorted.
    Spilled(std::vec::IntoIter<T>),
}

impl<T> Drained<T> {
    /// The entries not yet taken.
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            Drained::Inline(entry) => entry.as_slice(),
            Drained::Spilled(entries) => entries.as_slice(),
        }
    }
}

impl<T> Iterator for Drained<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            Drained::Inline(entry) => entry.take(),
            Drained::Spilled(entries) => entries.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let len = self.as_slice().len();
        (len, Some(len))
    }
}

/// Sorts `(stamp, entry)` pairs by stamp, which is insertion order.
fn in_order<T>(mut entries: Vec<(u64, T)>) -> Vec<T> {
    entries.sort_unstable_by_key(|(stamp, _)| *stamp);
    entries.into_iter().map(|(_, value)| value).collect()
}

impl<T> Spill<T> {
    fn insert(&mut self, value: T) -> SlabKey {
        // Never wraps: 2^64 inserts would take centuries.
        self.last_stamp += 1;
        let stamp = self.last_stamp;
        self.len += 1;
        let index = if self.free_head == NO_FREE {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&index| index != INLINE)
                .expect("more than 2^32 - 1 live entries in one slab");
            self.slots.push(Slot {
                word: stamp,
                value: Some(value),
            });
            index
        } else {
            let index = self.free_head;
            let slot = &mut self.slots[index as usize];
            debug_assert!(slot.value.is_none(), "the free list holds an occupied slot");
            self.free_head = slot.word as u32;
            slot.word = stamp;
            slot.value = Some(value);
            index
        };
        SlabKey { index, stamp }
    }

    fn remove(&mut self, key: SlabKey) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.value.is_none() || slot.word != { key.stamp } {
            return None;
        }
        let value = slot.value.take();
        slot.word = u64::from(self.free_head);
        self.free_head = key.index;
        self.len -= 1;
        value
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::{InlineSlab, SlabKey, Slot, INLINE};

    #[test]
    fn the_first_entry_is_inline_and_the_inline_slot_is_reused() {
        let mut slab = InlineSlab::new();
        assert!(slab.is_empty());
        let a = slab.insert("a");
        assert_eq!(a.index, INLINE);
        let b = slab.insert("b");
        assert_ne!(b.index, INLINE);
        assert_eq!(slab.iter().copied().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.remove(a), None);
        let c = slab.insert("c");
        assert_eq!(c.index, INLINE, "the inline slot is reused");
        assert_ne!(c, a, "under another key");
        *slab.get_mut(b).unwrap() = "B";
        assert_eq!(slab.take_matching_in_order(|v| *v == "c"), vec!["c"]);
        assert_eq!(slab.drain_in_order().collect::<Vec<_>>(), vec!["B"]);
        assert!(slab.is_empty());
    }

    #[test]
    fn stale_keys_are_no_ops_in_reused_slots() {
        let mut slab = InlineSlab::new();
        let inline = slab.insert(0);
        let spilled = slab.insert(1);
        assert_eq!(slab.remove(inline), Some(0));
        assert_eq!(slab.remove(spilled), Some(1));
        let inline_again = slab.insert(2);
        let spilled_again = slab.insert(3);
        assert_eq!(
            (inline_again.index, spilled_again.index),
            (inline.index, spilled.index),
            "both slots are reused"
        );
        for stale in [inline, spilled] {
            assert_eq!(slab.get_mut(stale), None);
            assert_eq!(slab.remove(stale), None);
        }
        assert_eq!(slab.drain_in_order().collect::<Vec<_>>(), vec![2, 3]);
        // The counter survives giving the spill back: keys still never repeat.
        let after_drain = slab.insert(4);
        assert_eq!(slab.remove(inline_again), None);
        assert_eq!(slab.remove(after_drain), Some(4));
    }

    /// The layout the module docs promise: 12-byte keys, and a spilled slot one word more
    /// than its entry.
    #[test]
    fn keys_and_slots_stay_small() {
        use std::mem::size_of;
        assert_eq!(size_of::<SlabKey>(), 12);
        assert_eq!(size_of::<Option<SlabKey>>(), 16);
        type Entry = crate::job::state_machine::CompletionEntry;
        assert_eq!(size_of::<Slot<Entry>>(), size_of::<Entry>() + 8);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert,
        /// Removes the live entry `n % live`.
        Remove(usize),
        /// Uses the key of the removed entry `n % removed`: remove and get_mut.
        Stale(usize),
        /// Replaces the value of the live entry `n % live` through `get_mut`.
        Update(usize),
        /// Takes the live entries whose value is divisible by `1 + n % 3`.
        TakeMatching(u8),
        Drain,
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => Just(Op::Insert),
            4 => any::<usize>().prop_map(Op::Remove),
            4 => any::<usize>().prop_map(Op::Stale),
            2 => any::<usize>().prop_map(Op::Update),
            1 => any::<u8>().prop_map(Op::TakeMatching),
            1 => Just(Op::Drain),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Random sequences against a model: a `BTreeMap` from insertion number to value.
        /// Keys of removed entries are kept and replayed: they must never reach a live entry,
        /// whatever reused their slot (the inline slot, spilled slots, after drains).
        #[test]
        #[cfg_attr(miri, ignore = "safe code only; long under the interpreter")]
        fn slab_matches_a_model_and_stale_keys_are_no_ops(
            ops in proptest::collection::vec(op_strategy(), 1..200)
        ) {
            let mut slab = InlineSlab::new();
            let mut model: BTreeMap<u64, u64> = BTreeMap::new();
            let mut live: Vec<(u64, SlabKey)> = Vec::new();
            let mut stale: Vec<SlabKey> = Vec::new();
            let mut issued: Vec<SlabKey> = Vec::new();
            let mut next = 0_u64;
            for op in ops {
                match op {
                    Op::Insert => {
                        let key = slab.insert(next);
                        prop_assert!(!issued.contains(&key), "key {key:?} handed out twice");
                        issued.push(key);
                        model.insert(next, next);
                        live.push((next, key));
                        next += 1;
                    }
                    Op::Remove(n) if !live.is_empty() => {
                        let (id, key) = live.remove(n % live.len());
                        prop_assert_eq!(slab.remove(key), model.remove(&id));
                        stale.push(key);
                    }
                    Op::Stale(n) if !stale.is_empty() => {
                        let key = stale[n % stale.len()];
                        prop_assert_eq!(slab.get_mut(key), None);
                        prop_assert_eq!(slab.remove(key), None);
                    }
                    Op::Update(n) if !live.is_empty() => {
                        let (id, key) = live[n % live.len()];
                        let value = slab.get_mut(key);
                        prop_assert_eq!(value.as_deref(), model.get(&id));
                        *value.unwrap() += 1_000_000;
                        *model.get_mut(&id).unwrap() += 1_000_000;
                    }
                    Op::TakeMatching(n) => {
                        let divisor = 1 + u64::from(n % 3);
                        let taken = slab.take_matching_in_order(|v| v % divisor == 0);
                        let expected: Vec<u64> =
                            model.values().copied().filter(|v| v % divisor == 0).collect();
                        prop_assert_eq!(taken, expected);
                        model.retain(|_, v| *v % divisor != 0);
                        let (kept, gone): (Vec<_>, Vec<_>) =
                            live.drain(..).partition(|(id, _)| model.contains_key(id));
                        live = kept;
                        stale.extend(gone.into_iter().map(|(_, key)| key));
                    }
                    Op::Drain => {
                        let expected: Vec<u64> = model.values().copied().collect();
                        prop_assert_eq!(slab.drain_in_order().collect::<Vec<_>>(), expected);
                        model.clear();
                        stale.extend(live.drain(..).map(|(_, key)| key));
                    }
                    Op::Remove(_) | Op::Stale(_) | Op::Update(_) => {}
                }
                prop_assert_eq!(slab.is_empty(), model.is_empty());
                let mut values: Vec<u64> = slab.iter().copied().collect();
                values.sort_unstable();
                let mut expected: Vec<u64> = model.values().copied().collect();
                expected.sort_unstable();
                prop_assert_eq!(values, expected);
                for &(id, key) in &live {
                    let value = slab.get_mut(key).map(|value| *value);
                    prop_assert_eq!(value, model.get(&id).copied());
                }
            }
        }
    }
}
