//! `CORRAL_STALL_HANDOFF=1`: with one CPU permit, a coroutine blocking its Default worker does
//! not stop the rest of Default, and the permit count is whole again afterwards.
//!
//! One test: the settings are read once per process.

use std::time::{Duration, Instant};

use corral::prelude::*;

/// How long the stalled poll blocks.
const BLOCK: Duration = Duration::from_millis(2000);

#[test]
fn a_stalled_workers_permit_goes_to_another_worker_and_comes_back() {
    std::env::set_var("CORRAL_CORE_POOL_SIZE", "1");
    std::env::set_var("CORRAL_STALL_MS", "40");
    std::env::set_var("CORRAL_STALL_HANDOFF", "1");
    let started = Instant::now();
    let blocker = GlobalScope::launch(|_| async { std::thread::sleep(BLOCK) });
    // Queued behind the blocker on the only permit: without handoff it waits for BLOCK.
    let quick = GlobalScope::async_(|_| async { 42 });
    let blocker_join = blocker.clone();
    let (value, quick_done) = run_blocking(|_| async move {
        let value = quick.await;
        let quick_done = started.elapsed();
        blocker_join.join().await;
        (value, quick_done)
    })
    .expect("the test coroutine");
    assert_eq!(value.expect("the quick coroutine"), 42);
    assert!(
        quick_done < BLOCK / 2,
        "the quick coroutine waited {quick_done:?} for the blocked worker's permit"
    );

    // Every permit is back, and only one: at rest all are free, and Default still runs.
    let scheduler = corral::Dispatchers::shared_scheduler();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let free = scheduler.counters().free_cpu_permits;
        if free == 1 {
            break;
        }
        assert!(free < 2, "a permit was released twice: {free} free of 1");
        assert!(Instant::now() < deadline, "a permit never came back");
        std::thread::sleep(Duration::from_millis(5));
    }
    let again = GlobalScope::async_(|_| async { 7 });
    assert_eq!(run_blocking(|_| again).unwrap().unwrap(), 7);
}
