//! STRUCT, EXC and NC scenarios (ported from kotlinx.coroutines' own tests; index in
//! docs/conformance.md) that need the scope functions
//! (`with_context`, `coroutine_scope`), against the facade: STRUCT-05, STRUCT-09, EXC-10,
//! EXC-11, NC-01, NC-02. The others of these sections are in corral-core's
//! `scenario_struct.rs`, `scenario_exc.rs` and `scenario_nc_cancel.rs`.

use corral::current_context;
use corral::prelude::*;
use corral_test_support::{other_dispatcher, Recorder, Steps};

/// STRUCT-05: a crashed parent cancels its children and waits for them (their
/// non-cancellable cleanup included) before completing; the handler gets the failure once,
/// after the parent is final.
#[test]
fn struct_05_crashed_parent_waits_for_children() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        let recorder = recorder.clone();
        move |scope| async move {
            s.expect(1);
            let s4 = s.clone();
            let parent =
                scope.launch_with(Job::new(), CoroutineStart::Default, move |_| async move {
                    s4.expect(4);
                    panic!("Crashed");
                });
            let (s2, s5) = (s.clone(), s.clone());
            let recorder7 = recorder.clone();
            let child = scope.launch_with(
                parent.clone(),
                CoroutineStart::Undispatched,
                move |_| async move {
                    s2.expect(2);
                    with_cleanup(yield_now(), async move {
                        s5.expect(5);
                        let r = with_context(NonCancellable, |_| yield_now()).await;
                        assert!(r.is_ok());
                        assert!(recorder7.messages().is_empty(), "reported too early");
                        s5.expect(7);
                    })
                    .await;
                    s2.unreached();
                },
            );
            s.expect(3);
            yield_now().await;
            s.expect(6);
            assert!(parent.is_cancelled() && !parent.is_completed());
            parent.join().await;
            s.finish(8);
            assert!(child.is_cancelled() && child.is_completed());
            assert_eq!(recorder.messages(), vec!["Crashed"]);
        }
    })
    .unwrap();
    s.assert_finished(8);
    assert_eq!(recorder.messages(), vec!["Crashed"]);
}

/// STRUCT-09: a failure climbing a chain of plain `Job`s (one or three) into a
/// `coroutine_scope` is returned by the scope and never reported; the failed jobs complete.
#[test]
fn struct_09_failure_through_plain_job_chain_is_rethrown() {
    for depth in [1, 3] {
        let s = Steps::new();
        let recorder = Recorder::default();
        run_blocking_with(recorder.handler(), {
            let s = s.clone();
            move |_| async move {
                s.expect(1);
                let mut jobs = Vec::new();
                let result = coroutine_scope(|scope| {
                    let mut job = scope.job();
                    for _ in 0..depth {
                        job = Job::new_child(&job);
                        jobs.push(job.clone());
                    }
                    async move {
                        scope.launch_with(job, CoroutineStart::Default, |_| async {
                            panic!("TE");
                        });
                    }
                })
                .await;
                let error = result.unwrap_err();
                assert!(error.is_failure(), "{error:?}");
                assert_eq!(error.message(), "TE");
                assert!(error.suppressed().is_empty());
                assert_eq!(jobs.len(), depth);
                for job in &jobs {
                    assert!(job.is_cancelled() && job.is_completed(), "{job:?}");
                }
                assert!(is_active(), "the caller is not cancelled");
                s.finish(2);
            }
        })
        .unwrap();
        s.assert_finished(2);
        assert!(recorder.messages().is_empty(), "depth {depth}");
    }
}

/// How EXC-10/EXC-11 run their block `M`: `with_context(other + job)` or
/// `CoroutineScope::new(ctx).async_with(other + job).await`.
#[derive(Clone, Copy, Debug)]
enum Mode {
    WithContext,
    Async,
}

/// Runs `block` in mode `mode` under `job` on another dispatcher of the same loop.
async fn run_in_mode<F, Fut, T>(mode: Mode, job: &Job, block: F) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let target = other_dispatcher() + job.clone();
    match mode {
        Mode::WithContext => with_context(target, block).await,
        Mode::Async => {
            let scope = CoroutineScope::new(current_context().expect("in a coroutine"));
            scope
                .async_with(target, CoroutineStart::Default, block)
                .await
        }
    }
}

