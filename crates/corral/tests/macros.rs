//! `#[corral::test]` from an external crate: virtual time, `Result`-returning tests, the scope
//! parameter, options, failures; and the attribute living beside the module `corral::test`.

use std::time::Duration;

use corral::prelude::*;
use corral::test::{advance_time_by, current_time, run_test};

const HOUR: Duration = Duration::from_secs(3600);

#[corral::test]
async fn runs_in_virtual_time() {
    let started = std::time::Instant::now();
    delay(24 * HOUR).await;
    assert_eq!(current_time(), 24 * HOUR);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[corral::test]
async fn takes_the_test_scope(scope: CoroutineScope) {
    let child = scope.async_(|_| async {
        delay(HOUR).await;
        current_time()
    });
    advance_time_by(HOUR / 2).await;
    assert_eq!(current_time(), HOUR / 2);
    assert_eq!(child.await.unwrap(), HOUR);
}

#[corral::test]
async fn may_return_ok() -> Result<(), String> {
    with_timeout(HOUR, |_| async { delay(2 * HOUR).await })
        .await
        .map_err(|error| error.to_string())
        .expect_err("times out in virtual time");
    Ok(())
}

/// Called by `an_err_fails_the_test` below; failing is its purpose.
#[corral::test]
#[ignore = "fails on purpose; run by an_err_fails_the_test"]
async fn returns_err() -> Result<(), String> {
    delay(HOUR).await;
    Err(format!("failed at {:?}", current_time()))
}

#[test]
fn an_err_fails_the_test() {
    assert_eq!(returns_err(), Err("failed at 3600s".to_owned()));
}

#[corral::test]
#[should_panic(expected = "the test failed: child of the test failed")]
async fn a_failing_child_fails_the_test(scope: CoroutineScope) {
    scope.launch(|_| async {
        delay(HOUR).await;
        panic!("child of the test failed");
    });
    delay(2 * HOUR).await;
}

#[corral::test(auto_advance = false, timeout_ms = 300)]
#[should_panic(expected = "did not complete within 300ms of real time")]
async fn options_reach_run_test() {
    delay(HOUR).await;
}

#[test]
fn the_attribute_and_the_module_coexist() {
    // `corral::test` the module, in the same file as `#[corral::test]` the attribute.
    assert_eq!(run_test(|_| async { 3 }).unwrap(), 3);
    assert_eq!(
        corral::test::run_test(|_| async {
            delay(HOUR).await;
            corral::test::current_time()
        })
        .unwrap(),
        HOUR
    );
}
