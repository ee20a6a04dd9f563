//! [`Entries`]: a job's completion entries (handlers and join wakers) in registration order.
//!
//! Most jobs have at most one entry (the `Deferred` awaiting them, or one `join`), so they
//! live in an [`InlineSlab`]: joining or awaiting a coroutine costs no allocation beyond the
//! coroutine's own. Slots are reused, so each entry carries its registration number.

use crate::job::core::CompletionEntry;
use crate::slab::InlineSlab;

/// See the module docs.
pub(crate) struct Entries {
    slots: InlineSlab<(u64, CompletionEntry)>,
    next_sequence: u64,
}

impl Entries {
    pub(crate) const fn new() -> Entries {
        Entries {
            slots: InlineSlab::new(),
            next_sequence: 0,
        }
    }

    /// Adds an entry and returns its key.
    pub(crate) fn insert(&mut self, entry: CompletionEntry) -> usize {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.slots.insert((sequence, entry))
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut CompletionEntry> {
        self.slots.get_mut(key).map(|(_, entry)| entry)
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<CompletionEntry> {
        self.slots.remove(key).map(|(_, entry)| entry)
    }

    /// Whether an `invoke_on_cancelling` handler is registered.
    pub(crate) fn has_cancelling_handlers(&self) -> bool {
        self.slots
            .iter()
            .any(|(_, entry)| matches!(entry, CompletionEntry::CancellingHandler(_)))
    }

    /// Takes the entries for which `pred` holds, in registration order; the others stay.
    pub(crate) fn take_matching(
        &mut self,
        mut pred: impl FnMut(&CompletionEntry) -> bool,
    ) -> Vec<CompletionEntry> {
        in_order(self.slots.remove_matching(|(_, entry)| pred(entry)))
    }

    /// Takes every entry, in registration order.
    pub(crate) fn drain_in_order(&mut self) -> Vec<CompletionEntry> {
        in_order(self.slots.drain_all().collect())
    }
}

/// Sorts entries by registration (slots are reused, so slot order is not registration order).
fn in_order(mut entries: Vec<(u64, CompletionEntry)>) -> Vec<CompletionEntry> {
    entries.sort_unstable_by_key(|(sequence, _)| *sequence);
    entries.into_iter().map(|(_, entry)| entry).collect()
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::Entries;
    use crate::job::core::CompletionEntry;
    use crate::slab::INLINE_KEY;

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