/// EXC-10: the scope's parent `Job()` is cancelled (with no cause, with a cancellation, with
/// a cancellation caused by a failure) and then the block fails: the caller gets that failure,
/// untouched (no cause, nothing suppressed), in both modes; nothing is reported. (The third
/// row's "same instance" does not carry over: a Rust panic is a new failure; its message is
/// checked instead.)
#[test]
fn exc_10_cancelled_scope_block_failure_wins() {
    for mode in [Mode::WithContext, Mode::Async] {
        for row in 0..3 {
            let s = Steps::new();
            let recorder = Recorder::default();
            run_blocking_with(recorder.handler(), {
                let s = s.clone();
                move |_| async move {
                    let job = Job::new();
                    s.expect(1);
                    let (s2, job2) = (s.clone(), job.clone());
                    let result: Result<(), JobError> =
                        run_in_mode(mode, &job, move |_| async move {
                            assert!(is_active());
                            let thrown = match row {
                                0 => {
                                    job2.cancel();
                                    "TE2"
                                }
                                1 => {
                                    job2.cancel_with(JobError::cancelled("TCE"));
                                    "TE2"
                                }
                                _ => {
                                    let te = JobError::failure("TE");
                                    job2.cancel_with(JobError::cancelled_by("CE", te));
                                    "TE"
                                }
                            };
                            assert!(!is_active());
                            s2.expect(2);
                            panic!("{thrown}");
                        })
                        .await;
                    let error = result.unwrap_err();
                    let expected = if row == 2 { "TE" } else { "TE2" };
                    assert!(error.is_failure(), "{mode:?} row {row}: {error:?}");
                    assert_eq!(error.message(), expected);
                    assert!(error.cause().is_none());
                    assert!(error.suppressed().is_empty(), "{error:?}");
                    assert!(is_active(), "the caller is not cancelled");
                    s.finish(3);
                }
            })
            .unwrap();
            s.assert_finished(3);
            assert!(recorder.messages().is_empty(), "{mode:?} row {row}");
        }
    }
}

/// EXC-11: the scope's parent is cancelled with a cancellation `TCE1` and the block then ends
/// by a cancellation of its own (Rust shapes of "throws a CE": dropped at its next suspension,
/// or returning a value that is discarded): the caller gets the original `TCE1` object, in
/// both modes.
#[test]
fn exc_11_cancelled_scope_block_cancellation_gives_original_cause() {
    for mode in [Mode::WithContext, Mode::Async] {
        for suspend in [true, false] {
            let s = Steps::new();
            let recorder = Recorder::default();
            run_blocking_with(recorder.handler(), {
                let s = s.clone();
                move |_| async move {
                    let job = Job::new();
                    let tce1 = JobError::cancelled("TCE1");
                    s.expect(1);
                    let (s2, job2, cause) = (s.clone(), job.clone(), tce1.clone());
                    let result = run_in_mode(mode, &job, move |_| async move {
                        assert!(is_active());
                        job2.cancel_with(cause);
                        assert!(!is_active());
                        s2.expect(2);
                        if suspend {
                            yield_now().await;
                            s2.unreached();
                        }
                        "discarded"
                    })
                    .await;
                    let error = result.unwrap_err();
                    assert!(
                        error.same_as(&tce1),
                        "{mode:?} suspend={suspend}: {error:?}"
                    );
                    assert!(error.cause().is_none() && error.suppressed().is_empty());
                    assert!(is_active(), "the caller is not cancelled");
                    s.finish(3);
                }
            })
            .unwrap();
            s.assert_finished(3);
            assert!(recorder.messages().is_empty());
        }
    }
}

