//! START scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md):
//! CoroutineStart Default, Atomic, Undispatched.

use corral_core::{scoped, yield_now, CoroutineStart, Job, ScopeKind};
use corral_test_support::{run_blocking, Steps};

/// START-01: Default start dispatches FIFO; the caller runs first ("C A B").
#[test]
fn start_01_default_is_fifo_and_caller_first() {
    let s = Steps::new();
    let r = run_blocking({
        let s = s.clone();
        move |scope| async move {
            let (s2, s3, s4) = (s.clone(), s.clone(), s.clone());
            let d1 = scope.launch(move |_| async move { s2.expect(2) });
            let d2 = scope.async_(move |_| async move {
                s3.expect(3);
                "OK"
            });
            let d3 = scope.launch(move |_| async move { s4.expect(4) });
            s.expect(1);
            d1.join().await;
            assert_eq!(d2.await.unwrap(), "OK");
            d3.join().await;
            s.finish(5);
        }
    });
    r.unwrap();
    s.assert_finished(5);
}

/// START-02: Default start cancelled before its first dispatch never runs its body.
#[test]
fn start_02_cancelled_before_dispatch_never_runs() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.launch(move |_| async move { s2.unreached() });
            s.expect(2);
            job.cancel_and_join().await;
            assert!(job.is_completed() && !job.is_active() && job.is_cancelled());
            s.finish(3);
        }
    })
    .unwrap();
    s.assert_finished(3);
}

/// START-03 (a): Atomic start runs the body although cancelled before dispatch; the body sees
/// `is_active() == false`.
#[test]
fn start_03a_atomic_runs_after_cancel() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.launch_with((), CoroutineStart::Atomic, move |_| async move {
                assert!(!corral_core::is_active());
                s2.finish(4);
            });
            s.expect(2);
            job.cancel();
            s.expect(3);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// START-03 (b): a failure of a cancelled Atomic child is a real failure: the parent fails.
#[test]
fn start_03b_atomic_failure_after_cancel_fails_parent() {
    let s = Steps::new();
    let result = run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let job = scope.launch_with((), CoroutineStart::Atomic, |_| async move {
                panic!("TE");
            });
            s.expect(2);
            job.cancel();
            s.finish(3);
        }
    });
    let error = result.unwrap_err();
    assert!(error.is_failure(), "{error:?}");
    assert_eq!(error.message(), "TE");
}

/// START-05: Undispatched runs inline until its first suspension.
#[test]
fn start_05_undispatched_runs_inline() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let job = scope.launch_with((), CoroutineStart::Undispatched, move |_| async move {
                s2.expect(2);
                yield_now().await;
                s2.expect(4);
            });
            s.expect(3);
            assert!(job.is_active() && !job.is_completed());
            job.join().await;
            assert!(!job.is_active() && job.is_completed());
            s.finish(5);
        }
    })
    .unwrap();
    // (b) an Undispatched async that never suspends is complete when async_ returns.
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let d = scope.async_with((), CoroutineStart::Undispatched, move |_| async move {
                s2.expect(2);
                42
            });
            s.expect(3);
            assert!(!d.is_active());
            assert_eq!(d.await.unwrap(), 42);
            s.finish(4);
        }
    })
    .unwrap();
}

/// START-08: every start mode attached to a cancelled parent completes cancelled; the
/// handler fires before the scope ends, and the scope returns a cancellation.
#[test]
fn start_08_all_modes_on_cancelled_parent() {
    for start in [
        CoroutineStart::Default,
        CoroutineStart::Lazy,
        CoroutineStart::Atomic,
        CoroutineStart::Undispatched,
    ] {
        let s = Steps::new();
        run_blocking({
            let s = s.clone();
            move |scope| async move {
                let s1 = s.clone();
                let context = scope.context.clone() + Job::new();
                let result = scoped(context, ScopeKind::Coroutine, move |ctx| async move {
                    let scope = corral_test_support::Scope::new(ctx);
                    scope.job().cancel();
                    s1.expect(1);
                    let d = scope.launch_with((), start, |_| async {});
                    s1.expect(2);
                    let s3 = s1.clone();
                    let _ = d.invoke_on_completion(move |_| s3.finish(3));
                    d
                })
                .await;
                let error = result.unwrap_err();
                assert!(error.is_cancelled(), "{start:?}: {error:?}");
            }
        })
        .unwrap();
        s.assert_finished(3);
    }
}
