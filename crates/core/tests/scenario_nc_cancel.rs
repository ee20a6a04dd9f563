//! CANCEL scenarios (ported from kotlinx.coroutines' own tests; index in docs/conformance.md):
//! prompt cancellation of `await` and `join`, and what stays of `suspendCancellableCoroutine`'s
//! rules in Rust (a pending future woken by hand; completion handlers that panic). The NC scenarios
//! need `with_context` and are in `crates/corral/tests/scenario_struct_exc.rs`.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use corral_core::{yield_now, CoroutineStart, Job};
use corral_test_support::{run_blocking, run_blocking_with, Finally, Recorder, Steps};

/// A suspension resumed by hand (kotlinx `suspendCancellableCoroutine { cont = it }`):
/// pending until [`HandWoken::resume`] sets the value and wakes the stored waker.
#[derive(Clone, Default)]
struct HandWoken {
    inner: Arc<Mutex<(Option<&'static str>, Option<Waker>)>>,
}

impl HandWoken {
    /// Sets the value and wakes the waiter (if one registered). Returns whether a waker was
    /// there to wake.
    fn resume(&self, value: &'static str) -> bool {
        let waker = {
            let mut inner = self.inner.lock().unwrap();
            inner.0 = Some(value);
            inner.1.take()
        };
        match waker {
            Some(waker) => {
                waker.wake();
                true
            }
            None => false,
        }
    }

    /// Wakes the last registered waker again without taking it (a stale or double resume).
    fn wake_again(&self) {
        let waker = self.inner.lock().unwrap().1.clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Future for HandWoken {
    type Output = &'static str;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<&'static str> {
        let mut inner = self.inner.lock().unwrap();
        match inner.0.take() {
            Some(value) => Poll::Ready(value),
            None => {
                inner.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// CANCEL-01: prompt cancellation of `await`: the awaited value arrived (the waiter was
/// enqueued) but the waiter was cancelled before it ran, so the value is dropped and the
/// await does not return; its `finally` runs (7).
#[test]
fn cancel_01_prompt_cancellation_of_await() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s4 = s.clone();
            let deferred = scope.async_(move |_| async move {
                s4.expect(4);
                "OK"
            });
            let deferred_job = deferred.job().clone();
            let slot: Arc<Mutex<Option<Job>>> = Arc::default();
            let (s5, slot5) = (s.clone(), slot.clone());
            scope.launch(move |_| async move {
                s5.expect(5);
                assert!(deferred_job.is_completed());
                slot5.lock().unwrap().clone().expect("job created").cancel();
            });
            let s2 = s.clone();
            let job = scope.launch_with((), CoroutineStart::Undispatched, move |_| async move {
                s2.expect(2);
                let s7 = s2.clone();
                let _finally = Finally(move || s7.finish(7));
                let _value = deferred.await;
                s2.unreached();
            });
            *slot.lock().unwrap() = Some(job.clone());
            s.expect(3);
            yield_now().await;
            s.expect(6);
            assert!(job.is_cancelled() && !job.is_completed());
        }
    })
    .unwrap();
    s.assert_finished(7);
}

/// CANCEL-02: prompt cancellation of `join`: the joined job completed normally before the
/// canceller ran, yet the cancelled joiner's `join` does not return.
#[test]
fn cancel_02_prompt_cancellation_of_join() {
    let s = Steps::new();
    let job = run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            let s4 = s.clone();
            let job_to_join = scope.launch(move |_| async move { s4.expect(4) });
            let slot: Arc<Mutex<Option<Job>>> = Arc::default();
            let (s5, slot5, joined) = (s.clone(), slot.clone(), job_to_join.clone());
            scope.launch(move |_| async move {
                s5.expect(5);
                assert!(joined.is_completed() && !joined.is_cancelled());
                slot5.lock().unwrap().clone().expect("job created").cancel();
            });
            let s2 = s.clone();
            let job = scope.launch_with((), CoroutineStart::Undispatched, move |_| async move {
                s2.expect(2);
                let s7 = s2.clone();
                let _finally = Finally(move || s7.finish(7));
                job_to_join.join().await;
                s2.unreached();
            });
            *slot.lock().unwrap() = Some(job.clone());
            s.expect(3);
            yield_now().await;
            s.expect(6);
            job
        }
    })
    .unwrap();
    s.assert_finished(7);
    assert!(job.completion_error().unwrap().is_cancelled());
}

