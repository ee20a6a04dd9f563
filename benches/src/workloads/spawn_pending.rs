//! `spawn_pending`: the heap cost of an empty suspended coroutine (the corral-core issue's
//! "one allocation, and say how many bytes"), measured the way tokio's task layout is
//! usually measured: live bytes seen by a counting allocator around the spawns.
//!
//! One sample: with the counting allocator's window open, the bench thread spawns
//! [`TASKS`] tasks whose future captures nothing: it bumps a static counter and awaits
//! `std::future::pending()`. When all have been polled once (suspended) and a short settle
//! time has passed, the window's live bytes and allocations divided by [`TASKS`] are the
//! sample. The handles the harness keeps (tokio `JoinHandle`s, async-executor `Task`s) live
//! in a vector allocated before the window opens; corral keeps none (its root scope's job
//! owns the children, and that bookkeeping is counted). Afterwards, untimed: everything is
//! cancelled and awaited.

use std::thread;
use std::time::Duration;

use crate::alloc::Window;
use crate::runtimes::Runtime;
use crate::sync::Polled;
use crate::workloads::{corral_side, Env, Sample, Workload};

/// Suspended tasks per sample.
const TASKS: usize = 100_000;
/// Suspended tasks per sample with `--quick`.
const QUICK_TASKS: usize = 10_000;
/// Time given to the runtime to settle after the last task suspended.
const SETTLE: Duration = Duration::from_millis(20);

static POLLED: Polled = Polled::new();

async fn suspended() {
    POLLED.hit();
    std::future::pending::<()>().await;
}

pub(super) fn workload() -> Workload {
    Workload::new(
        "spawn_pending",
        |quick| {
            let n = if quick { QUICK_TASKS } else { TASKS };
            format!("{n} tasks spawned from outside, each suspended forever on `pending()`; live heap bytes per task")
        },
        |_| {
            vec!["the future captures nothing (it bumps a static counter, then awaits `std::future::pending()`)".to_owned()]
        },
        Some(3),
        &[
            (Runtime::Corral, corral_side!(corral)),
            (Runtime::Tokio, Some(tokio)),
            (Runtime::AsyncExecutor, Some(async_executor)),
        ],
    )
}

/// Waits for `n` suspended tasks, settles, and reads the window.
fn read(window: &Window, n: usize) -> (isize, usize) {
    POLLED.wait_for(n);
    thread::sleep(SETTLE);
    (window.live_bytes(), window.allocations())
}

#[cfg(feature = "corral")]
pub(super) fn corral(env: &Env<'_>) -> Sample {
    let n = env.size(TASKS, QUICK_TASKS);
    let root = super::CorralRoot::new();
    POLLED.reset();
    let window = Window::open();
    for _ in 0..n {
        root.scope.launch(|_| suspended());
    }
    let (bytes, allocations) = read(&window, n);
    drop(window);
    root.cancel();
    Sample::default().with_memory(bytes, allocations, n)
}

fn tokio(env: &Env<'_>) -> Sample {
    let n = env.size(TASKS, QUICK_TASKS);
    let mut handles = Vec::with_capacity(n);
    POLLED.reset();
    let window = Window::open();
    for _ in 0..n {
        handles.push(env.rts.tokio.spawn(suspended()));
    }
    let (bytes, allocations) = read(&window, n);
    drop(window);
    for handle in &handles {
        handle.abort();
    }
    env.rts.tokio.block_on(async {
        for handle in handles {
            let _ = handle.await;
        }
    });
    Sample::default().with_memory(bytes, allocations, n)
}

fn async_executor(env: &Env<'_>) -> Sample {
    let n = env.size(TASKS, QUICK_TASKS);
    let mut tasks = Vec::with_capacity(n);
    POLLED.reset();
    let window = Window::open();
    for _ in 0..n {
        tasks.push(env.rts.async_executor.executor.spawn(suspended()));
    }
    let (bytes, allocations) = read(&window, n);
    drop(window);
    futures_lite::future::block_on(async {
        for task in tasks {
            task.cancel().await;
        }
    });
    Sample::default().with_memory(bytes, allocations, n)
}
