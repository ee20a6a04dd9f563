//! `corral::metrics`: counters of the shared scheduler, pending timers and live coroutines.

use std::time::{Duration, Instant};

use corral::prelude::*;

#[test]
fn metrics_count_polls_timers_and_live_coroutines() {
    let before = corral::metrics::metrics();
    assert_eq!(
        before.live_coroutines, None,
        "not counted until debug is installed"
    );
    corral::debug::install();

    let sleeper = GlobalScope::launch(|_| async { delay(Duration::from_secs(30)).await });
    let deadline = Instant::now() + Duration::from_secs(5);
    let during = loop {
        let metrics = corral::metrics::metrics();
        if metrics.timers_pending >= 1 {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "the delay's timer never showed: {metrics:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(during.live_coroutines >= Some(1), "{during:?}");

    let ran = 100u64;
    run_blocking(|scope| async move {
        for _ in 0..ran {
            scope.launch_with(Dispatchers::default(), CoroutineStart::Default, |_| async {
            });
        }
    })
    .unwrap();
    let after = corral::metrics::metrics();
    let scheduler = &after.scheduler;
    assert!(
        scheduler.total_poll_count() >= before.scheduler.total_poll_count() + ran,
        "{after:?}"
    );
    assert!(
        scheduler.num_threads >= 1 && scheduler.cpu_permits >= 1,
        "{after:?}"
    );
    assert!(
        scheduler.cpu_permits_in_use <= scheduler.cpu_permits,
        "{after:?}"
    );
    assert!(!scheduler.workers.is_empty(), "{after:?}");

    let join = sleeper.clone();
    sleeper.cancel();
    run_blocking(|_| async move { join.join().await }).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while corral::metrics::metrics().timers_pending != 0 {
        assert!(
            Instant::now() < deadline,
            "a cancelled delay's timer stays pending"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}
