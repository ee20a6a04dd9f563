//! JOB scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md): the Job
//! state machine, completion handlers, completable jobs, `ensure_active`.
//!
//! corral has no `CompletableDeferred`; its rows of JOB-02, JOB-03 and JOB-10 (b)(c) are not
//! ported (see docs/kotlin-guide.md). Where a `CompletableDeferred` row tests a rule of plain
//! jobs too (JOB-02's consecutive `completeExceptionally`), it is ported on `Job`.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use corral_core::{
    yield_now, CompletionHandle, Context, CoroutineStart, Job, JobError, JobState, NonCancellable,
};
use corral_test_support::{
    forever, run_blocking, run_blocking_with, Finally, Recorder, Scope, Steps,
};

/// `N` handler counters.
fn counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

fn counts(counters: &[AtomicUsize]) -> Vec<usize> {
    counters.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

/// JOB-01 (a): a fresh `Job::new()` is an active root.
#[test]
fn job_01a_fresh_job_state() {
    let job = Job::new();
    assert!(job.parent().is_none());
    assert_eq!(job.state(), JobState::Active);
    assert!(job.is_active() && !job.is_completed() && !job.is_cancelled());
    assert!(job.children().is_empty());
}

/// JOB-01 (b): one handler fires exactly once, synchronously inside the first `cancel()`; a
/// second `cancel()` runs nothing.
#[test]
fn job_01b_handler_fires_once_inside_cancel() {
    let job = Job::new();
    let fired = Arc::new(Mutex::new(Vec::new()));
    let f = fired.clone();
    let _handle = job.invoke_on_completion(move |cause| {
        let cause = cause.expect("a cancelled job passes its cause");
        assert!(cause.is_cancelled() && !cause.is_failure());
        f.lock().unwrap().push(cause.clone());
    });
    assert!(job.is_active());
    assert!(fired.lock().unwrap().is_empty());
    job.cancel();
    assert!(!job.is_active() && job.is_completed() && job.is_cancelled());
    assert_eq!(fired.lock().unwrap().len(), 1);
    job.cancel();
    assert_eq!(fired.lock().unwrap().len(), 1, "second cancel is a no-op");
}

/// JOB-01 (c): many handlers each fire exactly once, in registration order.
#[test]
fn job_01c_many_handlers_fire_once_in_order() {
    const N: usize = 100;
    let job = Job::new();
    let order = Arc::new(Mutex::new(Vec::new()));
    let c = counters(N);
    for i in 0..N {
        let (c, order) = (c.clone(), order.clone());
        let _ = job.invoke_on_completion(move |_| {
            c[i].fetch_add(1, Ordering::SeqCst);
            order.lock().unwrap().push(i);
        });
    }
    assert_eq!(counts(&c), vec![0; N]);
    job.cancel();
    assert!(!job.is_active());
    assert_eq!(counts(&c), vec![1; N]);
    assert_eq!(*order.lock().unwrap(), (0..N).collect::<Vec<_>>());
    job.cancel();
    assert_eq!(counts(&c), vec![1; N]);
}

/// JOB-01 (d): a handler may dispose its own handle while it runs (a no-op by then).
#[test]
fn job_01d_dispose_own_handle_inside_handler() {
    const N: usize = 100;
    let job = Job::new();
    let c = counters(N);
    for i in 0..N {
        let slot: Arc<Mutex<Option<CompletionHandle>>> = Arc::new(Mutex::new(None));
        let (c, slot2) = (c.clone(), slot.clone());
        let handle = job.invoke_on_completion(move |_| {
            c[i].fetch_add(1, Ordering::SeqCst);
            slot2
                .lock()
                .unwrap()
                .take()
                .expect("the handle was stored before cancel")
                .dispose();
        });
        *slot.lock().unwrap() = Some(handle);
    }
    job.cancel();
    assert!(!job.is_active());
    assert_eq!(counts(&c), vec![1; N]);
    job.cancel();
    assert_eq!(counts(&c), vec![1; N]);
}

/// JOB-01 (e): handles disposed before the cancel (i % 4 in {0, 1}) never run; the others run
/// once. Covers disposing a single handler (the first one, stored inline) and many.
#[test]
fn job_01e_disposed_handlers_never_run() {
    const N: usize = 100;
    let job = Job::new();
    let c = counters(N);
    let mut handles = Vec::new();
    for i in 0..N {
        let c = c.clone();
        handles.push(job.invoke_on_completion(move |_| {
            c[i].fetch_add(1, Ordering::SeqCst);
        }));
    }
    for (i, handle) in handles.into_iter().enumerate() {
        if i % 4 <= 1 {
            handle.dispose();
        }
    }
    job.cancel();
    assert!(!job.is_active());
    let expected: Vec<usize> = (0..N).map(|i| usize::from(i % 4 > 1)).collect();
    assert_eq!(counts(&c), expected);
    job.cancel();
    assert_eq!(counts(&c), expected);

    // A single disposed handler.
    let job = Job::new();
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    job.invoke_on_completion(move |_| {
        f.fetch_add(1, Ordering::SeqCst);
    })
    .dispose();
    job.cancel();
    assert!(job.is_completed());
    assert_eq!(fired.load(Ordering::SeqCst), 0);
}

/// JOB-01 (f): handlers that panic: `cancel()` still runs every handler once, then re-raises
/// the first handler's panic to its caller (kotlinx throws a `CompletionHandlerException`
/// caused by the first one; the other N-1 are its suppressed list, which a Rust panic payload
/// cannot carry: they are dropped). The job is cancelled and final all the same.
#[test]
fn job_01f_panicking_handlers_all_run_first_panic_reraised() {
    const N: usize = 10;
    let job = Job::new();
    let c = counters(N);
    for i in 0..N {
        let c = c.clone();
        let _ = job.invoke_on_completion(move |_| {
            c[i].fetch_add(1, Ordering::SeqCst);
            panic!("TE{i}");
        });
    }
    let payload = panic::catch_unwind(AssertUnwindSafe(|| job.cancel()))
        .expect_err("cancel() re-raises a handler panic");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("TE0")
    );
    assert_eq!(counts(&c), vec![1; N]);
    assert!(!job.is_active() && job.is_completed() && job.is_cancelled());
    job.cancel(); // no handler left: no panic
    assert_eq!(counts(&c), vec![1; N]);
}

