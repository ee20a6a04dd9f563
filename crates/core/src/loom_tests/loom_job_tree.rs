//! Loom models of the job tree ([`crate::job::state_machine`]): attaching a child racing the parent's
//! cancellation or its completion, a joiner racing completion, and a child completing racing the parent's
//! completion (finalization happens exactly once, after the last child).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Wake, Waker};

use loom::thread;

use crate::job::state_machine::CompletionEntry;
use crate::job::Job;

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A child attached while its parent is being cancelled always ends up cancelled, and the
/// parent completes only after it.
#[test]
fn loom_attach_racing_cancel() {
    loom::model(|| {
        let parent = Job::new();
        let canceller = {
            let parent = parent.clone();
            thread::spawn(move || parent.cancel())
        };
        let child = Job::new_child(&parent);
        canceller.join().unwrap();
        assert!(child.is_cancelled(), "{child:?}");
        // The child has no children and was cancelled: it is final, so the parent is too.
        assert!(child.is_completed());
        assert!(parent.is_completed() && parent.is_cancelled());
    });
}

/// A child attached while its parent completes on another thread: either the parent refuses
/// it (the parent was final first; the child is cancelled and the parent handle the attach
/// moved into the child's link is given back and released) or the parent waits for it and
/// completes only after it.
#[test]
fn loom_attach_racing_parent_completion() {
    loom::model(|| {
        let parent = Job::new();
        let completer = {
            let parent = parent.clone();
            thread::spawn(move || assert!(parent.complete()))
        };
        let child = Job::new_child(&parent);
        completer.join().unwrap();
        if child.is_cancelled() {
            // Refused: the parent was already final and no longer counts the child.
            assert!(child.is_completed() && parent.is_completed());
            assert!(child.core().parent().is_none());
        } else {
            assert!(!parent.is_completed(), "completed before its child");
            assert!(child.complete());
            assert!(parent.is_completed() && !parent.is_cancelled());
        }
    });
}

/// A joiner registering while the job completes is either refused (job final) or woken.
#[test]
fn loom_join_racing_completion() {
    loom::model(|| {
        let job = Job::new();
        let completer = {
            let job = job.clone();
            thread::spawn(move || assert!(job.complete()))
        };
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        let registered = job
            .core()
            .register(CompletionEntry::Waker(Waker::from(flag.clone())))
            .is_ok();
        completer.join().unwrap();
        assert!(job.is_completed());
        if registered {
            assert!(
                flag.0.load(Ordering::SeqCst),
                "a registered joiner was not woken"
            );
        }
    });
}

/// The parent completes while its last child completes on another thread: the parent's
/// completion handler runs exactly once, after both.
#[test]
fn loom_child_completion_racing_parent_completion() {
    loom::model(|| {
        let parent = Job::new();
        let child = Job::new_child(&parent);
        let runs = std::sync::Arc::new(AtomicUsize::new(0));
        {
            let runs = runs.clone();
            let _handle = parent.invoke_on_completion(move |error| {
                assert!(error.is_none());
                runs.fetch_add(1, Ordering::SeqCst);
            });
        }
        let completer = {
            let child = child.clone();
            thread::spawn(move || assert!(child.complete()))
        };
        assert!(parent.complete());
        completer.join().unwrap();
        assert!(parent.is_completed() && !parent.is_cancelled());
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(parent.children().is_empty());
    });
}

/// A cancellation walking down a chain (root, middle, leaf) while the leaf completes on
/// another thread and its completion walks up: both go through the work stack of their own
/// call, and every job ends final exactly once, the root cancelled.
#[test]
fn loom_cancel_down_racing_completion_up() {
    loom::model(|| {
        let root = Job::new();
        let middle = Job::new_child(&root);
        let leaf = Job::new_child(&middle);
        assert!(middle.complete());
        let runs = std::sync::Arc::new(AtomicUsize::new(0));
        {
            let runs = runs.clone();
            let _handle = root.invoke_on_completion(move |error| {
                assert!(error.is_some_and(|error| !error.is_failure()));
                runs.fetch_add(1, Ordering::SeqCst);
            });
        }
        let completer = {
            let leaf = leaf.clone();
            thread::spawn(move || {
                leaf.complete();
            })
        };
        root.cancel();
        completer.join().unwrap();
        assert!(leaf.is_completed() && middle.is_completed());
        assert!(root.is_completed() && root.is_cancelled());
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    });
}
