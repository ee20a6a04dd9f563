//! API contract: Scope functions.

use std::panic;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use corral::prelude::*;

use crate::helpers::*;

#[test]
fn coroutine_scope_borrows_from_the_caller_and_waits_for_children() {
    run_blocking(|_| async {
        let mut local = vec![String::from("stack")];
        let greeting = String::from("hello");
        let borrowed: &str = &greeting;
        let done = flag();
        let d = done.clone();
        let local_ref = &mut local;
        let out = coroutine_scope(move |scope| async move {
            local_ref.push(format!("{borrowed} from the block"));
            scope.launch(move |_| async move {
                delay(ms(20)).await;
                d.store(true, Ordering::SeqCst);
            });
            borrowed.len()
        })
        .await;
        assert_eq!(out.unwrap(), 5);
        assert!(
            done.load(Ordering::SeqCst),
            "returned before its child completed"
        );
        assert_eq!(local, ["stack", "hello from the block"]);
        // The scope was a child of the caller: its job's parent is the root.
        let parent = coroutine_scope(|scope| async move { scope.job().parent() })
            .await
            .unwrap();
        assert_eq!(parent, current_job());
    })
    .unwrap();
}

#[test]
fn supervisor_scope_borrows_and_isolates_failures() {
    run_blocking(|_| async {
        let mut counter = 0;
        let sibling_done = flag();
        let sd = sibling_done.clone();
        let recorder = Recorder::default();
        let counter_ref = &mut counter;
        let handler = recorder.handler();
        let r = supervisor_scope(move |scope| async move {
            *counter_ref += 1;
            let failing = scope.launch_with(handler, CoroutineStart::Default, |_| async {
                panic::panic_any("supervised panic")
            });
            scope.launch(move |_| async move {
                delay(ms(20)).await;
                sd.store(true, Ordering::SeqCst);
            });
            failing.join().await;
            assert!(
                scope.is_active(),
                "a supervisor is not cancelled by a child"
            );
            "ok"
        })
        .await;
        assert_eq!(r.unwrap(), "ok");
        assert_eq!(counter, 1);
        assert!(sibling_done.load(Ordering::SeqCst));
        assert_eq!(recorder.messages(), ["supervised panic"]);

        // A failure of the block itself is returned.
        let err = supervisor_scope(|_| async { panic::panic_any("block panic") })
            .await
            .unwrap_err();
        assert!(err.is_failure() && err.to_string().contains("block panic"));
        assert!(is_active());
    })
    .unwrap();
}

#[test]
fn with_context_switches_dispatcher_and_comes_back() {
    run_blocking(|_| async {
        let caller = thread::current().id();
        let (value, worker) = with_context(Dispatchers::io(), |_| async { (6 * 7, thread_name()) })
            .await
            .unwrap();
        assert_eq!(value, 42);
        assert!(is_default_worker(&worker), "{worker}");
        assert_eq!(
            thread::current().id(),
            caller,
            "resumed on the caller's loop"
        );

        // A failure comes back as Err; the caller is not failed.
        let err = with_context(Dispatchers::default(), |_| async {
            panic::panic_any("wctx boom")
        })
        .await
        .unwrap_err();
        assert!(err.is_failure() && err.to_string().contains("wctx boom"));
        assert!(is_active());

        // A job named in the context becomes the block's parent.
        let parent = Job::new();
        let seen = with_context(parent.clone(), |scope| async move { scope.job().parent() })
            .await
            .unwrap();
        assert_eq!(seen, Some(parent));
    })
    .unwrap();
}

#[test]
fn with_context_non_cancellable_runs_its_block_to_the_end() {
    run_blocking(|scope| async move {
        let out = log();
        let o = out.clone();
        let job = scope.launch(move |_| async move {
            let inner = o.clone();
            let r = with_context(NonCancellable, move |_| async move {
                say(&inner, "block start");
                delay(ms(40)).await;
                assert!(is_active(), "NonCancellable block is not cancelled");
                say(&inner, "block end");
                1
            })
            .await;
            say(&o, format!("returned {r:?}"));
            yield_now().await;
            say(&o, "after next suspension");
        });
        delay(ms(10)).await;
        job.cancel();
        job.join().await;
        assert_eq!(
            lines(&out),
            ["block start", "block end", "returned Ok(1)"],
            "the coroutine is dropped at the next suspension after the block"
        );
        assert!(job.is_cancelled());
    })
    .unwrap();
}

