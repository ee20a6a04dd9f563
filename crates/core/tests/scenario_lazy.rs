//! LAZY scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md):
//! `CoroutineStart::Lazy`.

use std::sync::{Arc, Mutex};

use corral_core::{yield_now, Context, CoroutineStart, Job, JobError, JobState, NonCancellable};
use corral_test_support::{run_blocking, run_blocking_with, Recorder, Steps};

/// LAZY-01: a lazy launch is not started by `yield_now`; `join` starts it and waits.
#[test]
fn lazy_01_yield_does_not_start_join_does() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.launch_with((), CoroutineStart::Lazy, move |_| async move {
                s2.expect(4);
                yield_now().await;
                s2.expect(5);
            });
            s.expect(2);
            yield_now().await; // nothing runnable: returns at once
            s.expect(3);
            assert_eq!(job.state(), JobState::New);
            assert!(!job.is_active() && !job.is_completed() && !job.is_cancelled());
            job.join().await; // starts it (dispatch) and waits
            assert!(!job.is_active() && job.is_completed() && !job.is_cancelled());
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
}

/// LAZY-02 (a): `start()` on a lazy launch is `true` once, `false` afterwards, and only
/// schedules the body (it does not run inline).
#[test]
fn lazy_02a_start_launch_once_and_only_schedules() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.launch_with((), CoroutineStart::Lazy, move |_| async move {
                s2.expect(5);
                yield_now().await;
                s2.expect(7);
            });
            s.expect(2);
            yield_now().await;
            s.expect(3); // still not started
            assert!(!job.is_active() && !job.is_completed());
            assert!(job.start()); // New -> Active; the body is queued, not run
            assert!(job.is_active() && !job.is_completed());
            assert!(!job.start()); // second start: no-op
            s.expect(4);
            yield_now().await; // -> job: 5, the job yields back
            s.expect(6);
            assert!(job.is_active() && !job.is_completed());
            yield_now().await; // -> job: 7, completes
            assert!(!job.is_active() && job.is_completed() && !job.is_cancelled());
            s.expect(8);
            job.join().await; // immediate
            s.finish(9);
        }
    })
    .unwrap();
    s.assert_finished(9);
}

/// LAZY-02 (b): `start()` on a lazy async: `true` once, the deferred is active but its body only
/// runs at the next yield; its value is then there.
#[test]
fn lazy_02b_start_async_once() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let d = scope.async_with((), CoroutineStart::Lazy, move |_| async move {
                s2.expect(4);
                42
            });
            s.expect(2);
            assert!(d.start());
            assert!(d.is_active());
            s.expect(3);
            assert!(!d.start());
            yield_now().await; // -> d: 4
            assert!(d.is_completed() && !d.is_cancelled());
            s.expect(5);
            assert_eq!(d.await.unwrap(), 42);
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
}

/// LAZY-03: `invoke_on_completion` on a lazy job does not start it; the handler runs
/// synchronously when the job completes, before the waiting caller resumes.
#[test]
fn lazy_03_invoke_on_completion_does_not_start() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.launch_with((), CoroutineStart::Lazy, move |_| async move {
                s2.expect(5);
            });
            yield_now().await; // not started
            s.expect(2);
            let s6 = s.clone();
            let _handle = job.invoke_on_completion(move |cause| {
                assert!(cause.is_none());
                s6.expect(6);
            });
            assert_eq!(
                job.state(),
                JobState::New,
                "registering a handler starts nothing"
            );
            s.expect(3);
            assert!(job.start());
            s.expect(4);
            yield_now().await; // -> body 5 -> completion -> handler 6 -> main
            s.finish(7);
        }
    })
    .unwrap();
    s.assert_finished(7);
}

/// LAZY-04 (a): awaiting a lazy async starts it; its `yield_now` does not let the caller run
/// (the caller waits); the value comes back and the deferred is completed, not cancelled.
/// kotlinx awaits the same `Deferred` a second time; a Rust `Deferred` moves its value out on
/// the first await, so the second step joins its job instead (immediate).
#[test]
fn lazy_04a_await_starts_lazy_async() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let d = scope.async_with((), CoroutineStart::Lazy, move |_| async move {
                s2.expect(3);
                yield_now().await; // no effect on the order: the caller waits
                s2.expect(4);
                42
            });
            s.expect(2);
            assert!(!d.is_active() && !d.is_completed());
            let job = d.job().clone();
            assert_eq!(d.await.unwrap(), 42);
            assert!(!job.is_active() && job.is_completed() && !job.is_cancelled());
            s.expect(5);
            job.join().await; // already complete: immediate
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
}

/// LAZY-04 (b): a lazy async child that fails: `await` gives the failure (kotlinx: `await`
/// throws TE, delivered although the awaiting root is being cancelled by that very failure),
/// and since the child belongs to the root, the root fails with the same TE (runBlocking throws
/// TE); the handler sees nothing.
#[test]
fn lazy_04b_lazy_async_failure_fails_root() {
    let s = Steps::new();
    let recorder = Recorder::default();
    let awaited: Arc<Mutex<Option<JobError>>> = Arc::default();
    let result = run_blocking_with(recorder.handler(), {
        let (s, awaited) = (s.clone(), awaited.clone());
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let d = scope.async_with((), CoroutineStart::Lazy, move |_| async move {
                s2.expect(3);
                yield_now().await;
                s2.finish(4);
                panic!("TE");
            });
            s.expect(2);
            let error = d.await.unwrap_err(); // kotlinx: d.await() throws TE
            *awaited.lock().unwrap() = Some(error);
        }
    });
    s.assert_finished(4);
    let awaited = awaited
        .lock()
        .unwrap()
        .take()
        .expect("await gave the failure");
    assert!(awaited.is_failure(), "{awaited:?}");
    assert_eq!(awaited.message(), "TE");
    let error = result.unwrap_err();
    assert!(error.is_failure(), "{error:?}");
    assert_eq!(error.message(), "TE");
    assert!(error.same_as(&awaited), "the same failure, not wrapped");
    assert!(error.suppressed().is_empty());
    assert!(
        recorder.messages().is_empty(),
        "the root rethrows, H sees nothing"
    );
}

