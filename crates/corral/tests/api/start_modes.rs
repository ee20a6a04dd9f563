//! API contract: Start modes.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread;

use corral::prelude::*;

use crate::helpers::*;

#[test]
fn start_default_cancelled_before_it_runs_never_runs() {
    run_blocking(|scope| async move {
        let ran = flag();
        let r = ran.clone();
        let job = scope.launch(move |_| async move { r.store(true, Ordering::SeqCst) });
        assert!(!job.start(), "a Default coroutine is already started");
        job.cancel();
        job.join().await;
        assert!(!ran.load(Ordering::SeqCst));
        assert!(job.is_cancelled() && job.is_completed());
    })
    .unwrap();
}

#[test]
fn start_lazy_waits_for_start_and_cancelled_while_new_never_runs() {
    run_blocking(|scope| async move {
        let ran = flag();
        let r = ran.clone();
        let job = scope.launch_with(Context::new(), CoroutineStart::Lazy, move |_| async move {
            r.store(true, Ordering::SeqCst)
        });
        yield_now().await;
        assert!(!ran.load(Ordering::SeqCst));
        assert!(
            !job.is_active() && !job.is_completed() && !job.is_cancelled(),
            "New"
        );
        assert!(job.start());
        assert!(!job.start(), "second start");
        assert!(job.is_active());
        job.join().await;
        assert!(ran.load(Ordering::SeqCst));

        let ran = flag();
        let r = ran.clone();
        let job = scope.launch_with(Context::new(), CoroutineStart::Lazy, move |_| async move {
            r.store(true, Ordering::SeqCst)
        });
        job.cancel();
        assert!(
            job.is_cancelled() && job.is_completed(),
            "completes at once"
        );
        assert!(!job.start());
        job.join().await;
        assert!(!ran.load(Ordering::SeqCst));
    })
    .unwrap();
}

#[test]
fn start_atomic_runs_until_its_first_suspension_even_if_cancelled() {
    run_blocking(|scope| async move {
        let out = log();
        let o = out.clone();
        let job = scope.launch_with(
            Context::new(),
            CoroutineStart::Atomic,
            move |_| async move {
                say(&o, "before suspension");
                yield_now().await;
                say(&o, "after suspension");
            },
        );
        job.cancel();
        job.join().await;
        assert_eq!(lines(&out), ["before suspension"]);
        assert!(job.is_cancelled());
    })
    .unwrap();
}

#[test]
fn start_undispatched_runs_inline_then_resumes_on_its_dispatcher() {
    run_blocking(|scope| async move {
        let caller = thread::current().id();
        let out: Shared<Vec<(&str, thread::ThreadId, String)>> = Arc::default();
        let o = out.clone();
        let job = scope.launch_with(
            Dispatchers::default(),
            CoroutineStart::Undispatched,
            move |_| async move {
                o.lock()
                    .unwrap()
                    .push(("first", thread::current().id(), thread_name()));
                delay(ms(5)).await;
                o.lock()
                    .unwrap()
                    .push(("resumed", thread::current().id(), thread_name()));
            },
        );
        // The first part already ran, inline, before launch_with returned.
        {
            let out = out.lock().unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].0, "first");
            assert_eq!(out[0].1, caller);
        }
        job.join().await;
        let out = out.lock().unwrap();
        assert_eq!(out[1].0, "resumed");
        assert!(is_default_worker(&out[1].2), "{}", out[1].2);
    })
    .unwrap();
}

#[test]
fn unconfined_default_start_runs_in_place() {
    run_blocking(|scope| async move {
        let caller = thread::current().id();
        let seen: Arc<Mutex<Option<thread::ThreadId>>> = Arc::default();
        let s = seen.clone();
        let job = scope.launch_with(
            Dispatchers::unconfined(),
            CoroutineStart::Default,
            |_| async move { *s.lock().unwrap() = Some(thread::current().id()) },
        );
        assert_eq!(
            *seen.lock().unwrap(),
            Some(caller),
            "ran before launch returned"
        );
        job.join().await;
        assert!(job.is_completed());
    })
    .unwrap();
}
