//! Loom model of the park/wake handshake between the last searching worker and a submitter.

use std::time::Duration;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;

use crate::idle::{Idle, Wake};

/// The last searching worker parks while a submitter publishes a task and notifies. Whatever
/// the interleaving, the worker either sees the task in its re-check or is claimed: the task
/// is never stranded with everyone asleep.
#[test]
fn task_published_while_last_worker_parks_is_found() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(1));
        let queue_has_task = Arc::new(AtomicBool::new(false));
        assert!(idle.try_start_searching(1));

        let submitter = {
            let idle = idle.clone();
            let queue_has_task = queue_has_task.clone();
            loom::thread::spawn(move || {
                queue_has_task.store(true, Ordering::SeqCst);
                idle.notify_work();
            })
        };

        // The worker's park protocol, in the order `worker.rs` follows.
        assert!(idle.announce_park(0, true));
        let found = if queue_has_task.load(Ordering::SeqCst) {
            idle.cancel_park(0);
            true
        } else {
            // Untimed under loom: a lost wake-up shows up as a deadlock.
            match idle.wait(0, Duration::from_secs(60)) {
                Wake::Claimed | Wake::Rescan => queue_has_task.load(Ordering::SeqCst),
                Wake::TimedOut => false,
            }
        };
        submitter.join().unwrap();
        assert!(found, "the worker slept through a published task");
    });
}

/// A parked worker's park driver claims the worker itself (before waking the tasks of the
/// events it received) while a submitter claims it too: the worker leaves as one searcher,
/// counted once, whichever claim came first.
#[test]
fn self_claim_racing_a_waker_counts_one_searcher() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(1));
        assert!(!idle.announce_park(0, false));
        let waker = {
            let idle = idle.clone();
            loom::thread::spawn(move || idle.wake_one())
        };
        idle.claim_self();
        assert_eq!(idle.end_self_claim(0), Wake::Claimed);
        // `wake_one` either claimed the worker (and the double count was given back) or
        // found it running (and gave its own count back).
        waker.join().unwrap();
        assert_eq!(idle.searching(), 1, "the worker is one searcher");
    });
}
