//! `cancel_100k`: cancelling 100 000 suspended tasks and waiting until they are gone.
//!
//! Setup (untimed): the counting allocator's window opens; one task spawned from outside
//! spawns [`TASKS`] children **inside a worker**, each bumping a static counter and awaiting
//! `std::future::pending()`; the bench thread waits until all are suspended and notes the
//! usable bytes they hold. Timed, on the bench thread, the same work on every side: cancel
//! every task, wait until each is complete, and wait until their memory is freed (the live
//! usable bytes fall below 1/[`FREED_FRACTION`] of what the suspended tasks held), because
//! tokio's loop frees each task as it awaits its handle while corral frees children on its
//! workers after the parent's `join` returns. The steps before that wait:
//! * corral: the parent's `Job::cancel()`, then `join()` on it (in `run_blocking`) until it
//!   returns, i.e. until every child is cancelled and complete;
//! * tokio: `abort()` on each of the 100 000 `JoinHandle`s, then awaiting each (in
//!   `block_on`);
//! * async-executor: dropping each `Task` (which cancels it), then waiting until every
//!   future was dropped (a drop guard in each future counts a latch down).

use std::thread;
use std::time::{Duration, Instant};

use crate::alloc::Window;
use crate::clock::Stopwatch;

use crate::runtimes::Runtime;
use crate::sync::{Latch, Polled};
use crate::workloads::{corral_side, Env, Sample, Workload};

/// Suspended children per sample.
const TASKS: usize = 100_000;
/// Suspended children per sample with `--quick`.
const QUICK_TASKS: usize = 10_000;

static POLLED: Polled = Polled::new();

async fn suspended() {
    POLLED.hit();
    std::future::pending::<()>().await;
}

pub(super) fn workload() -> Workload {
    Workload::new(
        "cancel_100k",
        |quick| {
            let n = if quick { QUICK_TASKS } else { TASKS };
            format!(
                "cancel {n} suspended tasks and wait until all are complete; time per cancellation"
            )
        },
        |_| {
            vec![
            "corral: `parent.cancel()` then `parent.join()`; tokio: `abort()` each `JoinHandle` then await each; async-executor: drop each `Task`, then wait until every future was dropped".to_owned(),
        ]
        },
        None,
        &[
            (Runtime::Corral, corral_side!(corral)),
            (Runtime::Tokio, Some(tokio)),
            (Runtime::AsyncExecutor, Some(async_executor)),
        ],
    )
}

/// The timed section ends when the live usable bytes counted since before the spawns fell to
/// this fraction of what the suspended tasks held: the tasks' memory is freed. (Not zero: a
/// runtime may keep queue capacity it grew while spawning.)
const FREED_FRACTION: isize = 50;
/// How often the bench thread looks at the allocator while waiting for the frees (it sleeps
/// in between, so that it does not take a core from the workers).
const FREED_POLL: Duration = Duration::from_micros(100);
/// How long the frees may take before the sample fails.
const FREED_DEADLINE: Duration = Duration::from_secs(30);

/// Sleeps until the tasks' memory is freed (see [`FREED_FRACTION`]).
///
/// # Panics
///
/// If it is not freed within [`FREED_DEADLINE`]: the runtime leaked the tasks.
fn wait_freed(window: &Window, suspended: isize) {
    let deadline = Instant::now() + FREED_DEADLINE;
    let target = suspended / FREED_FRACTION;
    while window.usable_bytes() > target {
        assert!(
            Instant::now() < deadline,
            "{} of {suspended} bytes of cancelled tasks still live after {FREED_DEADLINE:?}",
            window.usable_bytes()
        );
        thread::sleep(FREED_POLL);
    }
}

#[cfg(feature = "corral")]
pub(super) fn corral(env: &Env<'_>) -> Sample {
    let n = env.size(TASKS, QUICK_TASKS);
    let root = super::CorralRoot::new();
    POLLED.reset();
    let window = Window::open();
    let parent = root.scope.launch(move |scope| async move {
        for _ in 0..n {
            scope.launch(|_| suspended());
        }
    });
    POLLED.wait_for(n);
    let suspended = window.usable_bytes();
    let start = Stopwatch::start();
    parent.cancel();
    super::block_on_corral(async move { parent.join().await });
    wait_freed(&window, suspended);
    let elapsed = start.elapsed();
    drop(window);
    root.finish();
    Sample::time(elapsed, 1)
}

fn tokio(env: &Env<'_>) -> Sample {
    let n = env.size(TASKS, QUICK_TASKS);
    POLLED.reset();
    let rt = &env.rts.tokio;
    let window = Window::open();
    let handles = rt
        .block_on(rt.spawn(async move {
            (0..n)
                .map(|_| tokio::spawn(suspended()))
                .collect::<Vec<_>>()
        }))
        .expect("the spawning task failed");
    POLLED.wait_for(n);
    let suspended = window.usable_bytes();
    let start = Stopwatch::start();
    for handle in &handles {
        handle.abort();
    }
    rt.block_on(async {
        for handle in handles {
            let _ = handle.await;
        }
    });
    wait_freed(&window, suspended);
    Sample::time(start.elapsed(), 1)
}

/// Counts a latch down when dropped.
struct DropGuard(std::sync::Arc<Latch>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.count_down();
    }
}

/// async-executor keeps a slab of its live tasks' wakers that never shrinks (16 bytes a slot,
/// 2 MiB for 100 000 tasks): grown inside the window, it would count as the tasks' memory never
/// freed. So it is grown to `n` once, before the first window, by `n` tasks that are dropped
/// unpolled.
fn grow_active_slab(executor: &async_executor::Executor<'static>, n: usize) {
    static GROWN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    if GROWN.fetch_max(n, std::sync::atomic::Ordering::Relaxed) >= n {
        return;
    }
    let latch = Latch::new(n);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let guard = DropGuard(latch.clone());
            executor.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            })
        })
        .collect();
    drop(tasks);
    latch.wait();
}

fn async_executor(env: &Env<'_>) -> Sample {
    let n = env.size(TASKS, QUICK_TASKS);
    POLLED.reset();
    let executor = &env.rts.async_executor.executor;
    grow_active_slab(executor, n);
    let ex = executor.clone();
    let latch = Latch::new(n);
    let dropped = latch.clone();
    let window = Window::open();
    let tasks = futures_lite::future::block_on(executor.spawn(async move {
        (0..n)
            .map(|_| {
                let guard = DropGuard(dropped.clone());
                ex.spawn(async move {
                    let _guard = guard;
                    suspended().await;
                })
            })
            .collect::<Vec<_>>()
    }));
    POLLED.wait_for(n);
    let suspended = window.usable_bytes();
    let start = Stopwatch::start();
    drop(tasks);
    latch.wait();
    wait_freed(&window, suspended);
    Sample::time(start.elapsed(), 1)
}
