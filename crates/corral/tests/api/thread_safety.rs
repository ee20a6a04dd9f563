//! API contract: Thread-safety a user relies on: handles cross threads, and every suspending API
//! can be used inside `launch` (whose future must be `Send`).

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral::prelude::*;

use crate::helpers::*;

fn assert_send_sync<T: Send + Sync>(value: T) -> T {
    value
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[test]
fn handles_are_send_and_suspending_apis_work_inside_launch() {
    let out = log();
    let o = out.clone();
    let scope = assert_send_sync(CoroutineScope::new(Job::new()));
    let _ = assert_send_sync(Context::new() + CoroutineName::new("x"));
    let _ = assert_send_sync(Dispatchers::default());
    let _ = assert_send_sync(CoroutineExceptionHandler::new(|_, _| {}));
    let deferred = assert_send(scope.async_(|_| async { 40 }));
    let job = assert_send_sync(scope.launch(move |scope| async move {
        // A Deferred moved into another coroutine and awaited there.
        let v = deferred.await.unwrap();
        let v = coroutine_scope(|s| async move { s.async_(move |_| async move { v + 1 }).await })
            .await
            .unwrap()
            .unwrap();
        let v = supervisor_scope(|_| async move { v + 1 }).await.unwrap();
        let v = with_context(Dispatchers::io(), move |_| async move { v * 2 })
            .await
            .unwrap();
        let v = with_timeout(SOON, move |_| async move { v / 2 })
            .await
            .unwrap();
        let v = with_cleanup(async move { v }, async {}).await;
        delay(ms(1)).await;
        yield_now().await;
        let child = scope.launch(|_| async { delay(Duration::MAX).await });
        child.cancel_and_join().await;
        let other = scope.launch(|_| async {});
        other.join().await;
        ensure_active().unwrap();
        say(&o, format!("{v}"));
    }));
    let rx = outcome(&job);
    assert!(rx.recv_timeout(SOON).unwrap().is_none());
    assert_eq!(lines(&out), ["42"]);
    let error = assert_send_sync(JobError::clone(
        &run_blocking(|_| async { panic::panic_any("x") }).unwrap_err(),
    ));
    assert!(error.is_failure());
}

#[test]
fn every_start_mode_runs_its_body_once_joined() {
    run_blocking(|scope| async move {
        for start in [
            CoroutineStart::Default,
            CoroutineStart::Lazy,
            CoroutineStart::Atomic,
            CoroutineStart::Undispatched,
        ] {
            let ran = Arc::new(AtomicUsize::new(0));
            let r = ran.clone();
            let job = scope.launch_with(Context::new(), start, move |_| async move {
                r.fetch_add(1, Ordering::SeqCst);
            });
            let ran_before_join = ran.load(Ordering::SeqCst);
            match start {
                CoroutineStart::Undispatched => assert_eq!(ran_before_join, 1, "{start:?}"),
                CoroutineStart::Default | CoroutineStart::Lazy | CoroutineStart::Atomic => {
                    assert_eq!(ran_before_join, 0, "{start:?}")
                }
            }
            job.join().await;
            assert_eq!(ran.load(Ordering::SeqCst), 1, "{start:?}");
        }
    })
    .unwrap();
}

#[test]
fn job_error_variants_can_be_matched() {
    let failure = run_blocking(|_| async { panic::panic_any("m") }).unwrap_err();
    let cancellation = run_blocking(|scope| async move {
        scope.cancel();
        yield_now().await;
    })
    .unwrap_err();
    assert!(matches!(failure, JobError::Failed(_)));
    assert!(matches!(cancellation, JobError::Cancelled(_)));
}

#[test]
fn executor_dispatcher_converts_into_context() {
    let pool = new_single_thread_context("api-into-ctx");
    let a =
        run_blocking(|_| async { with_context(pool.clone(), |_| async { thread_name() }).await })
            .unwrap()
            .unwrap();
    let pool_ref = &pool;
    let b = run_blocking(|scope| async move {
        scope
            .async_with(pool_ref, CoroutineStart::Default, |_| async {
                thread_name()
            })
            .await
    })
    .unwrap()
    .unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("api-into-ctx", "api-into-ctx"));
    pool.close();
}

#[test]
fn executor_dispatcher_adds_with_other_elements() {
    let pool = new_fixed_thread_pool_context(2, "api-add-ctx");
    let context: Context = pool.clone() + CoroutineName::new("on-pool");
    assert_eq!(context.dispatcher(), Some(&*pool));
    assert_eq!(context.name(), Some("on-pool"));
    let right_wins: Context = pool.clone() + Dispatchers::io();
    assert_eq!(right_wins.dispatcher(), Some(&Dispatchers::io()));
    pool.close();
}
