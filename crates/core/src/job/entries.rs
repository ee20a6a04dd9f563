//! [`Entries`]: a job's completion entries (handlers and join wakers) in registration order.
//!
//! Most jobs have at most one entry (the `Deferred` awaiting them, or one `join`), so the first
//! entry is stored inline and only further ones spill into a [`Slab`]: joining or awaiting a
//! coroutine costs no allocation beyond the coroutine's own.

use crate::job::core::CompletionEntry;
use crate::slab::Slab;

/// The key of the inline entry; slab keys are indices and never reach it.
const INLINE_KEY: usize = usize::MAX;

/// See the module docs.
pub(crate) struct Entries {
    inline: Option<(u64, CompletionEntry)>,
    spilled: Slab<(u64, CompletionEntry)>,
    next_sequence: u64,
}

impl Entries {
    pub(crate) const fn new() -> Entries {
        Entries {
            inline: None,
            spilled: Slab::new(),
            next_sequence: 0,
        }
    }

    /// Adds an entry and returns its key.
    pub(crate) fn insert(&mut self, entry: CompletionEntry) -> usize {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        if self.inline.is_none() {
            self.inline = Some((sequence, entry));
            INLINE_KEY
        } else {
            self.spilled.insert((sequence, entry))
        }
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut CompletionEntry> {
        if key == INLINE_KEY {
            self.inline.as_mut().map(|(_, entry)| entry)
        } else {
            self.spilled.get_mut(key).map(|(_, entry)| entry)
        }
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<CompletionEntry> {
        if key == INLINE_KEY {
            self.inline.take().map(|(_, entry)| entry)
        } else {
            self.spilled.remove(key).map(|(_, entry)| entry)
        }
    }

    /// Takes the entries for which `pred` holds, in registration order; the others stay.
    pub(crate) fn take_matching(
        &mut self,
        mut pred: impl FnMut(&CompletionEntry) -> bool,
    ) -> Vec<CompletionEntry> {
        let mut taken: Vec<(u64, CompletionEntry)> = self.spilled.remove_matching(|(_, e)| pred(e));
        if self.inline.as_ref().is_some_and(|(_, e)| pred(e)) {
            taken.extend(self.inline.take());
        }
        taken.sort_unstable_by_key(|(sequence, _)| *sequence);
        taken.into_iter().map(|(_, entry)| entry).collect()
    }

    /// Takes every entry, in registration order.
    pub(crate) fn drain_in_order(&mut self) -> Vec<CompletionEntry> {
        let mut all: Vec<(u64, CompletionEntry)> = self.spilled.drain_all().collect();
        if let Some(inline) = self.inline.take() {
            all.push(inline);
        }
        all.sort_unstable_by_key(|(sequence, _)| *sequence);
        all.into_iter().map(|(_, entry)| entry).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::{Entries, INLINE_KEY};
    use crate::job::core::CompletionEntry;

    fn waker() -> CompletionEntry {
        CompletionEntry::Waker(Waker::noop().clone())
    }

    #[test]
    fn keeps_registration_order_across_inline_and_spilled() {
        let mut entries = Entries::new();
        let first = entries.insert(waker());
        assert_eq!(first, INLINE_KEY);
        let second = entries.insert(waker());
        assert!(entries.remove(first).is_some());
        let third = entries.insert(waker()); // reuses the inline slot, but is registered last
        assert_eq!(third, INLINE_KEY);
        assert!(entries.get_mut(second).is_some());
        assert_eq!(entries.drain_in_order().len(), 2);
    }
}
