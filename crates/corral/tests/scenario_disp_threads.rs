//! Dispatcher issue (2), the S3-upload thread blow-up: 2000 coroutines on `Dispatchers::io()`
//! that each block their thread for 5 ms never run on more than `64 + core + 4` threads in
//! total. Alone in this file (its own process) because it reads the process's thread count:
//! no other test may add threads meanwhile.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use corral::prelude::*;

const UPLOADS: usize = 2000;

/// The largest blocking-task count and thread count the shared scheduler reported, sampled
/// inside the uploads.
static PEAK_COUNTED_BLOCKING: AtomicUsize = AtomicUsize::new(0);
static PEAK_SCHEDULER_THREADS: AtomicUsize = AtomicUsize::new(0);

/// `Threads:` of /proc/self/status (Linux); `None` elsewhere.
fn process_threads() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|count| count.trim().parse().ok())
}

/// Dispatcher issue (2): 2000 blocking IO coroutines, twice: the distinct threads that ran
/// them, and the process's whole thread count at any sample, stay within
/// `64 + core + 4` (IO's 64 blocking slots, the CPU workers, and a few others: the test
/// harness's main and test threads, the timer thread). `core` is the scheduler's core pool size.
#[test]
fn disp_issue_2_io_blocking_thread_bound() {
    let io_parallelism = Dispatchers::shared_config().io_parallelism;
    let core = Dispatchers::shared_scheduler().core_pool_size();
    // 64 + core + 4 with the default IO parallelism, max(64, cores).
    let bound = io_parallelism + core + 4;

    let threads: Arc<Mutex<HashSet<ThreadId>>> = Arc::default();
    let peak_process_threads = Arc::new(AtomicUsize::new(process_threads().unwrap_or(0)));
    let running = Arc::new(AtomicUsize::new(0));
    let peak_running = Arc::new(AtomicUsize::new(0));
    for _round in 0..2 {
        let (threads, peak_process_threads, running, peak_running) = (
            threads.clone(),
            peak_process_threads.clone(),
            running.clone(),
            peak_running.clone(),
        );
        run_blocking(move |scope| async move {
            for _ in 0..UPLOADS {
                let (threads, peak_process_threads, running, peak_running) = (
                    threads.clone(),
                    peak_process_threads.clone(),
                    running.clone(),
                    peak_running.clone(),
                );
                scope.launch_with(
                    Dispatchers::io(),
                    CoroutineStart::Default,
                    move |_| async move {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak_running.fetch_max(now, Ordering::SeqCst);
                        threads.lock().unwrap().insert(thread::current().id());
                        if let Some(count) = process_threads() {
                            peak_process_threads.fetch_max(count, Ordering::SeqCst);
                        }
                        let counters = Dispatchers::shared_scheduler().counters();
                        PEAK_COUNTED_BLOCKING.fetch_max(counters.blocking_tasks, Ordering::SeqCst);
                        PEAK_SCHEDULER_THREADS.fetch_max(counters.threads, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(5)); // the blocking upload
                        running.fetch_sub(1, Ordering::SeqCst);
                    },
                );
            }
        })
        .unwrap();
    }
    let distinct = threads.lock().unwrap().len();
    // The root cause of the blow-up this guards against: IO's view loops re-queue themselves
    // after each batch and were counted twice meanwhile (65+ "blocking tasks" for 64 slots),
    // so the scheduler added a compensating thread at batch boundaries. The peak count is
    // shown in the messages below (it is not asserted alone: a loop leaving an empty view may
    // legitimately overlap for an instant with a new one).
    let counted = PEAK_COUNTED_BLOCKING.load(Ordering::SeqCst);
    let created = PEAK_SCHEDULER_THREADS.load(Ordering::SeqCst);
    assert!(
        created <= bound,
        "the scheduler had {created} threads, bound {bound} (it counted up to {counted} blocking tasks)"
    );
    let peak_running = peak_running.load(Ordering::SeqCst);
    assert!(
        peak_running <= io_parallelism,
        "{peak_running} uploads at once"
    );
    assert!(
        distinct <= bound,
        "{UPLOADS} IO coroutines ran on {distinct} distinct threads, bound {bound} \
         (the scheduler counted up to {counted} blocking tasks)"
    );
    if let Some(now) = process_threads() {
        let peak = peak_process_threads.load(Ordering::SeqCst).max(now);
        assert!(
            peak <= bound,
            "the process had {peak} threads, bound {bound} ({distinct} ran uploads)"
        );
    }
}