#[test]
fn with_context_in_a_cancelled_caller_does_not_run_its_block() {
    run_blocking(|scope| async move {
        let ran = flag();
        let result: Arc<Mutex<Option<Result<(), JobError>>>> = Arc::default();
        let (r, res) = (ran.clone(), result.clone());
        let job = scope.launch(move |inner| async move {
            inner.cancel();
            let out = with_context(Dispatchers::io(), move |_| async move {
                r.store(true, Ordering::SeqCst)
            })
            .await;
            *res.lock().unwrap() = Some(out);
        });
        job.join().await;
        assert!(!ran.load(Ordering::SeqCst));
        let result = result.lock().unwrap().clone();
        assert!(result.is_some_and(|r| r.is_err_and(|e| e.is_cancelled())));
    })
    .unwrap();
}

#[test]
fn with_timeout_cancels_the_block_with_kotlins_message() {
    run_blocking(|_| async {
        let dropped = flag();
        let d = dropped.clone();
        let started = Instant::now();
        let err = with_timeout(ms(50), move |_| async move {
            let _guard = SetOnDrop(d);
            delay(Duration::MAX).await;
        })
        .await
        .unwrap_err();
        assert!(started.elapsed() >= ms(50));
        assert!(
            err.is_timeout() && err.is_cancelled() && !err.is_failure(),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "Timed out waiting for 50 ms");
        assert!(
            dropped.load(Ordering::SeqCst),
            "the block was cancelled (dropped)"
        );
        assert!(is_active(), "the caller is not cancelled");

        // In time: the value.
        let v = with_timeout(Duration::from_secs(5), |_| async {
            delay(ms(1)).await;
            "in time"
        })
        .await;
        assert_eq!(v.unwrap(), "in time");
    })
    .unwrap();
}

#[test]
fn with_cleanup_runs_cleanup_after_body() {
    run_blocking(|_| async {
        let out = log();
        let (b, c) = (out.clone(), out.clone());
        let v = with_cleanup(
            async move {
                say(&b, "body");
                5
            },
            async move {
                delay(ms(2)).await;
                say(&c, "cleanup");
            },
        )
        .await;
        assert_eq!(v, 5);
        assert_eq!(lines(&out), ["body", "cleanup"]);
    })
    .unwrap();
}

#[test]
fn with_cleanup_runs_suspending_cleanup_when_cancelled() {
    run_blocking(|scope| async move {
        let out = log();
        let o = out.clone();
        let job = scope.launch(move |_| async move {
            let (b, c) = (o.clone(), o.clone());
            with_cleanup(
                async move {
                    let _guard = LogOnDrop(b, "body dropped");
                    delay(Duration::MAX).await;
                },
                async move {
                    say(&c, "cleanup start");
                    delay(ms(20)).await;
                    say(&c, "cleanup end");
                },
            )
            .await;
            say(&o, "after with_cleanup");
            yield_now().await;
            say(&o, "after a suspension");
        });
        delay(ms(10)).await;
        job.cancel();
        job.join().await;
        let got = lines(&out);
        assert_eq!(&got[..3], ["body dropped", "cleanup start", "cleanup end"]);
        assert!(!got.contains(&"after a suspension".to_owned()), "{got:?}");
        assert!(job.is_cancelled(), "the coroutine stays cancelled");
    })
    .unwrap();
}

#[test]
fn scope_functions_work_outside_any_coroutine() {
    assert!(is_active());
    assert!(ensure_active().is_ok());
    assert_eq!(current_job(), None);

    let (no_parent, child_thread) = block_on(coroutine_scope(|scope| async move {
        let child = scope.async_(|_| async { thread_name() });
        (scope.job().parent().is_none(), child.await.unwrap())
    }))
    .unwrap();
    assert!(no_parent);
    assert!(is_default_worker(&child_thread), "{child_thread}");

    let no_parent = block_on(supervisor_scope(|scope| async move {
        scope.job().parent().is_none()
    }))
    .unwrap();
    assert!(no_parent);

    let worker = block_on(with_context(Dispatchers::io(), |_| async { thread_name() })).unwrap();
    assert!(is_default_worker(&worker), "{worker}");

    let err = block_on(with_timeout(ms(20), |_| async {
        delay(Duration::MAX).await
    }))
    .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");

    let start = Instant::now();
    block_on(delay(ms(20)));
    assert!(start.elapsed() >= ms(20));

    assert_eq!(block_on(with_cleanup(async { 3 }, async {})), 3);
}