/// JOB-02 (a): `complete()` on a plain job: `true`, Completed; `false` the second time.
#[test]
fn job_02a_complete() {
    let job = Job::new();
    assert!(job.complete());
    assert_eq!(job.state(), JobState::Completed);
    assert!(job.is_completed() && !job.is_active() && !job.is_cancelled());
    assert!(job.completion_error().is_none());
    assert!(!job.complete());
    assert!(!job.is_cancelled());
}

/// JOB-02 (b): `complete_exceptionally(TE)`: `true`, Cancelled with TE; then both
/// `complete_exceptionally` and `complete` are `false`.
#[test]
fn job_02b_complete_exceptionally() {
    let job = Job::new();
    assert!(job.complete_exceptionally(JobError::failure("TE")));
    assert_eq!(job.state(), JobState::Cancelled);
    assert!(job.is_completed() && !job.is_active() && job.is_cancelled());
    let error = job.completion_error().expect("a failed job has an error");
    assert!(error.is_failure());
    assert_eq!(error.message(), "TE");
    assert!(!job.complete_exceptionally(JobError::failure("TE")));
    assert!(!job.complete());
    assert_eq!(job.completion_error().unwrap().message(), "TE");
}

/// JOB-02 (c): a completed parent is Completing (still active) until its child completes.
#[test]
fn job_02c_complete_waits_for_children() {
    let parent = Job::new();
    let child = Job::new_child(&parent);
    assert_eq!(child.parent(), Some(parent.clone()));
    assert_eq!(parent.children(), vec![child.clone()]);
    assert!(parent.complete());
    assert_eq!(parent.state(), JobState::Completing);
    assert!(parent.is_active() && !parent.is_completed() && !parent.is_cancelled());
    assert!(!parent.complete());
    assert!(child.complete());
    assert!(child.is_completed() && !child.is_cancelled());
    assert!(parent.is_completed() && !parent.is_cancelled() && !parent.is_active());
    assert!(child.parent().is_none(), "the link is removed at the end");
    assert!(parent.children().is_empty());
}

