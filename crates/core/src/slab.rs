//! [`Slab`]: a vector with O(1) insert and remove by key, used for a job's children and its
//! completion entries.
//!
//! Keys stay valid until removed; removed slots are reused (a free list threaded through the
//! vacant slots). Memory grows with the peak number of live entries, never per operation.
//!
//! An empty slab is one null pointer: most jobs never have a child nor a second completion
//! entry, and every coroutine carries two slabs, so the header (vector, free list, length)
//! lives in a box allocated by the first insert. That keeps a leaf coroutine at one
//! allocation and 64 bytes smaller. [`InlineSlab`] keeps the first entry inline on top of
//! that, so a job with one child or one waiter at a time allocates nothing for it.

use std::mem;

/// O(1) insert/remove storage; see the module docs.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    inner: Option<Box<SlabInner<T>>>,
}

#[derive(Debug)]
struct SlabInner<T> {
    slots: Vec<Slot<T>>,
    /// Head of the free list (an index into `slots`), `NO_FREE` when empty.
    free_head: usize,
    len: usize,
}

#[derive(Debug)]
enum Slot<T> {
    Occupied(T),
    Vacant { next_free: usize },
}

const NO_FREE: usize = usize::MAX;

impl<T> Slab<T> {
    pub(crate) const fn new() -> Slab<T> {
        Slab { inner: None }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inner.as_ref().is_none_or(|inner| inner.len == 0)
    }

