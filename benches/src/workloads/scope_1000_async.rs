//! `scope_1000_async`: a scope that starts 1000 value-returning children and sums them.
//!
//! One iteration, inside one task spawned from outside:
//! * corral: `coroutine_scope(|s| ..)` launching [`CHILDREN`] `s.async_(..)` children that
//!   each return their index, awaiting every `Deferred` in order and summing;
//! * tokio: a `JoinSet` of [`CHILDREN`] tasks, drained with `join_next` and summed;
//! * async-executor (no scope or set type): a `Vec` of [`CHILDREN`] `Task`s, awaited in order.
//!
//! Each sum is checked. [`ITERATIONS`] iterations run back to back in the same task.

use crate::clock::Stopwatch;

use crate::runtimes::Runtime;
use crate::sync::Latch;
use crate::workloads::{corral_side, Env, Sample, Workload};

/// Children per scope.
const CHILDREN: u64 = 1000;
/// Iterations per sample.
const ITERATIONS: usize = 50;
/// Iterations per sample with `--quick`.
const QUICK_ITERATIONS: usize = 10;
/// The sum every iteration must produce.
const SUM: u64 = CHILDREN * (CHILDREN - 1) / 2;

pub(super) fn workload() -> Workload {
    Workload::new(
        "scope_1000_async",
        |_| {
            format!("a scope of {CHILDREN} value-returning children, awaited and summed, inside a worker; time per scope")
        },
        |_| {
            vec![
            "corral: `coroutine_scope` + `async_`; tokio: `JoinSet` + `join_next`; async-executor: a `Vec<Task>` awaited in order (it has no scope or set type)".to_owned(),
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

#[cfg(feature = "corral")]
pub(super) fn corral(env: &Env<'_>) -> Sample {
    let iterations = env.size(ITERATIONS, QUICK_ITERATIONS);
    let root = super::CorralRoot::new();
    let latch = Latch::new(1);
    let done = latch.clone();
    let start = Stopwatch::start();
    root.scope.launch(move |_| async move {
        for _ in 0..iterations {
            let sum = corral::coroutine_scope(|scope| async move {
                let children: Vec<_> = (0..CHILDREN)
                    .map(|i| scope.async_(move |_| async move { i }))
                    .collect();
                let mut sum = 0;
                for child in children {
                    sum += child.await.expect("child failed");
                }
                sum
            })
            .await
            .expect("scope failed");
            assert_eq!(sum, SUM);
        }
        done.count_down();
    });
    latch.wait();
    let elapsed = start.elapsed();
    root.finish();
    Sample::time(elapsed, iterations)
}

fn tokio(env: &Env<'_>) -> Sample {
    let iterations = env.size(ITERATIONS, QUICK_ITERATIONS);
    let latch = Latch::new(1);
    let done = latch.clone();
    let start = Stopwatch::start();
    env.rts.tokio.spawn(async move {
        for _ in 0..iterations {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..CHILDREN {
                set.spawn(async move { i });
            }
            let mut sum = 0;
            while let Some(child) = set.join_next().await {
                sum += child.expect("child failed");
            }
            assert_eq!(sum, SUM);
        }
        done.count_down();
    });
    latch.wait();
    Sample::time(start.elapsed(), iterations)
}

fn async_executor(env: &Env<'_>) -> Sample {
    let iterations = env.size(ITERATIONS, QUICK_ITERATIONS);
    let executor = &env.rts.async_executor.executor;
    let ex = executor.clone();
    let latch = Latch::new(1);
    let done = latch.clone();
    let start = Stopwatch::start();
    executor
        .spawn(async move {
            for _ in 0..iterations {
                let children: Vec<_> = (0..CHILDREN).map(|i| ex.spawn(async move { i })).collect();
                let mut sum = 0;
                for child in children {
                    sum += child.await;
                }
                assert_eq!(sum, SUM);
            }
            done.count_down();
        })
        .detach();
    latch.wait();
    Sample::time(start.elapsed(), iterations)
}
