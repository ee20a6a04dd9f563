//! `with_context_round_trip`: a hop from the CPU pool to the blocking pool and back.
//!
//! One iteration, inside one task spawned from outside:
//! * corral: `with_context(Dispatchers::io(), |_| async { 1 }).await` from a coroutine on
//!   `Dispatchers::default()` (Default -> IO -> Default);
//! * tokio: `tokio::task::spawn_blocking(|| 1).await` from a worker task.
//!
//! [`ITERATIONS`] round trips run back to back; the results are summed and checked.
//! async-executor has no blocking pool, so it has no row.

use crate::clock::Stopwatch;
use std::hint::black_box;

use crate::runtimes::Runtime;
use crate::sync::Latch;
use crate::workloads::{corral_side, Env, Sample, Workload};

/// Round trips per sample.
const ITERATIONS: usize = 5000;
/// Round trips per sample with `--quick`.
const QUICK_ITERATIONS: usize = 1000;

pub(super) fn workload() -> Workload {
    Workload::new(
        "with_context_round_trip",
        |_| "Default -> IO -> Default hop inside a worker; time per round trip".to_owned(),
        |_| {
            vec![
                "corral: `with_context(Dispatchers::io(), ..)`; tokio: `spawn_blocking(..).await`"
                    .to_owned(),
                "async-executor: no row (it has no blocking pool)".to_owned(),
            ]
        },
        None,
        &[
            (Runtime::Corral, corral_side!(corral)),
            (Runtime::Tokio, Some(tokio)),
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
        let mut sum = 0;
        for _ in 0..iterations {
            sum += corral::with_context(corral::Dispatchers::io(), |_| async { black_box(1) })
                .await
                .expect("with_context failed");
        }
        assert_eq!(sum, iterations);
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
        let mut sum = 0;
        for _ in 0..iterations {
            sum += tokio::task::spawn_blocking(|| black_box(1))
                .await
                .expect("spawn_blocking failed");
        }
        assert_eq!(sum, iterations);
        done.count_down();
    });
    latch.wait();
    Sample::time(start.elapsed(), iterations)
}
