//! API contract: Scopes and builders.

use std::panic;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use corral::prelude::*;

use crate::helpers::*;

#[test]
fn coroutine_scope_new_makes_a_root_scope_on_default() {
    // No job named: a fresh root job; no dispatcher named: Dispatchers::default(), even when
    // created inside run_blocking.
    run_blocking(|_| async {
        let scope = CoroutineScope::new(Context::new());
        assert_eq!(scope.job().parent(), None);
        assert!(scope.is_active());
        let child = scope.async_(|_| async { (thread_name(), current_job()) });
        let child_job: Job = (*child).clone();
        let (thread, seen_job) = child.await.unwrap();
        assert!(is_default_worker(&thread), "{thread}");
        assert_eq!(seen_job, Some(child_job.clone()));
        assert_eq!(child_job.parent(), None, "completed jobs are detached");
    })
    .unwrap();

    // A named job is the scope's job and the parent of its coroutines.
    let job = Job::new();
    let scope = CoroutineScope::new(job.clone() + CoroutineName::new("svc"));
    assert_eq!(scope.job(), job);
    assert_eq!(scope.context().name(), Some("svc"));
    assert_eq!(scope.context().job(), Some(&job));
    let child = scope.launch(|_| async { delay(Duration::MAX).await });
    assert_eq!(child.parent(), Some(job.clone()));
    assert_eq!(job.children(), vec![child.clone()]);

    // Clone shares the job.
    let clone = scope.clone();
    assert_eq!(clone.job(), scope.job());

    // cancel / is_active.
    clone.cancel();
    assert!(!scope.is_active());
    assert!(job.is_cancelled());
    run_blocking(|_| async { child.join().await }).unwrap();
    assert!(child.is_cancelled() && child.is_completed());
}

#[test]
fn coroutine_scope_new_uses_the_named_dispatcher() {
    let pool = new_single_thread_context("api-scope-disp");
    let scope = CoroutineScope::new((*pool).clone());
    let name = run_blocking(|_| async { scope.async_(|_| async { thread_name() }).await })
        .unwrap()
        .unwrap();
    assert_eq!(name, "api-scope-disp");
    pool.close();
}

#[test]
fn launch_makes_a_child_that_the_scope_waits_for() {
    run_blocking(|scope| async move {
        let done = flag();
        let d = done.clone();
        let child = scope.launch(move |inner| async move {
            assert_eq!(current_job(), Some(inner.job()));
            delay(ms(20)).await;
            d.store(true, Ordering::SeqCst);
        });
        assert_eq!(child.parent(), Some(scope.job()));
        assert!(scope.job().children().contains(&child));
        assert!(child.is_active());
        child.join().await;
        assert!(done.load(Ordering::SeqCst));
        assert!(child.is_completed() && !child.is_cancelled());
        assert!(!scope.job().children().contains(&child));
    })
    .unwrap();
}

#[test]
fn launch_with_adds_context_and_start_mode() {
    run_blocking(|scope| async move {
        let pool = new_single_thread_context("api-launch-with");
        let seen: Shared<Option<(String, Option<String>)>> = Arc::default();
        let s = seen.clone();
        let job = scope.launch_with(
            (*pool).clone() + CoroutineName::new("worker"),
            CoroutineStart::Lazy,
            move |inner| async move {
                let name = inner.context().name().map(str::to_owned);
                *s.lock().unwrap() = Some((thread_name(), name));
            },
        );
        yield_now().await;
        assert!(seen.lock().unwrap().is_none(), "a Lazy coroutine ran early");
        assert!(job.start());
        job.join().await;
        assert_eq!(
            seen.lock().unwrap().clone(),
            Some(("api-launch-with".to_owned(), Some("worker".to_owned())))
        );
        pool.close();
    })
    .unwrap();
}

#[test]
fn try_launch_ok_completes_and_err_fails_like_a_panic() {
    run_blocking(|scope| async move {
        // Ok(()) completes normally.
        let ok = scope.try_launch(|_| async { Ok::<(), std::io::Error>(()) });
        let rx = outcome(&ok);
        ok.join().await;
        assert!(rx.recv_timeout(SOON).unwrap().is_none());
        assert!(ok.is_completed() && !ok.is_cancelled());

        // Err fails the job, cancels the parent (here a coroutine_scope) and the siblings.
        let sibling_dropped = flag();
        let sd = sibling_dropped.clone();
        let err = coroutine_scope(|scope| async move {
            scope.launch(move |_| async move {
                let _guard = SetOnDrop(sd);
                delay(Duration::MAX).await;
            });
            scope.try_launch(|_| async {
                delay(ms(5)).await;
                Err(std::io::Error::other("disk on fire"))
            });
            delay(Duration::MAX).await;
        })
        .await
        .unwrap_err();
        assert!(err.is_failure(), "{err:?}");
        assert!(err.to_string().contains("disk on fire"), "{err}");
        assert!(sibling_dropped.load(Ordering::SeqCst));
        assert!(is_active(), "a scope function never fails its caller");

        // Under a supervisor the Err cancels nobody.
        let recorder = Recorder::default();
        let handler = recorder.handler();
        let sibling_done = flag();
        let sd = sibling_done.clone();
        let r = supervisor_scope(|scope| async move {
            scope.launch(move |_| async move {
                delay(ms(20)).await;
                sd.store(true, Ordering::SeqCst);
            });
            scope.try_launch_with(handler, CoroutineStart::Default, |_| async {
                Err::<(), _>("supervised failure")
            });
            7
        })
        .await;
        assert_eq!(r.unwrap(), 7);
        assert!(sibling_done.load(Ordering::SeqCst));
        assert_eq!(recorder.messages(), ["supervised failure"]);
    })
    .unwrap();
}

