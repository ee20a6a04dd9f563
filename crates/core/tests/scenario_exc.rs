//! EXC scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md):
//! exception propagation, handler routing and aggregation. EXC-10 and EXC-11 (which need
//! `with_context`) are in `crates/corral/tests/scenario_struct_exc.rs`.

use std::sync::{Arc, Mutex};

use corral_core::{yield_now, CoroutineExceptionHandler, CoroutineStart, Job, JobError};
use corral_test_support::{forever, run_blocking_with, Recorder, Steps};

/// Asserts that `recorder` received exactly one failure with `message`, no cause and the
/// given suppressed messages (kotlinx `captureExceptionsRun`), and returns it.
#[track_caller]
fn single_failure(recorder: &Recorder, message: &str, suppressed: &[&str]) -> JobError {
    let errors = recorder.errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "exactly one handler call: {errors:?}");
    let error = errors.into_iter().next().unwrap();
    assert!(error.is_failure(), "{error:?}");
    assert_eq!(error.message(), message);
    assert!(error.cause().is_none());
    let got: Vec<&str> = error.suppressed().iter().map(JobError::message).collect();
    assert_eq!(got, suppressed, "suppressed of {error:?}");
    error
}

/// EXC-01 (a): a failing child of a plain `Job()` reports to the handler in its own context,
/// before its joiners resume; the `Job()` is cancelled. ((b), a `CompletableDeferred`
/// parent, does not apply: corral has no CompletableDeferred.)
#[test]
fn exc_01a_job_parent_child_reports_to_handler() {
    let s = Steps::new();
    let seen: Arc<Mutex<Vec<JobError>>> = Arc::default();
    let outer = Recorder::default();
    run_blocking_with(outer.handler(), {
        let s = s.clone();
        let seen = seen.clone();
        move |scope| async move {
            s.expect(1);
            let s3 = s.clone();
            let handler = CoroutineExceptionHandler::new(move |_ctx, error| {
                seen.lock().unwrap().push(error.clone());
                s3.expect(3);
            });
            let parent = Job::new();
            let job = scope.launch_with(
                handler + parent.clone(),
                CoroutineStart::Default,
                |_| async { panic!("TE") },
            );
            s.expect(2);
            job.join().await;
            s.finish(4);
            assert!(parent.is_cancelled());
            assert!(
                parent.is_completed(),
                "a failed Job() completes once its child is done"
            );
        }
    })
    .unwrap();
    s.assert_finished(4);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].is_failure() && seen[0].message() == "TE",
        "{seen:?}"
    );
    assert!(outer.messages().is_empty(), "the child's own handler wins");
}

/// EXC-02 (a): an Atomic child of `Job()` fails: the handler gets it once, unwrapped; the
/// `Job()` completes once its child is done, so `join` returns.
#[test]
fn exc_02a_child_of_plain_job_reported_once() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let job = Job::new();
            let s2 = s.clone();
            scope.launch_with(job.clone(), CoroutineStart::Atomic, move |_| async move {
                s2.expect(2);
                panic!("ISE");
            });
            s.expect(1);
            job.join().await;
            assert!(job.is_cancelled() && job.is_completed());
            s.finish(3);
        }
    })
    .unwrap();
    s.assert_finished(3);
    single_failure(&recorder, "ISE", &[]);
}

/// EXC-02 (b): a `Job()` cancelled before its Atomic child ran: the child still runs and its
/// failure is reported (the cancellation is not).
#[test]
fn exc_02b_failure_during_cancellation() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let job = Job::new();
            let s2 = s.clone();
            let child =
                scope.launch_with(job.clone(), CoroutineStart::Atomic, move |_| async move {
                    s2.expect(2);
                    panic!("ISE");
                });
            s.expect(1);
            job.cancel_and_join().await;
            assert!(child.is_completed() && !child.is_active());
            assert!(child.completion_error().unwrap().is_failure());
            s.finish(3);
        }
    })
    .unwrap();
    s.assert_finished(3);
    single_failure(&recorder, "ISE", &[]);
}

/// EXC-02 (c): an inner Atomic child fails while its cancelled parent is being dropped: only
/// the inner failure is reported, once (by the child of the plain `Job()`).
#[test]
fn exc_02c_inner_child_failure() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let job = Job::new();
            let s2 = s.clone();
            scope.launch_with(
                job.clone(),
                CoroutineStart::Atomic,
                move |scope| async move {
                    s2.expect(2);
                    let s3 = s2.clone();
                    scope.launch_with((), CoroutineStart::Atomic, move |_| async move {
                        s3.expect(3);
                        panic!("AE");
                    });
                    yield_now().await; // cancelled: dropped here
                    s2.unreached();
                },
            );
            s.expect(1);
            job.cancel_and_join().await;
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
    single_failure(&recorder, "AE", &[]);
}

