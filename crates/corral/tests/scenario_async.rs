//! ASYNC scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md)
//! that need the facade (timers, `coroutine_scope`): the delay-based variants of ASYNC-12. The
//! others are in corral-core's `tests/scenario_async.rs`.

use std::time::{Duration, Instant};

use corral::prelude::*;
use corral_test_support::{forever, Recorder, Steps};

/// What the suspended child async of ASYNC-12 is waiting in.
#[derive(Clone, Copy, Debug)]
enum Suspension {
    AwaitCancellation,
    Delay(Duration),
}

/// ASYNC-12: inside coroutine_scope, a child async suspended in S is cancelled, then awaited:
/// the await gives a cancellation, which escapes the scope and the root. Kotlin throws the CE
/// out of the block; here the block returns it with `?`, so coroutine_scope returns the
/// block's `Err` and the root returns it too (run_blocking gives `Ok(Err(CE))`). A cancelled
/// `delay` must not keep the loop waiting for its timer.
fn async_12_case(suspension: Suspension) {
    let s = Steps::new();
    let recorder = Recorder::default();
    let started = Instant::now();
    let result: Result<(), JobError> = run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |root| async move {
            let s1 = s.clone();
            let scope_result: Result<Result<(), JobError>, JobError> =
                coroutine_scope(|scope| async move {
                    s1.expect(1);
                    let s2 = s1.clone();
                    let d: Deferred<()> = scope.async_(move |_| async move {
                        s2.expect(2);
                        match suspension {
                            Suspension::AwaitCancellation => forever().await,
                            Suspension::Delay(duration) => delay(duration).await,
                        }
                        s2.unreached();
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
            let error = scope_result
                .unwrap_or_else(|e| panic!("the scope itself ended normally: {e:?}"))
                .unwrap_err();
            assert!(root.is_active());
            Err(error)
        }
    })
    .unwrap();
    s.assert_finished(4);
    let error = result.unwrap_err();
    assert!(
        error.is_cancelled() && !error.is_failure() && !error.is_timeout(),
        "{suspension:?}: {error:?}"
    );
    assert!(recorder.messages().is_empty(), "{:?}", recorder.messages());
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{suspension:?}: the loop waited for a cancelled timer ({:?})",
        started.elapsed()
    );
}

/// ASYNC-12 (S = awaitCancellation()).
#[test]
fn async_12_await_cancellation() {
    async_12_case(Suspension::AwaitCancellation);
}

/// ASYNC-12 (S = delay(1000)).
#[test]
fn async_12_delay_1000() {
    async_12_case(Suspension::Delay(Duration::from_millis(1000)));
}

/// ASYNC-12 (S = delay(Long.MAX_VALUE)): `i64::MAX` milliseconds, and `Duration::MAX`.
#[test]
fn async_12_delay_long_max() {
    async_12_case(Suspension::Delay(Duration::from_millis(i64::MAX as u64)));
    async_12_case(Suspension::Delay(Duration::MAX));
}

/// ASYNC-12 (S = delay(Int.MAX_VALUE)).
#[test]
fn async_12_delay_int_max() {
    async_12_case(Suspension::Delay(Duration::from_millis(i32::MAX as u64)));
}
