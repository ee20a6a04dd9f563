//! WCTX scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md),
//! against the facade: `with_context`.

use std::time::Duration;

use corral::prelude::*;
use corral_test_support::{other_dispatcher, Steps};

/// WCTX-01: a failure thrown from with_context is returned; the caller is not cancelled.
#[test]
fn wctx_01_failure_is_returned() {
    for same in [true, false] {
        let s = Steps::new();
        run_blocking({
            let s = s.clone();
            move |_| async move {
                s.expect(1);
                let target = if same {
                    Context::new()
                } else {
                    Context::from(other_dispatcher())
                };
                let s2 = s.clone();
                let r: Result<(), JobError> = with_context(target, move |_| async move {
                    s2.expect(2);
                    panic!("AssertionError");
                })
                .await;
                assert_eq!(r.unwrap_err().message(), "AssertionError");
                s.expect(3);
                yield_now().await;
                s.finish(4);
            }
        })
        .unwrap();
        s.assert_finished(4);
    }
}

/// WCTX-02: same dispatcher: no dispatch on entry or exit (the block runs ahead of queued
/// coroutines).
#[test]
fn wctx_02_same_dispatcher_runs_inline() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s5 = s.clone();
            scope.launch(move |_| async move { s5.finish(5) });
            s.expect(2);
            let s3 = s.clone();
            let r = with_context(Context::new(), move |_| async move {
                s3.expect(3);
                "OK"
            })
            .await;
            assert_eq!(r.unwrap(), "OK");
            s.expect(4);
        }
    })
    .unwrap();
    s.assert_finished(5);

    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s4 = s.clone();
            scope.launch(move |_| async move { s4.expect(4) });
            s.expect(2);
            let s3 = s.clone();
            let r = with_context(Context::new(), move |_| async move {
                s3.expect(3);
                yield_now().await;
                s3.expect(5);
                "OK"
            })
            .await;
            assert_eq!(r.unwrap(), "OK");
            s.finish(6);
        }
    })
    .unwrap();
}

/// WCTX-04: with_context on a cancelled job or context never runs the block.
#[test]
fn wctx_04_cancelled_context_never_runs() {
    // (a) a cancelled job plus another dispatcher: the caller sees the cancellation.
    let result = run_blocking(|_| async {
        let job = Job::new();
        job.cancel();
        with_context(job + other_dispatcher(), |_| async { unreachable!() }).await
    })
    .unwrap();
    assert!(result.unwrap_err().is_cancelled());
    // (b) a cancelled job alone.
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            let job = Job::new();
            job.cancel();
            let r: Result<(), JobError> = with_context(job, |_| async { unreachable!() }).await;
            assert!(r.unwrap_err().is_cancelled());
            s.expect(2);
            s.finish(3);
        }
    })
    .unwrap();
    // (c) the caller cancelled itself: with_context to another dispatcher does not run.
    let result = run_blocking(|scope| async move {
        scope.job().cancel();
        let r: Result<(), JobError> =
            with_context(other_dispatcher(), |_| async { unreachable!() }).await;
        assert!(r.unwrap_err().is_cancelled());
    });
    assert!(result.unwrap_err().is_cancelled());
    // (d) Unconfined in a coroutine whose parent was cancelled.
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let parent = Job::new();
            let s1 = s.clone();
            let p = parent.clone();
            scope
                .launch_with(
                    parent.clone(),
                    CoroutineStart::Default,
                    move |_| async move {
                        s1.expect(1);
                        p.cancel();
                        let _ =
                            with_context(Dispatchers::unconfined(), |_| async { unreachable!() })
                                .await;
                    },
                )
                .join()
                .await;
            s.finish(2);
        }
    })
    .unwrap();
    s.assert_finished(2);
}

/// WCTX-05: a dispatched with_context ping-pongs with the caller's loop; a failure raised
/// after the caller's job cancelled itself wins over the cancellation.
#[test]
fn wctx_05_failure_after_self_cancel_wins() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let other = other_dispatcher();
            let inner = s.clone();
            let _job = scope.launch_with(
                Context::new(),
                CoroutineStart::Undispatched,
                move |child| async move {
                    inner.expect(2);
                    let job = child.job();
                    let s4 = inner.clone();
                    let r: Result<(), JobError> = with_context(other, move |_| async move {
                        s4.expect(4);
                        yield_now().await;
                        s4.expect(6);
                        job.cancel();
                        panic!("TE");
                    })
                    .await;
                    assert_eq!(r.unwrap_err().message(), "TE");
                    inner.expect(8);
                },
            );
            s.expect(3);
            yield_now().await;
            s.expect(5);
            yield_now().await;
            s.expect(7);
            yield_now().await;
            s.finish(9);
        }
    })
    .unwrap();
    s.assert_finished(9);
}

/// WCTX-07: a successful with_context result is discarded if the caller was cancelled before
/// it resumed.
#[test]
fn wctx_07_prompt_cancellation_on_return() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let other = other_dispatcher();
            let s1 = s.clone();
            let job = scope.launch(move |_| async move {
                s1.expect(1);
                let s2 = s1.clone();
                let _ = with_context(other, move |_| async move { s2.expect(2) }).await;
                s1.unreached();
            });
            yield_now().await;
            let s3 = s.clone();
            let target = job.clone();
            let job2 = scope.launch(move |_| async move {
                s3.expect(3);
                target.cancel();
            });
            job.join().await;
            job2.join().await;
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// WCTX-09: with_context(Dispatchers::default()) from run_blocking is sequential from the
/// caller's view.
#[test]
fn wctx_09_default_from_run_blocking() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            let s2 = s.clone();
            let r = with_context(Dispatchers::default(), move |_| async move {
                s2.expect(2);
                "OK"
            })
            .await;
            assert_eq!(r.unwrap(), "OK");
            s.expect(3);
            let s4 = s.clone();
            let r = with_context(Dispatchers::default(), move |_| async move {
                s4.expect(4);
                delay(Duration::from_millis(100)).await;
                s4.expect(5);
                "OK"
            })
            .await;
            assert_eq!(r.unwrap(), "OK");
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
}
