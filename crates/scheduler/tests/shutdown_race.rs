//! Spawns during shutdown: a task submitted while another thread shuts the pool down is
//! either run or rejected, never left in a queue no worker will look at again.
//!
//! Submitters race `shutdown(Duration::ZERO)` (which does not wait, so it rejects nothing
//! itself); once every worker has exited, nothing may be queued, and every task that was
//! accepted must have run or been dropped by its rejection. Each round bounds its waits, so a
//! regression fails instead of hanging.
#![cfg(not(miri))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use corral_core::{Runnable, TaskMode};
use corral_scheduler::CoroutineScheduler;

const WAIT: Duration = Duration::from_secs(10);

/// Counts the tasks whose closure is gone: run, or dropped by a rejection.
struct Settled(Arc<AtomicUsize>);

impl Drop for Settled {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn round(round: usize, mode: TaskMode) {
    let pool = CoroutineScheduler::builder()
        .core_pool_size(2)
        .max_pool_size(4)
        .name("shutdown-race")
        .build()
        .unwrap();
    let settled = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(3));
    let submitters: Vec<_> = (0..2)
        .map(|_| {
            let (pool, settled, accepted, stop, start) = (
                pool.clone(),
                settled.clone(),
                accepted.clone(),
                stop.clone(),
                start.clone(),
            );
            thread::spawn(move || {
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    let guard = Settled(settled.clone());
                    let task = Runnable::from_fn(move || drop(guard));
                    match pool.dispatch(task, mode, false) {
                        Ok(()) => {
                            accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        // The rejected runnable drops here, its guard with it.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    start.wait();
    // Let the submitters and the workers get going, a different amount each round.
    thread::sleep(Duration::from_micros(50 * (round % 20) as u64));
    pool.shutdown(Duration::ZERO);
    stop.store(true, Ordering::Relaxed);
    for submitter in submitters {
        submitter.join().unwrap();
    }
    let deadline = Instant::now() + WAIT;
    while pool.counters().threads > 0 {
        assert!(
            Instant::now() < deadline,
            "round {round}: the workers never exited"
        );
        thread::sleep(Duration::from_millis(1));
    }
    let counters = pool.counters();
    assert_eq!(
        counters.queued_globally, 0,
        "round {round} ({mode:?}): tasks left queued in a closed pool without workers"
    );
    let accepted = accepted.load(Ordering::SeqCst);
    let settled_now = settled.load(Ordering::SeqCst);
    assert!(
        settled_now >= accepted,
        "round {round} ({mode:?}): {accepted} tasks accepted, only {settled_now} run or rejected"
    );
}

#[test]
fn cpu_tasks_submitted_during_shutdown_run_or_are_rejected() {
    for n in 0..200 {
        round(n, TaskMode::NonBlocking);
    }
}

#[test]
fn blocking_tasks_submitted_during_shutdown_run_or_are_rejected() {
    for n in 0..200 {
        round(n, TaskMode::ProbablyBlocking);
    }
}
