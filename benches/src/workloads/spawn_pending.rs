//! `spawn_pending`: the heap cost of an empty suspended coroutine (the corral-core issue's
//! "one allocation, and say how many bytes"), at several numbers of coroutines.
//!
//! One sample: the counting allocator's window opens (after letting earlier frees settle and
//! returning free heap memory to the system, see `alloc`), then the bench thread spawns tasks
//! whose future captures nothing: it bumps a static counter and awaits
//! `std::future::pending()`. It spawns in stages up to each of [`STAGES`] (1 000, 10 000,
//! then [`TASKS`]); after each stage it waits until all are polled once (suspended), settles,
//! and reads the window: usable bytes and resident-set growth divided by the number suspended
//! so far are that size's rows; the last stage gives the full-size rows (layout, usable and
//! resident bytes, allocations). The sizes show what growth by doubling (corral's child slab,
//! tokio's and async-executor's handle bookkeeping) adds at each N. The handles the harness
//! keeps (tokio `JoinHandle`s, async-executor `Task`s) live in a vector allocated before the
//! window opens; corral keeps none (its root scope's job owns the children, and that
//! bookkeeping is counted). Afterwards, untimed: everything is cancelled and awaited.

use crate::alloc::{Window, SETTLE};
use crate::runtimes::Runtime;
use crate::sync::Polled;
use crate::workloads::{corral_side, Env, Sample, Workload};
use std::thread;

/// Suspended tasks per sample.
const TASKS: usize = 100_000;
/// Suspended tasks per sample with `--quick`.
const QUICK_TASKS: usize = 10_000;
/// The smaller sizes read on the way to the full size (those below the full size are read).
const STAGES: [usize; 2] = [1_000, 10_000];

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
            format!("{n} tasks spawned from outside, each suspended forever on `pending()`; heap and resident bytes per task, also at {STAGES:?}")
        },
        |_| {
            vec!["the future captures nothing (it bumps a static counter, then awaits `std::future::pending()`)".to_owned()]
        },
        Some(5),
        &[
            (Runtime::Corral, corral_side!(corral)),
            (Runtime::Tokio, Some(tokio)),
            (Runtime::AsyncExecutor, Some(async_executor)),
        ],
    )
}

/// Spawns `n` tasks with `spawn` in stages, reading `window` after each (see the module doc).
fn staged(window: &Window, n: usize, mut spawn: impl FnMut()) -> Sample {
    let mut sample = Sample::default();
    let mut spawned = 0;
    for stage in STAGES.into_iter().filter(|&s| s < n).chain([n]) {
        while spawned < stage {
            spawn();
            spawned += 1;
        }
        POLLED.wait_for(stage);
        thread::sleep(SETTLE);
        let reading = window.read();
        sample = if stage == n {
            sample.with_memory(reading, n)
        } else {
            sample.with_memory_at(reading, stage)
        };
    }
    sample
}

#[cfg(feature = "corral")]
pub(super) fn corral(env: &Env<'_>) -> Sample {
    let n = env.size(TASKS, QUICK_TASKS);
    let root = super::CorralRoot::new();
    POLLED.reset();
    let window = Window::open();
    let sample = staged(&window, n, || {
        root.scope.launch(|_| suspended());
    });
    drop(window);
    root.cancel();
    sample
}

fn tokio(env: &Env<'_>) -> Sample {
    let n = env.size(TASKS, QUICK_TASKS);
    let mut handles = Vec::with_capacity(n);
    POLLED.reset();
    let window = Window::open();
    let sample = staged(&window, n, || {
        handles.push(env.rts.tokio.spawn(suspended()))
    });
    drop(window);
    for handle in &handles {
        handle.abort();
    }
    env.rts.tokio.block_on(async {
        for handle in handles {
            let _ = handle.await;
        }
    });
    sample
}

fn async_executor(env: &Env<'_>) -> Sample {
    let n = env.size(TASKS, QUICK_TASKS);
    let mut tasks = Vec::with_capacity(n);
    POLLED.reset();
    let window = Window::open();
    let sample = staged(&window, n, || {
        tasks.push(env.rts.async_executor.executor.spawn(suspended()));
    });
    drop(window);
    futures_lite::future::block_on(async {
        for task in tasks {
            task.cancel().await;
        }
    });
    sample
}
