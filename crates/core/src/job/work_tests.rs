//! The order of the job machinery's work stack ([`super::work`]): it must be the order of the
//! recursive calls it replaced (kotlinx `notifyCancelling`: children first, then the
//! on-cancelling handlers, then the parent; completion entries, then the parent), and one
//! panicking handler must not leave the rest of a cancellation undone.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use crate::error::JobError;
use crate::job::Job;

type Log = Arc<Mutex<Vec<String>>>;

/// Logs `name` when `job` starts cancelling and `done:name` when it is final.
fn watch(job: &Job, name: &str, log: &Log) {
    let (cancelling, done) = (log.clone(), log.clone());
    let (name_c, name_d) = (name.to_owned(), format!("done:{name}"));
    let _ = job.invoke_on_cancelling(move |_| cancelling.lock().unwrap().push(name_c));
    let _ = job.invoke_on_completion(move |_| done.lock().unwrap().push(name_d));
}

fn taken(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// Cancelling a tree: each subtree is cancelled (and, for plain jobs, completed) before the
/// handlers of its root run, and siblings go in attachment order.
#[test]
fn cancellation_runs_children_first_then_handlers_then_parent() {
    let log = Log::default();
    let root = Job::new();
    let a = Job::new_child(&root);
    let a1 = Job::new_child(&a);
    let a2 = Job::new_child(&a);
    let b = Job::new_child(&root);
    for (job, name) in [
        (&root, "root"),
        (&a, "a"),
        (&a1, "a1"),
        (&a2, "a2"),
        (&b, "b"),
    ] {
        watch(job, name, &log);
    }
    root.cancel();
    assert_eq!(
        taken(&log),
        [
            "a1",
            "done:a1",
            "a2",
            "done:a2",
            "a",
            "done:a",
            "b",
            "done:b",
            "root",
            "done:root"
        ]
    );
}

/// A failure at the leaf: every ancestor starts cancelling on the way up before the leaf
/// completes, and then the completions go up in order.
#[test]
fn failure_cancels_ancestors_before_completions_go_up() {
    let log = Log::default();
    let root = Job::new();
    let mid = Job::new_child(&root);
    let leaf = Job::new_child(&mid);
    for (job, name) in [(&root, "root"), (&mid, "mid"), (&leaf, "leaf")] {
        watch(job, name, &log);
    }
    assert!(leaf.complete_exceptionally(JobError::failure("leaf failed")));
    assert_eq!(
        taken(&log),
        ["leaf", "mid", "root", "done:leaf", "done:mid", "done:root"]
    );
    assert!(root.completion_error().is_some_and(|e| e.is_failure()));
}

/// A completion handler that panics while a parent is cancelled does not stop the
/// cancellation of the siblings after it, nor the parent's completion.
#[test]
fn a_panicking_handler_does_not_stop_the_rest_of_a_cancellation() {
    let root = Job::new();
    let first = Job::new_child(&root);
    let second = Job::new_child(&root);
    let _ = first.invoke_on_completion(|_| panic!("handler panics"));
    let _ = panic::catch_unwind(AssertUnwindSafe(|| root.cancel()));
    assert!(second.is_completed() && second.is_cancelled());
    assert!(root.is_completed() && root.is_cancelled());
}

/// A handler that cancels another tree while a cancellation runs: that cancellation is done
/// when `cancel` returns to the handler, as it would be anywhere else.
#[test]
fn a_cancel_inside_a_handler_is_complete_when_it_returns() {
    let root = Job::new();
    let child = Job::new_child(&root);
    let other = Job::new();
    let other_child = Job::new_child(&other);
    let seen = Arc::new(Mutex::new(None));
    {
        let (other, other_child, seen) = (other.clone(), other_child.clone(), seen.clone());
        let _ = child.invoke_on_cancelling(move |_| {
            other.cancel();
            *seen.lock().unwrap() = Some(other_child.is_completed() && other.is_completed());
        });
    }
    root.cancel();
    assert_eq!(*seen.lock().unwrap(), Some(true));
}

/// The plain completion path (`JobCore::finish_plain`, no entry, no child, never cancelled)
/// must still tell the parent at once, and must not be taken by a job that has an entry to
/// run: a chain of completed links ends only with its last child, its handlers run then, and
/// an unjoined link without handlers finalizes by the short path in between.
#[test]
fn plain_completions_tell_the_parent_and_leave_entries_to_the_full_path() {
    let log = Log::default();
    let root = Job::new();
    let watched = Job::new_child(&root);
    let plain = Job::new_child(&watched);
    let leaf = Job::new_child(&plain);
    let done = log.clone();
    let _ = watched.invoke_on_completion(move |error| {
        assert!(error.is_none());
        done.lock().unwrap().push("done:watched".to_owned());
    });
    assert!(watched.complete() && plain.complete());
    // Bodies done, children left: Completing, still active.
    assert!(watched.is_active() && plain.is_active() && !plain.is_completed());
    assert!(taken(&log).is_empty());
    // The leaf's plain completion finalizes `plain` (plain again), which finalizes `watched`
    // (its handler runs); `root`, whose body is not done, stays active.
    assert!(leaf.complete());
    assert!(leaf.is_completed() && plain.is_completed() && watched.is_completed());
    assert!(!leaf.is_cancelled() && !plain.is_cancelled() && !watched.is_cancelled());
    assert_eq!(taken(&log), ["done:watched"]);
    assert!(root.is_active() && root.children().is_empty());
    assert!(root.complete() && root.is_completed() && !root.is_cancelled());
    // A plainly completed job has no final error.
    assert!(leaf.core().final_error().is_none());
}
