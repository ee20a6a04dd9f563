//! Loom models of the "run next" slot: the owner filling it (with plain stores when it is
//! empty, by CAS when it displaces a task) and taking from it, racing a thief.

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;

use super::counting_task;
use crate::run_next::RunNext;

/// The owner fills the slot twice (the second put displaces the first task, fills the slot a
/// thief emptied, or gets its task back while the thief holds the slot) and then takes, while
/// a thief takes once: each task runs exactly once, and loom sees no unsynchronised access to
/// the slot's value.
#[test]
fn put_take_racing_thief_runs_each_task_once() {
    loom::model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(RunNext::default());

        let thief = {
            let slot = slot.clone();
            loom::thread::spawn(move || {
                if let Some(task) = slot.take() {
                    task.run();
                }
            })
        };

        assert!(
            slot.put(counting_task(&runs), 1).is_none(),
            "the slot starts empty"
        );
        if let Some(back) = slot.put(counting_task(&runs), 2) {
            back.run();
        }
        thief.join().unwrap();
        if let Some(task) = slot.take() {
            task.run();
        }
        assert!(slot.take().is_none());
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    });
}

/// A thief empties the slot while the owner, having seen it full, takes and refills it: the
/// owner's fill of an empty slot (no CAS) never overlaps the thief's read of the old value.
#[test]
fn refill_after_thief_take_is_ordered() {
    loom::model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(RunNext::default());
        assert!(slot.put(counting_task(&runs), 1).is_none());

        let thief = {
            let slot = slot.clone();
            loom::thread::spawn(move || {
                if let Some(task) = slot.take() {
                    task.run();
                }
            })
        };

        if let Some(task) = slot.take() {
            task.run();
        }
        if let Some(back) = slot.put(counting_task(&runs), 2) {
            back.run();
        }
        thief.join().unwrap();
        while let Some(task) = slot.take() {
            task.run();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    });
}
