//! STRUCT scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md):
//! structured concurrency (parents wait, failures go up, cancellation goes down). The scenarios
//! that need `with_context` or `coroutine_scope` (STRUCT-05, STRUCT-09) are in
//! `crates/corral/tests/scenario_struct_exc.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use corral_core::{ensure_active, is_active, with_cleanup, yield_now, CoroutineStart, Job};
use corral_test_support::{forever, run_blocking, run_blocking_with, Finally, Recorder, Steps};

/// STRUCT-02 (a): cancelling a child suspended in `yield`; the parent ends normally.
#[test]
fn struct_02a_cancel_suspended_child() {
    let s = Steps::new();
    let job = run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.launch(move |_| async move {
                s2.expect(3);
                yield_now().await;
                s2.unreached();
            });
            s.expect(2);
            yield_now().await;
            s.expect(4);
            job.cancel();
            assert!(job.is_cancelled() && !job.is_completed());
            s.finish(5);
            job
        }
    })
    .unwrap();
    s.assert_finished(5);
    assert!(job.is_cancelled() && job.is_completed());
    assert!(job.completion_error().unwrap().is_cancelled());
}

/// STRUCT-02 (b): the cancelled child's `finally` (a drop guard) runs after the parent's
/// body ended.
#[test]
fn struct_02b_cancelled_child_finally_runs() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.launch(move |_| async move {
                s2.expect(3);
                let s6 = s2.clone();
                let _finally = Finally(move || s6.finish(6));
                yield_now().await;
                s2.unreached();
            });
            s.expect(2);
            yield_now().await;
            s.expect(4);
            job.cancel();
            s.expect(5);
        }
    })
    .unwrap();
    s.assert_finished(6);
}

/// STRUCT-04 (a): the root body fails: run_blocking returns the failure; the handler is not
/// called.
#[test]
fn struct_04a_root_failure_is_returned() {
    let s = Steps::new();
    let recorder = Recorder::default();
    let result = run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |_| async move {
            s.finish(1);
            panic!("TE");
        }
    });
    let error = result.unwrap_err();
    assert!(error.is_failure(), "{error:?}");
    assert_eq!(error.message(), "TE");
    assert!(error.suppressed().is_empty());
    assert!(recorder.messages().is_empty());
    s.assert_finished(1);
}

/// STRUCT-04 (b): a failing child cancels run_blocking (its `yield` does not return), which
/// returns the child's failure, not the cancellation its body saw.
#[test]
fn struct_04b_failing_child_cancels_root() {
    let s = Steps::new();
    let recorder = Recorder::default();
    let result = run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s3 = s.clone();
            scope.launch(move |_| async move {
                s3.finish(3);
                panic!("TE");
            });
            s.expect(2);
            yield_now().await;
            s.unreached();
        }
    });
    let error = result.unwrap_err();
    assert!(error.is_failure(), "{error:?}");
    assert_eq!(error.message(), "TE");
    assert!(recorder.messages().is_empty());
    s.assert_finished(3);
}

/// STRUCT-04 (c): a failing grandchild cancels its parent and run_blocking.
#[test]
fn struct_04c_failing_grandchild_cancels_all() {
    let s = Steps::new();
    let recorder = Recorder::default();
    let result = run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s_a = s.clone();
            scope.launch(move |scope| async move {
                s_a.expect(3);
                let s_b = s_a.clone();
                scope.launch(move |_| async move {
                    s_b.finish(6);
                    panic!("TE");
                });
                s_a.expect(4);
                yield_now().await;
                s_a.unreached();
            });
            s.expect(2);
            yield_now().await;
            s.expect(5);
            yield_now().await;
            s.unreached();
        }
    });
    let error = result.unwrap_err();
    assert!(error.is_failure(), "{error:?}");
    assert_eq!(error.message(), "TE");
    assert!(recorder.messages().is_empty());
    s.assert_finished(6);
}

/// STRUCT-06 (a): an Undispatched child fails inside the `launch` call and cancels the caller,
/// which keeps running until its next suspension; `cancel_and_join` of the already finished
/// child then does not return (the cancelled caller is dropped there). run_blocking returns
/// the child's failure. Kotlin's `catch e { e is CE && e.cause is TE }` is checked through
/// `ensure_active()` (a dropped Rust future cannot observe the exception).
#[test]
fn struct_06a_join_of_finished_job_in_cancelled_caller() {
    let s = Steps::new();
    let dropped_at_join = Arc::new(AtomicBool::new(false));
    let result = run_blocking({
        let s = s.clone();
        let dropped_at_join = dropped_at_join.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.launch_with((), CoroutineStart::Undispatched, move |_| async move {
                s2.expect(2);
                panic!("TE");
            });
            s.finish(3);
            assert!(job.is_completed() && job.is_cancelled());
            assert!(!is_active());
            let error = ensure_active().unwrap_err();
            assert!(error.is_cancelled(), "{error:?}");
            let cause = error.cause().expect("cancelled by the child's failure");
            assert!(cause.is_failure() && cause.message() == "TE", "{cause:?}");
            let guard = Finally(move || dropped_at_join.store(true, Ordering::SeqCst));
            job.cancel_and_join().await;
            drop(guard);
            s.unreached();
        }
    });
    let error = result.unwrap_err();
    assert!(error.is_failure(), "{error:?}");
    assert_eq!(error.message(), "TE");
    assert!(dropped_at_join.load(Ordering::SeqCst));
    s.assert_finished(3);
}

