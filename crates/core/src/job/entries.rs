//! [`Entries`]: a job's completion entries (handlers and join wakers) in registration order.
//!
//! Most jobs have at most one entry (the `Deferred` awaiting them, or one `join`), so they
//! live in an [`InlineSlab`]: joining or awaiting a coroutine costs no allocation beyond the
//! coroutine's own. The slab's keys never repeat, so the handle of an entry that already ran
//! or left (a spent `invoke_on_cancelling` handle disposed later, a woken `join`) is a no-op
//! and never touches the entry that reused its slot; their stamps give the registration order.

use crate::job::state_machine::CompletionEntry;
use crate::slab::{Drained, InlineSlab, SlabKey};

/// See the module docs.
pub(crate) struct Entries {
    slots: InlineSlab<CompletionEntry>,
}

impl Entries {
    pub(crate) const fn new() -> Entries {
        Entries {
            slots: InlineSlab::new(),
        }
    }

    /// Adds an entry and returns its key.
    pub(crate) fn insert(&mut self, entry: CompletionEntry) -> SlabKey {
        self.slots.insert(entry)
    }

    /// The entry `key` names; `None` if it ran or was removed.
    pub(crate) fn get_mut(&mut self, key: SlabKey) -> Option<&mut CompletionEntry> {
        self.slots.get_mut(key)
    }

    /// Removes the entry `key` names; `None` (a no-op) if it ran or was removed.
    pub(crate) fn remove(&mut self, key: SlabKey) -> Option<CompletionEntry> {
        self.slots.remove(key)
    }

    /// Whether no entry is registered.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether an `invoke_on_cancelling` handler is registered.
    pub(crate) fn has_cancelling_handlers(&self) -> bool {
        self.slots
            .iter()
            .any(|entry| matches!(entry, CompletionEntry::CancellingHandler(_)))
    }

    /// Takes the entries for which `pred` holds, in registration order; the others stay.
    pub(crate) fn take_matching(
        &mut self,
        pred: impl FnMut(&CompletionEntry) -> bool,
    ) -> Vec<CompletionEntry> {
        self.slots.take_matching_in_order(pred)
    }

    /// Takes every entry, in registration order.
    pub(crate) fn drain_in_order(&mut self) -> Drained<CompletionEntry> {
        self.slots.drain_in_order()
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::Entries;
    use crate::job::state_machine::CompletionEntry;

    fn waker() -> CompletionEntry {
        CompletionEntry::Waker(Waker::noop().clone())
    }

    fn handler() -> CompletionEntry {
        CompletionEntry::Handler(Box::new(|_| {}))
    }

    #[test]
    fn keeps_registration_order_across_inline_and_spilled() {
        let mut entries = Entries::new();
        let first = entries.insert(handler());
        let second = entries.insert(waker());
        assert!(entries.remove(first).is_some());
        entries.insert(handler()); // reuses the inline slot, but is registered last
        assert!(entries.get_mut(second).is_some());
        let drained = entries.drain_in_order();
        assert!(matches!(
            drained.as_slice(),
            [CompletionEntry::Waker(_), CompletionEntry::Handler(_)]
        ));
    }

    /// A spent handle (its entry was taken when cancellation started) must not remove the
    /// entry registered next in the same slot.
    #[test]
    fn a_spent_key_never_removes_the_entry_that_reused_its_slot() {
        let mut entries = Entries::new();
        let spent = entries.insert(CompletionEntry::CancellingHandler(Box::new(|_| {})));
        let taken =
            entries.take_matching(|entry| matches!(entry, CompletionEntry::CancellingHandler(_)));
        assert_eq!(taken.len(), 1);
        let joiner = entries.insert(waker());
        assert!(entries.remove(spent).is_none());
        assert!(entries.get_mut(spent).is_none());
        assert!(entries.get_mut(joiner).is_some());
        assert_eq!(entries.drain_in_order().count(), 1);
    }
}
