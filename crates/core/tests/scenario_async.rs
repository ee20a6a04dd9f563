//! ASYNC scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md):
//! `async` / `await` / `awaitAll` / `joinAll`.
//!
//! Mappings used throughout:
//! * corral has no `awaitAll` / `joinAll`: `awaitAll(d1, d2, ..)` is "await each `Deferred` in
//!   argument order", `joinAll(j1, j2, ..)` is "join each job in order".
//! * `Deferred<T>` yields its `T` by value once (it is a future, not `Clone`): a repeated
//!   `await` maps to `join()` of its job (which is what does not suspend again) and the value
//!   is checked once.
//! * "throw X" out of a body after catching an `await` failure maps to a panic with the
//!   failure's message (a new failure object with the same message).
//! * The delay-based variants of ASYNC-12 are in the facade's `tests/scenario_async.rs`.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use corral_core::{
    scoped, yield_now, CoroutineStart, Deferred, Job, JobError, NonCancellable, ScopeKind,
};
use corral_test_support::{
    forever, run_blocking, run_blocking_with, Finally, Recorder, Scope, Steps,
};

/// Fails the current body with `error`'s message: the Rust shape of letting a caught
/// exception propagate (`throw e`).
fn rethrow(error: JobError) -> ! {
    panic::panic_any(error.message().to_owned())
}

#[track_caller]
fn assert_failure(error: &JobError, message: &str) {
    assert!(
        error.is_failure(),
        "expected failure {message:?}: {error:?}"
    );
    assert_eq!(error.message(), message, "{error:?}");
    assert!(error.suppressed().is_empty(), "{error:?}");
}

/// ASYNC-01 (a): await gives the value; the Deferred is active until its body ran and not
/// active after. Kotlin's second `await()` (returns 42 again) maps to `join()` of the
/// completed job (returns at once, no error) plus the rule that the value is moved out once:
/// taking it a second time panics instead of inventing a value.
#[test]
fn async_01a_await_returns_value() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s3 = s.clone();
            let mut d = scope.async_(move |_| async move {
                s3.expect(3);
                42
            });
            s.expect(2);
            assert!(d.is_active() && !d.is_completed());
            assert_eq!((&mut d).await.unwrap(), 42);
            assert!(!d.is_active() && d.is_completed() && !d.is_cancelled());
            s.expect(4);
            d.join().await; // the "repeated await": no suspension, no error
            assert!(d.completion_error().is_none());
            let again = panic::catch_unwind(AssertUnwindSafe(|| d.try_take()));
            assert!(again.is_err(), "a Deferred gives its value only once");
            s.finish(5);
        }
    })
    .unwrap();
    s.assert_finished(5);
}

/// ASYNC-01 (b): waiters of a completed deferred are dispatched, not run inline by
/// `complete()`. `CompletableDeferred<String>` maps to a plain `Job::new()` completed by hand
/// plus a shared slot holding the value (corral has no CompletableDeferred); `c.await()` maps
/// to `join()` then reading the slot, the second `await` (no suspension) to a second `join()`.
#[test]
fn async_01b_completable_waiters_are_dispatched() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let c = Job::new();
            let value: Arc<Mutex<Option<String>>> = Arc::default();
            let (s2, c2, value2) = (s.clone(), c.clone(), value.clone());
            let waiter = scope.launch_with((), CoroutineStart::Undispatched, move |_| async move {
                s2.expect(2);
                c2.join().await; // suspends
                assert_eq!(value2.lock().unwrap().as_deref(), Some("OK"));
                s2.expect(5);
                c2.join().await; // already complete: no suspension
                assert_eq!(value2.lock().unwrap().as_deref(), Some("OK"));
                s2.expect(6);
            });
            s.expect(3);
            *value.lock().unwrap() = Some("OK".to_owned());
            assert!(c.complete());
            s.expect(4); // complete() did not run the waiter inline
            assert!(waiter.is_active());
            yield_now().await;
            assert!(waiter.is_completed() && !waiter.is_cancelled());
            s.finish(7);
        }
    })
    .unwrap();
    s.assert_finished(7);
}

