//! UNCONF scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md),
//! against the facade: Unconfined runs a
//! coroutine in place until its first suspension, queues nested in-place work behind the
//! current frame (thread-local trampoline), and resumes on whatever thread resumes it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use corral::prelude::*;
use corral_test_support::Steps;

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned()
}

/// UNCONF-01: nested Unconfined launches are queued behind the current frame and drained
/// before the outer `launch` call returns.
#[test]
fn unconf_01_nested_launches_are_queued_behind_the_frame() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            scope.launch_with(
                Dispatchers::unconfined(),
                CoroutineStart::Default,
                move |scope| async move {
                    s2.expect(2);
                    let s4 = s2.clone();
                    scope.launch(move |scope| async move {
                        s4.expect(4);
                        let (s6, s7) = (s4.clone(), s4.clone());
                        scope.launch(move |_| async move { s6.expect(6) });
                        scope.launch(move |_| async move { s7.expect(7) });
                        s4.expect(5);
                    });
                    s2.expect(3);
                },
            );
            s.finish(8);
        }
    })
    .unwrap();
    s.assert_finished(8);
}

/// UNCONF-02: sibling Unconfined launches from a non-unconfined frame each run inline at once,
/// with no trip through the run_blocking loop.
#[test]
fn unconf_02_sibling_launches_run_inline_immediately() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            for step in 1..=3 {
                let s = s.clone();
                scope.launch_with(
                    Dispatchers::unconfined(),
                    CoroutineStart::Default,
                    move |_| async move { s.expect(step) },
                );
            }
            s.finish(4);
            let completed = Arc::new(AtomicBool::new(false));
            let flag = completed.clone();
            scope.launch_with(
                Dispatchers::unconfined(),
                CoroutineStart::Default,
                move |_| async move { flag.store(true, Ordering::SeqCst) },
            );
            assert!(completed.load(Ordering::SeqCst));
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// UNCONF-04: cancellation delivered through an Unconfined yield: the first yield is a no-op
/// (nothing queued), the second lets the queued coroutine cancel us, and the cleanup runs.
#[test]
fn unconf_04_cancellation_through_an_unconfined_yield() {
    let s = Steps::new();
    s.expect(1);
    let inner = s.clone();
    let job = GlobalScope::launch_with(
        Dispatchers::unconfined(),
        CoroutineStart::Default,
        move |scope| async move {
            let job = scope.job();
            inner.expect(2);
            yield_now().await; // no-op: nothing queued on the trampoline
            let other = inner.clone();
            GlobalScope::launch_with(
                Dispatchers::unconfined(),
                CoroutineStart::Default,
                move |_| async move {
                    other.expect(4);
                    job.cancel();
                    other.expect(5);
                },
            );
            inner.expect(3);
            let cleanup = inner.clone();
            with_cleanup(yield_now(), async move { cleanup.expect(6) }).await;
            inner.unreached();
        },
    );
    s.finish(7);
    assert!(job.is_cancelled() && job.is_completed());
    s.assert_finished(7);
}

/// UNCONF-05: nested Unconfined outside run_blocking, on a plain thread: the nested launch is
/// queued (1 2 3 4), and both are done before the outer launch returns.
#[test]
fn unconf_05_nested_unconfined_on_a_plain_thread() {
    let s = Steps::new();
    s.expect(1);
    let inner = s.clone();
    GlobalScope::launch_with(
        Dispatchers::unconfined(),
        CoroutineStart::Default,
        move |_| async move {
            inner.expect(2);
            let nested = inner.clone();
            GlobalScope::launch_with(
                Dispatchers::unconfined(),
                CoroutineStart::Default,
                move |_| async move { nested.expect(4) },
            );
            inner.expect(3);
        },
    );
    s.finish(5);
    s.assert_finished(5);
}

/// UNCONF-07: an Unconfined coroutine runs on the launching thread until it suspends, then on
/// whatever thread resumes it: here a Default worker completing what it awaits. (corral's
/// `delay` called on a run_blocking thread is fired by that loop itself, so the kotlinx form
/// with a timer thread would resume on the loop thread; see docs/kotlin-guide.md.)
#[test]
fn unconf_07_resumes_on_the_thread_that_resumed_it() {
    let s = Steps::new();
    let caller = thread_name();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let inner = s.clone();
            let job = scope.launch_with(
                Dispatchers::unconfined(),
                CoroutineStart::Default,
                move |_| async move {
                    inner.expect(2);
                    assert_eq!(thread_name(), caller);
                    let worker = GlobalScope::launch_with(
                        Dispatchers::default(),
                        CoroutineStart::Default,
                        |_| async { delay(std::time::Duration::from_millis(50)).await },
                    );
                    worker.join().await;
                    assert!(
                        thread_name().starts_with("DefaultDispatcher-worker-"),
                        "resumed on {}",
                        thread_name()
                    );
                    inner.expect(4);
                },
            );
            s.expect(3);
            job.join().await;
            s.finish(5);
        }
    })
    .unwrap();
    s.assert_finished(5);
}
