//! `delay_100k`: 100 000 coroutines that each sleep 1 s: wall time until all woke, and live
//! heap bytes per sleeping coroutine.
//!
//! One sample: with the allocation window open, the bench thread spawns one task, which
//! spawns [`TASKS`] tasks **from inside a worker**; each bumps a static counter, sleeps
//! [`DELAY`] (corral `delay`, tokio `tokio::time::sleep`) and counts a latch down. When all
//! have been polled (all timers registered, none fired yet), the window's layout bytes,
//! usable bytes and resident-set growth divided by [`TASKS`] are the memory sample (tasks and
//! timer entries, whatever the runtime allocates per sleeper, amortized over all of them:
//! growth by doubling of a timer heap or a child slab is part of the cost at this size). The
//! window opens after earlier frees settled (see `alloc`). The time sample runs from the first spawn until the latch opens:
//! the ideal is [`DELAY`] plus spawning. async-executor has no timer of its own (smol's is
//! `async-io`, not a dependency here), so it has no row.

use std::time::Duration;

use crate::clock::Stopwatch;

use crate::alloc::Window;
use crate::runtimes::Runtime;
use crate::sync::{Latch, Polled};
use crate::workloads::{corral_side, Env, Sample, Workload};

/// Sleeping tasks per sample.
const TASKS: usize = 100_000;
/// Sleeping tasks per sample with `--quick`.
const QUICK_TASKS: usize = 10_000;
/// How long each sleeps.
const DELAY: Duration = Duration::from_secs(1);
/// How long each sleeps with `--quick`.
const QUICK_DELAY: Duration = Duration::from_millis(200);

static POLLED: Polled = Polled::new();

pub(super) fn workload() -> Workload {
    Workload::new(
        "delay_100k",
        |quick| {
            let (n, d) = if quick {
                (QUICK_TASKS, QUICK_DELAY)
            } else {
                (TASKS, DELAY)
            };
            format!("{n} tasks spawned inside a worker, each sleeping {d:?}; time until all woke, and live heap bytes per sleeper")
        },
        |quick| {
            let d = if quick { QUICK_DELAY } else { DELAY };
            vec![
                format!("ideal time: {d:?} plus spawning"),
                "async-executor: no row (it has no timer; smol's timer is in async-io)".to_owned(),
            ]
        },
        Some(3),
        &[
            (Runtime::Corral, corral_side!(corral)),
            (Runtime::Tokio, Some(tokio)),
        ],
    )
}

/// Waits until all `n` sleepers are registered, reads the window, then waits for the latch.
/// Returns the sample.
///
/// # Panics
///
/// If registering took longer than `delay` (some sleepers may have woken and freed their
/// memory before it was read).
fn measure(start: Stopwatch, window: Window, latch: &Latch, n: usize, delay: Duration) -> Sample {
    POLLED.wait_for(n);
    let reading = window.read();
    drop(window);
    let registered = start.elapsed().wall;
    latch.wait();
    let elapsed = start.elapsed();
    assert!(
        registered < delay,
        "registering {n} sleepers took {registered:?}, longer than their {delay:?} delay"
    );
    Sample::time(elapsed, 1).with_memory(reading, n)
}

#[cfg(feature = "corral")]
pub(super) fn corral(env: &Env<'_>) -> Sample {
    let (n, delay) = (env.size(TASKS, QUICK_TASKS), env.size(DELAY, QUICK_DELAY));
    let root = super::CorralRoot::new();
    let latch = Latch::new(n);
    let done = latch.clone();
    POLLED.reset();
    let window = Window::open();
    let start = Stopwatch::start();
    root.scope.launch(move |scope| async move {
        for _ in 0..n {
            let done = done.clone();
            scope.launch(move |_| async move {
                POLLED.hit();
                corral::delay(delay).await;
                done.count_down();
            });
        }
    });
    let sample = measure(start, window, &latch, n, delay);
    root.finish();
    sample
}

fn tokio(env: &Env<'_>) -> Sample {
    let (n, delay) = (env.size(TASKS, QUICK_TASKS), env.size(DELAY, QUICK_DELAY));
    let latch = Latch::new(n);
    let done = latch.clone();
    POLLED.reset();
    let window = Window::open();
    let start = Stopwatch::start();
    env.rts.tokio.spawn(async move {
        for _ in 0..n {
            let done = done.clone();
            tokio::spawn(async move {
                POLLED.hit();
                tokio::time::sleep(delay).await;
                done.count_down();
            });
        }
    });
    measure(start, window, &latch, n, delay)
}