/// CANCEL-03 (a), Rust shape: a hand-woken suspension resumes with its value. (A second
/// resume is not an error in Rust: a waker may be woken any number of times; here the extra
/// wake of a completed coroutine has no effect.)
#[test]
fn cancel_03a_hand_woken_resume() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let cont = HandWoken::default();
            let (s2, c2) = (s.clone(), cont.clone());
            let job = scope.launch(move |_| async move {
                s2.expect(2);
                assert_eq!(c2.await, "OK");
                s2.expect(3);
            });
            s.expect(1);
            yield_now().await;
            assert!(cont.resume("OK"));
            yield_now().await;
            assert!(job.is_completed() && !job.is_cancelled());
            cont.wake_again(); // no effect on a completed coroutine
            job.join().await;
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// CANCEL-03 (b), Rust shape: a coroutine cancelled while suspended on a hand-woken future is
/// dropped there (3); resuming it afterwards is silently ignored (it is never polled again).
#[test]
fn cancel_03b_resume_after_cancellation_is_ignored() {
    let s = Steps::new();
    run_blocking({
        let s = s.clone();
        move |scope| async move {
            let cont = HandWoken::default();
            let (s2, c2) = (s.clone(), cont.clone());
            let job = scope.launch(move |_| async move {
                s2.expect(2);
                let s3 = s2.clone();
                let _finally = Finally(move || s3.expect(3));
                let _value = c2.await;
                s2.unreached();
            });
            s.expect(1);
            yield_now().await;
            job.cancel();
            yield_now().await;
            assert!(job.is_completed() && job.is_cancelled());
            // The future was dropped with its waker registered: resume and wake it anyway.
            assert!(cont.resume("late"));
            cont.wake_again();
            yield_now().await;
            assert!(job.completion_error().unwrap().is_cancelled());
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
}

/// CANCEL-03 (d), Rust shape: a completion handler of a coroutine that panics does not change
/// how the coroutine ended (cancelled) nor disturb the canceller; the panic is reported to the
/// coroutine's exception handler, once (kotlinx wraps it in CompletionHandlerException; corral
/// reports the panic's failure itself). Later handlers still run.
#[test]
fn cancel_03d_completion_handler_failure_is_reported() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        let recorder = recorder.clone();
        move |scope| async move {
            let s1 = s.clone();
            let job = scope.launch(move |_| async move {
                s1.expect(1);
                corral_test_support::forever().await;
            });
            let _ = job.invoke_on_completion(|_| panic!("AssertionError"));
            let s3 = s.clone();
            let _ = job.invoke_on_completion(move |error| {
                assert!(error.unwrap().is_cancelled());
                s3.expect(3);
            });
            yield_now().await;
            s.expect(2);
            job.cancel();
            job.join().await;
            assert!(job.completion_error().unwrap().is_cancelled());
            assert_eq!(recorder.messages(), vec!["AssertionError"]);
            s.finish(4);
        }
    })
    .unwrap();
    s.assert_finished(4);
    let errors = recorder.errors.lock().unwrap();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].is_failure());
}

/// CANCEL-03 (d) for a plain `Job()`: a panicking completion handler is raised to whoever
/// cancelled the job (kotlinx: `cancel()` throws CompletionHandlerException), after every
/// handler ran; the job is cancelled all the same.
#[test]
fn cancel_03d_plain_job_handler_failure_reaches_canceller() {
    let job = Job::new();
    let _ = job.invoke_on_completion(|_| panic!("AssertionError"));
    let second = Arc::new(Mutex::new(false));
    let second2 = second.clone();
    let _ = job.invoke_on_completion(move |error| {
        assert!(error.unwrap().is_cancelled());
        *second2.lock().unwrap() = true;
    });
    let raised = panic::catch_unwind(AssertUnwindSafe(|| job.cancel())).unwrap_err();
    assert_eq!(raised.downcast_ref::<&str>(), Some(&"AssertionError"));
    assert!(*second.lock().unwrap(), "the next handler still ran");
    assert!(job.is_cancelled() && job.is_completed());
    assert!(job.completion_error().unwrap().is_cancelled());
}
