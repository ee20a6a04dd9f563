//! `limited_view`: 400 blocking calls of 5 ms through a view limited to 8 at once: wall time
//! against the ideal, and the largest number of calls seen running at once (must be exactly
//! 8).
//!
//! One sample: the bench thread submits [`CALLS`] calls that each block [`CALL`] inside a
//! gauge (current/max concurrency) and count a latch down.
//! * corral: coroutines launched on `Dispatchers::io().limited_parallelism(8)`.
//! * tokio (different mechanism, as tokio has no limited views): tasks that acquire an owned
//!   permit of a `tokio::sync::Semaphore(8)` and move it into a `spawn_blocking` closure,
//!   which releases it when the call returns.
//!
//! async-executor has no blocking pool, so it has no row.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Stopwatch;

use crate::runtimes::Runtime;
use crate::sync::{Gauge, Latch};
use crate::workloads::{corral_side, Env, Metric, Sample, Workload};

/// Blocking calls per sample.
const CALLS: usize = 400;
/// Blocking calls per sample with `--quick`.
const QUICK_CALLS: usize = 80;
/// How long each call blocks.
const CALL: Duration = Duration::from_millis(5);
/// The view's parallelism (the semaphore's permits for tokio).
const LIMIT: usize = 8;

pub(super) fn workload() -> Workload {
    Workload::new(
        "limited_view",
        |quick| {
            let n = if quick { QUICK_CALLS } else { CALLS };
            format!("{n} blocking calls of {CALL:?} through a view of parallelism {LIMIT}; time until all returned, and max concurrency")
        },
        |quick| {
            let n = if quick { QUICK_CALLS } else { CALLS };
            let ideal = CALL * n as u32 / LIMIT as u32;
            vec![
                format!("ideal time: {n} x {CALL:?} / {LIMIT} = {ideal:?} (target: within 10%); max concurrency must be exactly {LIMIT}"),
                format!("corral: `Dispatchers::io().limited_parallelism({LIMIT})`; tokio: a `Semaphore({LIMIT})` permit moved into `spawn_blocking` (tokio has no limited views)"),
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
    use corral::{CoroutineStart, Dispatchers};

    let n = env.size(CALLS, QUICK_CALLS);
    let root = super::CorralRoot::new();
    let view = Dispatchers::io().limited_parallelism(LIMIT);
    let latch = Latch::new(n);
    let gauge = Gauge::new();
    let start = Stopwatch::start();
    for _ in 0..n {
        let (done, gauge) = (latch.clone(), gauge.clone());
        root.scope
            .launch_with(view.clone(), CoroutineStart::Default, move |_| async move {
                gauge.measure(|| std::thread::sleep(CALL));
                done.count_down();
            });
    }
    latch.wait();
    let elapsed = start.elapsed();
    root.finish();
    Sample::time(elapsed, 1).with(Metric::MaxConcurrency, gauge.max() as f64)
}

fn tokio(env: &Env<'_>) -> Sample {
    let n = env.size(CALLS, QUICK_CALLS);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(LIMIT));
    let latch = Latch::new(n);
    let gauge = Gauge::new();
    let start = Stopwatch::start();
    for _ in 0..n {
        let (done, gauge, semaphore) = (latch.clone(), gauge.clone(), semaphore.clone());
        env.rts.tokio.spawn(async move {
            let permit = semaphore.acquire_owned().await.expect("semaphore closed");
            tokio::task::spawn_blocking(move || {
                gauge.measure(|| std::thread::sleep(CALL));
                drop(permit);
                done.count_down();
            });
        });
    }
    latch.wait();
    let elapsed = start.elapsed();
    Sample::time(elapsed, 1).with(Metric::MaxConcurrency, gauge.max() as f64)
}
