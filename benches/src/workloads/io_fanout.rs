//! `io_fanout`: 2000 blocking calls of 10 ms each, submitted at once from outside the
//! runtime: wall time, and the runtime's peak thread count while they run.
//!
//! One sample: the bench thread submits [`CALLS`] closures that `std::thread::sleep`
//! [`CALL`] and count a latch down; corral launches each as a coroutine on
//! `Dispatchers::io()` (`launch(Dispatchers.IO) { Thread.sleep() }`), tokio runs each with
//! `spawn_blocking` (its default blocking pool: up to 512 threads). A sampler thread reads
//! the process's thread count every 0.5 ms (see `crate::threads`).
//! async-executor has no blocking pool (smol's is the `blocking` crate, not a dependency
//! here), so it has no row.

use std::time::Duration;

use crate::clock::Stopwatch;

use crate::runtimes::Runtime;
use crate::sync::Latch;
use crate::threads::PeakThreads;
use crate::workloads::{corral_side, Env, Metric, Sample, Workload};

/// Blocking calls per sample.
const CALLS: usize = 2000;
/// Blocking calls per sample with `--quick`.
const QUICK_CALLS: usize = 400;
/// How long each call blocks.
const CALL: Duration = Duration::from_millis(10);
/// corral's IO parallelism on a machine with at most 64 cores: `max(64, cores)`.
const IO_PARALLELISM: usize = 64;

pub(super) fn workload() -> Workload {
    Workload::new(
        "io_fanout",
        |quick| {
            let n = if quick { QUICK_CALLS } else { CALLS };
            format!("{n} blocking calls of {CALL:?} submitted from outside; time until all returned, and peak threads")
        },
        |quick| {
            let n = if quick { QUICK_CALLS } else { CALLS };
            let ideal = CALL * n as u32 / IO_PARALLELISM as u32;
            vec![
                format!("ideal time for corral's IO dispatcher (parallelism {IO_PARALLELISM}): {n} x {CALL:?} / {IO_PARALLELISM} = {ideal:?}"),
                "tokio: `spawn_blocking` on its default blocking pool (at most 512 threads), so it may use many more threads".to_owned(),
                "async-executor: no row (it has no blocking pool; smol's is the `blocking` crate)".to_owned(),
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
    let latch = Latch::new(n);
    let threads = PeakThreads::start(Runtime::Corral);
    let start = Stopwatch::start();
    for _ in 0..n {
        let done = latch.clone();
        root.scope.launch_with(
            Dispatchers::io(),
            CoroutineStart::Default,
            move |_| async move {
                std::thread::sleep(CALL);
                done.count_down();
            },
        );
    }
    latch.wait();
    let elapsed = start.elapsed();
    let peak = threads.stop();
    root.finish();
    Sample::time(elapsed, 1).with(Metric::PeakThreads, peak as f64)
}

fn tokio(env: &Env<'_>) -> Sample {
    let n = env.size(CALLS, QUICK_CALLS);
    let latch = Latch::new(n);
    let threads = PeakThreads::start(Runtime::Tokio);
    let start = Stopwatch::start();
    for _ in 0..n {
        let done = latch.clone();
        env.rts.tokio.spawn_blocking(move || {
            std::thread::sleep(CALL);
            done.count_down();
        });
    }
    latch.wait();
    let elapsed = start.elapsed();
    let peak = threads.stop();
    Sample::time(elapsed, 1).with(Metric::PeakThreads, peak as f64)
}