    pub(crate) fn insert(&mut self, value: T) -> usize {
        let inner = self.inner.get_or_insert_with(|| {
            Box::new(SlabInner {
                slots: Vec::new(),
                free_head: NO_FREE,
                len: 0,
            })
        });
        inner.len += 1;
        if inner.free_head == NO_FREE {
            inner.slots.push(Slot::Occupied(value));
            inner.slots.len() - 1
        } else {
            let key = inner.free_head;
            let slot = mem::replace(&mut inner.slots[key], Slot::Occupied(value));
            match slot {
                Slot::Vacant { next_free } => inner.free_head = next_free,
                Slot::Occupied(_) => unreachable!("free list points at an occupied slot"),
            }
            key
        }
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let inner = self.inner.as_mut()?;
        let slot = inner.slots.get_mut(key)?;
        if let Slot::Vacant { .. } = slot {
            return None;
        }
        let old = mem::replace(
            slot,
            Slot::Vacant {
                next_free: inner.free_head,
            },
        );
        inner.free_head = key;
        inner.len -= 1;
        match old {
            Slot::Occupied(value) => Some(value),
            Slot::Vacant { .. } => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        match self.inner.as_mut()?.slots.get_mut(key) {
            Some(Slot::Occupied(value)) => Some(value),
            _ => None,
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.inner
            .iter()
            .flat_map(|inner| inner.slots.iter())
            .filter_map(|slot| match slot {
                Slot::Occupied(value) => Some(value),
                Slot::Vacant { .. } => None,
            })
    }

    /// Removes the entries for which `pred` holds and returns them (in slot order).
    pub(crate) fn remove_matching(&mut self, mut pred: impl FnMut(&T) -> bool) -> Vec<T> {
        let mut removed = Vec::new();
        let slots = self.inner.as_ref().map_or(0, |inner| inner.slots.len());
        for key in 0..slots {
            let matched = self.inner.as_ref().is_some_and(
                |inner| matches!(&inner.slots[key], Slot::Occupied(value) if pred(value)),
            );
            if matched {
                removed.extend(self.remove(key));
            }
        }
        removed
    }

    /// Removes every entry and gives the memory back.
    pub(crate) fn drain_all(&mut self) -> impl Iterator<Item = T> {
        self.inner
            .take()
            .into_iter()
            .flat_map(|inner| inner.slots)
            .filter_map(|slot| match slot {
                Slot::Occupied(value) => Some(value),
                Slot::Vacant { .. } => None,
            })
    }
}

/// The key of an [`InlineSlab`]'s inline entry; slab keys are indices and never reach it.
pub(crate) const INLINE_KEY: usize = usize::MAX;

/// A [`Slab`] whose first entry lives inline: most jobs have at most one child at a time (a
/// scope function's frame, a `with_context` block, a chain of launches) and at most one
/// completion entry (the `Deferred` or `join` waiting for them), so these cost no allocation
/// at all; only a second live entry spills into the slab.
#[derive(Debug)]
pub(crate) struct InlineSlab<T> {
    inline: Option<T>,
    spilled: Slab<T>,
}

impl<T> InlineSlab<T> {
    pub(crate) const fn new() -> InlineSlab<T> {
        InlineSlab {
            inline: None,
            spilled: Slab::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inline.is_none() && self.spilled.is_empty()
    }

    pub(crate) fn insert(&mut self, value: T) -> usize {
        if self.inline.is_none() {
            self.inline = Some(value);
            INLINE_KEY
        } else {
            self.spilled.insert(value)
        }
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        if key == INLINE_KEY {
            self.inline.take()
        } else {
            self.spilled.remove(key)
        }
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        if key == INLINE_KEY {
            self.inline.as_mut()
        } else {
            self.spilled.get_mut(key)
        }
    }

    /// The entries, the inline one first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.inline.iter().chain(self.spilled.iter())
    }

    /// Removes the entries for which `pred` holds and returns them (the inline one first).
    pub(crate) fn remove_matching(&mut self, mut pred: impl FnMut(&T) -> bool) -> Vec<T> {
        let mut removed = Vec::new();
        if self.inline.as_ref().is_some_and(&mut pred) {
            removed.extend(self.inline.take());
        }
        removed.extend(self.spilled.remove_matching(pred));
        removed
    }

    /// Removes every entry (the inline one first) and gives the memory back.
    pub(crate) fn drain_all(&mut self) -> impl Iterator<Item = T> + '_ {
        self.inline
            .take()
            .into_iter()
            .chain(self.spilled.drain_all())
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn insert_remove_reuses_keys() {
        let mut slab = Slab::new();
        let a = slab.insert("a");
        let b = slab.insert("b");
        assert_eq!(slab.iter().count(), 2);
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.remove(a), None);
        let c = slab.insert("c");
        assert_eq!(c, a, "a freed key is reused");
        assert_eq!(slab.iter().copied().collect::<Vec<_>>(), vec!["c", "b"]);
        assert_eq!(slab.remove(b), Some("b"));
        assert_eq!(slab.drain_all().collect::<Vec<_>>(), vec!["c"]);
        assert!(slab.is_empty());
    }

    #[test]
    fn remove_matching_keeps_the_others_and_frees_keys() {
        let mut slab = Slab::new();
        let keys: Vec<usize> = (0..6).map(|i| slab.insert(i)).collect();
        assert_eq!(slab.remove_matching(|v| v % 2 == 0), vec![0, 2, 4]);
        assert_eq!(slab.iter().copied().collect::<Vec<_>>(), vec![1, 3, 5]);
        assert_eq!(slab.get_mut(keys[1]).copied(), Some(1));
        assert_eq!(slab.get_mut(keys[2]), None);
        let reused = slab.insert(9);
        assert!([keys[0], keys[2], keys[4]].contains(&reused));
        assert_eq!(slab.remove_matching(|_| true).len(), 4);
        assert!(slab.is_empty());
    }

    #[test]
    fn inline_slab_keeps_the_first_entry_inline() {
        use super::{InlineSlab, INLINE_KEY};
        let mut slab = InlineSlab::new();
        assert!(slab.is_empty());
        let a = slab.insert("a");
        assert_eq!(a, INLINE_KEY);
        let b = slab.insert("b");
        assert_ne!(b, INLINE_KEY);
        assert_eq!(slab.iter().copied().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.insert("c"), INLINE_KEY, "the inline slot is reused");
        *slab.get_mut(b).unwrap() = "B";
        assert_eq!(slab.remove_matching(|v| *v == "c"), vec!["c"]);
        assert_eq!(slab.drain_all().collect::<Vec<_>>(), vec!["B"]);
        assert!(slab.is_empty());
    }
}