/// ASYNC-02: a failing async child: its await gives the failure (delivered although the
/// awaiting parent is being cancelled by that very failure), and the parent fails with it.
/// The yield inside the child has no effect on the outcome (the parent waits).
#[test]
fn async_02_failing_child_await_rethrows_and_parent_fails() {
    let s = Steps::new();
    let awaited: Arc<Mutex<Option<JobError>>> = Arc::default();
    let recorder = Recorder::default();
    let result = run_blocking_with(recorder.handler(), {
        let (s, awaited) = (s.clone(), awaited.clone());
        move |scope| async move {
            s.expect(1);
            let s3 = s.clone();
            let d: Deferred<()> = scope.async_(move |_| async move {
                s3.expect(3);
                yield_now().await;
                s3.finish(4);
                panic!("TE");
            });
            s.expect(2);
            let error = d.await.unwrap_err(); // Kotlin: d.await() throws TE
            *awaited.lock().unwrap() = Some(error);
            // Returning normally: the root is already failing with TE, its value is discarded.
        }
    });
    s.assert_finished(4);
    let awaited = awaited.lock().unwrap().take();
    assert_failure(awaited.as_ref().expect("await delivered the failure"), "TE");
    let error = result.unwrap_err();
    assert!(error.is_failure(), "{error:?}");
    assert_eq!(error.message(), "TE");
    assert!(error.same_as(awaited.as_ref().unwrap()), "{error:?}");
    assert!(error.suppressed().is_empty(), "{error:?}");
    assert!(recorder.messages().is_empty(), "{:?}", recorder.messages());
}

/// ASYNC-05 (a): parallel decomposition with a detached (NonCancellable) inner async: its
/// failure is caught at await and the outer async returns its value.
#[test]
fn async_05a_caught_exception_of_detached_child() {
    let recorder = Recorder::default();
    let value = run_blocking_with(recorder.handler(), |scope| async move {
        let d = scope.async_with(
            NonCancellable,
            CoroutineStart::Default,
            |s: Scope| async move {
                let inner: Deferred<i32> =
                    s.async_with(NonCancellable, CoroutineStart::Default, |_| async move {
                        panic!("TE")
                    });
                match inner.await {
                    Err(e) if e.is_failure() && e.message() == "TE" => 42,
                    other => panic!("expected TE, got {other:?}"),
                }
            },
        );
        d.await
    })
    .unwrap();
    assert_eq!(value.unwrap(), 42);
    assert!(recorder.messages().is_empty(), "{:?}", recorder.messages());
}

/// ASYNC-05 (b): the inner async inherits the outer one as parent: catching its failure at
/// await runs the catch (step 4), but the outer async has already failed with TE and its
/// value 42 is discarded.
#[test]
fn async_05b_caught_exception_with_inherited_parent() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s2 = s.clone();
            let d = scope.async_with(
                NonCancellable,
                CoroutineStart::Default,
                move |sc: Scope| async move {
                    s2.expect(2);
                    let s3 = s2.clone();
                    let inner: Deferred<i32> = sc.async_(move |_| async move {
                        s3.expect(3);
                        panic!("TE")
                    });
                    match inner.await {
                        Err(e) if e.is_failure() && e.message() == "TE" => {
                            s2.expect(4);
                            42
                        }
                        other => panic!("expected TE, got {other:?}"),
                    }
                },
            );
            let error = d.await.unwrap_err();
            assert_failure(&error, "TE");
            s.finish(5);
        }
    })
    .unwrap();
    s.assert_finished(5);
    assert!(recorder.messages().is_empty(), "{:?}", recorder.messages());
}

/// ASYNC-05 (c): uncaught: `async<Int>(NonCancellable) { async { throw TE }.await() }`: the
/// inner failure fails the detached outer async (which does not fail the root by itself), and
/// awaiting the outer one rethrows TE in the root (runTest(expected = TE)). Kotlin's
/// exception propagation maps to `Result` values: the outer body returns the inner await's
/// `Err` (its value is discarded anyway: it is already failed), and the root's "throw" is `?`
/// in a body returning `Result`, so run_blocking gives `Ok(Err(TE))`.
#[test]
fn async_05c_uncaught_exception_with_inherited_parent() {
    let s = Steps::new();
    let recorder = Recorder::default();
    let result: Result<(), JobError> = run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let d = scope.async_with(
                NonCancellable,
                CoroutineStart::Default,
                |sc: Scope| async move {
                    let inner: Deferred<i32> = sc.async_(|_| async move { panic!("TE") });
                    inner.await
                },
            );
            let outcome: Result<Result<i32, JobError>, JobError> = d.await;
            // `d` itself failed (outer Err), it did not complete with the inner Err as value.
            assert!(outcome.is_err(), "{outcome:?}");
            let _value: i32 = outcome??;
            s.unreached();
        }
    })
    .unwrap();
    assert_failure(&result.unwrap_err(), "TE");
    assert!(recorder.messages().is_empty(), "{:?}", recorder.messages());
}

