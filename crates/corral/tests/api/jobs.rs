//! API contract: Jobs.

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use corral::prelude::*;

use crate::helpers::*;

#[test]
fn job_new_complete_and_states() {
    let job = Job::new();
    assert!(job.is_active() && !job.is_completed() && !job.is_cancelled());
    assert_eq!(job.parent(), None);
    assert!(!job.start(), "Job::new() is already active");
    let rx = outcome(&job);
    assert!(job.complete());
    assert!(!job.complete(), "second complete");
    assert!(job.is_completed() && !job.is_cancelled() && !job.is_active());
    assert!(rx.try_recv().unwrap().is_none(), "handler ran with None");

    let cancelled = Job::new();
    cancelled.cancel();
    cancelled.cancel(); // idempotent
    assert!(cancelled.is_cancelled() && cancelled.is_completed() && !cancelled.is_active());
    assert!(!cancelled.complete());
}

#[test]
fn job_new_child_tree_cancellation_flows_down_not_up() {
    let root = Job::new();
    let child = Job::new_child(&root);
    let grandchild = Job::new_child(&child);
    let other = Job::new_child(&root);
    assert_eq!(child.parent(), Some(root.clone()));
    assert_eq!(grandchild.parent(), Some(child.clone()));
    let children = root.children();
    assert_eq!(children.len(), 2);
    assert!(children.contains(&child) && children.contains(&other));

    // A cancelled child never cancels its parent.
    other.cancel();
    assert!(other.is_cancelled());
    assert!(root.is_active());
    assert_eq!(root.children(), vec![child.clone()]);

    // A parent completes only after its children.
    assert!(root.complete());
    assert!(
        root.is_active() && !root.is_completed(),
        "Completing: waits for children"
    );
    // Cancelling flows down, recursively.
    child.cancel();
    assert!(grandchild.is_cancelled() && grandchild.is_completed());
    assert!(child.is_completed());
    assert!(root.is_completed() && !root.is_cancelled());

    let root = Job::new();
    let child = Job::new_child(&root);
    let grandchild = Job::new_child(&child);
    root.cancel();
    assert!(child.is_cancelled() && grandchild.is_cancelled());
}

#[test]
fn job_complete_is_false_for_coroutines() {
    run_blocking(|scope| async move {
        let job = scope.launch(|_| async { delay(ms(10)).await });
        assert!(!job.complete());
        assert!(job.is_active());
        job.join().await;
        assert!(job.is_completed() && !job.is_cancelled());
    })
    .unwrap();
}

#[test]
fn job_join_waits_for_children_and_never_errors() {
    run_blocking(|scope| async move {
        // join of a plain job waits for complete() and for its children.
        let job = Job::new();
        let child = Job::new_child(&job);
        let (j, c) = (job.clone(), child.clone());
        scope.launch(move |_| async move {
            delay(ms(10)).await;
            j.complete();
            delay(ms(10)).await;
            c.complete();
        });
        job.join().await;
        assert!(job.is_completed() && child.is_completed());

        // join of a failed coroutine returns normally.
        let recorder = Recorder::default();
        let failing =
            GlobalScope::launch_with(recorder.handler(), CoroutineStart::Default, |_| async {
                panic::panic_any("join me")
            });
        failing.join().await;
        assert!(failing.is_cancelled() && failing.is_completed());

        // cancel_and_join: cancelled, and its destructors have run when it returns.
        let dropped = flag();
        let d = dropped.clone();
        let looping = scope.launch_with(
            Dispatchers::default(),
            CoroutineStart::Default,
            |_| async move {
                let _guard = SetOnDrop(d);
                loop {
                    delay(ms(1)).await;
                }
            },
        );
        delay(ms(5)).await;
        looping.cancel_and_join().await;
        assert!(looping.is_cancelled() && looping.is_completed());
        assert!(dropped.load(Ordering::SeqCst));
    })
    .unwrap();
}

