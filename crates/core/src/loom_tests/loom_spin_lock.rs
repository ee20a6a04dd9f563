//! Loom model of [`SpinLock`]: mutual exclusion, and the hand-over of the data it protects.
//!
//! The protected data is a loom `UnsafeCell` next to the lock, written only while holding it,
//! so loom reports a data race if the lock ever admits two holders, or if its Acquire/Release
//! pair failed to order one holder's writes before the next holder's reads.

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

use crate::spin_lock::SpinLock;

struct Guarded {
    lock: SpinLock<()>,
    counter: UnsafeCell<usize>,
}

// SAFETY: `counter` is only accessed while holding `lock` (that is what the model checks).
unsafe impl Sync for Guarded {}

fn increment(guarded: &Guarded) {
    let _guard = guarded.lock.lock();
    // SAFETY: the lock is held, so no other access overlaps this one (what loom checks).
    guarded.counter.with_mut(|counter| unsafe { *counter += 1 });
}

#[test]
fn loom_spin_lock_excludes_and_publishes() {
    loom::model(|| {
        let guarded = Arc::new(Guarded {
            lock: SpinLock::new(()),
            counter: UnsafeCell::new(0),
        });
        let other = {
            let guarded = guarded.clone();
            thread::spawn(move || increment(&guarded))
        };
        increment(&guarded);
        other.join().unwrap();
        let _guard = guarded.lock.lock();
        // SAFETY: the lock is held and the other thread has finished.
        let total = guarded.counter.with(|counter| unsafe { *counter });
        assert_eq!(total, 2);
    });
}
