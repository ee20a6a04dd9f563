//! Finding 05 of the soundness issue: no user panic escapes into a runtime thread.
//!
//! User code runs in polls, destructors, completion handlers, exception handlers, wakers and
//! closures given to executors; every one of them may panic, and the payload of a panic may
//! itself panic when dropped. None of that may kill a worker, the shared timer thread or an
//! event loop, leave a job unfinished, or unwind out of `run_blocking` other than as its `Err`.
//!
//! Every wait is bounded, so a regression fails instead of hanging.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::task::{Context as TaskContext, Wake, Waker};
use std::time::{Duration, Instant};

use corral::prelude::*;
use corral::{CoroutineScheduler, JobState, Runnable};

/// How long a bounded wait gives the runtime on a loaded two-core machine.
const BOUND: Duration = Duration::from_secs(5);

/// The text of the panics these tests cause on purpose.
const MARKER: &str = "finding-05 panic";

/// A panic payload whose own `Drop` panics (once, with a string, so the hook can spot it).
struct EvilPayload;

impl Drop for EvilPayload {
    fn drop(&mut self) {
        panic!("{MARKER}: the payload's drop");
    }
}

/// Silences the panic hook for the panics of this file (their payload is an `EvilPayload` or a
/// message holding `MARKER`); every other panic is printed as usual.
fn quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let ours = payload.is::<EvilPayload>()
                || payload
                    .downcast_ref::<&str>()
                    .is_some_and(|s| s.contains(MARKER))
                || payload
                    .downcast_ref::<String>()
                    .is_some_and(|s| s.contains(MARKER));
            if !ours {
                previous(info);
            }
        }));
    });
}

/// Polls `done` until it holds or `BOUND` passes; `true` if it held.
fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < BOUND {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    done()
}

/// A short `delay` on `Dispatchers::default()` (its timer is on the shared timer thread) still
/// fires, and `with_timeout` still times out a block suspended on Default.
fn assert_shared_timer_alive() {
    let job = GlobalScope::launch(|_| async { delay(Duration::from_millis(5)).await });
    assert!(
        wait_until(|| job.is_completed()),
        "a delay on the shared timer thread never fired"
    );
    let start = Instant::now();
    let timed = GlobalScope::async_(|_| async {
        with_timeout(Duration::from_millis(20), |_| async {
            with_context(Dispatchers::default(), |_| async {
                delay(Duration::from_secs(60)).await
            })
            .await
        })
        .await
    });
    assert!(
        wait_until(|| timed.is_completed()),
        "with_timeout on the shared timer thread never fired"
    );
    assert!(start.elapsed() < BOUND);
}

/// Runs `body` as a coroutine on `dispatcher`; it throws an `EvilPayload`. The coroutine must
/// end failed and the dispatcher must run later work.
fn evil_coroutine_on(dispatcher: Dispatcher) {
    quiet_hook();
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let handler = CoroutineExceptionHandler::new(move |_, error| {
        assert!(error.is_failure());
        h.fetch_add(1, Ordering::SeqCst);
    });
    let job = GlobalScope::launch_with(
        dispatcher.clone() + handler,
        CoroutineStart::Default,
        |_| async {
            yield_now().await;
            panic::panic_any(EvilPayload);
        },
    );
    assert!(
        wait_until(|| job.is_completed()),
        "the coroutine that threw an evil payload never completed"
    );
    assert!(job.completion_error().unwrap().is_failure());
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    let later = GlobalScope::async_with(dispatcher, CoroutineStart::Default, |_| async { 7 });
    assert!(
        wait_until(|| later.is_completed()),
        "the dispatcher stopped running work after an evil payload"
    );
}