/// EXC-11, the rows where the block itself throws a CE (the same TCE1, a CE caused by a
/// failure, a plain CE, another TCE2): in Rust only a fallible `try_launch` body can end with
/// a given cancellation error. Whatever cancellation it returns, the coroutine ends with the
/// original TCE1 (the thrown CE and its failure cause are ignored); nothing is reported.
#[test]
fn exc_11_thrown_cancellation_never_replaces_original_cause() {
    for row in 0..4 {
        let recorder = Recorder::default();
        run_blocking_with(recorder.handler(), move |_| async move {
            let job = Job::new();
            let tce1 = JobError::cancelled("TCE1");
            let (job2, cause) = (job.clone(), tce1.clone());
            let child = CoroutineScope::new(current_context().unwrap()).try_launch_with(
                other_dispatcher() + job.clone(),
                CoroutineStart::Default,
                move |_| async move {
                    job2.cancel_with(cause.clone());
                    Err(match row {
                        0 => cause,
                        1 => JobError::cancelled_by("CE", JobError::failure("TE")),
                        2 => JobError::cancelled("CE"),
                        _ => JobError::cancelled("TCE2"),
                    })
                },
            );
            child.join().await;
            let error = child.completion_error().unwrap();
            assert!(error.same_as(&tce1), "row {row}: {error:?}");
            assert!(job.completion_error().unwrap().same_as(&tce1));
        })
        .unwrap();
        assert!(recorder.messages().is_empty(), "row {row}");
    }
}

/// NC-01: `with_context(NonCancellable)` runs to its end although the coroutine was cancelled
/// meanwhile, and returns normally; the next suspension ends the coroutine; `await` gives a
/// cancellation without a cause.
#[test]
fn nc_01_non_cancellable_block_survives_cancellation() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.async_(move |_| async move {
                let s_in = s2.clone();
                let r = with_context(NonCancellable, move |_| async move {
                    s_in.expect(2);
                    yield_now().await;
                    s_in.expect(4);
                })
                .await;
                assert!(r.is_ok(), "{r:?}");
                s2.expect(5);
                yield_now().await;
                s2.unreached();
            });
            yield_now().await;
            job.cancel();
            s.expect(3);
            assert!(job.is_cancelled());
            let error = job.await.unwrap_err();
            assert!(error.is_cancelled() && error.cause().is_none(), "{error:?}");
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
}

/// NC-01, Twice variant: a second `with_context(NonCancellable)` entered after the
/// cancellation also runs fully.
#[test]
fn nc_01_non_cancellable_twice() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.async_(move |_| async move {
                let s_in = s2.clone();
                let r = with_context(NonCancellable, move |_| async move {
                    s_in.expect(2);
                    yield_now().await;
                    s_in.expect(4);
                })
                .await;
                assert!(r.is_ok(), "{r:?}");
                assert!(!is_active());
                let s_in = s2.clone();
                let r = with_context(NonCancellable, move |_| async move {
                    s_in.expect(5);
                    yield_now().await;
                    s_in.expect(6);
                })
                .await;
                assert!(r.is_ok(), "{r:?}");
                yield_now().await;
                s2.unreached();
            });
            yield_now().await;
            job.cancel();
            s.expect(3);
            assert!(job.is_cancelled());
            let error = job.await.unwrap_err();
            assert!(error.is_cancelled() && error.cause().is_none(), "{error:?}");
            s.finish(7);
        }
    })
    .unwrap();
    s.assert_finished(7);
}

/// NC-02: a detached (`NonCancellable`) `async_` cancelled with a given cancellation: its
/// non-cancellable block still runs to its end, and `await` gives that cancellation.
#[test]
fn nc_02_detached_async_cancelled_with_cause() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let deferred = scope.async_with(
                NonCancellable,
                CoroutineStart::Default,
                move |_| async move {
                    let s_in = s2.clone();
                    let r = with_context(NonCancellable, move |_| async move {
                        s_in.expect(2);
                        yield_now().await;
                        s_in.expect(4);
                    })
                    .await;
                    assert!(r.is_ok(), "{r:?}");
                    s2.expect(5);
                    yield_now().await;
                    s2.unreached();
                },
            );
            assert!(
                deferred.parent().is_none(),
                "a NonCancellable async is a root"
            );
            yield_now().await;
            let tce = JobError::cancelled("TEST");
            deferred.cancel_with(tce.clone());
            s.expect(3);
            assert!(deferred.is_cancelled());
            let error = deferred.await.unwrap_err();
            assert!(error.same_as(&tce), "{error:?}");
            assert_eq!(error.message(), "TEST");
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
}
