//! SCOPE scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md),
//! against the facade: `coroutine_scope`
//! runs in place, waits for all descendants, and returns failures instead of failing the
//! caller.

use corral::prelude::*;
use corral_test_support::{forever, Finally, Steps};

/// SCOPE-01: coroutine_scope runs its block inline and returns its value only after all
/// descendants finished.
#[test]
fn scope_01_inline_and_waits_for_descendants() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            let inner = s.clone();
            let result = coroutine_scope(|scope| async move {
                inner.expect(2);
                let s4 = inner.clone();
                scope.launch(move |_| async move { s4.expect(4) });
                let s5 = inner.clone();
                scope.launch(move |scope| async move {
                    s5.expect(5);
                    let s7 = s5.clone();
                    scope.launch(move |_| async move { s7.expect(7) });
                    s5.expect(6);
                });
                inner.expect(3);
                42
            })
            .await;
            assert_eq!(result.unwrap(), 42);
            yield_now().await;
            s.finish(8);
        }
    })
    .unwrap();
    s.assert_finished(8);
}

/// SCOPE-02 (a): a failing child fails the scope; the caller gets the failure but is not
/// cancelled.
#[test]
fn scope_02a_failing_child() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            let inner = s.clone();
            let result = coroutine_scope(|scope| async move {
                let s2 = inner.clone();
                scope.launch(move |_| async move {
                    s2.expect(2);
                    forever().await;
                });
                let s3 = inner.clone();
                scope.launch(move |_| async move {
                    s3.expect(3);
                    panic!("TE2");
                });
            })
            .await;
            let error = result.unwrap_err();
            assert!(error.is_failure());
            assert_eq!(error.message(), "TE2");
            s.expect(4);
            yield_now().await;
            assert!(is_active());
            s.finish(5);
        }
    })
    .unwrap();
    s.assert_finished(5);
}

/// SCOPE-02 (b), (c): the block itself panicking fails the scope; its children are cancelled
/// first.
#[test]
fn scope_02bc_block_throws() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            s.expect(2);
            let inner = s.clone();
            let result: Result<(), JobError> = coroutine_scope(|_| async move {
                inner.expect(3);
                panic!("TE1");
            })
            .await;
            assert_eq!(result.unwrap_err().message(), "TE1");
            s.finish(4);
        }
    })
    .unwrap();

    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            let inner = s.clone();
            let result: Result<(), JobError> = coroutine_scope(|scope| async move {
                let s2 = inner.clone();
                scope.launch(move |_| async move {
                    s2.expect(2);
                    forever().await;
                });
                yield_now().await;
                panic!("TE1");
            })
            .await;
            assert_eq!(result.unwrap_err().message(), "TE1");
            s.expect(3);
            yield_now().await;
            s.finish(4);
        }
    })
    .unwrap();
}

/// SCOPE-04 (a): a sibling async failing cancels the other sibling; an Atomic sibling still
/// starts; the scope returns the first failure.
#[test]
fn scope_04a_sibling_async_failure() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            let inner = s.clone();
            let result = coroutine_scope(|scope| async move {
                let s3 = inner.clone();
                let one = scope.async_(move |_| async move {
                    s3.expect(3);
                    if true {
                        panic!("TE1");
                    }
                    1
                });
                let s4 = inner.clone();
                let two = scope.async_with(
                    Context::new(),
                    CoroutineStart::Atomic,
                    move |_| async move {
                        let s5 = s4.clone();
                        let _finally = Finally(move || s5.expect(5));
                        s4.expect(4);
                        forever().await;
                        42
                    },
                );
                inner.expect(2);
                one.await.unwrap() + two.await.unwrap()
            })
            .await;
            assert_eq!(result.unwrap_err().message(), "TE1");
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
}

