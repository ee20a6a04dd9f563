//! SUP scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md),
//! against the facade: `SupervisorJob` and
//! `supervisor_scope`.

use corral::prelude::*;
use corral_test_support::{forever, Finally, Recorder, Steps};

/// SUP-01: children of a SupervisorJob fail independently; each reports to the handler; the
/// supervisor stays active.
#[test]
fn sup_01_supervisor_job_children_fail_independently() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let supervisor = SupervisorJob::new();
            let s1 = s.clone();
            let job1 = scope.launch_with(
                supervisor.clone(),
                CoroutineStart::Default,
                move |_| async move {
                    s1.expect(2);
                    yield_now().await;
                    s1.expect(4);
                    panic!("TE1");
                },
            );
            let s2 = s.clone();
            let job2 = scope.launch_with(
                supervisor.clone(),
                CoroutineStart::Default,
                move |_| async move {
                    s2.expect(3);
                    panic!("TE2");
                },
            );
            job1.join().await;
            job2.join().await;
            s.finish(5);
            assert!(job1.is_cancelled() && job2.is_cancelled());
            assert!(!supervisor.is_cancelled() && !supervisor.is_completed());
        }
    })
    .unwrap();
    assert_eq!(recorder.messages(), vec!["TE2", "TE1"]);
}

/// SUP-02: supervisor_scope: failing children go to the handler; the scope returns its value.
#[test]
fn sup_02_supervisor_scope_returns_value() {
    let recorder = Recorder::default();
    let result = run_blocking_with(recorder.handler(), |_| async {
        supervisor_scope(|scope| async move {
            scope.launch(|_| async { panic!("TE1") });
            scope.launch(|_| async { panic!("TE2") });
            "OK"
        })
        .await
    })
    .unwrap();
    assert_eq!(result.unwrap(), "OK");
    assert_eq!(recorder.messages(), vec!["TE1", "TE2"]);
}

/// SUP-03: a sibling's failure does not cancel other children of a supervisor_scope.
#[test]
fn sup_03_isolation() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |_| async move {
            let inner = s.clone();
            let result = supervisor_scope(|scope| async move {
                inner.expect(1);
                let s2 = inner.clone();
                let job = scope.launch(move |_| async move {
                    s2.expect(2);
                    forever().await;
                });
                let s3 = inner.clone();
                let failing = scope.launch(move |_| async move {
                    s3.expect(3);
                    panic!("TE2");
                });
                failing.join().await;
                yield_now().await;
                inner.expect(4);
                assert!(job.is_active() && !job.is_cancelled());
                job.cancel();
                "OK"
            })
            .await;
            assert_eq!(result.unwrap(), "OK");
            s.finish(5);
        }
    })
    .unwrap();
    assert_eq!(recorder.messages(), vec!["TE2"]);
}

/// SUP-04 (a), (b): a supervisor_scope whose block fails cancels all children and returns the
/// failure.
#[test]
fn sup_04_block_failure_cancels_children() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            let inner = s.clone();
            let jobs = std::sync::Arc::new(std::sync::Mutex::new(None));
            let seen = jobs.clone();
            let result: Result<(), JobError> = supervisor_scope(|scope| async move {
                let s3 = inner.clone();
                let child = scope.async_(move |_| async move {
                    let _finally = Finally(move || s3.expect(3));
                    forever().await;
                });
                inner.expect(2);
                yield_now().await;
                *seen.lock().unwrap() = Some((child.job().clone(), current_job().unwrap()));
                panic!("TE2");
            })
            .await;
            assert_eq!(result.unwrap_err().message(), "TE2");
            let (child, supervisor) = jobs.lock().unwrap().take().unwrap();
            assert!(child.is_cancelled() && supervisor.is_cancelled());
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// SUP-06: cancelling the coroutine that runs supervisor_scope cancels its children
/// synchronously.
#[test]
fn sup_06_external_cancellation_is_synchronous() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let child_slot = std::sync::Arc::new(std::sync::Mutex::new(None::<Job>));
            let slot = child_slot.clone();
            let s2 = s.clone();
            let job = scope.launch(move |_| async move {
                let _ = supervisor_scope(|scope| async move {
                    let child = scope.launch_with(
                        Context::new(),
                        CoroutineStart::Undispatched,
                        move |_| async move {
                            let _finally = Finally(move || s2.expect(2));
                            forever().await;
                        },
                    );
                    *slot.lock().unwrap() = Some(child);
                    forever().await;
                })
                .await;
            });
            while child_slot.lock().unwrap().is_none() {
                yield_now().await;
            }
            s.expect(1);
            job.cancel();
            assert!(child_slot.lock().unwrap().as_ref().unwrap().is_cancelled());
            job.join().await;
            s.finish(3);
        }
    })
    .unwrap();
    s.assert_finished(3);
}

/// SUP-08: cancelling a child of a SupervisorJob reports nothing; the supervisor completes
/// after complete().
#[test]
fn sup_08_cancelled_child_not_reported() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let supervisor = SupervisorJob::new();
            let handler =
                CoroutineExceptionHandler::new(|_, e| panic!("handler must not run: {e}"));
            let s1 = s.clone();
            let child = scope.launch_with(
                supervisor.clone() + handler,
                CoroutineStart::Default,
                move |_| async move {
                    s1.expect(1);
                    let s3 = s1.clone();
                    with_cleanup(forever(), async move { s3.expect(3) }).await;
                },
            );
            yield_now().await;
            s.expect(2);
            child.cancel_and_join().await;
            assert!(supervisor.complete());
            supervisor.join().await;
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// SUP-09 (b): a handler installed on a direct child of a supervisor is the one invoked.
#[test]
fn sup_09b_handler_on_supervised_child() {
    let recorder = Recorder::default();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = lines.clone();
    run_blocking(move |_| async move {
        let inner_log = log.clone();
        let handler = recorder.handler();
        supervisor_scope(|scope| async move {
            let child_log = inner_log.clone();
            scope.launch_with(handler, CoroutineStart::Default, move |_| async move {
                child_log
                    .lock()
                    .unwrap()
                    .push("The child throws an exception".into());
                panic!("AssertionError");
            });
            inner_log
                .lock()
                .unwrap()
                .push("The scope is completing".into());
        })
        .await
        .unwrap();
        log.lock().unwrap().push("The scope is completed".into());
        assert_eq!(recorder.messages(), vec!["AssertionError"]);
    })
    .unwrap();
    assert_eq!(
        *lines.lock().unwrap(),
        vec![
            "The scope is completing",
            "The child throws an exception",
            "The scope is completed"
        ]
    );
}