/// JOB-02 (d) (kotlinx `testConsecutiveCancellation`, there on a `CompletableDeferred`): the
/// first `complete_exceptionally` wins; the second is `false` and is not attached as
/// suppressed.
#[test]
fn job_02d_consecutive_complete_exceptionally_first_wins() {
    let job = Job::new();
    assert!(job.complete_exceptionally(JobError::failure("IndexOutOfBounds")));
    assert!(!job.complete_exceptionally(JobError::failure("AssertionError")));
    let error = job.completion_error().unwrap();
    assert!(error.is_failure());
    assert_eq!(error.message(), "IndexOutOfBounds");
    assert!(error.cause().is_none());
    assert!(error.suppressed().is_empty());
}

/// JOB-03 (a), synchronous rows: cancellation goes down always (a child of a cancelled
/// parent is born cancelled); a cancelled child leaves its parent alone; a failed child cancels
/// its parent.
#[test]
fn job_03a_parent_child_relations_sync() {
    // Born cancelled.
    let parent = Job::new();
    parent.cancel();
    let child = Job::new_child(&parent);
    assert!(!child.is_active() && child.is_cancelled());

    // A cancelled child: the parent stays active.
    let parent = Job::new();
    let child = Job::new_child(&parent);
    child.cancel();
    assert!(child.is_cancelled() && child.is_completed());
    assert!(parent.is_active() && !parent.is_cancelled());
    assert!(parent.children().is_empty());

    // A failed child: the parent is cancelled, with the child's failure.
    let parent = Job::new();
    let child = Job::new_child(&parent);
    assert!(child.complete_exceptionally(JobError::failure("TE")));
    assert!(child.is_cancelled());
    assert!(parent.is_cancelled() && !parent.is_active());
    let error = parent.completion_error().expect("the parent is final");
    assert!(error.is_failure());
    assert_eq!(error.message(), "TE");
    assert!(
        error.same_as(&child.completion_error().unwrap()),
        "not wrapped"
    );

    // Cancelling the parent cancels the child.
    let parent = Job::new();
    let child = Job::new_child(&parent);
    parent.cancel();
    assert!(child.is_cancelled() && child.is_completed());
    assert!(parent.is_completed());
}

/// JOB-03 (a), in a coroutine: a child `Job` of the coroutine's job is cancelled (also with a
/// cancellation caused by IOE, kotlinx `testCancelJobImpl`) and joined; the coroutine is not
/// cancelled.
#[test]
fn job_03a_child_job_of_a_coroutine_cancel_stays_local() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let s1 = s.clone();
            let parent = scope.launch(move |inner| async move {
                s1.expect(1);
                let child = Job::new_child(&inner.job());
                s1.expect(2);
                child.cancel_with(JobError::cancelled_by(
                    "cancelled",
                    JobError::failure("IOE"),
                ));
                child.join().await;
                let error = child.completion_error().unwrap();
                assert!(error.is_cancelled() && !error.is_failure());
                assert_eq!(error.cause().map(JobError::message), Some("IOE"));
                assert!(inner.job().is_active() && !inner.job().is_cancelled());
                s1.expect(3);
            });
            parent.join().await;
            assert!(parent.is_completed() && !parent.is_cancelled());
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// JOB-04: New -> Active -> Completing -> Completed; the parent link stays while Completing and
/// is removed at the end.
#[test]
fn job_04_normal_lifecycle() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let parent = scope.job();
            let s2 = s.clone();
            let job = scope.launch_with((), CoroutineStart::Lazy, move |inner| async move {
                s2.expect(2);
                let s4 = s2.clone();
                inner.launch(move |_| async move { s4.expect(4) });
            });
            assert_eq!(job.state(), JobState::New);
            assert!(!job.is_active() && !job.is_completed() && !job.is_cancelled());
            assert_eq!(job.parent(), Some(parent.clone()));
            assert!(job.start());
            assert_eq!(job.state(), JobState::Active);
            assert!(job.is_active() && !job.is_completed() && !job.is_cancelled());
            yield_now().await; // the body runs (2), spawns a child and ends
            s.expect(3);
            assert_eq!(job.state(), JobState::Completing);
            assert!(job.is_active() && !job.is_completed() && !job.is_cancelled());
            assert_eq!(job.parent(), Some(parent.clone()));
            assert_eq!(job.children().len(), 1);
            yield_now().await; // the child runs (4): the job completes
            s.finish(5);
            assert_eq!(job.state(), JobState::Completed);
            assert!(!job.is_active() && job.is_completed() && !job.is_cancelled());
            assert!(job.parent().is_none());
            assert!(job.children().is_empty());
        }
    })
    .unwrap();
    s.assert_finished(5);
}