/// EXC-02 (d): one child of `Job()` fails: reported once; its sibling is cancelled silently.
#[test]
fn exc_02d_failure_reported_once_sibling_cancelled() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let job = Job::new();
            let (s1, s2) = (s.clone(), s.clone());
            let j1 = scope.launch_with(job.clone(), CoroutineStart::Default, move |_| async move {
                s1.expect(1);
                forever().await;
            });
            let j2 = scope.launch_with(job.clone(), CoroutineStart::Default, move |_| async move {
                s2.expect(2);
                panic!("TE");
            });
            j1.join().await;
            j2.join().await;
            s.finish(3);
            assert!(j1.completion_error().unwrap().is_cancelled());
            assert!(j2.completion_error().unwrap().is_failure());
        }
    })
    .unwrap();
    s.assert_finished(3);
    single_failure(&recorder, "TE", &[]);
}

/// EXC-03 (a): an `async_` child of a `Job()` completed with a failure is cancelled with a
/// cancellation caused by that failure; nothing is reported, nothing suppressed.
#[test]
fn exc_03a_async_cancelled_by_failed_parent() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let parent = Job::new();
            let s2 = s.clone();
            let d = scope.async_with(
                parent.clone(),
                CoroutineStart::Default,
                move |_| async move {
                    s2.expect(2);
                    forever().await;
                },
            );
            s.expect(1);
            yield_now().await;
            let ioe = JobError::failure("IOE");
            assert!(parent.complete_exceptionally(ioe.clone()));
            let error = d.await.unwrap_err();
            assert!(error.is_cancelled(), "{error:?}");
            assert!(error.suppressed().is_empty());
            let cause = error.cause().expect("caused by the parent's failure");
            assert!(cause.same_as(&ioe), "{cause:?}");
            assert!(cause.suppressed().is_empty());
            s.finish(3);
        }
    })
    .unwrap();
    s.assert_finished(3);
    assert!(recorder.messages().is_empty());
}

/// EXC-03 (b): the same with `launch`: the cancellation is never reported.
#[test]
fn exc_03b_launch_cancelled_by_failed_parent_not_reported() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let parent = Job::new();
            let s2 = s.clone();
            let job = scope.launch_with(
                parent.clone(),
                CoroutineStart::Default,
                move |_| async move {
                    s2.expect(2);
                    forever().await;
                },
            );
            s.expect(1);
            yield_now().await;
            let ioe = JobError::failure("IOE");
            assert!(parent.complete_exceptionally(ioe.clone()));
            job.join().await;
            let error = job.completion_error().unwrap();
            assert!(error.is_cancelled() && error.cause().unwrap().same_as(&ioe));
            assert!(parent.is_completed());
            assert!(parent.completion_error().unwrap().same_as(&ioe));
            s.finish(3);
        }
    })
    .unwrap();
    s.assert_finished(3);
    assert!(recorder.messages().is_empty());
}

/// EXC-05 (a): the first child failure wins; later ones are suppressed in arrival order.
#[test]
fn exc_05a_first_failure_wins_suppressed_in_order() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let job = Job::new();
            let s2 = s.clone();
            scope.launch_with(
                job.clone(),
                CoroutineStart::Atomic,
                move |scope| async move {
                    s2.expect(2);
                    for (step, message) in [(3, "AE"), (4, "IOE"), (5, "IAE")] {
                        let sn = s2.clone();
                        scope.launch_with((), CoroutineStart::Atomic, move |_| async move {
                            sn.expect(step);
                            panic!("{message}");
                        });
                    }
                    forever().await;
                },
            );
            s.expect(1);
            job.join().await;
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
    single_failure(&recorder, "AE", &["IOE", "IAE"]);
}

/// EXC-05 (b): the parent body fails first; its Atomic children still start and their
/// failures are suppressed in order.
#[test]
fn exc_05b_parent_fails_first_children_suppressed() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let job = Job::new();
            let s2 = s.clone();
            scope.launch_with(
                job.clone(),
                CoroutineStart::Atomic,
                move |scope| async move {
                    s2.expect(2);
                    for (step, message) in [(3, "IOE"), (4, "IAE")] {
                        let sn = s2.clone();
                        scope.launch_with((), CoroutineStart::Atomic, move |_| async move {
                            sn.expect(step);
                            panic!("{message}");
                        });
                    }
                    panic!("AssertionError");
                },
            );
            s.expect(1);
            job.join().await;
            s.finish(5);
        }
    })
    .unwrap();
    s.assert_finished(5);
    single_failure(&recorder, "AssertionError", &["IOE", "IAE"]);
}

/// EXC-01 (a) counterpart under run_blocking: the same failing child without a `Job()` parent
/// is not reported but returned by run_blocking (the scoped root handles it), so the routing
/// really depends on the parent.
#[test]
fn exc_01a_coroutine_parent_handles_instead() {
    let recorder = Recorder::default();
    let result = run_blocking_with(recorder.handler(), |scope| async move {
        scope.launch(|_| async { panic!("TE") });
    });
    assert_eq!(result.unwrap_err().message(), "TE");
    assert!(recorder.messages().is_empty());
}
