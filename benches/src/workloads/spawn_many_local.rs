//! `spawn_many_local`: 10 000 spawns **from inside a worker** (tokio's `spawn_many_local`
//! shape, but spawning from a task, so that the worker-local path is what is measured).
//!
//! One iteration: a task is spawned from the bench thread; it spawns [`SPAWNS`] empty tasks,
//! each counting a shared latch down; the bench thread blocks on the latch. corral's
//! children are launched from the spawning coroutine's own scope (`launch { launch {} }`).

use crate::clock::Stopwatch;

use crate::runtimes::Runtime;
use crate::sync::Latch;
use crate::workloads::{corral_side, Env, Sample, Workload};

/// Spawns per iteration.
const SPAWNS: usize = 10_000;
/// Spawns per iteration with `--quick`.
const QUICK_SPAWNS: usize = 2_000;
/// Iterations per sample.
const ITERATIONS: usize = 10;

pub(super) fn workload() -> Workload {
    Workload::new(
        "spawn_many_local",
        |quick| {
            let n = if quick { QUICK_SPAWNS } else { SPAWNS };
            format!("{n} empty tasks spawned from inside a worker task; time per {n} spawns")
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

/// `spawn_many_local` with `corral::debug` installed: the price of recording every coroutine
/// for dumps. corral only (the others have no equivalent). Installing is for the rest of the
/// process, so this row runs after every other one ([`super::all`]).
pub(super) fn workload_debug() -> Workload {
    Workload::new(
        "spawn_many_local_debug",
        |quick| {
            let n = if quick { QUICK_SPAWNS } else { SPAWNS };
            format!(
                "spawn_many_local with corral::debug installed (every coroutine recorded for \
                 dumps); time per {n} spawns"
            )
        },
        |_| Vec::new(),
        None,
        &[(Runtime::Corral, corral_side!(corral_debug))],
    )
}

#[cfg(feature = "corral")]
fn corral_debug(env: &Env<'_>) -> Sample {
    corral::debug::install();
    corral(env)
}

#[cfg(feature = "corral")]
pub(super) fn corral(env: &Env<'_>) -> Sample {
    let n = env.size(SPAWNS, QUICK_SPAWNS);
    let root = super::CorralRoot::new();
    let start = Stopwatch::start();
    for _ in 0..ITERATIONS {
        let latch = Latch::new(n);
        let done = latch.clone();
        root.scope.launch(move |scope| async move {
            for _ in 0..n {
                let done = done.clone();
                scope.launch(move |_| async move { done.count_down() });
            }
        });
        latch.wait();
    }
    let elapsed = start.elapsed();
    root.finish();
    Sample::time(elapsed, ITERATIONS)
}

fn tokio(env: &Env<'_>) -> Sample {
    let n = env.size(SPAWNS, QUICK_SPAWNS);
    let start = Stopwatch::start();
    for _ in 0..ITERATIONS {
        let latch = Latch::new(n);
        let done = latch.clone();
        env.rts.tokio.spawn(async move {
            for _ in 0..n {
                let done = done.clone();
                tokio::spawn(async move { done.count_down() });
            }
        });
        latch.wait();
    }
    Sample::time(start.elapsed(), ITERATIONS)
}

fn async_executor(env: &Env<'_>) -> Sample {
    let n = env.size(SPAWNS, QUICK_SPAWNS);
    let executor = &env.rts.async_executor.executor;
    let start = Stopwatch::start();
    for _ in 0..ITERATIONS {
        let latch = Latch::new(n);
        let done = latch.clone();
        let ex = executor.clone();
        executor
            .spawn(async move {
                for _ in 0..n {
                    let done = done.clone();
                    ex.spawn(async move { done.count_down() }).detach();
                }
            })
            .detach();
        latch.wait();
    }
    Sample::time(start.elapsed(), ITERATIONS)
}
