//! Thread counts, for the `peak_threads` rows.
//!
//! The process's thread count comes from the `Threads:` line of `/proc/self/status`, sampled
//! every [`SAMPLE_EVERY`] by a sampler thread while a workload runs. All three runtimes live
//! in this one process, so a runtime's peak is the process's peak minus the threads that are
//! not that runtime's, counted by name (`/proc/self/task/*/comm`) once, just before the
//! workload starts (the other runtimes are idle then and keep their threads):
//!
//! * tokio's threads are named [`TOKIO_THREAD_NAME`] (workers and blocking pool alike);
//! * async-executor's are named [`ASYNC_EXECUTOR_THREAD_NAME`]`-N`;
//! * the harness's own are the main thread and [`SAMPLER_THREAD_NAME`];
//! * every other thread is corral's (its workers, IO threads, timer thread, if any).

use std::fs;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::runtimes::Runtime;

/// How often the sampler reads the thread count.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_micros(500);

/// The name of every thread of the tokio runtime.
pub(crate) const TOKIO_THREAD_NAME: &str = "tokio-bench";

/// The prefix of the names of async-executor's threads.
pub(crate) const ASYNC_EXECUTOR_THREAD_NAME: &str = "ae-bench";

/// The name of the sampler thread.
const SAMPLER_THREAD_NAME: &str = "bench-sampler";

/// The process's current thread count (`Threads:` in `/proc/self/status`).
///
/// # Panics
///
/// If the file cannot be read or has no such line (not Linux).
pub(crate) fn process_threads() -> usize {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a `Threads:` line in /proc/self/status")
}

/// The names of the process's threads (`/proc/self/task/*/comm`, truncated by Linux to 15
/// bytes). Threads that exit while being listed are skipped.
fn thread_names() -> Vec<String> {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

/// How many of the process's threads belong to `runtime` now, by the rules of the module
/// documentation; `total` is the thread count the names were listed against.
fn own_threads(runtime: Runtime) -> (usize, usize) {
    let names = thread_names();
    let count = |pred: &dyn Fn(&str) -> bool| names.iter().filter(|n| pred(n)).count();
    let tokio = count(&|n| n.starts_with(TOKIO_THREAD_NAME));
    let async_executor = count(&|n| n.starts_with(ASYNC_EXECUTOR_THREAD_NAME));
    let harness = 1 + count(&|n| n == SAMPLER_THREAD_NAME);
    let own = match runtime {
        Runtime::Tokio => tokio,
        Runtime::AsyncExecutor => async_executor,
        Runtime::Corral => names.len().saturating_sub(tokio + async_executor + harness),
    };
    (own, names.len())
}

/// Samples the process's thread count until stopped; reports the peak of one runtime's
/// threads.
#[derive(Debug)]
pub(crate) struct PeakThreads {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    others: usize,
    sampler: Option<thread::JoinHandle<()>>,
}

impl PeakThreads {
    /// Starts sampling for `runtime`'s threads. Call it just before the workload starts.
    pub(crate) fn start(runtime: Runtime) -> PeakThreads {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(process_threads()));
        let sampler = {
            let (stop, peak) = (stop.clone(), peak.clone());
            thread::Builder::new()
                .name(SAMPLER_THREAD_NAME.to_owned())
                .spawn(move || {
                    while !stop.load(Relaxed) {
                        peak.fetch_max(process_threads(), Relaxed);
                        thread::sleep(SAMPLE_EVERY);
                    }
                })
                .expect("spawn the thread sampler")
        };
        // The sampler is running (or about to): wait until it is listed, so that it counts
        // among the others.
        while thread_names().iter().all(|n| n != SAMPLER_THREAD_NAME) {
            thread::yield_now();
        }
        let (own, total) = own_threads(runtime);
        PeakThreads {
            stop,
            peak,
            others: total - own,
            sampler: Some(sampler),
        }
    }

    /// Stops sampling and returns the runtime's peak thread count.
    pub(crate) fn stop(mut self) -> usize {
        self.stop.store(true, Relaxed);
        if let Some(sampler) = self.sampler.take() {
            sampler.join().expect("the thread sampler panicked");
        }
        self.peak.load(Relaxed).saturating_sub(self.others)
    }
}

impl Drop for PeakThreads {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
    }
}