/// JOB-06: a failing body: Active -> Cancelling (while an Atomic child still has to run) ->
/// Cancelled; the Atomic child runs although its parent is cancelling; the root launch
/// (detached by `NonCancellable`) reports TE to the handler exactly once.
#[test]
fn job_06_failed_body_cancelling_then_cancelled() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        let recorder = recorder.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job =
                scope.launch_with(
                    NonCancellable,
                    CoroutineStart::Lazy,
                    move |inner| async move {
                        s2.expect(2);
                        let s4 = s2.clone();
                        inner.launch_with((), CoroutineStart::Atomic, move |_| async move {
                            s4.expect(4)
                        });
                        panic!("TE");
                    },
                );
            assert_eq!(job.state(), JobState::New);
            assert!(job.parent().is_none(), "NonCancellable: a root");
            assert!(job.start());
            assert!(job.is_active() && !job.is_completed() && !job.is_cancelled());
            yield_now().await; // the body runs and fails
            s.expect(3);
            assert_eq!(job.state(), JobState::Cancelling);
            assert!(!job.is_active() && !job.is_completed() && job.is_cancelled());
            assert!(recorder.messages().is_empty(), "reported only once final");
            yield_now().await; // the Atomic child runs (4): the job is final
            s.finish(5);
            assert_eq!(job.state(), JobState::Cancelled);
            assert!(!job.is_active() && job.is_completed() && job.is_cancelled());
            let error = job.completion_error().unwrap();
            assert!(error.is_failure());
            assert_eq!(error.message(), "TE");
        }
    })
    .unwrap();
    s.assert_finished(5);
    assert_eq!(recorder.messages(), vec!["TE".to_owned()]);
}

/// JOB-07: a Completing job (body done, waiting for an Atomic child) can still be cancelled:
/// Completing -> Cancelling -> Cancelled; only cancellations, so nothing reaches the handler.
#[test]
fn job_07_completing_then_cancelled() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job =
                scope.launch_with(
                    NonCancellable,
                    CoroutineStart::Lazy,
                    move |inner| async move {
                        s2.expect(2);
                        let s4 = s2.clone();
                        inner.launch_with((), CoroutineStart::Atomic, move |_| async move {
                            s4.expect(4)
                        });
                    },
                );
            assert!(job.start());
            yield_now().await; // the body runs (2) and ends
            s.expect(3);
            assert_eq!(job.state(), JobState::Completing);
            assert!(job.is_active() && !job.is_completed() && !job.is_cancelled());
            job.cancel();
            assert_eq!(job.state(), JobState::Cancelling);
            assert!(!job.is_active() && !job.is_completed() && job.is_cancelled());
            yield_now().await; // the Atomic child still runs (4)
            s.finish(5);
            assert_eq!(job.state(), JobState::Cancelled);
            assert!(!job.is_active() && job.is_completed() && job.is_cancelled());
            assert!(job.completion_error().unwrap().is_cancelled());
        }
    })
    .unwrap();
    s.assert_finished(5);
    assert!(recorder.messages().is_empty());
}