/// ASYNC-07: returning a value from `finally` after cancellation does not override the
/// cancellation. Rust cannot return from a drop guard, so the "finally that returns a value"
/// maps to the only way a cancelled body can go on and produce a value: the suspension it was
/// cancelled in is a NonCancellable section (a `scoped` frame with `NonCancellable`, kotlinx
/// `withContext(NonCancellable)`), after which the body returns "Fail" without suspending.
#[test]
fn async_07_value_produced_after_cancel_is_discarded() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s3 = s.clone();
            let d = scope.async_(move |sc: Scope| async move {
                s3.expect(3);
                let protected = sc.context.clone() + NonCancellable;
                scoped(protected, ScopeKind::Coroutine, |_| yield_now())
                    .await
                    .unwrap();
                s3.expect(6); // the "finally"
                "Fail"
            });
            check_async_07_caller(&s, d).await;
        }
    })
    .unwrap();
    s.assert_finished(8);
}

/// ASYNC-07, the `finally` as a drop guard: it runs when the cancelled body is dropped at its
/// yield (step 6), the await gives a cancellation, never a value.
#[test]
fn async_07_finally_runs_and_await_is_cancelled() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s3 = s.clone();
            let d = scope.async_(move |_| async move {
                s3.expect(3);
                let s6 = s3.clone();
                let _finally = Finally(move || s6.expect(6));
                yield_now().await;
                s3.unreached();
                #[allow(unreachable_code)]
                "Fail2"
            });
            check_async_07_caller(&s, d).await;
        }
    })
    .unwrap();
    s.assert_finished(8);
}

/// The caller side of ASYNC-07 (steps 2, 4, 5, 7, 8).
async fn check_async_07_caller(s: &Steps, mut d: Deferred<&'static str>) {
    s.expect(2);
    yield_now().await; // d runs step 3 and suspends
    s.expect(4);
    assert!(d.is_active() && !d.is_completed() && !d.is_cancelled());
    d.cancel();
    assert!(!d.is_active() && !d.is_completed() && d.is_cancelled()); // Cancelling
    s.expect(5);
    let error = (&mut d).await.unwrap_err();
    s.expect(7);
    assert!(error.is_cancelled() && !error.is_failure(), "{error:?}");
    assert!(!d.is_active() && d.is_completed() && d.is_cancelled());
    s.finish(8);
}

/// ASYNC-08: a detached async fails through the await of a nested detached async (the
/// nested failure does not cancel it: it keeps running past its yield to step 4).
#[test]
fn async_08_detached_async_fails_via_nested_await() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let s2 = s.clone();
            let d: Deferred<()> = scope.async_with(
                NonCancellable,
                CoroutineStart::Default,
                move |sc: Scope| async move {
                    let s3 = s2.clone();
                    let nested: Deferred<()> = sc.async_with(
                        NonCancellable,
                        CoroutineStart::Default,
                        move |_| async move {
                            s3.expect(3);
                            panic!("IOE")
                        },
                    );
                    s2.expect(2);
                    yield_now().await;
                    s2.expect(4);
                    match nested.await {
                        Ok(()) => s2.unreached(),
                        Err(e) => rethrow(e),
                    }
                },
            );
            s.expect(1);
            let error = d.await.unwrap_err();
            assert_failure(&error, "IOE");
            s.finish(5);
        }
    })
    .unwrap();
    s.assert_finished(5);
    assert!(recorder.messages().is_empty(), "{:?}", recorder.messages());
}

/// ASYNC-09: `awaitAll(d, d2)` (awaited in argument order) gives the results in argument
/// order, and leaves all completed and none cancelled.
#[test]
fn async_09_await_all_in_argument_order() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s3 = s.clone();
            let mut d = scope.async_(move |_| async move {
                s3.expect(3);
                "OK"
            });
            let s4 = s.clone();
            let mut d2 = scope.async_(move |_| async move {
                yield_now().await;
                s4.expect(4);
                1_i64
            });
            s.expect(2);
            assert!(d2.is_active());
            let results = ((&mut d).await.unwrap(), (&mut d2).await.unwrap());
            assert_eq!(results, ("OK", 1));
            s.expect(5);
            for job in [d.job(), d2.job()] {
                assert!(job.is_completed() && !job.is_cancelled());
            }
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
}

