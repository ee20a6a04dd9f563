//! [`Children`]: a job's live children, O(1) attach and detach by [`ChildKey`], the first child
//! inline.
//!
//! # Why not the stamped slab
//!
//! Completion entries live in an [`InlineSlab`](crate::slab::InlineSlab), whose keys carry a
//! 64-bit stamp because their holders (a dropped `join`, a disposed handler) may present a
//! key after its entry left. A child key has exactly one holder and one use: it is written
//! into the child's `key_in_parent` under both locks when the child attaches, and handed back
//! once, by the child's finalization, which takes the parent link under the child's lock
//! (`JobInner::parent.take()`), so no second finalization can present it again. A key is
//! therefore never stale, and children need no stamps: a spilled slot is 16 bytes instead
//! of 24, the inline part saves the stamp word, and the key is 4 bytes instead of 12. Every
//! coroutine is somebody's child, so this is paid per coroutine.
//!
//! # Invariants
//!
//! * A key names an occupied slot from its `insert` until its one `remove` (see above);
//!   `remove` of a vacant slot is a bug, caught by a debug assertion.
//! * Vacant spilled slots form a free list through their `Vacant` index (`NO_FREE` ends it).
//! * `len` counts the occupied spilled slots, so emptiness is O(1).

use crate::job::Job;

/// Names one live child of a [`Children`]: its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChildKey(u32);

impl ChildKey {
    /// A placeholder for a job without a parent (never handed out for a spilled slot, and
    /// only read while a parent is set).
    pub(crate) const UNUSED: ChildKey = ChildKey(INLINE);
}

/// The slot index of the inline child; spilled indices stay below it.
const INLINE: u32 = u32::MAX;
/// The end of the free list of spilled slots.
const NO_FREE: u32 = u32::MAX;

/// A job's live children; see the module docs.
#[derive(Debug)]
pub(crate) struct Children {
    inline: Option<Job>,
    spill: Option<Box<Spill>>,
}

#[derive(Debug)]
struct Spill {
    slots: Vec<Slot>,
    /// Head of the free list, `NO_FREE` when empty.
    free_head: u32,
    len: usize,
}

/// A spilled slot: the child, or the next vacant index (the same 16 bytes as a bare `Job`).
#[derive(Debug)]
enum Slot {
    Occupied(Job),
    Vacant(u32),
}

impl Children {
    pub(crate) const fn new() -> Children {
        Children {
            inline: None,
            spill: None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inline.is_none() && self.spill.as_ref().is_none_or(|spill| spill.len == 0)
    }

    /// Adds a child (inline if the inline slot is vacant) and returns its key.
    pub(crate) fn insert(&mut self, child: Job) -> ChildKey {
        if self.inline.is_none() {
            self.inline = Some(child);
            return ChildKey(INLINE);
        }
        let spill = self.spill.get_or_insert_with(|| {
            Box::new(Spill {
                slots: Vec::new(),
                free_head: NO_FREE,
                len: 0,
            })
        });
        spill.len += 1;
        if spill.free_head == NO_FREE {
            let index = u32::try_from(spill.slots.len())
                .ok()
                .filter(|&index| index != INLINE)
                .expect("fewer than 2^32 - 1 live children of one job");
            spill.slots.push(Slot::Occupied(child));
            return ChildKey(index);
        }
        let index = spill.free_head;
        let slot = &mut spill.slots[index as usize];
        let Slot::Vacant(next) = *slot else {
            unreachable!("the free list links vacant slots only");
        };
        spill.free_head = next;
        *slot = Slot::Occupied(child);
        ChildKey(index)
    }

    /// Removes the child `key` names (its one use, see the module docs).
    pub(crate) fn remove(&mut self, key: ChildKey) -> Option<Job> {
        let removed = if key.0 == INLINE {
            self.inline.take()
        } else {
            self.spill.as_mut().and_then(|spill| {
                let slot = spill.slots.get_mut(key.0 as usize)?;
                match std::mem::replace(slot, Slot::Vacant(spill.free_head)) {
                    Slot::Occupied(child) => {
                        spill.free_head = key.0;
                        spill.len -= 1;
                        Some(child)
                    }
                    vacant => {
                        *slot = vacant;
                        None
                    }
                }
            })
        };
        debug_assert!(removed.is_some(), "a child key is used once: {key:?}");
        removed
    }

    /// The children, the inline one first, then the spilled ones in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Job> {
        self.inline.iter().chain(
            self.spill
                .iter()
                .flat_map(|spill| spill.slots.iter())
                .filter_map(|slot| match slot {
                    Slot::Occupied(child) => Some(child),
                    Slot::Vacant(_) => None,
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::{ChildKey, Children, Slot};
    use crate::job::Job;

    #[test]
    fn keys_and_slots_are_small() {
        assert_eq!(size_of::<ChildKey>(), 4);
        assert_eq!(size_of::<Slot>(), size_of::<Job>());
        assert_eq!(size_of::<Children>(), size_of::<Job>() + 8);
    }

    #[test]
    fn attach_detach_and_reuse() {
        let jobs: Vec<Job> = (0..4).map(|_| Job::new()).collect();
        let mut children = Children::new();
        assert!(children.is_empty());
        let keys: Vec<ChildKey> = jobs
            .iter()
            .map(|job| children.insert(job.clone()))
            .collect();
        assert_eq!(keys[0], ChildKey(super::INLINE));
        assert_eq!(children.iter().count(), 4);
        // Spilled children leave and their slots are reused, most recently freed first.
        assert!(children.remove(keys[2]).is_some_and(|job| job == jobs[2]));
        assert!(children.remove(keys[1]).is_some_and(|job| job == jobs[1]));
        let again = children.insert(jobs[1].clone());
        assert_eq!(again, keys[1]);
        assert!(children.remove(keys[0]).is_some_and(|job| job == jobs[0]));
        let inline_again = children.insert(jobs[0].clone());
        assert_eq!(inline_again, keys[0]);
        let left: Vec<&Job> = children.iter().collect();
        assert_eq!(left, [&jobs[0], &jobs[1], &jobs[3]]);
        for key in [inline_again, again, keys[3]] {
            assert!(children.remove(key).is_some());
        }
        assert!(children.is_empty());
    }
}
