//! `yield_many`: 200 tasks that each yield 1000 times (tokio's `yield_many` shape).
//!
//! One iteration: the bench thread spawns [`TASKS`] tasks (from outside the runtime); each
//! calls its runtime's `yield_now().await` [`YIELDS`] times and then counts a latch down; the
//! bench thread blocks on the latch. Yield: corral `yield_now`, tokio
//! `tokio::task::yield_now`, async-executor `futures_lite::future::yield_now`.

use crate::clock::Stopwatch;

use crate::runtimes::Runtime;
use crate::sync::Latch;
use crate::workloads::{corral_side, Env, Sample, Workload};

/// Tasks per iteration.
const TASKS: usize = 200;
/// Yields per task.
const YIELDS: usize = 1000;
/// Yields per task with `--quick`.
const QUICK_YIELDS: usize = 200;

pub(super) fn workload() -> Workload {
    Workload::new(
        "yield_many",
        |quick| {
            let y = if quick { QUICK_YIELDS } else { YIELDS };
            format!(
                "{TASKS} tasks spawned from outside, each yielding {y} times; time per iteration"
            )
        },
        |_| Vec::new(),
        None,
        &[
            (Runtime::Corral, corral_side!(corral)),
            (Runtime::Tokio, Some(tokio)),
            (Runtime::AsyncExecutor, Some(async_executor)),
        ],
    )
}

#[cfg(feature = "corral")]
pub(super) fn corral(env: &Env<'_>) -> Sample {
    let yields = env.size(YIELDS, QUICK_YIELDS);
    let root = super::CorralRoot::new();
    let latch = Latch::new(TASKS);
    let start = Stopwatch::start();
    for _ in 0..TASKS {
        let done = latch.clone();
        root.scope.launch(move |_| async move {
            for _ in 0..yields {
                corral::yield_now().await;
            }
            done.count_down();
        });
    }
    latch.wait();
    let elapsed = start.elapsed();
    root.finish();
    Sample::time(elapsed, 1)
}

fn tokio(env: &Env<'_>) -> Sample {
    let yields = env.size(YIELDS, QUICK_YIELDS);
    let latch = Latch::new(TASKS);
    let start = Stopwatch::start();
    for _ in 0..TASKS {
        let done = latch.clone();
        env.rts.tokio.spawn(async move {
            for _ in 0..yields {
                tokio::task::yield_now().await;
            }
            done.count_down();
        });
    }
    latch.wait();
    Sample::time(start.elapsed(), 1)
}

fn async_executor(env: &Env<'_>) -> Sample {
    let yields = env.size(YIELDS, QUICK_YIELDS);
    let latch = Latch::new(TASKS);
    let start = Stopwatch::start();
    for _ in 0..TASKS {
        let done = latch.clone();
        env.rts
            .async_executor
            .executor
            .spawn(async move {
                for _ in 0..yields {
                    futures_lite::future::yield_now().await;
                }
                done.count_down();
            })
            .detach();
    }
    latch.wait();
    Sample::time(start.elapsed(), 1)
}
