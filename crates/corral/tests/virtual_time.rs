//! `corral::test`: the kotlinx-coroutines-test behaviours that apply to `run_test` (virtual
//! time that jumps when the test is idle, `advance_time_by` boundaries, `with_timeout` in
//! virtual time, failures reported by their own test, auto-advance off, the real-time limit,
//! blocking work in flight on another dispatcher not skipped over).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corral::prelude::*;
use corral::test::{
    advance_time_by, advance_until_idle, current_time, run_current, run_test, run_test_with,
    TestConfig, DEFAULT_TEST_TIMEOUT,
};

const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// A bound for what must take "milliseconds" in virtual time, generous for a loaded machine.
const FAST: Duration = Duration::from_secs(5);

type Log = Arc<Mutex<Vec<String>>>;

fn log_to(log: &Log, entry: impl Into<String>) {
    log.lock().unwrap().push(entry.into());
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[test]
fn a_day_of_delays_runs_in_milliseconds() {
    let started = Instant::now();
    let (elapsed, ticks) = run_test(|scope| async move {
        // 100 coroutines each sleeping a day in 1 440 one-minute steps.
        let ticks: Vec<_> = (0..100)
            .map(|_| {
                scope.async_(|_| async {
                    let mut ticks = 0;
                    for _ in 0..1440 {
                        delay(Duration::from_secs(60)).await;
                        ticks += 1;
                    }
                    ticks
                })
            })
            .collect();
        let mut total = 0;
        for deferred in ticks {
            total += deferred.await.unwrap();
        }
        (current_time(), total)
    })
    .unwrap();
    assert_eq!(elapsed, DAY);
    assert_eq!(ticks, 144_000);
    assert!(started.elapsed() < FAST, "took {:?}", started.elapsed());
}

#[test]
fn the_clock_jumps_to_the_next_timer_in_deadline_order() {
    let log: Log = Arc::default();
    let seen = log.clone();
    run_test(move |scope| async move {
        for (name, after) in [("c", 300), ("a", 100), ("b", 200)] {
            let log = log.clone();
            scope.launch(move |_| async move {
                delay(Duration::from_millis(after)).await;
                log_to(&log, format!("{name}@{:?}", current_time()));
            });
        }
        assert_eq!(current_time(), Duration::ZERO);
    })
    .unwrap();
    assert_eq!(entries(&seen), ["a@100ms", "b@200ms", "c@300ms"]);
}

#[test]
fn advance_time_by_runs_what_is_due_strictly_before_the_target() {
    let config = TestConfig::default().auto_advance(false);
    let log: Log = Arc::default();
    let seen = log.clone();
    run_test_with(config, move |scope| async move {
        for after in [100, 200, 300] {
            let log = log.clone();
            scope.launch(move |_| async move {
                delay(Duration::from_millis(after)).await;
                log_to(&log, format!("{after}"));
            });
        }
        // Let the children start and register their timers.
        run_current().await;
        advance_time_by(Duration::from_millis(100)).await;
        assert_eq!(current_time(), Duration::from_millis(100));
        assert!(entries(&log).is_empty(), "due at the target: not run yet");
        run_current().await;
        assert_eq!(entries(&log), ["100"]);
        advance_time_by(Duration::from_millis(150)).await;
        assert_eq!(current_time(), Duration::from_millis(250));
        assert_eq!(entries(&log), ["100", "200"]);
        advance_until_idle().await;
        assert_eq!(current_time(), Duration::from_millis(300));
        assert_eq!(entries(&log), ["100", "200", "300"]);
        advance_time_by(Duration::ZERO).await;
        assert_eq!(current_time(), Duration::from_millis(300));
    })
    .unwrap();
    assert_eq!(entries(&seen).len(), 3);
}

#[test]
fn advance_until_idle_runs_every_timer() {
    let out = run_test(|scope| async move {
        let first = scope.async_(|_| async {
            delay(HOUR).await;
            current_time()
        });
        let second = scope.async_(|_| async {
            delay(2 * HOUR).await;
            current_time()
        });
        advance_until_idle().await;
        assert!(first.is_completed() && second.is_completed());
        (first.await.unwrap(), second.await.unwrap(), current_time())
    })
    .unwrap();
    assert_eq!(out, (HOUR, 2 * HOUR, 2 * HOUR));
}

#[test]
fn with_timeout_runs_in_virtual_time() {
    let started = Instant::now();
    run_test(|_| async {
        let timed_out = with_timeout(10 * SECOND, |_| async {
            delay(DAY).await;
        })
        .await
        .unwrap_err();
        assert!(timed_out.is_timeout(), "{timed_out}");
        assert_eq!(current_time(), 10 * SECOND);
        let finished = with_timeout(10 * SECOND, |_| async {
            delay(5 * SECOND).await;
            1
        })
        .await;
        assert_eq!(finished.unwrap(), 1);
        assert_eq!(current_time(), 15 * SECOND);
        let none = with_timeout_or_none(HOUR, |_| async { delay(2 * HOUR).await })
            .await
            .unwrap();
        assert!(none.is_none());
        assert_eq!(current_time(), 15 * SECOND + HOUR);
    })
    .unwrap();
    assert!(started.elapsed() < FAST);
}

#[test]
fn a_failing_child_fails_its_test_and_no_later_one() {
    let failed = run_test(|scope| async move {
        scope.launch(|_| async {
            delay(SECOND).await;
            panic!("child failed at one second");
        });
        delay(DAY).await;
    })
    .unwrap_err();
    assert!(failed.is_failure(), "{failed}");
    assert!(failed.to_string().contains("child failed at one second"));
    // The next test is not touched by the previous one's failure.
    assert_eq!(run_test(|_| async { 5 }).unwrap(), 5);
}

#[test]
fn a_failure_that_reaches_a_handler_fails_the_test() {
    let failed = run_test(|_| async {
        supervisor_scope(|scope| async move {
            scope.launch(|_| async {
                delay(SECOND).await;
                panic!("supervised child failed");
            });
        })
        .await
        .unwrap();
        "the body itself succeeded"
    })
    .unwrap_err();
    assert!(
        failed.to_string().contains("supervised child failed"),
        "{failed}"
    );
    assert_eq!(run_test(|_| async { 6 }).unwrap(), 6);
}

#[test]
fn auto_advance_off_moves_the_clock_only_when_asked() {
    let config = TestConfig::default().auto_advance(false);
    run_test_with(config, |scope| async move {
        let sleeper = scope.launch(|_| async { delay(HOUR).await });
        run_current().await;
        assert!(!sleeper.is_completed());
        assert_eq!(current_time(), Duration::ZERO);
        advance_time_by(HOUR + SECOND).await;
        run_current().await;
        assert!(sleeper.is_completed());
    })
    .unwrap();
}

#[test]
fn the_real_time_limit_fails_a_test_that_never_finishes() {
    assert_eq!(DEFAULT_TEST_TIMEOUT, Duration::from_secs(60));
    let limit = Duration::from_millis(300);
    let started = Instant::now();
    // Auto-advance off: the delay can never end by itself.
    let config = TestConfig::default().auto_advance(false).timeout(limit);
    let failed = run_test_with(config, |scope| async move {
        scope.launch(|_| async { delay(SECOND).await });
        delay(HOUR).await;
    })
    .unwrap_err();
    let took = started.elapsed();
    assert!(took >= limit && took < FAST, "took {took:?}");
    let message = failed.to_string();
    assert!(
        message.contains("did not complete within 300ms of real time"),
        "{message}"
    );
    // A body waiting for nothing at all, auto-advance on.
    let config = TestConfig::default().timeout(limit);
    let failed = run_test_with(config, |_| std::future::pending::<()>()).unwrap_err();
    assert!(failed.to_string().contains("did not complete"), "{failed}");
}

#[test]
fn a_zero_real_time_limit_is_a_clear_error() {
    let config = TestConfig::default().timeout(Duration::ZERO);
    let error = run_test_with(config, |_| async {}).unwrap_err();
    assert!(error
        .to_string()
        .contains("timeout must be longer than zero"));
}

#[test]
fn blocking_work_in_flight_on_io_is_not_skipped_over() {
    let log: Log = Arc::default();
    let seen = log.clone();
    run_test(move |scope| async move {
        let sibling_log = log.clone();
        scope.launch(move |_| async move {
            delay(Duration::from_millis(10)).await;
            log_to(&sibling_log, "timer");
        });
        // The timeout is virtual, the sleep real: while the block runs on IO the clock must not
        // jump to the timeout (kotlinx #4045), nor to the sibling's timer.
        let value = with_timeout(SECOND, |_| async {
            with_context(Dispatchers::io(), |_| async {
                std::thread::sleep(Duration::from_millis(100));
                7
            })
            .await
            .unwrap()
        })
        .await
        .expect("the virtual timeout must not fire while IO works");
        assert_eq!(value, 7);
        log_to(&log, "io");
        assert_eq!(current_time(), Duration::ZERO);
    })
    .unwrap();
    assert_eq!(entries(&seen), ["io", "timer"]);
}

#[test]
fn other_dispatchers_keep_real_time() {
    let started = Instant::now();
    run_test(|_| async {
        with_context(Dispatchers::default(), |_| async {
            delay(Duration::from_millis(30)).await;
        })
        .await
        .unwrap();
        assert_eq!(current_time(), Duration::ZERO);
    })
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[test]
fn a_test_body_may_borrow_and_return_a_value() {
    let names = [String::from("a"), String::from("b")];
    let joined = run_test(|_| {
        let names = &names;
        async move {
            delay(HOUR).await;
            names.join("+")
        }
    })
    .unwrap();
    assert_eq!(joined, "a+b");
}

#[test]
#[should_panic(expected = "corral::test::current_time was called outside a test")]
fn current_time_outside_a_test_panics_clearly() {
    current_time();
}

#[test]
fn the_test_loop_runs_launched_coroutines_in_fifo_order() {
    let log: Log = Arc::default();
    let seen = log.clone();
    run_test(move |scope| async move {
        for name in ["A", "B"] {
            let log = log.clone();
            scope.launch(move |_| async move { log_to(&log, name) });
        }
        log_to(&log, "C");
    })
    .unwrap();
    assert_eq!(entries(&seen), ["C", "A", "B"]);
}

#[test]
fn a_coroutine_outliving_its_test_is_failed_not_left_asleep() {
    let (leaked, dispatcher_name) = run_test(|scope| async move {
        let dispatcher = scope.dispatcher();
        let name = dispatcher.to_string();
        // A root of its own: the test does not wait for it.
        let leaked = CoroutineScope::new(dispatcher).launch(|_| async { delay(DAY).await });
        yield_now().await;
        (leaked, name)
    })
    .unwrap();
    assert_eq!(dispatcher_name, "StandardTestDispatcher");
    assert!(leaked.is_completed() && leaked.is_cancelled());
}

#[test]
fn test_config_fields_and_builder_agree() {
    let built = TestConfig::default()
        .auto_advance(false)
        .timeout(Duration::from_secs(5));
    let literal = TestConfig {
        auto_advance: false,
        timeout: Duration::from_secs(5),
    };
    assert_eq!(built, literal);
    assert!(TestConfig::default().auto_advance);
    assert_eq!(TestConfig::default().timeout, DEFAULT_TEST_TIMEOUT);
}
