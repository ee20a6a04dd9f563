//! The handoff window of a worker probe: which side gives a stalled poll's CPU permit back.
//!
//! At each poll's start the worker opens the window with the poll's stamp; the monitor may
//! hand the permit off only by a CAS that marks that very stamp ([`HANDED`]); the worker
//! closes the window with a swap at the poll's end (or before giving its permit back itself,
//! in a `block_in_place` section) and so learns whether the monitor won. One side alone
//! releases the permit: the monitor iff its CAS won, which the worker's swap then sees.
//! Modelled in `loom_tests/loom_handoff.rs`.

use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// The bit of the window that says the monitor gave the poll's permit away.
const HANDED: u64 = 1 << 63;

/// See the module docs. 0 when no poll is open.
#[derive(Debug)]
pub(crate) struct HandoffWindow {
    stamp: AtomicU64,
}

impl HandoffWindow {
    pub(crate) fn new() -> HandoffWindow {
        HandoffWindow {
            stamp: AtomicU64::new(0),
        }
    }

    /// The worker opens the window of the poll `stamp` (not 0, below [`HANDED`]). Returns the
    /// window it replaced (to reopen after a nested poll) and whether that one was handed off.
    pub(crate) fn open(&self, stamp: u64) -> (u64, bool) {
        let previous = self.stamp.swap(stamp, Ordering::AcqRel);
        (previous & !HANDED, previous & HANDED != 0)
    }

    /// The worker closes the window, reopening `previous` (a nested poll's parent, whose stamp
    /// the monitor no longer matches, or 0). Returns whether the closed poll was handed off.
    pub(crate) fn close(&self, previous: u64) -> bool {
        self.stamp.swap(previous, Ordering::AcqRel) & HANDED != 0
    }

    /// The monitor, having seen the poll `stamp` stalled, claims its permit: `true` if it must
    /// now release it (the poll was still open).
    pub(crate) fn try_hand_off(&self, stamp: u64) -> bool {
        self.stamp
            .compare_exchange(stamp, stamp | HANDED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }
}
