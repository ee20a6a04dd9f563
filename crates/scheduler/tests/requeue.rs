//! `CoroutineScheduler::requeue`: the running task re-queuing itself after a yield goes
//! behind the work its worker already queued, runs from anywhere, and is refused after
//! shutdown like any dispatch. (That it wakes no other worker is a cost, measured by
//! `corral-bench`'s `yield_many`; that a plain `fair` dispatch still does is checked by the
//! stress test `barrier_rounds_never_lose_a_wake_up`.)
#![cfg(not(miri))]

use std::sync::mpsc;
use std::time::Duration;

use corral_core::{Runnable, TaskMode};
use corral_scheduler::CoroutineScheduler;

const WAIT: Duration = Duration::from_secs(10);

fn one_worker(name: &str) -> CoroutineScheduler {
    CoroutineScheduler::builder()
        .core_pool_size(1)
        .name(name)
        .build()
        .unwrap()
}

/// Re-queued from a worker, a task runs after the work that worker queued before it (FIFO).
#[test]
fn requeue_runs_after_the_work_already_queued() {
    let pool = one_worker("requeue-order");
    let (sender, receiver) = mpsc::channel();
    let inner = pool.clone();
    pool.execute(move || {
        for name in ["first", "second"] {
            let sender = sender.clone();
            let task = Runnable::from_fn(move || sender.send(name).unwrap());
            inner.dispatch(task, TaskMode::NonBlocking, true).unwrap();
        }
        let task = Runnable::from_fn(move || sender.send("requeued").unwrap());
        inner.requeue(task, TaskMode::NonBlocking).unwrap();
    })
    .unwrap();
    let order: Vec<_> = (0..3)
        .map(|_| receiver.recv_timeout(WAIT).expect("a task never ran"))
        .collect();
    assert_eq!(order, ["first", "second", "requeued"]);
    assert!(pool.shutdown(WAIT).is_clean());
}

/// Outside the pool's workers a re-queue is an ordinary submission, and after shutdown it is
/// refused with the runnable given back.
#[test]
fn requeue_from_outside_runs_and_is_refused_after_shutdown() {
    let pool = one_worker("requeue-outside");
    let (sender, receiver) = mpsc::channel();
    let task = Runnable::from_fn(move || sender.send(()).unwrap());
    pool.requeue(task, TaskMode::NonBlocking).unwrap();
    receiver
        .recv_timeout(WAIT)
        .expect("the re-queued task never ran");
    assert!(pool.shutdown(WAIT).is_clean());
    let refused = pool.requeue(Runnable::from_fn(|| ()), TaskMode::NonBlocking);
    assert!(refused.is_err(), "a re-queue after shutdown was accepted");
}