/// JOB-08 (a): an on-cancelling handler (kotlinx `invokeOnCompletion(onCancelling = true)`,
/// corral `invoke_on_cancelling`) fires inside `cancel()`, with the cause, before the job is
/// final.
#[test]
fn job_08a_on_cancelling_fires_at_cancel() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let s2 = s.clone();
            let job = scope.launch(move |_| async move {
                s2.expect(2);
                forever().await;
            });
            let s3 = s.clone();
            let j3 = job.clone();
            let _handle = job.invoke_on_cancelling(move |cause| {
                let cause = cause.expect("a cancellation has a cause");
                assert!(cause.is_cancelled());
                assert_eq!(j3.state(), JobState::Cancelling, "not final yet");
                s3.expect(3);
            });
            s.expect(1);
            yield_now().await;
            job.cancel();
            assert_eq!(s.count(), 3, "the handler ran inside cancel()");
            job.join().await;
            assert!(job.is_completed() && job.is_cancelled());
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// JOB-08 (b): an on-cancelling handler of a job that completes normally runs once, with
/// `None`, at completion.
#[test]
fn job_08b_on_cancelling_fires_with_none_on_normal_completion() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let s2 = s.clone();
            let job = scope.launch(move |_| async move { s2.expect(2) });
            let s3 = s.clone();
            let j3 = job.clone();
            let _handle = job.invoke_on_cancelling(move |cause| {
                assert!(cause.is_none());
                assert!(j3.is_completed() && !j3.is_cancelled());
                s3.expect(3);
            });
            s.expect(1);
            job.join().await;
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// JOB-08 (c) (kotlinx `invokeOnCompletion(onCancelling = true)` details, not a numbered
/// sub-case): a failure passes the failure itself; the handler runs once, when cancelling
/// starts, before the ordinary completion handlers; registered on a cancelling or final job it
/// runs at once with the root cause; a disposed one never runs.
#[test]
fn job_08c_on_cancelling_failure_order_and_late_registration() {
    let order = Arc::new(Mutex::new(Vec::new()));
    run_blocking({
        let order = order.clone();
        move |scope| async move {
            let parent = Job::new();
            let o = order.clone();
            let _ = parent.invoke_on_completion(move |cause| {
                assert!(cause.is_some_and(JobError::is_failure));
                o.lock().unwrap().push("completion");
            });
            let o = order.clone();
            let _ = parent.invoke_on_cancelling(move |cause| {
                assert_eq!(cause.map(JobError::message), Some("TE"));
                o.lock().unwrap().push("cancelling");
            });
            let o = order.clone();
            parent
                .invoke_on_cancelling(move |_| o.lock().unwrap().push("disposed"))
                .dispose();
            // A suspended coroutine child keeps the parent Cancelling until it is dropped.
            let sleeper = scope.launch_with(parent.clone(), CoroutineStart::Default, |_| forever());
            yield_now().await; // the sleeper suspends
            let child = Job::new_child(&parent);
            assert!(child.complete_exceptionally(JobError::failure("TE")));
            assert_eq!(parent.state(), JobState::Cancelling);
            assert!(sleeper.is_cancelled() && !sleeper.is_completed());
            assert_eq!(*order.lock().unwrap(), vec!["cancelling"]);

            // Registered while Cancelling: runs at once with the root cause.
            let o = order.clone();
            let _ = parent.invoke_on_cancelling(move |cause| {
                assert_eq!(cause.map(JobError::message), Some("TE"));
                o.lock().unwrap().push("late");
            });
            assert_eq!(*order.lock().unwrap(), vec!["cancelling", "late"]);

            parent.join().await; // the sleeper is dropped: the parent is final
            assert_eq!(parent.state(), JobState::Cancelled);
            assert_eq!(
                *order.lock().unwrap(),
                vec!["cancelling", "late", "completion"]
            );

            // Registered on a final job: runs at once with the final error.
            let o = order.clone();
            let _ = parent.invoke_on_cancelling(move |cause| {
                assert_eq!(cause.map(JobError::message), Some("TE"));
                o.lock().unwrap().push("final");
            });
        }
    })
    .unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        vec!["cancelling", "late", "completion", "final"]
    );
}

/// JOB-10 (a): cancelling a parent `Job` cancels its suspended child; `join` on the parent
/// waits for the child's `finally`.
#[test]
fn job_10a_cancel_and_join_parent_waits_for_children() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let parent = Job::new();
            let s2 = s.clone();
            let child = scope.launch_with(
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
            parent.cancel();
            assert!(
                parent.is_cancelled() && !parent.is_completed(),
                "waits for the child"
            );
            assert!(child.is_cancelled() && !child.is_completed());
            s.expect(4);
            parent.join().await; // waits for the child's finally
            assert!(parent.is_completed() && child.is_completed());
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
}

