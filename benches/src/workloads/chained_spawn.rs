//! `chained_spawn`: 1000 sequential spawns, each task spawning the next (tokio's
//! `chained_spawn` shape): every spawn happens **inside a worker** and the new task is the
//! next to run there.
//!
//! One iteration: the bench thread spawns the first link; link `n` spawns link `n - 1`; link
//! 0 counts a latch down. corral launches each link from the previous link's scope
//! (`launch { launch { ... } }`), so its links form a 1000-deep job chain whose completions
//! finish after the latch opens (inside the next iterations, or the untimed quiescence at the
//! end of the sample).

use crate::clock::Stopwatch;
use std::sync::Arc;

use crate::runtimes::Runtime;
use crate::sync::Latch;
use crate::workloads::{corral_side, Env, Sample, Workload};

/// Links per chain.
const LINKS: usize = 1000;
/// Links per chain with `--quick`.
const QUICK_LINKS: usize = 200;
/// Iterations per sample.
const ITERATIONS: usize = 20;

pub(super) fn workload() -> Workload {
    Workload::new(
        "chained_spawn",
        |quick| {
            let n = if quick { QUICK_LINKS } else { LINKS };
            format!("a chain of {n} tasks, each spawned by the previous one inside a worker; time per chain")
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
fn corral_link(scope: &corral::CoroutineScope, done: Arc<Latch>, n: usize) {
    if n == 0 {
        done.count_down();
    } else {
        scope.launch(move |scope| async move { corral_link(&scope, done, n - 1) });
    }
}

#[cfg(feature = "corral")]
pub(super) fn corral(env: &Env<'_>) -> Sample {
    let links = env.size(LINKS, QUICK_LINKS);
    let root = super::CorralRoot::new();
    let start = Stopwatch::start();
    for _ in 0..ITERATIONS {
        let latch = Latch::new(1);
        let done = latch.clone();
        root.scope
            .launch(move |scope| async move { corral_link(&scope, done, links) });
        latch.wait();
    }
    let elapsed = start.elapsed();
    root.finish();
    Sample::time(elapsed, ITERATIONS)
}

fn tokio_link(done: Arc<Latch>, n: usize) {
    if n == 0 {
        done.count_down();
    } else {
        tokio::spawn(async move { tokio_link(done, n - 1) });
    }
}

fn tokio(env: &Env<'_>) -> Sample {
    let links = env.size(LINKS, QUICK_LINKS);
    let start = Stopwatch::start();
    for _ in 0..ITERATIONS {
        let latch = Latch::new(1);
        let done = latch.clone();
        env.rts.tokio.spawn(async move { tokio_link(done, links) });
        latch.wait();
    }
    Sample::time(start.elapsed(), ITERATIONS)
}

fn async_executor_link(ex: Arc<async_executor::Executor<'static>>, done: Arc<Latch>, n: usize) {
    if n == 0 {
        done.count_down();
    } else {
        let next = ex.clone();
        ex.spawn(async move { async_executor_link(next, done, n - 1) })
            .detach();
    }
}

fn async_executor(env: &Env<'_>) -> Sample {
    let links = env.size(LINKS, QUICK_LINKS);
    let executor = &env.rts.async_executor.executor;
    let start = Stopwatch::start();
    for _ in 0..ITERATIONS {
        let latch = Latch::new(1);
        let done = latch.clone();
        let ex = executor.clone();
        executor
            .spawn(async move { async_executor_link(ex, done, links) })
            .detach();
        latch.wait();
    }
    Sample::time(start.elapsed(), ITERATIONS)
}
