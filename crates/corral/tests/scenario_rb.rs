//! RB scenarios (the `run_blocking` event loop: RB-01, RB-02, RB-04, RB-05, RB-08), plus the
//! delay ordering of TIME-01 / TIME-02 and the single-worker yield fairness of YIELD-01,
//! ported from kotlinx.coroutines' own tests (index in docs/conformance.md), against the facade.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::prelude::*;
use corral_test_support::{Steps, MS};

type Lines = Arc<Mutex<Vec<&'static str>>>;

fn say(lines: &Lines, line: &'static str) {
    lines.lock().unwrap().push(line);
}

/// RB-01 (a): run_blocking's private event loop is the root's dispatcher and supports
/// yield (with nothing else queued, yield simply continues).
#[test]
fn rb_01a_private_event_loop_supports_yield() {
    let s = Steps::new();
    s.expect(1);
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(2);
            let dispatcher = scope.dispatcher();
            assert_eq!(dispatcher.to_string(), "BlockingEventLoop");
            assert!(dispatcher.same_as(&corral::EventLoop::current().dispatcher()));
            // A child that names no dispatcher inherits the loop too.
            let child = scope.async_(|child| async move { child.dispatcher() });
            assert!(child.await.unwrap().same_as(&dispatcher));
            yield_now().await;
            s.expect(3);
        }
    })
    .unwrap();
    s.finish(4);
}

/// RB-01 (b): a nested run_blocking given the outer coroutine's context shares the outer
/// loop (same dispatcher) and also supports yield.
#[test]
fn rb_01b_nested_run_blocking_shares_outer_loop() {
    let s = Steps::new();
    s.expect(1);
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(2);
            let outer = scope.dispatcher();
            let inner_s = s.clone();
            let inner_outer = outer.clone();
            let outer_job = scope.job();
            run_blocking_with(scope.context().clone(), move |inner| async move {
                inner_s.expect(3);
                assert!(inner.dispatcher().same_as(&inner_outer));
                // runBlocking(coroutineContext): the outer job is the inner root's parent.
                assert!(inner.job().parent() == Some(outer_job));
                yield_now().await;
                inner_s.expect(4);
            })
            .unwrap();
            s.expect(5);
        }
    })
    .unwrap();
    s.finish(6);
}

/// RB-02 (a): a nested run_blocking on the same thread drives the outer loop's tasks: the
/// producer is queued on the outer loop and only the inner call can run it (no deadlock).
/// kotlinx uses `produce` / `receive`; corral has no channels, so a Deferred plays the channel.
#[test]
fn rb_02a_nested_run_blocking_drives_outer_tasks() {
    let value = run_blocking(|scope| async move {
        let outer_thread = std::thread::current().id();
        let producer = scope.async_(move |_| async move {
            // Queued on the outer loop, so it runs on this same thread.
            assert_eq!(std::thread::current().id(), outer_thread);
            "OK"
        });
        run_blocking(|_| async move { producer.await.unwrap() }).unwrap()
    })
    .unwrap();
    assert_eq!(value, "OK");
}

/// RB-02 (b): the KDoc example: the outer child's delay fires while the inner run_blocking
/// waits on its own (longer) delay.
#[test]
fn rb_02b_outer_child_runs_while_inner_waits() {
    let lines: Lines = Arc::default();
    run_blocking({
        let lines = lines.clone();
        move |scope| async move {
            let child_lines = lines.clone();
            let job = scope.launch(move |_| async move {
                delay(MS(50)).await;
                say(&child_lines, "Hello from the outer child coroutine");
            });
            run_blocking(|_| async {
                say(&lines, "Entered the inner runBlocking");
                delay(MS(200)).await;
                say(&lines, "Leaving the inner runBlocking");
            })
            .unwrap();
            assert!(job.is_completed());
        }
    })
    .unwrap();
    assert_eq!(
        *lines.lock().unwrap(),
        vec![
            "Entered the inner runBlocking",
            "Hello from the outer child coroutine",
            "Leaving the inner runBlocking",
        ]
    );
}

/// RB-04: run_blocking with a cancelled parent Job never runs its block and returns a
/// cancellation.
#[test]
fn rb_04_cancelled_parent_never_runs_block() {
    let s = Steps::new();
    let job = Job::new();
    job.cancel();
    let result = run_blocking_with(job, {
        let s = s.clone();
        move |_| async move { s.unreached() }
    });
    let error = result.unwrap_err();
    assert!(error.is_cancelled() && !error.is_failure(), "{error:?}");
    assert_eq!(s.count(), 0);
}

/// RB-05: nested run_blocking calls with delays return the innermost value.
#[test]
fn rb_05_nested_run_blocking_with_delays() {
    let value = run_blocking(|_| async {
        delay(MS(100)).await;
        let v = run_blocking(|_| async {
            delay(MS(100)).await;
            run_blocking(|_| async {
                delay(MS(100)).await;
                1
            })
            .unwrap()
        })
        .unwrap();
        assert_eq!(v, 1);
        v
    })
    .unwrap();
    assert_eq!(value, 1);
}

/// RB-08: a coroutine left on a finished run_blocking loop (a GlobalScope launch on the
/// loop's dispatcher, still delayed when the loop shuts down) is rescheduled, not lost: a
/// later run_blocking can join it.
#[test]
fn rb_08_delayed_task_on_finished_loop_is_rescheduled() {
    let job = run_blocking(|scope| async move {
        GlobalScope::launch_with(scope.dispatcher(), CoroutineStart::Default, |_| async {
            delay(MS(1)).await;
        })
    })
    .unwrap();
    // The loop has closed; the coroutine's delay must still end and the coroutine complete.
    let joined = run_blocking(move |_| async move {
        with_timeout(
            Duration::from_secs(10),
            move |_| async move { job.join().await },
        )
        .await
    })
    .unwrap();
    joined.expect("the coroutine of the finished loop was lost");
}

