//! Loom models of the task state word ([`crate::task::state`]): a wake during a poll is never
//! lost nor run concurrently, and nothing is dispatched after completion.

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use crate::task::state::{EndRun, StartRun, TaskState, WakeAction, SCHEDULED};

/// A wake racing a poll: either the poll saw the waker's data, or the wake made another run
/// owed (by dispatching itself, or by making the runner re-dispatch).
#[test]
fn loom_wake_during_poll_is_not_lost() {
    loom::model(|| {
        let state = Arc::new(TaskState::new(SCHEDULED));
        let data = Arc::new(AtomicUsize::new(0));

        let waker = {
            let (state, data) = (state.clone(), data.clone());
            thread::spawn(move || {
                data.store(1, Ordering::Relaxed);
                state.wake() == WakeAction::Dispatch
            })
        };

        let StartRun::Run { .. } = state.start_run() else {
            panic!("the first run must start");
        };
        let observed = data.load(Ordering::Relaxed);
        let runner_redispatch = matches!(state.end_run(false), EndRun::Dispatch { .. });
        let waker_dispatch = waker.join().unwrap();

        assert!(
            !(runner_redispatch && waker_dispatch),
            "two runs owed for one wake"
        );
        if observed == 0 {
            assert!(
                runner_redispatch || waker_dispatch,
                "the wake was lost: the poll did not see it and no run is owed"
            );
        }
        if runner_redispatch || waker_dispatch {
            // The owed run can start and sees the data.
            let StartRun::Run { .. } = state.start_run() else {
                panic!("the owed run must start");
            };
            assert_eq!(data.load(Ordering::Relaxed), 1);
        }
    });
}

/// Two wakers racing an idle task: exactly one of them dispatches it.
#[test]
fn loom_concurrent_wakes_dispatch_once() {
    loom::model(|| {
        let state = Arc::new(TaskState::new(0));
        let other = {
            let state = state.clone();
            thread::spawn(move || state.wake() == WakeAction::Dispatch)
        };
        let mine = state.wake() == WakeAction::Dispatch;
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "exactly one waker dispatches");
    });
}

/// A wake racing completion: once the runner completed the task, no wake dispatches it, and
/// a wake that landed before completion made no second run owed either (the runner holds
/// RUNNING until it completes).
#[test]
fn loom_wake_racing_completion_never_dispatches() {
    loom::model(|| {
        let state = Arc::new(TaskState::new(SCHEDULED));
        let waker = {
            let state = state.clone();
            thread::spawn(move || state.wake())
        };
        let StartRun::Run { .. } = state.start_run() else {
            panic!("the first run must start");
        };
        state.complete();
        assert_eq!(waker.join().unwrap(), WakeAction::None);
        assert_eq!(state.start_run(), StartRun::Complete);
    });
}

/// `yield_now` with the task's own waker, made by `end_run(true)` when the poll returns,
/// racing a wake from another thread: the runner re-dispatches fairly, the other wake never
/// dispatches a second run while that one is owed, and some run sees the waker's data.
#[test]
fn loom_yield_in_end_run_racing_a_wake() {
    loom::model(|| {
        let state = Arc::new(TaskState::new(SCHEDULED));
        let data = Arc::new(AtomicUsize::new(0));
        let waker = spawn_waker_that_runs(&state, &data);
        let StartRun::Run { .. } = state.start_run() else {
            panic!("the first run must start");
        };
        let mut seen = data.load(Ordering::Relaxed);
        // The poll yielded: the runner woke itself.
        assert_eq!(state.end_run(true), EndRun::Dispatch { fair: true });
        seen = seen.max(run_until_idle(&state, &data));
        let waker_run_saw = waker.join().unwrap();
        assert!(
            seen == 1 || waker_run_saw == Some(1),
            "the wake was lost: no run saw its data"
        );
    });
}

/// A thread that stores 1 into `data`, wakes the task, and runs it until idle if its wake
/// dispatched; it returns what those runs saw (`None` if the wake owed no run).
fn spawn_waker_that_runs(
    state: &Arc<TaskState>,
    data: &Arc<AtomicUsize>,
) -> thread::JoinHandle<Option<usize>> {
    let (state, data) = (state.clone(), data.clone());
    thread::spawn(move || {
        data.store(1, Ordering::Relaxed);
        (state.wake() == WakeAction::Dispatch).then(|| run_until_idle(&state, &data))
    })
}

/// Runs the owed runs of `state` (none of them yields) until it is idle; returns the largest
/// value of `data` a run saw.
fn run_until_idle(state: &TaskState, data: &AtomicUsize) -> usize {
    let mut seen = 0;
    loop {
        let StartRun::Run { .. } = state.start_run() else {
            panic!("an owed run must start");
        };
        seen = seen.max(data.load(Ordering::Relaxed));
        if state.end_run(false) == EndRun::Idle {
            return seen;
        }
    }
}

/// A task created `SCHEDULED` (the builders' Default and Atomic starts) racing a wake (a
/// cancellation by its parent) before its creator dispatched it: whoever is owed a run runs
/// the task (the waker's thread too, if its wake dispatched), and `start_run`'s checks panic
/// if two runs ever overlap or one starts unowed. A wake before the creator's run is absorbed
/// by it (that run sees the wake's data); only a wake after it dispatches again.
#[test]
fn loom_created_scheduled_is_dispatched_once() {
    loom::model(|| {
        let state = Arc::new(TaskState::new(SCHEDULED));
        let data = Arc::new(AtomicUsize::new(0));
        let waker = spawn_waker_that_runs(&state, &data);
        // The creator's dispatch: its runnable runs here.
        let creator_saw = run_until_idle(&state, &data);
        let waker_run_saw = waker.join().unwrap();
        assert!(
            creator_saw == 1 || waker_run_saw == Some(1),
            "the wake was lost: no run saw its data"
        );
    });
}