/// SCOPE-04 (b): the failing sibling is the Atomic one.
#[test]
fn scope_04b_atomic_sibling_fails() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            let inner = s.clone();
            let result = coroutine_scope(|scope| async move {
                let s3 = inner.clone();
                let one = scope.async_(move |_| async move {
                    let s5 = s3.clone();
                    let _finally = Finally(move || s5.expect(5));
                    s3.expect(3);
                    forever().await;
                    42
                });
                let s4 = inner.clone();
                let two = scope.async_with(
                    Context::new(),
                    CoroutineStart::Atomic,
                    move |_| async move {
                        s4.expect(4);
                        if true {
                            panic!("TE1");
                        }
                        1
                    },
                );
                inner.expect(2);
                one.await.unwrap() + two.await.unwrap()
            })
            .await;
            assert_eq!(result.unwrap_err().message(), "TE1");
            s.finish(6);
        }
    })
    .unwrap();
}

/// SCOPE-05: with_context with the same context runs inline; its failure is returned, and the
/// failure escaping the scope's block cancels the sibling async.
#[test]
fn scope_05_same_context_with_context_throws() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            let inner = s.clone();
            let result: Result<(), JobError> = coroutine_scope(|scope| async move {
                inner.expect(1);
                let s3 = inner.clone();
                let _data = scope.async_(move |_| async move {
                    let s3b = s3.clone();
                    let _finally = Finally(move || s3b.expect(3));
                    forever().await;
                });
                yield_now().await;
                let s2 = inner.clone();
                let r: Result<(), JobError> = with_context(Context::new(), move |_| async move {
                    s2.expect(2);
                    panic!("TE1");
                })
                .await;
                let e = r.unwrap_err();
                std::panic::panic_any(e.message().to_owned());
            })
            .await;
            assert_eq!(result.unwrap_err().message(), "TE1");
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// SCOPE-07: scope functions in an already-cancelled coroutine: coroutine_scope,
/// supervisor_scope and with_timeout run their block and then return a cancellation;
/// with_context does not run its block.
#[test]
fn scope_07_cancelled_caller_entry_asymmetry() {
    for variant in 0..5 {
        let s = Steps::new();
        let result = run_blocking({
            let s = s.clone();
            move |scope| async move {
                scope.job().cancel();
                let s1 = s.clone();
                let r: Result<(), JobError> = match variant {
                    0 => coroutine_scope(|_| async move { s1.finish(1) }).await,
                    1 => supervisor_scope(|_| async move { s1.finish(1) }).await,
                    2 => {
                        with_timeout(
                            std::time::Duration::MAX,
                            move |_| async move { s1.finish(1) },
                        )
                        .await
                    }
                    3 => with_context(Context::new(), move |_| async move { s1.unreached() }).await,
                    _ => {
                        with_context(
                            Dispatchers::unconfined(),
                            move |_| async move { s1.unreached() },
                        )
                        .await
                    }
                };
                assert!(r.unwrap_err().is_cancelled(), "variant {variant}");
                // The caller is cancelled: its next suspension drops it.
                yield_now().await;
                s.unreached();
            }
        });
        assert!(result.unwrap_err().is_cancelled(), "variant {variant}");
        assert_eq!(s.count(), usize::from(variant < 3), "variant {variant}");
    }
}

/// SCOPE-09: dispatcher inheritance: the builder's context wins; a scope without a dispatcher
/// launches on Default.
#[test]
fn scope_09_dispatcher_inheritance() {
    let scope = CoroutineScope::new(Job::new());
    assert!(
        scope.context().dispatcher().is_none(),
        "CoroutineScope::new adds no dispatcher"
    );
    let on_default =
        scope.async_(|_| async { std::thread::current().name().unwrap_or_default().to_owned() });
    let on_unconfined = scope.async_with(
        Dispatchers::unconfined(),
        CoroutineStart::Default,
        |s| async move { s.context().dispatcher().map(|d| d.to_string()) },
    );
    run_blocking(|_| async move {
        let name = on_default.await.unwrap();
        assert!(name.starts_with("DefaultDispatcher-worker-"), "{name}");
        assert_eq!(
            on_unconfined.await.unwrap().as_deref(),
            Some("Dispatchers.Unconfined")
        );
    })
    .unwrap();
    // isActive is true in a context without a job.
    assert!(Context::new().is_active());
}