/// RB-08, with a longer delay and a yield, checking where the leftover coroutine finishes:
/// not on the (gone) loop's thread's queue but completed, normally.
#[test]
fn rb_08_rescheduled_coroutine_completes_normally() {
    let done = Arc::new(Mutex::new(false));
    let job = run_blocking({
        let done = done.clone();
        move |scope| async move {
            GlobalScope::launch_with(
                scope.dispatcher(),
                CoroutineStart::Default,
                move |_| async move {
                    delay(MS(20)).await;
                    yield_now().await;
                    *done.lock().unwrap() = true;
                },
            )
        }
    })
    .unwrap();
    assert!(
        !job.is_completed(),
        "the loop must not wait for a foreign job"
    );
    run_blocking({
        let job = job.clone();
        move |_| async move {
            with_timeout(
                Duration::from_secs(10),
                move |_| async move { job.join().await },
            )
            .await
            .unwrap()
        }
    })
    .unwrap();
    assert!(job.is_completed() && !job.is_cancelled());
    assert!(*done.lock().unwrap());
}

/// TIME-01 (a): delay ordering in the event loop: the async runs at the caller's yield,
/// suspends in its delay, and the awaiting caller resumes after it.
#[test]
fn time_01a_delay_ordering_in_event_loop() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let s2 = s.clone();
            let d = scope.async_(move |_| async move {
                s2.expect(2);
                delay(MS(1)).await;
                s2.expect(3);
            });
            s.expect(1);
            yield_now().await;
            d.await.unwrap();
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// TIME-01 (b): the guide's `launch { delay; print("World!") }; print("Hello")`.
#[test]
fn time_01b_hello_world() {
    let lines: Lines = Arc::default();
    run_blocking({
        let lines = lines.clone();
        move |scope| async move {
            let child_lines = lines.clone();
            scope.launch(move |_| async move {
                delay(MS(100)).await;
                say(&child_lines, "World!");
            });
            say(&lines, "Hello");
        }
    })
    .unwrap();
    assert_eq!(*lines.lock().unwrap(), vec!["Hello", "World!"]);
}

/// TIME-01, the note: delays with different deadlines resume in deadline order, not in the
/// order they were started.
#[test]
fn time_01_delays_resume_in_deadline_order() {
    let lines: Lines = Arc::default();
    run_blocking({
        let lines = lines.clone();
        move |scope| async move {
            // Under Miri a first `delay` (starting the timer thread) takes tens of
            // milliseconds of its clock, more than the gaps between these deadlines.
            let scale = if cfg!(miri) { 10 } else { 1 };
            for (ms, line) in [(90, "third"), (10, "first"), (50, "second")] {
                let lines = lines.clone();
                scope.launch(move |_| async move {
                    delay(MS(ms * scale)).await;
                    say(&lines, line);
                });
            }
        }
    })
    .unwrap();
    assert_eq!(*lines.lock().unwrap(), vec!["first", "second", "third"]);
}

/// TIME-02: `delay(0)` returns at once without suspending: the async launched before it has
/// not run yet when the caller goes on. (A negative delay is not representable with
/// `Duration`; `Duration::ZERO` is the whole "non-positive" case.)
#[test]
fn time_02_zero_delay_does_not_suspend() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.async_(move |_| async move {
                s2.expect(3);
                delay(Duration::ZERO).await;
                s2.expect(4);
            });
            delay(Duration::ZERO).await; // no suspension: the async has NOT run yet
            s.expect(2);
            job.await.unwrap();
            s.finish(5);
        }
    })
    .unwrap();
    s.assert_finished(5);
}

/// TIME-02, the DERIVED note: `delay(0)` does not even check for cancellation, unlike
/// `yield_now()`, which drops the cancelled coroutine.
#[test]
fn time_02_zero_delay_skips_cancellation_check() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let s2 = s.clone();
            let job = scope.launch(move |_| async move {
                s2.expect(1);
                current_job().unwrap().cancel();
                assert!(!is_active());
                delay(Duration::ZERO).await; // not a suspension: no cancellation here
                s2.expect(2);
                yield_now().await; // checks cancellation: the coroutine is dropped here
                s2.unreached();
            });
            job.join().await;
            assert!(job.is_cancelled());
            s.finish(3);
        }
    })
    .unwrap();
    s.assert_finished(3);
}

/// YIELD-01: on a single-worker pool, a spin-yield loop lets a queued sibling run: yield
/// puts the outer coroutine behind the inner one.
#[test]
fn yield_01_spin_yield_lets_sibling_run_on_single_worker() {
    let pool = new_single_thread_context("yield-01-worker");
    let s = Steps::new();
    let outer = GlobalScope::launch_with(pool.dispatcher().clone(), CoroutineStart::Default, {
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s3 = s.clone();
            let inner = scope.launch(move |_| async move {
                assert_eq!(std::thread::current().name(), Some("yield-01-worker"));
                s3.expect(3);
            });
            s.expect(2);
            while inner.is_active() {
                yield_now().await;
            }
            s.expect(4);
            inner.join().await;
        }
    });
    run_blocking({
        let outer = outer.clone();
        move |_| async move {
            with_timeout(Duration::from_secs(10), move |_| async move {
                outer.join().await
            })
            .await
            .expect("the spin-yield loop never let the sibling run")
        }
    })
    .unwrap();
    assert!(outer.is_completed() && !outer.is_cancelled());
    s.finish(5);
    pool.close();
}
