//! User values a coroutine's task drops, whose destructors panic (the task-level part of
//! finding 5 of the soundness issue): a value returned after the coroutine was cancelled, a
//! value returned by a future whose own destructor panics, and an output nobody read, dropped
//! with the last reference to the task on whatever thread that is. None of these panics may
//! unwind into a runtime thread or leave a job unfinished: the first two fail the job, the
//! last one goes to the coroutine's exception handler.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};

use corral::prelude::*;

mod common;
use common::{dispatchers, eventually, join_all, SOON};

/// Panics with its message when dropped (unless already unwinding).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// Runs `scenario` once per dispatcher, inside one `run_blocking`, with a supervisor scope
/// whose exception handler ignores failures (each scenario checks them itself).
fn on_every_dispatcher<F, Fut>(scenario: F)
where
    F: Fn(String, Dispatcher, CoroutineScope) -> Fut,
    Fut: Future<Output = ()>,
{
    let pool = new_fixed_thread_pool_context(2, "task-drops-pool");
    let pool_ref = &pool;
    run_blocking(|scope| async move {
        let quiet = CoroutineExceptionHandler::new(|_, _| {});
        let supervisor = CoroutineScope::new(SupervisorJob::new() + quiet);
        for (name, dispatcher) in dispatchers(&scope, pool_ref) {
            scenario(name, dispatcher, supervisor.clone()).await;
        }
    })
    .unwrap();
    pool.close();
}

/// Asserts that `job` ended failed with a panic whose message contains `message`.
fn assert_failed_with(name: &str, job: &Job, message: &str) {
    let error = job.completion_error();
    assert!(
        error
            .as_ref()
            .is_some_and(|e| e.is_failure() && e.to_string().contains(message)),
        "{name}: {:?} / {error:?}",
        job.state()
    );
}

#[test]
fn finding_05_value_returned_after_cancellation_whose_drop_panics_fails_the_job() {
    on_every_dispatcher(|name, dispatcher, scope| async move {
        let deferred = scope.async_with(dispatcher, CoroutineStart::Default, |_| async {
            // Cancelled, and then returns without suspending: the value is discarded.
            current_job().expect("in a coroutine").cancel();
            PanicOnDrop("late value")
        });
        let job = deferred.job().clone();
        join_all(&name, vec![job.clone()]).await;
        assert_failed_with(&name, &job, "late value");
    });
}

/// Ready at once with a value whose destructor panics, and panics in its own destructor.
struct BothPanic;

impl Future for BothPanic {
    type Output = PanicOnDrop;

    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<PanicOnDrop> {
        Poll::Ready(PanicOnDrop("value"))
    }
}

impl Drop for BothPanic {
    fn drop(&mut self) {
        panic!("future");
    }
}

#[test]
fn finding_05_value_of_a_future_whose_drop_panics_is_dropped_inside_catch_unwind() {
    on_every_dispatcher(|name, dispatcher, scope| async move {
        let deferred = scope.async_with(dispatcher, CoroutineStart::Default, |_| BothPanic);
        let job = deferred.job().clone();
        join_all(&name, vec![job.clone()]).await;
        // The future's destructor panicked first: its failure wins.
        assert_failed_with(&name, &job, "future");
    });
}

#[test]
fn finding_05_unread_output_whose_drop_panics_goes_to_the_exception_handler() {
    on_every_dispatcher(|name, dispatcher, scope| async move {
        let handled: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = handled.clone();
        let handler = CoroutineExceptionHandler::new(move |_, error| {
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(error.to_string());
        });
        let deferred = scope.async_with(dispatcher + handler, CoroutineStart::Default, |_| async {
            PanicOnDrop("unread output")
        });
        let job = deferred.job().clone();
        join_all(&name, vec![job.clone()]).await;
        assert!(job.completion_error().is_none(), "{name}");
        // The last reference to the task goes here or on the thread that ran it.
        let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(deferred)));
        assert!(
            dropped.is_ok(),
            "{name}: the output's panic unwound into the caller"
        );
        drop(job);
        let reported = eventually(|| {
            let handled = handled.lock().unwrap_or_else(PoisonError::into_inner);
            handled.iter().any(|line| line.contains("unread output"))
        })
        .await;
        assert!(reported, "{name}: never reported ({SOON:?})");
    });
}

#[test]
fn finding_05_value_returned_by_a_cancelled_scope_block_whose_drop_panics_fails_the_scope() {
    on_every_dispatcher(|name, dispatcher, scope| async move {
        let job = scope.launch_with(dispatcher, CoroutineStart::Default, |_| async {
            let outcome = coroutine_scope(|_| async {
                // The scope job is cancelled, and the block returns without suspending: its
                // value is discarded.
                current_job().expect("in a scope").cancel();
                PanicOnDrop("late scope value")
            })
            .await;
            let error = outcome.err().expect("the scope failed");
            assert!(error.to_string().contains("late scope value"), "{error}");
        });
        join_all(&name, vec![job.clone()]).await;
        assert!(
            job.completion_error().is_none(),
            "{name}: {:?}",
            job.completion_error()
        );
    });
}
