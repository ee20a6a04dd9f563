//! `ping_pong`: 1000 pairs of tasks exchanging one-shot signals (tokio's `ping_pong` shape).
//!
//! One iteration: the bench thread spawns one task, which spawns [`PAIRS`] tasks `T_i`. Each
//! `T_i` makes two one-shot signals, spawns a partner that awaits the first and sends the
//! second, sends the first, awaits the second and counts a latch down. So: 1 spawn from
//! outside and 2000 from inside workers, and 2000 cross-task wake-ups. The one-shot is the
//! same hand-written `Mutex<(flag, Option<Waker>)>` for all runtimes (`crate::sync::oneshot`),
//! so the channel is not what is measured. corral's tasks are launched from the spawning
//! coroutine's own scope.

use crate::clock::Stopwatch;

use crate::runtimes::Runtime;
use crate::sync::{oneshot, Latch};
use crate::workloads::{corral_side, Env, Sample, Workload};

/// Pairs per iteration.
const PAIRS: usize = 1000;
/// Pairs per iteration with `--quick`.
const QUICK_PAIRS: usize = 200;
/// Iterations per sample.
const ITERATIONS: usize = 10;

pub(super) fn workload() -> Workload {
    Workload::new(
        "ping_pong",
        |quick| {
            let n = if quick { QUICK_PAIRS } else { PAIRS };
            format!("{n} task pairs spawned inside workers, one one-shot round trip each; time per iteration")
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
    let pairs = env.size(PAIRS, QUICK_PAIRS);
    let root = super::CorralRoot::new();
    let start = Stopwatch::start();
    for _ in 0..ITERATIONS {
        let latch = Latch::new(pairs);
        let done = latch.clone();
        root.scope.launch(move |scope| async move {
            for _ in 0..pairs {
                let done = done.clone();
                scope.launch(move |scope| async move {
                    let (tx1, rx1) = oneshot();
                    let (tx2, rx2) = oneshot();
                    scope.launch(move |_| async move {
                        rx1.await;
                        tx2.send();
                    });
                    tx1.send();
                    rx2.await;
                    done.count_down();
                });
            }
        });
        latch.wait();
    }
    let elapsed = start.elapsed();
    root.finish();
    Sample::time(elapsed, ITERATIONS)
}

fn tokio(env: &Env<'_>) -> Sample {
    let pairs = env.size(PAIRS, QUICK_PAIRS);
    let start = Stopwatch::start();
    for _ in 0..ITERATIONS {
        let latch = Latch::new(pairs);
        let done = latch.clone();
        env.rts.tokio.spawn(async move {
            for _ in 0..pairs {
                let done = done.clone();
                tokio::spawn(async move {
                    let (tx1, rx1) = oneshot();
                    let (tx2, rx2) = oneshot();
                    tokio::spawn(async move {
                        rx1.await;
                        tx2.send();
                    });
                    tx1.send();
                    rx2.await;
                    done.count_down();
                });
            }
        });
        latch.wait();
    }
    Sample::time(start.elapsed(), ITERATIONS)
}

fn async_executor(env: &Env<'_>) -> Sample {
    let pairs = env.size(PAIRS, QUICK_PAIRS);
    let executor = &env.rts.async_executor.executor;
    let start = Stopwatch::start();
    for _ in 0..ITERATIONS {
        let latch = Latch::new(pairs);
        let done = latch.clone();
        let ex = executor.clone();
        executor
            .spawn(async move {
                for _ in 0..pairs {
                    let done = done.clone();
                    let ex2 = ex.clone();
                    ex.spawn(async move {
                        let (tx1, rx1) = oneshot();
                        let (tx2, rx2) = oneshot();
                        ex2.spawn(async move {
                            rx1.await;
                            tx2.send();
                        })
                        .detach();
                        tx1.send();
                        rx2.await;
                        done.count_down();
                    })
                    .detach();
                }
            })
            .detach();
        latch.wait();
    }
    Sample::time(start.elapsed(), ITERATIONS)
}