#[test]
fn invoke_on_completion_runs_once_with_the_outcome() {
    // Normal completion: None.
    let job = Job::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let (tx, rx) = mpsc::channel();
    let _handle = job.invoke_on_completion(move |error| {
        c.fetch_add(1, Ordering::SeqCst);
        tx.send(error.map(JobError::to_string)).unwrap();
    });
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    job.complete();
    job.cancel(); // after completion: no second call
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(rx.try_recv().unwrap(), None);

    // Registered after completion: runs at once, on the calling thread.
    let here = thread::current().id();
    let ran_on: Arc<Mutex<Option<thread::ThreadId>>> = Arc::default();
    let r = ran_on.clone();
    let _handle: CompletionHandle = job.invoke_on_completion(move |error| {
        assert!(error.is_none());
        *r.lock().unwrap() = Some(thread::current().id());
    });
    assert_eq!(*ran_on.lock().unwrap(), Some(here));

    // Cancellation: Some(cancelled error).
    let job = Job::new();
    let rx = outcome(&job);
    job.cancel();
    assert!(rx.try_recv().unwrap().is_some_and(|e| e.is_cancelled()));

    // A failed coroutine: Some(failure) with the panic message.
    let recorder = Recorder::default();
    let failing = GlobalScope::launch_with(recorder.handler(), CoroutineStart::Lazy, |_| async {
        panic::panic_any("handler sees this")
    });
    let rx = outcome(&failing);
    failing.start();
    let err = rx.recv_timeout(SOON).unwrap().expect("a failure");
    assert!(err.is_failure() && err.to_string().contains("handler sees this"));

    // Dropping a CompletionHandle keeps the handler registered.
    let job = Job::new();
    let called = flag();
    let c = called.clone();
    drop(job.invoke_on_completion(move |_| c.store(true, Ordering::SeqCst)));
    job.complete();
    assert!(called.load(Ordering::SeqCst));
}

#[test]
fn job_equality_is_identity_and_clone_is_the_same_job() {
    let a = Job::new();
    let b = Job::new();
    let a2 = a.clone();
    assert!(a == a2);
    assert!(a != b);
    a2.cancel();
    assert!(a.is_cancelled(), "a clone is a handle to the same job");
    assert!(!b.is_cancelled());
}

#[test]
fn dropping_handles_never_cancels() {
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    drop(GlobalScope::launch(move |_| async move {
        delay(ms(20)).await;
        tx.send("launch survived").unwrap();
    }));
    drop(GlobalScope::async_(move |_| async move {
        delay(ms(20)).await;
        tx2.send("async survived").unwrap();
    }));
    let mut got = vec![
        rx.recv_timeout(SOON).unwrap(),
        rx.recv_timeout(SOON).unwrap(),
    ];
    got.sort_unstable();
    assert_eq!(got, ["async survived", "launch survived"]);

    // Dropping a Job::new() handle does not cancel the children attached to it either.
    let scope_job = Job::new();
    let scope = CoroutineScope::new(scope_job.clone());
    let child = scope.async_(|_| async {
        delay(ms(10)).await;
        1
    });
    drop(scope_job);
    drop(scope);
    assert_eq!(run_blocking(|_| child).unwrap().unwrap(), 1);
}

#[test]
fn supervisor_job_new_and_child_of() {
    let recorder = Recorder::default();
    let supervisor = SupervisorJob::new();
    assert_eq!(supervisor.parent(), None);
    let scope = CoroutineScope::new(supervisor.clone() + recorder.handler());
    let survivor = scope.async_(|_| async {
        delay(ms(20)).await;
        "survived"
    });
    let failing = scope.launch(|_| async { panic::panic_any("supervised") });
    let value = run_blocking(|_| async move {
        failing.join().await;
        assert!(failing.is_cancelled());
        survivor.await
    })
    .unwrap();
    assert_eq!(value.unwrap(), "survived");
    assert!(supervisor.is_active());
    assert_eq!(recorder.wait_for(1).len(), 1);
    assert_eq!(recorder.messages(), ["supervised"]);

    // child_of: attached to its parent, cancelled with it, and completable.
    let parent = Job::new();
    let sup_child = SupervisorJob::child_of(&parent);
    assert_eq!(sup_child.parent(), Some(parent.clone()));
    assert_eq!(parent.children(), vec![sup_child.clone()]);
    assert!(sup_child.complete());
    assert!(sup_child.is_completed());

    let sup_child = SupervisorJob::child_of(&parent);
    parent.cancel();
    assert!(sup_child.is_cancelled());
}
