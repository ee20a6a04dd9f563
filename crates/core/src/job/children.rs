//! [`Children`]: a job's live children, O(1) attach and detach, the first child inline.
//!
//! # Keys and stale keys
//!
//! Completion entries live in an [`InlineSlab`](crate::slab::InlineSlab), whose keys carry a
//! 64-bit stamp stored beside each entry. Children need no stored stamp, because every child
//! already carries an id that never repeats for the life of the process (its job id): a
//! [`ChildKey`] (the slot, 4 bytes, kept in the child) is presented for removal as a
//! [`ChildTicket`], the slot plus the presenting child's id, and [`Children::remove`] removes
//! the occupant only if its id matches. A stale ticket (a slot vacated and reused since) is
//! therefore a no-op, as for every other key-based handle, and the generation costs no byte:
//! a spilled slot is 16 bytes, a bare `Job`, and the key 4. In the job machinery a ticket is
//! presented once anyway: by the child's finalization, which takes its parent link under its
//! lock (`JobInner::parent.take()`).
//!
//! # Invariants
//!
//! * A slot's occupant is removed only by a ticket naming that slot and that occupant's id.
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

    /// The ticket that removes the child `child_id` from the slot this key names.
    pub(crate) fn ticket(self, child_id: u64) -> ChildTicket {
        ChildTicket {
            key: self,
            child_id,
        }
    }
}

/// A [`ChildKey`] presented for removal, with the id of the child that presents it: the
/// generation that makes a stale key a no-op (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChildTicket {
    key: ChildKey,
    child_id: u64,
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

    /// Removes the child `ticket` names, if it is still there: a stale ticket (its child left
    /// and another took the slot) removes nothing.
    pub(crate) fn remove(&mut self, ticket: ChildTicket) -> Option<Job> {
        let matches = |job: &Job| job.id() == ticket.child_id;
        let ChildKey(index) = ticket.key;
        if index == INLINE {
            return if self.inline.as_ref().is_some_and(matches) {
                self.inline.take()
            } else {
                None
            };
        }
        let spill = self.spill.as_mut()?;
        let slot = spill.slots.get_mut(index as usize)?;
        if !matches!(slot, Slot::Occupied(child) if matches(child)) {
            return None;
        }
        let Slot::Occupied(child) = std::mem::replace(slot, Slot::Vacant(spill.free_head)) else {
            unreachable!("checked occupied just above");
        };
        spill.free_head = index;
        spill.len -= 1;
        Some(child)
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

    use super::{ChildKey, ChildTicket, Children, Slot};
    use crate::job::Job;

    #[test]
    fn keys_and_slots_are_small() {
        assert_eq!(size_of::<ChildKey>(), 4);
        assert_eq!(size_of::<ChildTicket>(), 16);
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
        let ticket = |key: ChildKey, job: &Job| key.ticket(job.id());
        assert_eq!(keys[0], ChildKey(super::INLINE));
        assert_eq!(children.iter().count(), 4);
        // Spilled children leave and their slots are reused, most recently freed first.
        assert!(children
            .remove(ticket(keys[2], &jobs[2]))
            .is_some_and(|job| job == jobs[2]));
        assert!(children
            .remove(ticket(keys[1], &jobs[1]))
            .is_some_and(|job| job == jobs[1]));
        let again = children.insert(jobs[1].clone());
        assert_eq!(again, keys[1]);
        // A stale ticket for a reused slot, or one naming another child, removes nothing.
        assert_eq!(children.remove(ticket(keys[1], &jobs[2])), None);
        assert_eq!(children.remove(ticket(keys[0], &jobs[3])), None);
        assert!(children
            .remove(ticket(keys[0], &jobs[0]))
            .is_some_and(|job| job == jobs[0]));
        let inline_again = children.insert(jobs[0].clone());
        assert_eq!(inline_again, keys[0]);
        let left: Vec<&Job> = children.iter().collect();
        assert_eq!(left, [&jobs[0], &jobs[1], &jobs[3]]);
        for (key, job) in [
            (inline_again, &jobs[0]),
            (again, &jobs[1]),
            (keys[3], &jobs[3]),
        ] {
            assert!(children.remove(ticket(key, job)).is_some());
        }
        assert_eq!(children.remove(ticket(keys[3], &jobs[3])), None, "spent");
        assert!(children.is_empty());
    }
}