#[test]
fn try_launch_with_honours_context_and_start() {
    run_blocking(|scope| async move {
        let ran = flag();
        let r = ran.clone();
        let job = scope.try_launch_with(
            CoroutineName::new("tlw"),
            CoroutineStart::Lazy,
            move |inner| async move {
                r.store(true, Ordering::SeqCst);
                assert_eq!(inner.context().name(), Some("tlw"));
                Ok::<(), String>(())
            },
        );
        yield_now().await;
        assert!(!ran.load(Ordering::SeqCst));
        job.join().await; // join starts a Lazy job
        assert!(ran.load(Ordering::SeqCst));
        assert!(job.is_completed() && !job.is_cancelled());
    })
    .unwrap();
}

#[test]
fn try_launch_err_of_a_root_reaches_the_handler_with_its_display() {
    let recorder = Recorder::default();
    let scope = CoroutineScope::new(SupervisorJob::new() + recorder.handler());
    let jobs = [
        scope.try_launch_with(
            CoroutineName::new("io"),
            CoroutineStart::Default,
            |_| async { Err(std::io::Error::other("io error text")) },
        ),
        scope.try_launch_with(
            CoroutineName::new("string"),
            CoroutineStart::Default,
            |_| async { Err(String::from("string error text")) },
        ),
        scope.try_launch_with(
            CoroutineName::new("str"),
            CoroutineStart::Default,
            |_| async { Err("str error text") },
        ),
    ];
    run_blocking(|_| async move {
        for job in &jobs {
            job.join().await;
            assert!(job.is_cancelled() && job.is_completed());
        }
    })
    .unwrap();
    let mut got: Vec<(Option<String>, String, bool)> = recorder
        .wait_for(3)
        .into_iter()
        .map(|(name, e)| (name, e.to_string(), e.is_failure()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (Some("io".into()), "io error text".into(), true),
            (Some("str".into()), "str error text".into(), true),
            (Some("string".into()), "string error text".into(), true),
        ]
    );
    assert!(
        scope.is_active(),
        "a SupervisorJob is not cancelled by its children"
    );
}

#[test]
fn try_launch_cancellation_via_ensure_active_is_not_a_failure() {
    let recorder = Recorder::default();
    let scope = CoroutineScope::new(Job::new() + recorder.handler());
    let started = flag();
    let s = started.clone();
    // The loop never returns `Ok`, so `E` is named (plain Rust inference, as with `?` anywhere).
    let job = scope.try_launch::<_, _, JobError>(move |_| async move {
        loop {
            s.store(true, Ordering::SeqCst);
            ensure_active()?; // E = JobError
            thread::yield_now();
        }
    });
    while !started.load(Ordering::SeqCst) {
        thread::yield_now();
    }
    let rx = outcome(&job);
    job.cancel();
    let error = rx.recv_timeout(SOON).unwrap().expect("ended cancelled");
    assert!(error.is_cancelled() && !error.is_failure(), "{error:?}");
    assert!(
        scope.is_active(),
        "a cancelled child never cancels its parent"
    );
    assert!(recorder.messages().is_empty());
}

#[test]
fn async_and_async_with_give_values_through_deferred() {
    run_blocking(|scope| async move {
        let a = scope.async_(|_| async { 20 });
        let b = scope.async_with(Dispatchers::io(), CoroutineStart::Default, |_| async {
            (22, thread_name())
        });
        assert_eq!(a.parent(), Some(scope.job()));
        let (b_value, b_thread) = b.await.unwrap();
        assert_eq!(a.await.unwrap() + b_value, 42);
        assert!(is_default_worker(&b_thread), "{b_thread}");
    })
    .unwrap();
}

#[test]
fn global_scope_makes_roots_on_default() {
    run_blocking(|scope| async move {
        let launched_on: Arc<Mutex<String>> = Arc::default();
        let l = launched_on.clone();
        let job = GlobalScope::launch(move |_| async move { *l.lock().unwrap() = thread_name() });
        assert_eq!(job.parent(), None);
        assert!(!scope.job().children().contains(&job));
        let deferred = GlobalScope::async_(|_| async { (thread_name(), 9) });
        assert_eq!(deferred.parent(), None);
        let (thread, value) = deferred.await.unwrap();
        assert_eq!(value, 9);
        assert!(is_default_worker(&thread), "{thread}");
        job.join().await;
        let launched_on = launched_on.lock().unwrap().clone();
        assert!(is_default_worker(&launched_on), "{launched_on}");

        // A root does not fail the caller: its failure goes to its handler.
        let recorder = Recorder::default();
        let failing =
            GlobalScope::launch_with(recorder.handler(), CoroutineStart::Default, |_| async {
                panic::panic_any("global failure")
            });
        failing.join().await;
        assert!(is_active());
        assert_eq!(recorder.wait_for(1).len(), 1);
        assert_eq!(recorder.messages(), ["global failure"]);
    })
    .unwrap();
}
