//! API contract: Errors.

use std::error::Error as StdError;
use std::fmt::{Debug, Display};
use std::panic;
use std::time::Duration;

use corral::prelude::*;

use crate::helpers::*;

fn assert_error_traits<E: Clone + Debug + Display + StdError + Send + Sync + 'static>(e: &E) -> E {
    e.clone()
}

#[test]
fn job_error_kinds_traits_and_messages() {
    let recorder = Recorder::default();
    let scope = CoroutineScope::new(SupervisorJob::new() + recorder.handler());
    let str_panic = scope.async_(|_| async { panic::panic_any("str payload") });
    let string_panic =
        scope.async_(|_| async { panic::panic_any(format!("String payload {}", 7)) });
    let cancelled = scope.async_(|_| async { delay(Duration::MAX).await });
    cancelled.cancel();
    let (str_err, string_err, cancel_err, timeout_err) = run_blocking(|_| async move {
        (
            str_panic.await.unwrap_err(),
            string_panic.await.unwrap_err(),
            cancelled.await.unwrap_err(),
            with_timeout(ms(5), |_| async { delay(Duration::MAX).await })
                .await
                .unwrap_err(),
        )
    })
    .unwrap();

    // Clone + Debug + Display + std::error::Error.
    let clone = assert_error_traits(&str_err);
    assert_eq!(clone.to_string(), str_err.to_string());
    assert!(!format!("{str_err:?}").is_empty());
    let boxed: Box<dyn StdError + Send + Sync> = Box::new(clone);
    assert!(boxed.to_string().contains("str payload"));

    assert!(str_err.is_failure() && !str_err.is_cancelled() && !str_err.is_timeout());
    assert!(str_err.to_string().contains("str payload"), "{str_err}");
    assert!(string_err.is_failure());
    assert!(
        string_err.to_string().contains("String payload 7"),
        "{string_err}"
    );

    assert!(cancel_err.is_cancelled() && !cancel_err.is_failure() && !cancel_err.is_timeout());
    assert!(cancel_err.suppressed().is_empty());

    assert!(timeout_err.is_timeout() && timeout_err.is_cancelled() && !timeout_err.is_failure());
    assert!(
        timeout_err
            .to_string()
            .contains("Timed out waiting for 5 ms"),
        "{timeout_err}"
    );
    // A failed async_ reports only through its Deferred, never to the handler.
    assert!(recorder.messages().is_empty());
}

#[test]
fn job_error_suppressed_holds_later_failures_first_one_wins() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic::panic_any("second failure");
        }
    }
    let err = run_blocking(|scope| async move {
        scope.launch(|_| async {
            let _guard = PanicOnDrop;
            delay(Duration::MAX).await;
        });
        scope.launch(|_| async {
            delay(ms(10)).await;
            panic::panic_any("first failure");
        });
        delay(Duration::MAX).await;
    })
    .unwrap_err();
    assert!(err.is_failure());
    assert!(err.to_string().contains("first failure"), "{err}");
    let suppressed: Vec<String> = err.suppressed().iter().map(|e| e.to_string()).collect();
    assert_eq!(suppressed.len(), 1, "{err:?}");
    assert!(suppressed[0].contains("second failure"), "{suppressed:?}");
    assert!(err.suppressed()[0].is_failure());
}
