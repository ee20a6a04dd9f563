//! Regression tests: `with_cleanup` runs its cleanup when the coroutine is cancelled while the
//! body is suspended, on every kind of dispatcher (the frame's shield levels were once read at
//! each poll instead of at entry, so a cancelled body was dropped without its cleanup), and
//! the current job is visible inside launched coroutines and the root of `run_blocking`.

use corral::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child suspended forever inside `with_cleanup`; its parent is cancelled, or fails through a
/// sibling. Returns what the cleanup logged.
fn run(d: Dispatcher, sibling_fails: bool) -> Vec<String> {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = log.clone();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let job = GlobalScope::launch_with(d, CoroutineStart::Default, move |scope| async move {
        let l1 = l.clone();
        scope.launch(move |_| async move {
            let l2 = l1.clone();
            let body = async move {
                s.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await
            };
            with_cleanup(body, async move {
                l2.lock().unwrap().push("cleanup start".into());
                delay(Duration::from_millis(20)).await;
                l2.lock().unwrap().push("cleanup end".into());
            })
            .await;
        });
        if sibling_fails {
            scope.launch(move |_| async move {
                delay(Duration::from_millis(10)).await;
                panic!("boom");
            });
        }
    });
    if !sibling_fails {
        // Cancelled before its first run, the child's body would never start (Default start
        // mode), so wait until it is suspended inside the body (under Miri that takes long).
        let waited = Instant::now();
        while !started.load(Ordering::SeqCst) {
            assert!(
                waited.elapsed() < Duration::from_secs(60),
                "the child never started"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        job.cancel();
    }
    run_blocking(|_| async move { job.join().await }).unwrap();
    let v = log.lock().unwrap().clone();
    v
}

#[test]
fn cancel_default() {
    assert_eq!(
        run(Dispatchers::default(), false),
        vec!["cleanup start", "cleanup end"]
    );
}
#[test]
fn fail_default() {
    assert_eq!(
        run(Dispatchers::default(), true),
        vec!["cleanup start", "cleanup end"]
    );
}
#[test]
fn fail_single() {
    let p = new_single_thread_context("x");
    assert_eq!(
        run(p.dispatcher().clone(), true),
        vec!["cleanup start", "cleanup end"]
    );
}

#[test]
fn cancel_in_loop() {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = log.clone();
    run_blocking(|scope| async move {
        let l2 = l.clone();
        let job = scope.launch(move |_| async move {
            with_cleanup(std::future::pending::<()>(), async move {
                l2.lock().unwrap().push("cleanup start".into());
            })
            .await;
        });
        yield_now().await;
        job.cancel();
        job.join().await;
    })
    .unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["cleanup start"]);
}
#[test]
fn cancel_in_loop_plain_future() {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = log.clone();
    run_blocking(|scope| async move {
        let l2 = l.clone();
        let job = scope.launch(move |_| async move {
            with_cleanup(async { std::future::pending::<()>().await }, async move {
                l2.lock().unwrap().push("cleanup start".into());
            })
            .await;
        });
        yield_now().await;
        job.cancel();
        job.join().await;
    })
    .unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["cleanup start"]);
}
#[test]
fn current_job_visible() {
    run_blocking(|scope| async move {
        let j = scope.launch(move |_| async move {
            assert!(corral::current_job().is_some(), "no current job in launch");
        });
        j.join().await;
        assert!(corral::current_job().is_some(), "no current job in root");
    })
    .unwrap();
}
