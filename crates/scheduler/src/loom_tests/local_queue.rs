//! Loom models of the local queue: owner push/pop and overflow racing a thief.

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;

use super::counting_task;
use crate::global_queue::GlobalQueue;
use crate::local_queue::{self, LOCAL_QUEUE_CAPACITY};

/// The owner pushes and pops while a thief steals half into its own ring: each task runs once.
#[test]
fn push_pop_racing_steal_takes_each_task_once() {
    loom::model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let global = Arc::new(GlobalQueue::new());
        let (mut owner, stealer) = local_queue::new();
        const TASKS: usize = 3;

        let thief = loom::thread::spawn(move || {
            let (mut thief_ring, _) = local_queue::new();
            if let Some(task) = stealer.steal_into(&mut thief_ring) {
                task.run();
            }
            while let Some(task) = thief_ring.pop() {
                task.run();
            }
        });

        for _ in 0..TASKS {
            owner.push_back(counting_task(&runs), &global);
        }
        if let Some(task) = owner.pop() {
            task.run();
        }
        thief.join().unwrap();
        while let Some(task) = owner.pop() {
            task.run();
        }
        while let Some(task) = global.pop() {
            task.run();
        }
        assert_eq!(runs.load(Ordering::SeqCst), TASKS);
    });
}

/// Pushing past capacity moves half the ring to the global queue while a thief steals: no
/// task is lost or run twice.
#[test]
fn overflow_racing_steal_takes_each_task_once() {
    loom::model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let global = Arc::new(GlobalQueue::new());
        let (mut owner, stealer) = local_queue::new();
        let tasks = LOCAL_QUEUE_CAPACITY + 1;
        for _ in 0..LOCAL_QUEUE_CAPACITY {
            owner.push_back(counting_task(&runs), &global);
        }

        let thief = loom::thread::spawn(move || {
            let (mut thief_ring, _) = local_queue::new();
            if let Some(task) = stealer.steal_into(&mut thief_ring) {
                task.run();
            }
            while let Some(task) = thief_ring.pop() {
                task.run();
            }
        });

        owner.push_back(counting_task(&runs), &global);
        thief.join().unwrap();
        while let Some(task) = owner.pop() {
            task.run();
        }
        while let Some(task) = global.pop() {
            task.run();
        }
        assert_eq!(runs.load(Ordering::SeqCst), tasks);
    });
}
