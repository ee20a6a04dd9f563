//! [`IndexStack`]: the versioned, index-based Treiber stack of parked workers.
//!
//! Workers are named by their slot index, so the stack holds no pointers: the top word packs
//! the index of the top slot with a version that every successful update bumps. A popper that
//! read an old top fails its CAS even if the same index is on top again (the ABA case), so no
//! memory reclamation scheme is needed (kotlinx's `parkedWorkersStack` design).
//!
//! Most recently pushed is popped first: wake-ups go to the warmest worker, and when the pool
//! has more threads than work, the bottom of the stack stays asleep and retires.
//!
//! # Invariants
//!
//! * Only slot `i`'s own worker pushes `i`, and only when `i` is not in the stack (its link is
//!   [`NOT_IN_STACK`]). Any thread may pop.
//! * A popped slot's link is reset to [`NOT_IN_STACK`] by the popper, *after* the CAS that
//!   removed it: until then its owner still sees itself as stacked and does not push again.

use crate::loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The link of a slot that is not in the stack.
const NOT_IN_STACK: u32 = u32::MAX;
/// The link of the bottom slot.
const BOTTOM: u32 = u32::MAX - 1;

const INDEX_BITS: u32 = 21;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// Added to the top word on every update (the version lives above the index).
const VERSION_INCREMENT: u64 = 1 << INDEX_BITS;

/// A stack of slot indices; see the module docs.
#[derive(Debug)]
pub(crate) struct IndexStack {
    /// `version << 21 | (top index + 1)`; index field 0 means empty.
    top: AtomicU64,
    links: Box<[AtomicU32]>,
}

impl IndexStack {
    /// An empty stack for slots `0..capacity`.
    pub(crate) fn new(capacity: usize) -> IndexStack {
        assert!(capacity < INDEX_MASK as usize);
        IndexStack {
            top: AtomicU64::new(0),
            links: (0..capacity)
                .map(|_| AtomicU32::new(NOT_IN_STACK))
                .collect(),
        }
    }

    /// `true` while `index` is in the stack (or being popped, see the invariants).
    pub(crate) fn contains(&self, index: usize) -> bool {
        self.links[index].load(Ordering::SeqCst) != NOT_IN_STACK
    }

    /// Pushes `index` unless it is already in the stack. Only `index`'s owner calls this.
    pub(crate) fn push(&self, index: usize) {
        if self.contains(index) {
            return;
        }
        let mut top = self.top.load(Ordering::SeqCst);
        loop {
            let below = match top & INDEX_MASK {
                0 => BOTTOM,
                stored => (stored - 1) as u32,
            };
            self.links[index].store(below, Ordering::SeqCst);
            let next = (top & !INDEX_MASK).wrapping_add(VERSION_INCREMENT) | (index as u64 + 1);
            match self
                .top
                .compare_exchange(top, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return,
                Err(actual) => top = actual,
            }
        }
    }

    /// Pops the most recently pushed index.
    pub(crate) fn pop(&self) -> Option<usize> {
        let mut top = self.top.load(Ordering::SeqCst);
        loop {
            let index = match top & INDEX_MASK {
                0 => return None,
                stored => (stored - 1) as usize,
            };
            let below = self.links[index].load(Ordering::SeqCst);
            if below == NOT_IN_STACK {
                // Another popper took `index` between our two loads; the top has moved on.
                top = self.top.load(Ordering::SeqCst);
                continue;
            }
            let below_field = if below == BOTTOM {
                0
            } else {
                u64::from(below) + 1
            };
            let next = (top & !INDEX_MASK).wrapping_add(VERSION_INCREMENT) | below_field;
            match self
                .top
                .compare_exchange(top, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    self.links[index].store(NOT_IN_STACK, Ordering::SeqCst);
                    return Some(index);
                }
                Err(actual) => top = actual,
            }
        }
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn most_recently_pushed_pops_first_and_double_push_is_ignored() {
        let stack = IndexStack::new(4);
        stack.push(1);
        stack.push(3);
        stack.push(3);
        stack.push(0);
        assert!(stack.contains(3));
        assert_eq!(stack.pop(), Some(0));
        assert_eq!(stack.pop(), Some(3));
        assert!(!stack.contains(3));
        stack.push(2);
        assert_eq!(stack.pop(), Some(2));
        assert_eq!(stack.pop(), Some(1));
        assert_eq!(stack.pop(), None);
    }
}