/// ASYNC-11 (a): cancelling a coroutine suspended in `awaitAll(inner)` (awaiting `inner`):
/// it is cancelled at once and never gets past the await; its child is cancelled with it.
#[test]
fn async_11a_await_all_cancellation() {
    let s = Steps::new();
    let (outer, inner_job) = run_blocking({
        let s = s.clone();
        move |scope| async move {
            let s1 = s.clone();
            let inner_slot: Arc<Mutex<Option<Job>>> = Arc::default();
            let slot = inner_slot.clone();
            let outer: Deferred<()> = scope.async_(move |sc: Scope| async move {
                s1.expect(1);
                let s4 = s1.clone();
                let inner: Deferred<()> = sc.async_(move |_| async move {
                    s4.expect(4);
                    forever().await;
                });
                *slot.lock().unwrap() = Some(inner.job().clone());
                s1.expect(2);
                let _ = inner.await;
                s1.unreached();
            });
            yield_now().await;
            s.expect(3);
            yield_now().await;
            assert!(outer.is_active());
            outer.cancel();
            assert!(outer.is_cancelled());
            s.finish(5);
            let inner = inner_slot.lock().unwrap().clone().expect("inner created");
            (outer.job().clone(), inner)
        }
    })
    .unwrap();
    s.assert_finished(5);
    for job in [&outer, &inner_job] {
        assert!(job.is_completed() && job.is_cancelled(), "{job:?}");
        assert!(job.completion_error().unwrap().is_cancelled());
    }
}

/// ASYNC-11 (b): cancelling a coroutine suspended in `joinAll(inner)` (joining `inner`).
#[test]
fn async_11b_join_all_cancellation() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let s2 = s.clone();
            let outer = scope.launch(move |sc: Scope| async move {
                s2.expect(2);
                let s3 = s2.clone();
                let inner = sc.launch(move |_| async move {
                    s3.expect(3);
                    forever().await;
                });
                inner.join().await;
                s2.unreached();
            });
            s.expect(1);
            yield_now().await;
            assert!(outer.is_active());
            yield_now().await;
            outer.cancel();
            outer.join().await;
            assert!(outer.is_completed() && outer.is_cancelled());
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// ASYNC-11 (c): `awaitAll` with one deferred already awaited and one not yet run. Kotlin
/// awaits `d1` first and then again inside `awaitAll`; here the first await is `d1.join()`
/// (so the value is still there for the `awaitAll`).
#[test]
fn async_11c_await_all_partially_completed() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let s1 = s.clone();
            let d1 = scope.async_(move |_| async move {
                s1.expect(1);
                1
            });
            d1.join().await;
            assert!(d1.is_completed());
            let s3 = s.clone();
            let d2 = scope.async_(move |_| async move {
                s3.expect(3);
                2
            });
            s.expect(2);
            let mut results = Vec::new();
            for d in [d1, d2] {
                results.push(d.await.unwrap());
            }
            assert_eq!(results, vec![1, 2]);
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// ASYNC-11 (d): `awaitAll` of deferreds that are already complete does not suspend: the
/// queued `job` does not run before step 2. Kotlin's `CompletableDeferred(Unit)` maps to
/// Undispatched asyncs that complete inline.
#[test]
fn async_11d_await_all_fully_completed_does_not_suspend() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let a = scope.async_with((), CoroutineStart::Undispatched, |_| async {});
            let b = scope.async_with((), CoroutineStart::Undispatched, |_| async {});
            assert!(a.is_completed() && b.is_completed());
            let s3 = s.clone();
            let job = scope.async_(move |_| async move { s3.expect(3) });
            s.expect(1);
            a.await.unwrap();
            b.await.unwrap();
            s.expect(2);
            job.await.unwrap();
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// ASYNC-11 (e): the edge cases that apply: a collection of deferreds (`awaitOnSet`, here a
/// `Vec`) awaited in order; the same job joined three times, before and after it completed
/// (`joinAll(j, j, j)`); `awaitAll(d, d, d)` maps to joining `d` three times and then taking
/// its value once. (`awaitAll()` / `joinAll()` with no arguments: no such functions, and an
/// empty loop is not a test.)
#[test]
fn async_11e_await_all_and_join_all_edge_cases() {
    run_blocking(|scope| async move {
        // awaitOnSet
        let ds: Vec<Deferred<&str>> = vec![
            scope.async_(|_| async { "OK1" }),
            scope.async_(|_| async { "OK2" }),
        ];
        let mut results = Vec::new();
        for d in ds {
            results.push(d.await.unwrap());
        }
        assert_eq!(results, vec!["OK1", "OK2"]);

        // awaitAll(d, d, d)
        let d = scope.async_(|_| async { "OK" });
        assert!(d.is_active());
        for _ in 0..3 {
            d.join().await;
            assert!(d.is_completed() && !d.is_cancelled());
        }
        assert_eq!(d.await.unwrap(), "OK");

        // joinAll(j, j, j) on a job that has not run yet, and joinAll(j) on a completed one
        let j = scope.launch(|_| async {});
        assert!(j.is_active());
        for _ in 0..3 {
            j.join().await;
            assert!(j.is_completed() && !j.is_cancelled());
        }
    })
    .unwrap();

    // testJoinAllAlreadyCompleted
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let s1 = s.clone();
            let job = scope.launch(move |_| async move { s1.expect(1) });
            job.join().await;
            s.expect(2);
            job.join().await;
            s.finish(3);
        }
    })
    .unwrap();
    s.assert_finished(3);
}