/// A plain `Job`'s completion handler panics on the shared timer thread: an Unconfined child
/// resumed by its `delay` runs there and, completing, finalizes its plain parent. The panic is
/// reported, not re-raised: the timer thread survives, later delays and timeouts fire.
#[test]
fn finding_05_plain_job_handler_panic_on_timer_thread_keeps_timers_alive() {
    quiet_hook();
    let parent = Job::new();
    let _ = parent.invoke_on_completion(|_| panic!("{MARKER}: plain handler"));
    let scope = CoroutineScope::new(parent.clone() + Dispatchers::unconfined());
    let on_timer_thread = Arc::new(AtomicUsize::new(0));
    let seen = on_timer_thread.clone();
    scope.launch(move |_| async move {
        delay(Duration::from_millis(10)).await;
        if std::thread::current().name() == Some("corral-timer") {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    assert!(parent.complete(), "the parent waits for its child");
    assert!(wait_until(|| parent.is_completed()));
    assert_eq!(on_timer_thread.load(Ordering::SeqCst), 1);
    assert_eq!(parent.state(), JobState::Completed);
    // Let a dying timer thread finish dying before probing it.
    std::thread::sleep(Duration::from_millis(20));
    assert_shared_timer_alive();
}

/// The same handler panic on `run_blocking`'s event loop: the plain job is finalized by a child
/// running on the loop. `run_blocking` returns normally and the loop is reusable.
#[test]
fn finding_05_plain_job_handler_panic_on_event_loop_does_not_unwind() {
    quiet_hook();
    let result = panic::catch_unwind(|| {
        run_blocking(|scope| async move {
            let plain = Job::new_child(&scope.job());
            let _ = plain.invoke_on_completion(|_| panic!("{MARKER}: plain handler on loop"));
            let inner = CoroutineScope::new(plain.clone() + scope.dispatcher());
            inner.launch(|_| async { yield_now().await });
            plain.complete();
            plain.join().await;
            "block done"
        })
    });
    let result = result.expect("run_blocking unwound");
    assert_eq!(result.unwrap(), "block done");
    assert_eq!(run_blocking(|_| async { 1 }).unwrap(), 1);
}

/// A plain job finalized by the user's own `complete()` inside `run_blocking`: the handler's
/// panic is re-raised to that call (kotlinx throws `CompletionHandlerException`), which makes
/// the block fail; `run_blocking` returns it as its `Err` and does not unwind.
#[test]
fn plain_job_handler_panic_raised_in_block_is_run_blocking_err() {
    quiet_hook();
    let result = panic::catch_unwind(|| {
        run_blocking(|_| async {
            let plain = Job::new();
            let _ = plain.invoke_on_completion(|_| panic!("{MARKER}: raised to complete()"));
            plain.complete();
            "unreachable"
        })
    });
    let error = result.expect("run_blocking unwound").unwrap_err();
    assert!(error.is_failure());
    assert!(error.message().contains("raised to complete()"));
}

/// A plain job cancelled as its parent coroutine fails on a worker: the cancellation reaches
/// it from the runtime, so its handler's panic is reported; the rest of the tree still
/// finishes (the failing coroutine completes and its join returns).
#[test]
fn finding_05_plain_job_handler_panic_during_runtime_cancellation() {
    quiet_hook();
    let plain_slot = Arc::new(std::sync::Mutex::new(None));
    let slot = plain_slot.clone();
    let handler = CoroutineExceptionHandler::new(|_, _| {});
    let job = GlobalScope::launch_with(handler, CoroutineStart::Default, move |scope| async move {
        let plain = Job::new_child(&scope.job());
        let _ = plain.invoke_on_completion(|_| panic!("{MARKER}: handler during cancellation"));
        let sibling = Job::new_child(&scope.job());
        *slot.lock().unwrap() = Some((plain, sibling));
        yield_now().await;
        panic!("{MARKER}: the body fails");
    });
    assert!(
        wait_until(|| job.is_completed()),
        "the failed tree never finished"
    );
    let (plain, sibling) = plain_slot.lock().unwrap().take().unwrap();
    assert!(plain.is_completed() && sibling.is_completed());
}

#[test]
fn finding_05_evil_payload_on_default() {
    evil_coroutine_on(Dispatchers::default());
}

#[test]
fn finding_05_evil_payload_on_io() {
    evil_coroutine_on(Dispatchers::io());
}

#[test]
fn finding_05_evil_payload_on_limited_view() {
    evil_coroutine_on(Dispatchers::default().limited_parallelism(1));
}

/// An executor's single thread survives an evil payload thrown by a coroutine and by a raw
/// closure, keeps running work, and its shutdown joins its thread.
#[test]
fn finding_05_evil_payload_on_executor_thread_survives_and_shutdown_joins() {
    quiet_hook();
    let pool = new_single_thread_context("finding-05-executor");
    evil_coroutine_on(pool.dispatcher().clone());
    pool.dispatch(Runnable::from_fn(|| panic::panic_any(EvilPayload)));
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    pool.dispatch(Runnable::from_fn(move || {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    assert!(
        wait_until(|| ran.load(Ordering::SeqCst) == 1),
        "the executor's thread died on a closure's evil payload"
    );
    assert!(pool.close_and_wait(BOUND), "shutdown left a thread running");
}

/// The same for a closure given to a scheduler's `execute`: the worker reports the panic and
/// carries on; shutdown is clean.
#[test]
fn finding_05_evil_payload_in_executed_closure_keeps_worker() {
    quiet_hook();
    let scheduler = CoroutineScheduler::builder()
        .core_pool_size(1)
        .max_pool_size(1)
        .name("finding-05-scheduler")
        .build()
        .unwrap();
    scheduler.execute(|| panic::panic_any(EvilPayload)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    scheduler.execute(move || tx.send(1).unwrap()).unwrap();
    assert_eq!(rx.recv_timeout(BOUND), Ok(1), "the worker died");
    assert!(scheduler.shutdown(BOUND).is_clean());
}

/// An evil payload thrown by the block of `run_blocking`, by a child on its loop, and by a
/// closure dispatched to its loop: `run_blocking` returns `Err` (or, for the closure, which
/// has no job, goes on), never unwinds.
#[test]
fn finding_05_evil_payload_in_run_blocking_is_its_err() {
    quiet_hook();
    let root = panic::catch_unwind(|| {
        run_blocking(|_| async {
            yield_now().await;
            panic::panic_any(EvilPayload);
        })
    });
    assert!(root
        .expect("run_blocking unwound")
        .unwrap_err()
        .is_failure());

    let child = panic::catch_unwind(|| {
        run_blocking(|scope| async move {
            scope.launch(|_| async { panic::panic_any(EvilPayload) });
            delay(Duration::from_secs(60)).await;
        })
    });
    assert!(child
        .expect("run_blocking unwound")
        .unwrap_err()
        .is_failure());

    let closure = panic::catch_unwind(|| {
        run_blocking(|scope| async move {
            scope
                .dispatcher()
                .dispatch(Runnable::from_fn(|| panic::panic_any(EvilPayload)));
            yield_now().await;
            5
        })
    });
    assert_eq!(closure.expect("run_blocking unwound").unwrap(), 5);
}

/// An evil payload from the destructor of a cancelled coroutine's future: the job completes
/// failed.
#[test]
fn finding_05_evil_payload_from_drop_of_cancelled_future() {
    quiet_hook();
    struct ThrowsEvilOnDrop;
    impl Drop for ThrowsEvilOnDrop {
        fn drop(&mut self) {
            panic::panic_any(EvilPayload);
        }
    }
    let handler = CoroutineExceptionHandler::new(|_, _| {});
    let job = GlobalScope::launch_with(handler, CoroutineStart::Default, |_| async {
        let _guard = ThrowsEvilOnDrop;
        delay(Duration::from_secs(60)).await;
    });
    std::thread::sleep(Duration::from_millis(10));
    job.cancel();
    assert!(
        wait_until(|| job.is_completed()),
        "the cancelled job never completed"
    );
    assert!(job.completion_error().unwrap().is_failure());
}

/// `CoroutineExceptionHandler`s that panic, with a message and with an evil payload: the
/// coroutine completes, its joiners wake, the worker keeps running work.
#[test]
fn finding_05_exception_handler_that_panics() {
    quiet_hook();
    let plain = CoroutineExceptionHandler::new(|_, _| panic!("{MARKER}: handler"));
    let evil = CoroutineExceptionHandler::new(|_, _| panic::panic_any(EvilPayload));
    for handler in [plain, evil] {
        let job = GlobalScope::launch_with(handler, CoroutineStart::Default, |_| async {
            yield_now().await;
            panic!("{MARKER}: body");
        });
        let joined = GlobalScope::launch(move |_| async move { job.join().await });
        assert!(
            wait_until(|| joined.is_completed()),
            "a panicking exception handler left the job unfinished"
        );
    }
    evil_coroutine_on(Dispatchers::default());
}

/// A `Waker` implemented by the user that panics.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic::panic_any(EvilPayload);
    }
}

/// A `delay` polled by the user with a panicking waker: the shared timer thread wakes it and
/// survives.
#[test]
fn finding_05_panicking_waker_on_timer_thread() {
    quiet_hook();
    let waker = Waker::from(Arc::new(PanickingWaker));
    let mut sleep = Box::pin(delay(Duration::from_millis(5)));
    let mut cx = TaskContext::from_waker(&waker);
    assert!(sleep.as_mut().poll(&mut cx).is_pending());
    std::thread::sleep(Duration::from_millis(30));
    assert_shared_timer_alive();
}

/// A `join` polled by the user with a panicking waker: the job that wakes it still finishes
/// its finalization (its parent completes too), and the call that completed it returns.
#[test]
fn finding_05_panicking_join_waker_does_not_stop_finalization() {
    quiet_hook();
    let parent = Job::new();
    let child = Job::new_child(&parent);
    assert!(parent.complete());
    let waker = Waker::from(Arc::new(PanickingWaker));
    let mut join = Box::pin(child.join());
    assert!(join
        .as_mut()
        .poll(&mut TaskContext::from_waker(&waker))
        .is_pending());
    let completed = panic::catch_unwind(AssertUnwindSafe(|| child.complete()));
    assert!(completed.expect("complete() unwound"));
    assert!(child.is_completed());
    assert!(
        parent.is_completed(),
        "the parent never learnt its child completed"
    );
}

/// A plain `Job`'s handler still reaches the direct caller of `cancel()` (JOB-01 (f)), and a
/// handler's evil payload there is raised as it is, its siblings' payloads dropped safely.
#[test]
fn finding_05_handler_panics_raised_to_caller_drop_the_rest_safely() {
    quiet_hook();
    let job = Job::new();
    let _ = job.invoke_on_completion(|_| panic!("{MARKER}: first"));
    let _ = job.invoke_on_completion(|_| panic::panic_any(EvilPayload));
    let raised = panic::catch_unwind(AssertUnwindSafe(|| job.cancel())).unwrap_err();
    assert_eq!(
        raised.downcast_ref::<String>().map(String::as_str),
        Some("finding-05 panic: first")
    );
    assert!(job.is_completed());
}

/// A user `Dispatch` that forwards its first runnable to Default and panics on every later
/// dispatch.
struct PanicsAfterFirst {
    dispatched: AtomicUsize,
}

impl std::fmt::Display for PanicsAfterFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PanicsAfterFirst")
    }
}

impl corral::Dispatch for PanicsAfterFirst {
    fn dispatch(&self, runnable: Runnable) {
        if self.dispatched.fetch_add(1, Ordering::SeqCst) > 0 {
            panic!("{MARKER}: dispatch");
        }
        Dispatchers::default().dispatch(runnable);
    }

    fn limited_parallelism(&self, this: &Dispatcher, _parallelism: usize) -> Dispatcher {
        this.clone()
    }
}

/// Cancelling a parent wakes its suspended child through the child's dispatcher; a user
/// dispatcher that panics there must not unwind through the cancellation: `cancel()` returns
/// and the parent's other children are cancelled too.
#[test]
fn finding_05_panicking_dispatcher_does_not_unwind_through_cancellation() {
    quiet_hook();
    let parent = Job::new();
    let dispatcher = Dispatcher::new(PanicsAfterFirst {
        dispatched: AtomicUsize::new(0),
    });
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let scope = CoroutineScope::new(parent.clone() + dispatcher);
    scope.launch(move |_| async move {
        s.fetch_add(1, Ordering::SeqCst);
        delay(Duration::from_secs(60)).await;
    });
    assert!(wait_until(|| started.load(Ordering::SeqCst) == 1));
    let sibling = Job::new_child(&parent);
    let cancelled = panic::catch_unwind(AssertUnwindSafe(|| parent.cancel()));
    assert!(
        cancelled.is_ok(),
        "a dispatcher's panic unwound out of cancel()"
    );
    assert!(sibling.is_completed(), "the cancellation stopped half-way");
}

/// A `with_cleanup` whose body panics while polled runs its (suspending) cleanup to the end,
/// then the panic fails the coroutine: Kotlin's `finally` around a throwing body.
#[test]
fn finding_05_with_cleanup_body_panic_runs_the_cleanup_then_fails() {
    quiet_hook();
    let cleaned = Arc::new(AtomicUsize::new(0));
    let seen = cleaned.clone();
    let handler = CoroutineExceptionHandler::new(|_, _| {});
    let job = GlobalScope::launch_with(handler, CoroutineStart::Default, move |_| async move {
        with_cleanup(
            async {
                delay(Duration::from_millis(1)).await;
                panic!("{MARKER}: the body");
            },
            async move {
                delay(Duration::from_millis(5)).await;
                seen.fetch_add(1, Ordering::SeqCst);
            },
        )
        .await;
    });
    assert!(wait_until(|| job.is_completed()), "the job never completed");
    assert_eq!(
        cleaned.load(Ordering::SeqCst),
        1,
        "the cleanup did not run to its end"
    );
    let error = job
        .completion_error()
        .expect("the body's panic fails the job");
    assert!(error.is_failure(), "{error:?}");
}

/// A `with_cleanup` whose body panics while it is dropped by cancellation (with a payload whose
/// own drop panics) still runs its cleanup, and the job ends failed, not stuck.
#[test]
fn finding_05_with_cleanup_body_destructor_panic_on_cancel_runs_the_cleanup() {
    quiet_hook();
    struct ThrowsEvilOnDrop;
    impl Drop for ThrowsEvilOnDrop {
        fn drop(&mut self) {
            panic::panic_any(EvilPayload);
        }
    }
    let cleaned = Arc::new(AtomicUsize::new(0));
    let seen = cleaned.clone();
    let handler = CoroutineExceptionHandler::new(|_, _| {});
    let job = GlobalScope::launch_with(handler, CoroutineStart::Default, move |_| async move {
        with_cleanup(
            async {
                let _guard = ThrowsEvilOnDrop;
                delay(Duration::from_secs(60)).await;
            },
            async move {
                delay(Duration::from_millis(5)).await;
                seen.fetch_add(1, Ordering::SeqCst);
            },
        )
        .await;
    });
    std::thread::sleep(Duration::from_millis(10));
    job.cancel();
    assert!(wait_until(|| job.is_completed()), "the job never completed");
    assert_eq!(
        cleaned.load(Ordering::SeqCst),
        1,
        "the cleanup did not run to its end"
    );
    assert!(job.completion_error().unwrap().is_failure());
}
