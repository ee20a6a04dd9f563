//! Regression tests of the scheduler's configuration and blocking findings (issue 11):
//!
//! * finding 8: a CPU task that blocks inside [`block_in_place`] gives its CPU permit back, so
//!   the work it waits for runs even when it held the only permit;
//! * finding 9: a keep-alive of `Duration::MAX` (workers panicked on `Instant + Duration`), a
//!   huge core pool size (all threads were spawned eagerly), a thread the OS refuses to create
//!   (the pool must run on, or reject with a clear error when it has no thread at all);
//! * the worker stack size option.
//!
//! Each test bounds its waits, so a regression fails instead of hanging.
#![cfg(not(miri))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use corral_core::{Runnable, TaskMode};
use corral_scheduler::{block_in_place, BuildError, CoroutineScheduler, MIN_THREAD_STACK_SIZE};

const WAIT: Duration = Duration::from_secs(10);

/// A CPU task holding the only permit waits for another CPU task of the same pool: inside
/// `block_in_place` its permit is free, so the pool adds a thread and the other task runs.
#[test]
fn finding_08_block_in_place_frees_the_only_permit() {
    let pool = CoroutineScheduler::builder()
        .core_pool_size(1)
        .max_pool_size(2)
        .name("finding-08")
        .build()
        .unwrap();
    let (sender, receiver) = mpsc::channel();
    let inner = pool.clone();
    pool.execute(move || {
        let (reply, answer) = mpsc::channel();
        inner.execute(move || reply.send(7).unwrap()).unwrap();
        let got = block_in_place(|| answer.recv_timeout(WAIT));
        // The permit is held again: the counters show none free while this task runs.
        let free = inner.counters().free_cpu_permits;
        sender.send((got, free)).unwrap();
    })
    .unwrap();
    let (got, free) = receiver
        .recv_timeout(WAIT)
        .expect("the outer task never finished");
    assert_eq!(
        got,
        Ok(7),
        "the inner task never ran while the outer one blocked"
    );
    assert_eq!(
        free, 0,
        "the outer task went on without taking its permit back"
    );
    assert!(pool.shutdown(WAIT).is_clean());
    let counters = pool.counters();
    assert_eq!((counters.blocking_tasks, counters.free_cpu_permits), (0, 1));
}

/// Outside a worker, or nested, `block_in_place` only runs its closure.
#[test]
fn block_in_place_elsewhere_just_runs() {
    assert_eq!(block_in_place(|| block_in_place(|| 5)), 5);
}

fn run_one(pool: &CoroutineScheduler) -> Result<(), mpsc::RecvTimeoutError> {
    let (sender, receiver) = mpsc::channel();
    pool.execute(move || sender.send(()).unwrap()).unwrap();
    receiver.recv_timeout(WAIT)
}

/// A keep-alive of `Duration::MAX` means "never retire": parked workers used to panic on
/// `Instant::now() + keep_alive`, and nothing ran any more.
#[test]
fn finding_09_keep_alive_max_still_runs_work() {
    let pool = CoroutineScheduler::builder()
        .core_pool_size(2)
        .keep_alive(Duration::MAX)
        .name("finding-09-keep-alive")
        .build()
        .unwrap();
    for _ in 0..3 {
        run_one(&pool).expect("a task did not run on a keep-alive = MAX pool");
        // Long enough for the workers to park with the keep-alive deadline.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(pool.counters().threads >= 1);
    // The shutdown's own wait takes `Duration::MAX` too.
    assert!(pool.shutdown(Duration::MAX).is_clean());
}

/// A core pool size far beyond what the machine can run costs nothing up front: workers are
/// created as work arrives (all 1000 were spawned at `build`).
#[test]
fn finding_09_huge_core_pool_size_creates_workers_on_demand() {
    let pool = CoroutineScheduler::builder()
        .core_pool_size(1000)
        .name("finding-09-huge")
        .build()
        .unwrap();
    assert_eq!(pool.counters().threads, 0);
    for _ in 0..20 {
        run_one(&pool).expect("a task did not run");
    }
    let threads = pool.counters().threads;
    assert!(
        (1..=4).contains(&threads),
        "20 sequential tasks made {threads} threads"
    );
    assert!(pool.shutdown(WAIT).is_clean());
}

/// A stack size the OS cannot give (64 TiB) makes every spawn fail: no panic, no abort; the
/// work is rejected (a closure is dropped unrun) because the pool has no thread at all.
#[test]
fn finding_09_thread_spawn_failure_rejects_without_aborting() {
    const UNSATISFIABLE_STACK: usize = 1 << 46;
    let pool = CoroutineScheduler::builder()
        .core_pool_size(2)
        .thread_stack_size(UNSATISFIABLE_STACK)
        .name("finding-09-spawn")
        .build()
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let (dropped, dropped_receiver) = mpsc::channel::<()>();
    for mode in [TaskMode::NonBlocking, TaskMode::ProbablyBlocking] {
        let ran = ran.clone();
        let dropped = dropped.clone();
        pool.dispatch(
            Runnable::from_fn(move || {
                let _dropped = dropped;
                ran.store(true, Ordering::SeqCst);
            }),
            mode,
            false,
        )
        .expect("not shut down");
    }
    drop(dropped);
    // Every sender dropped: both closures were dropped.
    assert_eq!(
        dropped_receiver.recv_timeout(WAIT),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    assert!(!ran.load(Ordering::SeqCst));
    let counters = pool.counters();
    assert_eq!(
        (
            counters.threads,
            counters.blocking_tasks,
            counters.queued_globally
        ),
        (0, 0, 0)
    );
    assert!(pool.shutdown(WAIT).is_clean());
}

/// Recurses `depth` levels of about 1 KiB each.
fn deep(depth: usize) -> usize {
    let frame = std::hint::black_box([depth as u8; 1024]);
    if depth == 0 {
        return 0;
    }
    deep(depth - 1) + usize::from(frame[depth % 1024] == depth as u8)
}

/// A worker whose task needs more than the default 2 MiB of stack succeeds with a bigger one.
#[test]
fn thread_stack_size_allows_deep_recursion() {
    const DEPTH: usize = 6 * 1024; // more than 6 MiB of frames
    let pool = CoroutineScheduler::builder()
        .core_pool_size(1)
        .thread_stack_size(64 << 20)
        .name("deep-stack")
        .build()
        .unwrap();
    let (sender, receiver) = mpsc::channel();
    pool.execute(move || sender.send(deep(DEPTH)).unwrap())
        .unwrap();
    assert_eq!(receiver.recv_timeout(WAIT), Ok(DEPTH));
    assert!(pool.shutdown(WAIT).is_clean());
}

#[test]
fn thread_stack_size_below_the_minimum_is_a_build_error() {
    for size in [0, 4096, MIN_THREAD_STACK_SIZE - 1] {
        let error = CoroutineScheduler::builder()
            .thread_stack_size(size)
            .build()
            .unwrap_err();
        assert_eq!(
            error,
            BuildError::StackTooSmall {
                size,
                min: MIN_THREAD_STACK_SIZE
            }
        );
        assert!(error.to_string().contains("thread_stack_size"), "{error}");
    }
    assert!(matches!(
        CoroutineScheduler::builder()
            .core_pool_size(usize::MAX)
            .build(),
        Err(BuildError::CoreTooLarge { .. })
    ));
}
