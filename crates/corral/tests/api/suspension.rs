//! API contract: Suspension points and the current coroutine.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use corral::prelude::*;

use crate::helpers::*;

#[test]
fn delay_waits_and_zero_does_not_suspend() {
    run_blocking(|scope| async move {
        let start = Instant::now();
        delay(ms(30)).await;
        assert!(start.elapsed() >= ms(30));

        let ran = flag();
        let r = ran.clone();
        scope.launch(move |_| async move { r.store(true, Ordering::SeqCst) });
        delay(Duration::ZERO).await;
        assert!(!ran.load(Ordering::SeqCst), "delay(0) suspended");
        yield_now().await;
        assert!(
            ran.load(Ordering::SeqCst),
            "yield_now let the queued child run"
        );
    })
    .unwrap();
}

#[test]
fn delay_max_waits_until_cancelled() {
    run_blocking(|scope| async move {
        let job = scope.launch(|_| async { delay(Duration::MAX).await });
        delay(ms(20)).await;
        assert!(job.is_active());
        job.cancel_and_join().await;
        assert!(job.is_cancelled() && job.is_completed());
    })
    .unwrap();
}

#[test]
fn yield_now_checks_cancellation() {
    run_blocking(|scope| async move {
        let out = log();
        let o = out.clone();
        let job = scope.launch(move |inner| async move {
            say(&o, "before");
            inner.cancel();
            assert!(!is_active());
            yield_now().await;
            say(&o, "after");
        });
        job.join().await;
        assert_eq!(lines(&out), ["before"]);
    })
    .unwrap();
}

#[test]
fn current_coroutine_functions() {
    // Outside a coroutine.
    assert!(is_active());
    assert!(ensure_active().is_ok());
    assert!(current_job().is_none());

    run_blocking(|scope| async move {
        assert_eq!(current_job(), Some(scope.job()));
        assert!(is_active() && ensure_active().is_ok());

        /// (current_job(), is_active(), ensure_active().err()) as seen inside.
        type Seen = (Option<Job>, bool, Option<JobError>);
        let seen: Shared<Option<Seen>> = Arc::default();
        let s = seen.clone();
        let job = scope.launch_with(
            NonCancellable,
            CoroutineStart::Default,
            move |_| async move {
                let me = current_job();
                me.as_ref().unwrap().cancel();
                *s.lock().unwrap() = Some((me, is_active(), ensure_active().err()));
            },
        );
        job.join().await;
        let (me, active, error) = seen.lock().unwrap().take().unwrap();
        assert_eq!(me, Some(job));
        assert!(!active);
        assert!(error.is_some_and(|e| e.is_cancelled()));

        // A CPU loop polling is_active() stops when cancelled from outside.
        let iterations = Arc::new(AtomicUsize::new(0));
        let it = iterations.clone();
        let cpu = scope.launch_with(
            Dispatchers::default(),
            CoroutineStart::Default,
            |_| async move {
                while is_active() {
                    it.fetch_add(1, Ordering::SeqCst);
                    thread::yield_now();
                }
            },
        );
        while iterations.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        cpu.cancel_and_join().await;
        assert!(cpu.is_completed());
    })
    .unwrap();
}
