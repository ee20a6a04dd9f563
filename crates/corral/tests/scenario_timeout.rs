//! Timeout scenarios (TIME-04, TIME-06, TIME-07, YIELD-03, RB-07), ported from kotlinx.coroutines'
//! own tests (index in docs/conformance.md), against the facade's `with_timeout` /
//! `with_timeout_or_none`.

use std::time::Duration;

use corral::prelude::*;
use corral_test_support::{Steps, MS};

/// TIME-04 (a), (b): timing out gives a timeout error with kotlinx's message, or `None`.
#[test]
fn time_04ab_timeout_message_and_none() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            let s2 = s.clone();
            let r: Result<(), JobError> = with_timeout(MS(100), move |_| async move {
                s2.expect(2);
                delay(MS(1000)).await;
                s2.unreached();
            })
            .await;
            let e = r.unwrap_err();
            assert!(e.is_timeout() && e.is_cancelled());
            assert_eq!(e.to_string(), "Timed out waiting for 100 ms");
            s.expect(3);
            let s4 = s.clone();
            let r: Result<Option<()>, JobError> =
                with_timeout_or_none(MS(100), move |_| async move {
                    s4.expect(4);
                    delay(MS(1000)).await;
                    s4.unreached();
                })
                .await;
            assert_eq!(r.unwrap(), None);
            s.finish(5);
        }
    })
    .unwrap();
}

/// TIME-04 (c): a named coroutine's timeout message names it.
#[test]
fn time_04c_named_timeout_message() {
    let r = run_blocking(|_| async {
        with_context(CoroutineName::new("waiting for x"), |_| async {
            with_timeout(MS(1), |_| std::future::pending::<()>()).await
        })
        .await
    })
    .unwrap()
    .unwrap();
    let e = r.unwrap_err();
    assert!(e.is_timeout());
    assert_eq!(
        e.to_string(),
        "Coroutine \"waiting for x\" timed out waiting for 1 ms"
    );
}

/// TIME-04 (d): a repeating body is cut off by its timeout.
#[test]
#[cfg_attr(
    miri,
    ignore = "counts 50 ms delays that fit in a 130 ms timeout: Miri's clock also advances with \
              every interpreted instruction, so fewer fit"
)]
fn time_04d_repeat_cut_off() {
    let lines = run_blocking(|_| async {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = out.clone();
        let r: Result<(), JobError> = with_timeout(MS(130), move |_| async move {
            for i in 0..1000 {
                sink.lock().unwrap().push(format!("I'm sleeping {i} ..."));
                delay(MS(50)).await;
            }
        })
        .await;
        assert_eq!(r.unwrap_err().to_string(), "Timed out waiting for 130 ms");
        let lines = out.lock().unwrap().clone();
        lines
    })
    .unwrap();
    assert_eq!(
        lines,
        vec![
            "I'm sleeping 0 ...",
            "I'm sleeping 1 ...",
            "I'm sleeping 2 ..."
        ]
    );
}

/// TIME-06: other failures pass through with_timeout and with_timeout_or_none unchanged.
#[test]
fn time_06_other_failures_pass_through() {
    for or_none in [false, true] {
        let s = Steps::new();
        run_blocking({
            let s = s.clone();
            move |_| async move {
                s.expect(1);
                s.expect(2);
                let s3 = s.clone();
                let body = move |_| async move {
                    s3.expect(3);
                    panic!("TE");
                };
                let message = if or_none {
                    with_timeout_or_none(MS(1000), body)
                        .await
                        .map(|_: Option<()>| ())
                        .unwrap_err()
                } else {
                    with_timeout(MS(1000), body).await.unwrap_err()
                };
                assert_eq!(message.message(), "TE");
                s.finish(4);
            }
        })
        .unwrap();
    }
}

/// TIME-07: non-positive timeouts never run the block.
#[test]
fn time_07_zero_timeout() {
    run_blocking(|_| async {
        let r: Result<(), JobError> =
            with_timeout(Duration::ZERO, |_| async { unreachable!() }).await;
        let e = r.unwrap_err();
        assert!(e.is_timeout());
        assert_eq!(e.to_string(), "Timed out immediately");
        let r: Result<Option<()>, JobError> =
            with_timeout_or_none(Duration::ZERO, |_| async { unreachable!() }).await;
        assert_eq!(r.unwrap(), None);
    })
    .unwrap();
}

/// YIELD-03: a yield loop observes a timeout.
#[test]
fn yield_03_yield_loop_times_out() {
    let r = run_blocking(|_| async {
        with_timeout(MS(100), |_| async {
            loop {
                yield_now().await;
            }
        })
        .await
    })
    .unwrap();
    let r: Result<(), JobError> = r;
    assert!(r.unwrap_err().is_timeout());
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |_| async move {
            s.expect(1);
            let r: Option<()> = with_timeout_or_none(MS(100), |_| async {
                loop {
                    yield_now().await;
                }
            })
            .await
            .unwrap();
            assert_eq!(r, None);
            s.finish(2);
        }
    })
    .unwrap();
}

/// RB-07: a timeout fires while the loop thread is busy; a block that never suspended keeps
/// its value.
#[test]
fn rb_07_busy_block_keeps_its_value() {
    let value = run_blocking(|_| async {
        with_timeout_or_none(MS(10), |_| async {
            while is_active() {
                std::hint::spin_loop();
            }
            "value"
        })
        .await
    })
    .unwrap()
    .unwrap();
    assert_eq!(value, Some("value"));
}
