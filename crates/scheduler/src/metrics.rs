//! Runtime metrics of a scheduler, named after tokio's `RuntimeMetrics`: per worker polls,
//! steals, parks and local-queue depth; the global queues; threads, blocking threads and CPU
//! permits.
//!
//! Each worker slot carries its [`WorkerCounters`] on a cache line of its own. Only the worker
//! that owns the slot writes them, with a relaxed load and a relaxed store (no read-modify-write:
//! a single writer loses no count); a slot passes to another thread only through the slot's
//! owner mutex, which orders the two writers. Readers ([`CoroutineScheduler::metrics`]) see
//! each counter at some recent value.

use crossbeam_utils::CachePadded;

use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::pool::Pool;
use crate::scheduler::CoroutineScheduler;

/// The counters a worker bumps, alone on their cache line.
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters(CachePadded<Counters>);

#[derive(Debug, Default)]
pub(crate) struct Counters {
    polls: AtomicU64,
    steals: AtomicU64,
    parks: AtomicU64,
}

/// Adds one to a counter only its owning worker writes.
fn bump(counter: &AtomicU64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

impl WorkerCounters {
    /// A task (CPU or blocking) is about to run.
    pub(crate) fn poll(&self) {
        bump(&self.0.polls);
    }

    /// A task was stolen from another worker.
    pub(crate) fn steal(&self) {
        bump(&self.0.steals);
    }

    /// The worker is going to sleep.
    pub(crate) fn park(&self) {
        bump(&self.0.parks);
    }
}

/// One worker slot's metrics in a [`SchedulerMetrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// The slot's index (worker `N` of the thread names is `index + 1`).
    pub index: usize,
    /// Whether a thread owns the slot now.
    pub active: bool,
    /// Tasks run by the slot's workers since the pool started (tokio's `worker_poll_count`).
    pub poll_count: u64,
    /// Tasks taken from other workers' queues (tokio's `worker_steal_operations`).
    pub steal_count: u64,
    /// Times a worker of this slot went to sleep (tokio's `worker_park_count`).
    pub park_count: u64,
    /// Tasks in the slot's local queue (tokio's `worker_local_queue_depth`).
    pub local_queue_depth: usize,
}

/// A snapshot of a scheduler's metrics ([`CoroutineScheduler::metrics`]); racy, each value
/// recent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchedulerMetrics {
    /// Every worker slot used so far.
    pub workers: Vec<WorkerMetrics>,
    /// Worker threads that exist (tokio's `num_workers` plus its blocking threads: here one
    /// pool holds both).
    pub num_threads: usize,
    /// Blocking tasks queued or running (tokio's `num_blocking_threads` counts the threads
    /// running them; here a thread runs a blocking task after giving its CPU permit back).
    pub num_blocking_tasks: usize,
    /// CPU permits held: CPU-bound tasks running or about to.
    pub cpu_permits_in_use: usize,
    /// CPU permits in all (the core pool size).
    pub cpu_permits: usize,
    /// CPU tasks in the global queue (tokio's `global_queue_depth`).
    pub global_queue_depth: usize,
    /// Blocking tasks in the global blocking queue (tokio's `blocking_queue_depth`).
    pub blocking_queue_depth: usize,
}

impl SchedulerMetrics {
    pub(crate) fn of(pool: &Pool) -> SchedulerMetrics {
        let control = pool.control.load();
        let workers = (0..pool.slots_used())
            .filter_map(|index| {
                let slot = pool.slot_if_used(index)?;
                let counters = &slot.counters.0;
                Some(WorkerMetrics {
                    index,
                    active: slot.active.load(Ordering::Relaxed),
                    poll_count: counters.polls.load(Ordering::Relaxed),
                    steal_count: counters.steals.load(Ordering::Relaxed),
                    park_count: counters.parks.load(Ordering::Relaxed),
                    local_queue_depth: slot.stealer.len(),
                })
            })
            .collect();
        SchedulerMetrics {
            workers,
            num_threads: control.created(),
            num_blocking_tasks: control.blocking(),
            cpu_permits_in_use: pool.core.saturating_sub(control.free_permits()),
            cpu_permits: pool.core,
            global_queue_depth: pool.global_cpu.len(),
            blocking_queue_depth: pool.global_blocking.len(),
        }
    }

    /// Tasks run by all workers.
    pub fn total_poll_count(&self) -> u64 {
        self.workers.iter().map(|worker| worker.poll_count).sum()
    }
}

impl CoroutineScheduler {
    /// The pool's [`SchedulerMetrics`] now.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral_scheduler::CoroutineScheduler;
    ///
    /// let pool = CoroutineScheduler::builder().core_pool_size(1).build().unwrap();
    /// let (done, wait) = std::sync::mpsc::channel();
    /// pool.execute(move || done.send(()).unwrap()).unwrap();
    /// wait.recv().unwrap();
    /// let metrics = pool.metrics();
    /// assert_eq!(metrics.cpu_permits, 1);
    /// assert!(metrics.total_poll_count() >= 1);
    /// ```
    pub fn metrics(&self) -> SchedulerMetrics {
        SchedulerMetrics::of(&self.pool)
    }
}
