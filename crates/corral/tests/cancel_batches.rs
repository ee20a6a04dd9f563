//! Cancelling many suspended children at once, on real threads. The wake-ups that make the
//! children drop their futures are dispatched in chunks (one runnable per chunk of one
//! dispatcher's children), so these check what must not change: every child's future is
//! dropped exactly once, on a thread of its own dispatcher and within a limited view's
//! parallelism; the parent's join returns; a chunk refused by a closed executor fails each of
//! its children.

use std::future::pending;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use corral::prelude::*;

/// A generous bound for what must happen "soon": a regression fails instead of hanging.
const SOON: Duration = Duration::from_secs(10);

/// More than 19 chunks of 512 per test, and a partial one.
const CHILDREN: usize = 10_000;

/// Where a child's future must be dropped.
#[derive(Clone)]
struct Home {
    /// The thread name's prefix (a pool's threads) or the whole name (a single thread).
    thread: String,
    /// Drops running at once on this dispatcher now, and the most seen (a limited view's).
    running: Arc<(AtomicUsize, AtomicUsize)>,
}

impl Home {
    fn new(thread: &str) -> Home {
        Home {
            thread: thread.to_owned(),
            running: Arc::default(),
        }
    }

    fn most_at_once(&self) -> usize {
        self.running.1.load(Ordering::SeqCst)
    }
}

/// What the children record.
struct Record {
    dropped: Vec<AtomicUsize>,
    misplaced: AtomicUsize,
    suspended: AtomicUsize,
}

impl Record {
    fn new() -> Arc<Record> {
        Arc::new(Record {
            dropped: (0..CHILDREN).map(|_| AtomicUsize::new(0)).collect(),
            misplaced: AtomicUsize::new(0),
            suspended: AtomicUsize::new(0),
        })
    }

    fn dropped(&self) -> usize {
        self.dropped
            .iter()
            .map(|count| count.load(Ordering::SeqCst))
            .sum()
    }

    fn assert_each_dropped_once(&self, what: &str) {
        for (index, count) in self.dropped.iter().enumerate() {
            assert_eq!(count.load(Ordering::SeqCst), 1, "{what}: child {index}");
        }
    }
}

