//! API contract: Dispatchers.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use corral::prelude::*;

use crate::helpers::*;

#[test]
fn dispatchers_display_and_clone() {
    assert_eq!(Dispatchers::default().to_string(), "Dispatchers.Default");
    assert_eq!(Dispatchers::io().to_string(), "Dispatchers.IO");
    assert_eq!(
        Dispatchers::unconfined().to_string(),
        "Dispatchers.Unconfined"
    );
    assert_eq!(Dispatchers::main().to_string(), "Dispatchers.Main");
    let d: Dispatcher = Dispatchers::io();
    let clone = d.clone();
    assert_eq!(clone.to_string(), d.to_string());
    assert!(clone == d);
    assert!(Dispatchers::io() != Dispatchers::default());
}

#[test]
fn limited_parallelism_rejects_zero_and_unconfined_and_main_returns_itself() {
    let zero = panic::catch_unwind(AssertUnwindSafe(|| {
        Dispatchers::default().limited_parallelism(0)
    }))
    .unwrap_err();
    let text = panic_text(&*zero);
    assert!(
        text.contains("limited_parallelism") && text.contains("at least 1"),
        "{text}"
    );

    let zero = panic::catch_unwind(AssertUnwindSafe(|| {
        Dispatchers::io().limited_parallelism(0)
    }))
    .unwrap_err();
    assert!(panic_text(&*zero).contains("at least 1"));

    let unconfined = panic::catch_unwind(AssertUnwindSafe(|| {
        Dispatchers::unconfined().limited_parallelism(2)
    }))
    .unwrap_err();
    let text = panic_text(&*unconfined);
    assert!(
        text.contains("Unconfined") && text.contains("limited_parallelism"),
        "{text}"
    );

    let main = Dispatchers::main();
    assert!(main.limited_parallelism(3) == main);
    let zero = panic::catch_unwind(AssertUnwindSafe(|| {
        Dispatchers::main().limited_parallelism(0)
    }))
    .unwrap_err();
    assert!(panic_text(&*zero).contains("at least 1"));

    // immediate() is for main only.
    let not_main =
        panic::catch_unwind(AssertUnwindSafe(|| Dispatchers::default().immediate())).unwrap_err();
    assert!(panic_text(&*not_main).contains("immediate"));
}

#[test]
fn limited_parallelism_bounds_concurrency() {
    fn max_concurrency(dispatcher: Dispatcher, coroutines: usize) -> (usize, Vec<usize>) {
        let running = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let order: Arc<Mutex<Vec<usize>>> = Arc::default();
        run_blocking(|scope| {
            let (running, max, order) = (running.clone(), max.clone(), order.clone());
            async move {
                for i in 0..coroutines {
                    let (running, max, order) = (running.clone(), max.clone(), order.clone());
                    scope.launch_with(
                        dispatcher.clone(),
                        CoroutineStart::Default,
                        move |_| async move {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            max.fetch_max(now, Ordering::SeqCst);
                            order.lock().unwrap().push(i);
                            thread::sleep(ms(10));
                            running.fetch_sub(1, Ordering::SeqCst);
                        },
                    );
                }
            }
        })
        .unwrap();
        let order = order.lock().unwrap().clone();
        (max.load(Ordering::SeqCst), order)
    }

    let (max, order) = max_concurrency(Dispatchers::io().limited_parallelism(2), 8);
    assert!((1..=2).contains(&max), "max concurrency {max}");
    assert_eq!(order.len(), 8);

    let view = Dispatchers::default().limited_parallelism(1);
    let (max, order) = max_concurrency(view, 5);
    assert_eq!(max, 1);
    assert_eq!(order, [0, 1, 2, 3, 4], "n = 1 runs in order");
}

#[test]
fn default_and_io_workers_are_named_default_dispatcher_worker_n() {
    let (default_thread, io_thread) = run_blocking(|_| async {
        let a = with_context(Dispatchers::default(), |_| async { thread_name() }).await;
        let b = with_context(Dispatchers::io(), |_| async { thread_name() }).await;
        (a.unwrap(), b.unwrap())
    })
    .unwrap();
    assert!(is_default_worker(&default_thread), "{default_thread}");
    assert!(is_default_worker(&io_thread), "{io_thread}");
}

#[test]
fn executor_dispatchers_run_on_their_threads_and_fail_clearly_once_closed() {
    let pool: ExecutorDispatcher = new_fixed_thread_pool_context(2, "api-pool");
    let single: ExecutorDispatcher = new_single_thread_context("api-single");
    // Deref<Target = Dispatcher>.
    let pool_dispatcher: &Dispatcher = &pool;
    let pool_dispatcher = pool_dispatcher.clone();
    let single_dispatcher: Dispatcher = (*single).clone();
    let (pool_thread, single_thread) = run_blocking(|_| async {
        let a = with_context(pool_dispatcher, |_| async { thread_name() }).await;
        let b = with_context(single_dispatcher, |_| async { thread_name() }).await;
        (a.unwrap(), b.unwrap())
    })
    .unwrap();
    assert!(
        pool_thread == "api-pool-1" || pool_thread == "api-pool-2",
        "{pool_thread}"
    );
    assert_eq!(single_thread, "api-single");

    // A coroutine suspended on the executor when it closes: its resume fails it, no hang.
    let scope = CoroutineScope::new(SupervisorJob::new());
    let suspended = scope.async_with((*single).clone(), CoroutineStart::Default, |_| async {
        delay(ms(50)).await;
        "should not resume"
    });
    thread::sleep(ms(10));
    single.close();
    // Dispatching anew after close: fails at once, never hangs.
    let ran = flag();
    let r = ran.clone();
    let fresh = scope.async_with(
        (*single).clone(),
        CoroutineStart::Default,
        move |_| async move { r.store(true, Ordering::SeqCst) },
    );
    let (suspended, fresh) = run_blocking(|_| async move {
        with_timeout(SOON, |_| async move { (suspended.await, fresh.await) })
            .await
            .expect("no hang")
    })
    .unwrap();
    assert!(!ran.load(Ordering::SeqCst));
    for err in [suspended.unwrap_err(), fresh.unwrap_err()] {
        assert!(err.is_failure(), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("api-single") && text.contains("closed"),
            "unclear: {text}"
        );
    }

    pool.close();
    let err = run_blocking(|_| async { with_context((*pool).clone(), |_| async { 1 }).await })
        .unwrap()
        .unwrap_err();
    assert!(
        err.is_failure() && err.to_string().contains("closed"),
        "{err}"
    );
}