/// The Kotlin `CoroutineScope(job + handler)` of JOB-11 with no dispatcher: its coroutines run
/// in place (Unconfined).
fn unconfined_scope(job: &Job, recorder: &Recorder) -> Scope {
    Scope::new(Context::new() + job.clone() + recorder.handler())
}

/// JOB-11 (a): an active job and scope pass `ensure_active`; an Unconfined launch runs inline up
/// to its first suspension.
#[test]
fn job_11a_ensure_active_while_active() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking({
        let s = s.clone();
        let recorder = recorder.clone();
        move |_| async move {
            let job = Job::new();
            let scope = unconfined_scope(&job, &recorder);
            s.expect(1);
            let s2 = s.clone();
            let child = scope.launch(move |_| async move {
                corral_core::ensure_active().unwrap();
                s2.expect(2);
                forever().await;
            });
            s.expect(3); // the child ran inline up to its suspension
            job.ensure_active().unwrap();
            scope.context.ensure_active().unwrap();
            assert!(scope.context.is_active());
            job.cancel_and_join().await;
            assert!(child.is_cancelled() && child.is_completed());
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
    assert!(recorder.messages().is_empty());
}

/// JOB-11 (b): a normally completed job is not active: `ensure_active` fails with a
/// cancellation (no cause) although nothing was cancelled.
#[test]
fn job_11b_ensure_active_on_completed_job_fails() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking({
        let s = s.clone();
        let recorder = recorder.clone();
        move |_| async move {
            let job = Job::new();
            let scope = unconfined_scope(&job, &recorder);
            s.expect(1);
            let s2 = s.clone();
            scope.launch(move |_| async move { s2.expect(2) });
            s.expect(3);
            assert!(job.complete());
            job.join().await;
            assert!(job.is_completed() && !job.is_cancelled());
            for error in [job.ensure_active(), scope.context.ensure_active()] {
                let error = error.unwrap_err();
                assert!(error.is_cancelled() && !error.is_failure(), "{error:?}");
                assert!(error.cause().is_none());
            }
            assert!(!scope.context.is_active());
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
    assert!(recorder.messages().is_empty());
}

/// JOB-11 (c): a failing child cancels the plain `Job`; `ensure_active` then fails with a
/// cancellation whose cause is the child's TE (the TE itself reaches the handler, since a
/// plain `Job` parent does not handle it).
#[test]
fn job_11c_ensure_active_after_child_failure_has_cause() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking({
        let s = s.clone();
        let recorder = recorder.clone();
        move |_| async move {
            let job = Job::new();
            let scope = unconfined_scope(&job, &recorder);
            s.expect(1);
            let s2 = s.clone();
            scope.launch(move |_| async move {
                s2.expect(2);
                panic!("TE");
            });
            s.expect(3);
            assert!(job.is_cancelled());
            for error in [job.ensure_active(), scope.context.ensure_active()] {
                let error = error.unwrap_err();
                assert!(error.is_cancelled() && !error.is_failure(), "{error:?}");
                let cause = error.cause().expect("the cause is the child's failure");
                assert!(cause.is_failure());
                assert_eq!(cause.message(), "TE");
            }
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
    assert_eq!(recorder.messages(), vec!["TE".to_owned()]);
}

/// JOB-11 (d): `ensure_active` with no job is a no-op (an empty context, outside coroutines);
/// kotlinx `ctx.job`: an empty context has no job (Rust: `None` instead of an exception), and
/// `NonCancellable` is a job element that is always active (Rust: not a `Job`, so
/// `job()` is `None` and `job_element()` names it).
#[test]
fn job_11d_ensure_active_without_job() {
    let empty = Context::new();
    assert!(empty.job().is_none() && empty.job_element().is_none());
    empty.ensure_active().unwrap();
    assert!(empty.is_active());
    corral_core::ensure_active().unwrap(); // outside any coroutine
    assert!(corral_core::is_active());
    assert!(corral_core::current_job().is_none());

    let nc = Context::from(NonCancellable);
    assert!(nc.is_non_cancellable() && nc.job().is_none());
    assert!(nc.job_element().is_some());
    nc.ensure_active().unwrap();
    assert!(nc.is_active());
}