/// ASYNC-11 (f): `joinAll` never throws for failed jobs (a detached async failing with TE is
/// among them, joined three times as in testJoinAllSameJobExceptionally); nothing is
/// reported to the handler and the root completes normally.
#[test]
fn async_11f_join_all_never_throws() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let s2 = s.clone();
            let d1 = scope.launch(move |_| async move { s2.expect(2) });
            let s3 = s.clone();
            let d2: Deferred<()> = scope.async_with(
                NonCancellable,
                CoroutineStart::Default,
                move |_| async move {
                    s3.expect(3);
                    panic!("TE")
                },
            );
            let s4 = s.clone();
            let d3 = scope.async_(move |_| async move { s4.expect(4) });
            s.expect(1);
            for job in [d1.clone(), d2.job().clone(), d3.job().clone()] {
                job.join().await;
            }
            s.finish(5);
            for _ in 0..3 {
                d2.join().await;
            }
            assert!(d1.is_completed() && !d1.is_cancelled());
            assert!(d3.is_completed() && !d3.is_cancelled());
            assert!(d2.is_completed() && d2.is_cancelled());
            assert_failure(&d2.completion_error().unwrap(), "TE");
            assert!(scope.job().is_active());
        }
    })
    .unwrap();
    s.assert_finished(5);
    assert!(recorder.messages().is_empty(), "{:?}", recorder.messages());
}

/// ASYNC-12 (S = awaitCancellation()): cancelling a suspended child async and then awaiting
/// it gives a cancellation, which escapes the coroutineScope (`scoped`) and the root. Kotlin
/// throws the CE out of the block; here the block returns it with `?`, `scoped` returns the
/// block's `Err`, and the root returns that too (so run_blocking gives `Ok(Err(CE))`). The
/// delay-based variants of S are in the facade's tests.
#[test]
fn async_12_cancelled_child_await_escapes_scope() {
    let s = Steps::new();
    let recorder = Recorder::default();
    let result = run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let s1 = s.clone();
            let context = scope.context.clone();
            let scope_result: Result<Result<(), JobError>, JobError> =
                scoped(context, ScopeKind::Coroutine, move |ctx| async move {
                    let sc = Scope::new(ctx);
                    s1.expect(1);
                    let s2 = s1.clone();
                    let d: Deferred<()> = sc.async_(move |_| async move {
                        s2.expect(2);
                        forever().await;
                    });
                    yield_now().await;
                    s1.expect(3);
                    assert!(d.is_active());
                    d.cancel();
                    s1.finish(4);
                    d.await?;
                    s1.unreached();
                })
                .await;
            // The scope itself ended normally: its block returned the error as a value.
            let error: JobError = scope_result.unwrap().unwrap_err();
            assert!(scope.job().is_active());
            Err::<(), _>(error)
        }
    })
    .unwrap();
    s.assert_finished(4);
    let error = result.unwrap_err();
    assert!(error.is_cancelled() && !error.is_failure(), "{error:?}");
    assert!(recorder.messages().is_empty(), "{:?}", recorder.messages());
}