/// LAZY-04 (c): a lazy async detached with `NonCancellable` fails only its `Deferred`: `await`
/// gives TE, the deferred is completed and cancelled, and the root returns normally.
#[test]
fn lazy_04c_detached_lazy_async_failure_only_in_await() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let d = scope.async_with(NonCancellable, CoroutineStart::Lazy, move |_| async move {
                s2.expect(3);
                panic!("TE");
            });
            s.expect(2);
            let job = d.job().clone();
            let error = d.await.unwrap_err();
            assert!(error.is_failure(), "{error:?}");
            assert_eq!(error.message(), "TE");
            assert!(!job.is_active() && job.is_completed() && job.is_cancelled());
            s.expect(4);
            assert!(scope.job().is_active(), "the root is not cancelled");
            s.finish(5);
        }
    })
    .unwrap();
    s.assert_finished(5);
    assert!(recorder.messages().is_empty(), "an async never reports");
}

/// LAZY-06 (a): a lazy async cancelled before it started goes New -> Cancelled at once (no
/// body to wait for); `start()` is then `false` and `await` gives the cancellation (kotlinx:
/// `await` throws CE out of runBlocking; Rust: the body returns the `Err`).
#[test]
fn lazy_06a_cancel_before_start() {
    let s = Steps::new();
    let result = run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let d = scope.async_with((), CoroutineStart::Lazy, move |_| async move {
                s2.unreached();
                #[allow(unreachable_code)]
                42
            });
            s.expect(2);
            assert!(!d.is_active() && !d.is_completed());
            d.cancel();
            assert_eq!(d.state(), JobState::Cancelled);
            assert!(!d.is_active() && d.is_completed() && d.is_cancelled());
            assert!(!d.start());
            s.finish(3);
            d.await
        }
    });
    let error = result
        .expect("a cancelled child does not cancel the root")
        .unwrap_err();
    assert!(error.is_cancelled() && !error.is_failure(), "{error:?}");
    s.assert_finished(3);
}

/// LAZY-06 (b): a started lazy async cancelled while suspended is Cancelling (not yet
/// complete) right after `cancel()`; `await` gives the cancellation.
#[test]
fn lazy_06b_cancel_while_computing() {
    let s = Steps::new();
    let result = run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let d = scope.async_with((), CoroutineStart::Lazy, move |_| async move {
                s2.expect(4);
                yield_now().await;
                s2.unreached();
                #[allow(unreachable_code)]
                42
            });
            s.expect(2);
            assert!(d.start());
            s.expect(3);
            yield_now().await; // -> d: 4, d yields
            s.expect(5);
            assert!(d.is_active());
            d.cancel();
            assert_eq!(d.state(), JobState::Cancelling);
            assert!(!d.is_active() && d.is_cancelled() && !d.is_completed());
            s.finish(6);
            d.await
        }
    });
    let error = result
        .expect("a cancelled child does not cancel the root")
        .unwrap_err();
    assert!(error.is_cancelled() && !error.is_failure(), "{error:?}");
    s.assert_finished(6);
}

/// LAZY-06 (c): an unstarted lazy Unconfined child is cancelled and completed synchronously
/// when an ancestor `Job` is cancelled: its completion handler runs inside `parent.cancel()`.
/// (Unconfined in corral-core: a context without a dispatcher.)
#[test]
fn lazy_06c_unconfined_lazy_cancelled_synchronously_by_parent() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let parent = Job::new();
            let s1 = s.clone();
            let parent2 = parent.clone();
            let outer = scope.launch_with(parent.clone(), CoroutineStart::Default, move |outer| {
                async move {
                    s1.expect(1);
                    let s3 = s1.clone();
                    let j = corral_core::launch(
                        Context::new() + outer.job(),
                        CoroutineStart::Lazy,
                        move |_| async move { s3.unreached() },
                    );
                    let s2 = s1.clone();
                    let _handle = j.invoke_on_completion(move |cause| {
                        assert!(cause.is_some_and(|c| c.is_cancelled()));
                        s2.expect(2);
                    });
                    assert!(!j.is_completed());
                    parent2.cancel(); // j is cancelled & completed here: handler 2 runs
                    assert_eq!(s1.count(), 2, "the handler ran inside cancel()");
                    assert!(j.is_completed() && j.is_cancelled());
                    j.join().await; // the caller is cancelled: dropped here
                    s1.unreached();
                }
            });
            outer.join().await;
            assert!(outer.is_cancelled() && outer.is_completed());
            assert!(scope.job().is_active(), "outer is not a child of the root");
            s.finish(3);
        }
    })
    .unwrap();
    s.assert_finished(3);
}
