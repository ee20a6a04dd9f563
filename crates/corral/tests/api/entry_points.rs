//! API contract: Entry points.

use std::panic;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use corral::prelude::*;

use crate::helpers::*;

#[test]
fn run_blocking_returns_the_value_after_all_children_and_orders_cab() {
    let out = log();
    let result: Result<i32, JobError> = run_blocking({
        let out = out.clone();
        move |scope| async move {
            let (a, b, late) = (out.clone(), out.clone(), out.clone());
            scope.launch(move |_| async move { say(&a, "A") });
            scope.launch(move |_| async move { say(&b, "B") });
            scope.launch(move |_| async move {
                delay(ms(30)).await;
                say(&late, "late child");
            });
            say(&out, "C");
            42
        }
    });
    assert_eq!(result.unwrap(), 42);
    // The root returned its value before "late child", but run_blocking waited for it.
    assert_eq!(lines(&out), ["C", "A", "B", "late child"]);
}

#[test]
fn run_blocking_runs_the_root_on_the_calling_thread_and_may_borrow() {
    let caller = thread::current().id();
    let mut borrowed = vec![1, 2];
    let seen = run_blocking(|_| async {
        borrowed.push(3);
        thread::current().id()
    })
    .unwrap();
    assert_eq!(seen, caller);
    assert_eq!(borrowed, [1, 2, 3]);
}

#[test]
fn run_blocking_failed_or_cancelled_root_gives_err() {
    let err = run_blocking(|_| async { panic::panic_any("root failed") }).unwrap_err();
    assert!(err.is_failure() && !err.is_cancelled(), "{err:?}");
    assert!(err.to_string().contains("root failed"), "{err}");

    let err = run_blocking(|scope| async move {
        scope.launch(|_| async { panic::panic_any(String::from("child failed")) });
        delay(Duration::MAX).await;
    })
    .unwrap_err();
    assert!(err.is_failure(), "{err:?}");
    assert!(err.to_string().contains("child failed"), "{err}");

    let after = flag();
    let err = run_blocking({
        let after = after.clone();
        move |scope| async move {
            scope.cancel();
            yield_now().await;
            after.store(true, Ordering::SeqCst);
        }
    })
    .unwrap_err();
    assert!(err.is_cancelled() && !err.is_failure(), "{err:?}");
    assert!(!after.load(Ordering::SeqCst), "ran past a cancelled yield");
}

#[test]
fn run_blocking_with_uses_the_context() {
    // A name.
    let name = run_blocking_with(CoroutineName::new("rb-root"), |scope| async move {
        scope.context().name().map(str::to_owned)
    })
    .unwrap();
    assert_eq!(name.as_deref(), Some("rb-root"));

    // A parent job.
    let parent = Job::new();
    let root_parent =
        run_blocking_with(parent.clone(), |scope| async move { scope.job().parent() }).unwrap();
    assert_eq!(root_parent, Some(parent.clone()));

    // A dispatcher: inherited by the children instead of the loop.
    let child_thread = run_blocking_with(Dispatchers::default(), |scope| async move {
        scope.async_(|_| async { thread_name() }).await.unwrap()
    })
    .unwrap();
    assert!(is_default_worker(&child_thread), "{child_thread}");

    // A cancelled parent: the block does not run.
    let ran = flag();
    parent.cancel();
    let err = run_blocking_with(parent, {
        let ran = ran.clone();
        move |_| async move { ran.store(true, Ordering::SeqCst) }
    })
    .unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn run_main_loop_is_dispatchers_main_and_exclusive() {
    let _lock = main_lock();
    let (started_tx, started_rx) = mpsc::channel();
    let release = flag();
    let first = thread::spawn({
        let release = release.clone();
        move || {
            run_main_loop(|scope| async move {
                let loop_thread = thread::current().id();
                // A coroutine dispatched to Dispatchers::main() runs on this loop's thread.
                let on_main = scope
                    .async_with(Dispatchers::main(), CoroutineStart::Default, |_| async {
                        thread::current().id()
                    })
                    .await
                    .unwrap();
                // with_context(main) from a Default worker comes back to this loop.
                let from_default = scope
                    .async_with(Dispatchers::default(), CoroutineStart::Default, |_| async {
                        let worker = thread_name();
                        let main =
                            with_context(Dispatchers::main(), |_| async { thread::current().id() })
                                .await
                                .unwrap();
                        (worker, main)
                    })
                    .await
                    .unwrap();
                started_tx.send(()).unwrap();
                while !release.load(Ordering::SeqCst) {
                    delay(ms(2)).await;
                }
                (loop_thread, on_main, from_default)
            })
        }
    });
    started_rx
        .recv_timeout(SOON)
        .expect("first main loop started");

    // A second concurrent main loop: Err with a clear message, block not run, no hang.
    let ran = flag();
    let err = run_main_loop({
        let ran = ran.clone();
        move |_| async move { ran.store(true, Ordering::SeqCst) }
    })
    .unwrap_err();
    assert!(!ran.load(Ordering::SeqCst));
    let text = err.to_string();
    assert!(
        text.contains("main loop") && text.contains("already running"),
        "unclear message: {text}"
    );

    release.store(true, Ordering::SeqCst);
    let (loop_thread, on_main, (worker, back_on_main)) = first.join().unwrap().unwrap();
    assert_eq!(on_main, loop_thread);
    assert!(is_default_worker(&worker), "{worker}");
    assert_eq!(back_on_main, loop_thread);

    // Once the first has ended, a new main loop may run.
    assert_eq!(run_main_loop(|_| async { 5 }).unwrap(), 5);
}

#[test]
fn main_immediate_runs_in_place_when_already_on_main() {
    let _lock = main_lock();
    let out = log();
    run_main_loop({
        let out = out.clone();
        move |scope| async move {
            let main = Dispatchers::main();
            let o = out.clone();
            let dispatched =
                scope.launch_with(main.clone(), CoroutineStart::Default, |_| async move {
                    say(&o, "dispatched");
                });
            let o = out.clone();
            let immediate =
                scope.launch_with(main.immediate(), CoroutineStart::Default, |_| async move {
                    say(&o, "immediate");
                });
            say(&out, "root continues");
            dispatched.join().await;
            immediate.join().await;
        }
    })
    .unwrap();
    assert_eq!(lines(&out), ["immediate", "root continues", "dispatched"]);
    assert_eq!(
        Dispatchers::main().immediate().to_string(),
        "Dispatchers.Main.immediate"
    );
}

#[test]
fn dispatchers_main_without_a_main_loop_fails_the_coroutine_clearly() {
    let _lock = main_lock();
    let ran = flag();
    // A root scope on Main: the failure reaches the Deferred (and never hangs).
    let scope = CoroutineScope::new(Dispatchers::main());
    let deferred = scope.async_({
        let ran = ran.clone();
        move |_| async move { ran.store(true, Ordering::SeqCst) }
    });
    let err = run_blocking(|_| async move {
        with_timeout(SOON, move |_| deferred)
            .await
            .expect("no hang")
    })
    .unwrap()
    .unwrap_err();
    assert!(!ran.load(Ordering::SeqCst));
    assert!(err.is_failure(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("Dispatchers.Main") && text.contains("run_main_loop"),
        "unclear message: {text}"
    );

    // Also from inside a coroutine: with_context(main) returns the failure to the caller.
    let err = run_blocking(|_| async {
        with_context(Dispatchers::main(), |_| async { 1 })
            .await
            .unwrap_err()
    })
    .unwrap();
    assert!(
        err.is_failure() && err.to_string().contains("Dispatchers.Main"),
        "{err}"
    );
}