/// STRUCT-06 (b): while a body is failing, its job is not cancelled, so a suspending cleanup
/// suspends and resumes normally. Rust shape: a panic cannot suspend while unwinding, so the
/// failure is an `Err` value carried through `with_cleanup` and raised after the cleanup.
#[test]
fn struct_06b_yield_in_cleanup_of_failing_body() {
    let s = Steps::new();
    let result = run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            let (s2, s3) = (s.clone(), s.clone());
            let outcome: Result<(), &str> = with_cleanup(
                async move {
                    s2.expect(2);
                    Err("TE")
                },
                async move {
                    s3.expect(3);
                    assert!(is_active());
                    yield_now().await;
                    s3.finish(4);
                },
            )
            .await;
            if let Err(message) = outcome {
                panic!("{message}");
            }
        }
    });
    let error = result.unwrap_err();
    assert!(error.is_failure(), "{error:?}");
    assert_eq!(error.message(), "TE");
    s.assert_finished(4);
}

/// STRUCT-07 (a): cancelling an already completed child is a no-op and never cancels the
/// parent; a `launch` child joins, an `async_` child's await returns its value.
#[test]
fn struct_07a_cancel_completed_child() {
    for use_async in [false, true] {
        let s = Steps::new();
        run_blocking({
            let s = s.clone();
            move |scope| async move {
                let s1 = s.clone();
                let parent = scope.launch(move |scope| async move {
                    s1.expect(1);
                    let s2 = s1.clone();
                    if use_async {
                        let child = scope.async_(move |_| async move { s2.expect(2) });
                        yield_now().await;
                        s1.expect(3);
                        assert!(child.is_completed());
                        child.cancel();
                        assert!(!child.is_cancelled());
                        assert!(child.await.is_ok());
                    } else {
                        let child = scope.launch(move |_| async move { s2.expect(2) });
                        yield_now().await;
                        s1.expect(3);
                        assert!(child.is_completed());
                        child.cancel();
                        assert!(!child.is_cancelled());
                        child.join().await;
                    }
                    assert!(is_active());
                    s1.expect(4);
                });
                parent.join().await;
                assert!(parent.is_completed() && !parent.is_cancelled());
                s.finish(5);
            }
        })
        .unwrap();
        s.assert_finished(5);
    }
}

/// STRUCT-07 (b): cancelling all children of a plain `Job` leaves it active.
/// (corral has no `cancel_children`; it is `children()` then `cancel()` on each.)
#[test]
fn struct_07b_cancel_children_of_plain_job() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let parent = Job::new();
            let s2 = s.clone();
            scope.launch_with(
                parent.clone(),
                CoroutineStart::Undispatched,
                move |_| async move {
                    s2.expect(2);
                    let s5 = s2.clone();
                    let _finally = Finally(move || s5.expect(5));
                    yield_now().await;
                    s2.unreached();
                },
            );
            s.expect(3);
            let children = parent.children();
            assert_eq!(children.len(), 1);
            for child in &children {
                child.cancel();
            }
            s.expect(4);
            for child in parent.children() {
                child.join().await;
            }
            assert!(children[0].is_cancelled() && children[0].is_completed());
            assert!(parent.is_active() && !parent.is_cancelled());
            assert!(parent.children().is_empty());
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
}

/// STRUCT-07 (c): guide example-exceptions-03: the parent survives cancelling its child.
/// Lines: "Cancelling child" (1), "Child is cancelled" (2), "Parent is not cancelled" (3).
#[test]
fn struct_07c_guide_parent_not_cancelled() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let s1 = s.clone();
            let job = scope.launch(move |scope| async move {
                let s2 = s1.clone();
                let child = scope.launch(move |_| async move {
                    let _finally = Finally(move || s2.expect(2)); // "Child is cancelled"
                    forever().await;
                });
                yield_now().await;
                s1.expect(1); // "Cancelling child"
                child.cancel();
                child.join().await;
                yield_now().await;
                assert!(is_active());
                s1.expect(3); // "Parent is not cancelled"
            });
            job.join().await;
            assert!(job.is_completed() && !job.is_cancelled());
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}