/// Lives in a child's future: its drop is the future's drop.
struct Guard {
    record: Arc<Record>,
    index: usize,
    home: Home,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let (running, most) = &*self.home.running;
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
        let name = thread::current().name().unwrap_or_default().to_owned();
        if !name.starts_with(&self.home.thread) {
            self.record.misplaced.fetch_add(1, Ordering::SeqCst);
        }
        // A moment inside, so that a second drop running at once on a limited view is seen.
        thread::yield_now();
        self.record.dropped[self.index].fetch_add(1, Ordering::SeqCst);
        running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits (sleeping) until `done()`; panics with `what` after [`SOON`].
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + SOON;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: timed out");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Launches [`CHILDREN`] children of `parent`, child `i` on `targets[i % targets.len()]`, each
/// suspended for good, and waits until all are suspended.
fn launch_suspended(
    parent: &Job,
    targets: &[(Dispatcher, Home)],
    record: &Arc<Record>,
) -> Vec<Job> {
    let quiet = CoroutineExceptionHandler::new(|_, _| {});
    let scope = CoroutineScope::new(parent.clone() + quiet);
    let children = (0..CHILDREN)
        .map(|index| {
            let (dispatcher, home) = &targets[index % targets.len()];
            let guard = Guard {
                record: record.clone(),
                index,
                home: home.clone(),
            };
            let record = record.clone();
            scope.launch_with(
                dispatcher.clone(),
                CoroutineStart::Default,
                move |_| async move {
                    let _guard = guard;
                    record.suspended.fetch_add(1, Ordering::SeqCst);
                    pending::<()>().await;
                },
            )
        })
        .collect();
    wait_until("children suspended", || {
        record.suspended.load(Ordering::SeqCst) == CHILDREN
    });
    children
}

/// The parent's `join` returns (within [`SOON`]).
fn assert_join_returns(what: &str, parent: &Job) {
    let parent = parent.clone();
    let joined = run_blocking(|_| with_timeout(SOON, move |_| async move { parent.join().await }));
    assert!(
        matches!(joined, Ok(Ok(()))),
        "{what}: join did not return: {joined:?}"
    );
}

/// Cancelled from a thread that is no worker (as `Job::cancel` from `main`): five dispatchers
/// in turn, pools, a single thread and limited views, so chunks of different dispatchers are
/// gathered at once.
#[test]
fn every_child_is_dropped_once_on_its_own_dispatcher() {
    let pool = new_fixed_thread_pool_context(2, "batches-pool");
    let single = new_single_thread_context("batches-single");
    let default_one = Home::new("DefaultDispatcher-worker-");
    let pool_one = Home::new("batches-pool-");
    let targets = vec![
        (
            Dispatchers::default(),
            Home::new("DefaultDispatcher-worker-"),
        ),
        (pool.dispatcher().clone(), Home::new("batches-pool-")),
        (single.dispatcher().clone(), Home::new("batches-single")),
        (
            Dispatchers::default().limited_parallelism(1),
            default_one.clone(),
        ),
        (pool.dispatcher().limited_parallelism(1), pool_one.clone()),
    ];
    let parent = Job::new();
    let record = Record::new();
    let children = launch_suspended(&parent, &targets, &record);
    parent.cancel();
    assert_join_returns("five dispatchers", &parent);
    record.assert_each_dropped_once("five dispatchers");
    assert_eq!(
        record.misplaced.load(Ordering::SeqCst),
        0,
        "dropped off its dispatcher"
    );
    assert_eq!(
        default_one.most_at_once(),
        1,
        "Default.limited_parallelism(1)"
    );
    assert_eq!(pool_one.most_at_once(), 1, "pool.limited_parallelism(1)");
    assert!(children.iter().all(Job::is_completed));
    pool.close();
    single.close();
}

/// Cancelled from inside a coroutine on the 2-thread pool that runs the children: the chunks
/// are dispatched from a worker of that pool.
#[test]
fn cancelled_from_a_worker_of_the_childrens_pool() {
    let pool = new_fixed_thread_pool_context(2, "batches-worker");
    let targets = vec![(pool.dispatcher().clone(), Home::new("batches-worker-"))];
    let parent = Job::new();
    let record = Record::new();
    launch_suspended(&parent, &targets, &record);
    let to_cancel = parent.clone();
    let canceller = CoroutineScope::new(Job::new()).launch_with(
        pool.dispatcher().clone(),
        CoroutineStart::Default,
        move |_| async move { to_cancel.cancel() },
    );
    assert_join_returns("canceller", &canceller);
    assert_join_returns("from a worker", &parent);
    record.assert_each_dropped_once("from a worker");
    assert_eq!(
        record.misplaced.load(Ordering::SeqCst),
        0,
        "dropped off its pool"
    );
    pool.close();
}

/// The executor is closed before the cancellation: it refuses each chunk, and each child
/// fails with the refusal, its future dropped on the cancelling thread (as a refused single
/// dispatch is handled).
#[test]
fn a_closed_executor_refuses_the_chunks_and_every_child_still_ends() {
    let pool = new_fixed_thread_pool_context(2, "batches-closed");
    // The cancelling thread (this test's) drops the refused futures.
    let here = thread::current().name().unwrap_or_default().to_owned();
    let targets = vec![(pool.dispatcher().clone(), Home::new(&here))];
    let parent = Job::new();
    let record = Record::new();
    let children = launch_suspended(&parent, &targets, &record);
    assert!(pool.close_and_wait(SOON), "the pool's threads did not exit");
    parent.cancel();
    assert_eq!(
        record.dropped(),
        CHILDREN,
        "refused children dropped at once"
    );
    record.assert_each_dropped_once("closed executor");
    assert_eq!(
        record.misplaced.load(Ordering::SeqCst),
        0,
        "dropped elsewhere"
    );
    for child in &children {
        let error = child.completion_error().expect("the child is complete");
        assert!(
            error.is_failure() && error.to_string().contains("closed"),
            "{error}"
        );
    }
    assert!(parent.is_completed());
}
