//! [`CoroutineScheduler`]: the public handle, its builder, and shutdown.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_core::{Runnable, TaskMode};

use crate::control::MAX_POOL_SIZE;
use crate::error::{BuildError, Rejected};
use crate::pool::{Pool, ThreadName};
use crate::worker;

/// Idle workers above the core pool size retire after this long (kotlinx's
/// `IDLE_WORKER_KEEP_ALIVE_NS`, 60 s).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(60);

/// Threads beyond the core pool size that the default maximum allows: tokio's default
/// `max_blocking_threads` (512). kotlinx allows 2^21 - 2, which never protects anyone
/// (kotlinx #4540); hitting this bound makes blocking work queue, it never fails.
pub const DEFAULT_EXTRA_THREADS: usize = 512;

/// The smallest worker stack size [`SchedulerBuilder::thread_stack_size`] accepts: 64 KiB,
/// four times glibc's `PTHREAD_STACK_MIN` (16 KiB), so the worker loop, a task's poll and
/// panic unwinding fit; smaller values are almost certainly a unit mistake (KiB for bytes).
pub const MIN_THREAD_STACK_SIZE: usize = 64 * 1024;

/// The default core pool size: the available parallelism, at least 2 (kotlinx's
/// `CORE_POOL_SIZE` rule, so work stealing works even on one core).
pub fn default_core_pool_size() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .max(2)
}

/// A work-stealing pool for CPU and blocking work; see the crate docs.
///
/// Cheap to clone (a shared handle). Dropping the last handle does not stop the workers while
/// they have work; call [`shutdown`](CoroutineScheduler::shutdown) to stop them.
///
/// # Examples
///
/// ```
/// use corral_scheduler::CoroutineScheduler;
/// use std::sync::mpsc;
///
/// let scheduler = CoroutineScheduler::builder().core_pool_size(2).name("example").build().unwrap();
/// let (sender, receiver) = mpsc::channel();
/// scheduler
///     .execute(move || sender.send(std::thread::current().name().map(str::to_owned)).unwrap())
///     .unwrap();
/// let thread = receiver.recv().unwrap().unwrap();
/// assert!(thread.starts_with("example-worker-"));
/// scheduler.shutdown(std::time::Duration::from_secs(1));
/// ```
#[derive(Clone)]
pub struct CoroutineScheduler {
    pub(crate) pool: Arc<Pool>,
}

/// Configures a [`CoroutineScheduler`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use corral_scheduler::{BuildError, CoroutineScheduler};
///
/// let pool = CoroutineScheduler::builder()
///     .core_pool_size(2) // CPU tasks at once
///     .max_pool_size(8) // threads, blocking tasks' compensation included
///     .keep_alive(Duration::from_secs(5))
///     .name("example")
///     .build()
///     .unwrap();
/// assert_eq!((pool.core_pool_size(), pool.max_pool_size()), (2, 8));
/// assert!(pool.shutdown(Duration::from_secs(5)).is_clean());
///
/// // A configuration that cannot work is refused, with the reason.
/// let refused = CoroutineScheduler::builder().core_pool_size(4).max_pool_size(2).build();
/// assert_eq!(refused.unwrap_err(), BuildError::MaxBelowCore { core: 4, max: 2 });
/// ```
#[derive(Clone, Debug)]
pub struct SchedulerBuilder {
    core_pool_size: Option<usize>,
    max_pool_size: Option<usize>,
    keep_alive: Duration,
    stack_size: Option<usize>,
    name: String,
    thread_name: ThreadName,
}

impl SchedulerBuilder {
    /// CPU permits: how many CPU tasks run at once (default [`default_core_pool_size`]).
    pub fn core_pool_size(mut self, size: usize) -> SchedulerBuilder {
        self.core_pool_size = Some(size);
        self
    }

    /// The most threads the pool may have (default: core + [`DEFAULT_EXTRA_THREADS`]).
    pub fn max_pool_size(mut self, size: usize) -> SchedulerBuilder {
        self.max_pool_size = Some(size);
        self
    }

    /// How long an idle thread above the core pool size lives (default
    /// [`DEFAULT_KEEP_ALIVE`]). A duration too long for an `Instant`, such as
    /// `Duration::MAX`, means such threads never retire.
    pub fn keep_alive(mut self, keep_alive: Duration) -> SchedulerBuilder {
        self.keep_alive = keep_alive;
        self
    }

    /// The stack size of the worker threads, in bytes (default: the standard library's, 2 MiB
    /// unless `RUST_MIN_STACK` says otherwise), like tokio's `thread_stack_size`. Deeply
    /// nested coroutines (each nested scope's poll is a frame on the worker's stack) may need
    /// more. At least [`MIN_THREAD_STACK_SIZE`].
    pub fn thread_stack_size(mut self, bytes: usize) -> SchedulerBuilder {
        self.stack_size = Some(bytes);
        self
    }

    /// The pool's name; worker threads are named `<name>-worker-N` (default
    /// `CoroutineScheduler`).
    pub fn name(mut self, name: impl Into<String>) -> SchedulerBuilder {
        self.name = name.into();
        self
    }

    /// Names worker threads `thread_name(N)` (N counts from 1) instead of `<name>-worker-N`;
    /// fixed-size executors use it for Kotlin's `<name>-N` names.
    pub fn thread_name(
        mut self,
        thread_name: impl Fn(usize) -> String + Send + Sync + 'static,
    ) -> SchedulerBuilder {
        self.thread_name = ThreadName::custom(thread_name);
        self
    }

    /// Checks the configuration. Starts no thread: workers are created as work arrives.
    pub fn build(self) -> Result<CoroutineScheduler, BuildError> {
        let core = self.core_pool_size.unwrap_or_else(default_core_pool_size);
        if core == 0 {
            return Err(BuildError::ZeroCorePoolSize);
        }
        if core > MAX_POOL_SIZE {
            return Err(BuildError::CoreTooLarge {
                core,
                limit: MAX_POOL_SIZE,
            });
        }
        let max = self
            .max_pool_size
            .unwrap_or_else(|| (core + DEFAULT_EXTRA_THREADS).min(MAX_POOL_SIZE));
        if max < core {
            return Err(BuildError::MaxBelowCore { core, max });
        }
        if max > MAX_POOL_SIZE {
            return Err(BuildError::TooLarge {
                max,
                limit: MAX_POOL_SIZE,
            });
        }
        if self.keep_alive.is_zero() {
            return Err(BuildError::ZeroKeepAlive);
        }
        if self.name.is_empty() {
            return Err(BuildError::EmptyName);
        }
        if let Some(size) = self.stack_size.filter(|&size| size < MIN_THREAD_STACK_SIZE) {
            return Err(BuildError::StackTooSmall {
                size,
                min: MIN_THREAD_STACK_SIZE,
            });
        }
        let pool = Arc::new(Pool::new(
            self.name,
            self.thread_name,
            core,
            max,
            self.keep_alive,
            self.stack_size,
        ));
        Ok(CoroutineScheduler { pool })
    }
}

impl CoroutineScheduler {
    /// A builder with the defaults.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder {
            core_pool_size: None,
            max_pool_size: None,
            keep_alive: DEFAULT_KEEP_ALIVE,
            stack_size: None,
            name: "CoroutineScheduler".to_owned(),
            thread_name: ThreadName::default(),
        }
    }

    /// Queues `runnable`. `mode` says whether it may block (then it does not hold a CPU
    /// permit while it runs, and the pool adds a thread to compensate); `fair` queues it
    /// behind the work already waiting (after `yield_now`), otherwise a task dispatched from a
    /// worker runs next on that worker. A blocking task dispatched `fair` by a blocking task
    /// running on this pool is taken as that task yielding (re-queuing itself and returning):
    /// the new task takes over its blocking count. Fails only after
    /// [`shutdown`](Self::shutdown), giving the runnable back.
    #[inline]
    pub fn dispatch(
        &self,
        runnable: Runnable,
        mode: TaskMode,
        fair: bool,
    ) -> Result<(), Rejected<Runnable>> {
        self.pool
            .dispatch(runnable, mode, fair, false)
            .map_err(|runnable| Rejected::new(runnable, &self.pool.name))
    }

    /// [`dispatch`](Self::dispatch) with `fair`, for the task a worker is running re-queuing
    /// itself after a yield (a coroutine's `yield_now`, a dispatcher loop's batch end), which
    /// returns right after. On a worker of this pool holding a CPU permit the task goes to the
    /// back of that worker's queue and, unlike `dispatch`, wakes no other worker: no new work
    /// appeared, and this worker is awake to run it (kotlinx's tail dispatch). Anything else
    /// (a new task the caller then blocks on) must use `dispatch`, which wakes a worker to
    /// steal it.
    #[inline]
    pub fn requeue(&self, runnable: Runnable, mode: TaskMode) -> Result<(), Rejected<Runnable>> {
        self.pool
            .dispatch(runnable, mode, true, true)
            .map_err(|runnable| Rejected::new(runnable, &self.pool.name))
    }

    /// Runs a plain closure on the pool as a CPU task.
    pub fn execute<F>(&self, f: F) -> Result<(), Rejected<Runnable>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.dispatch(Runnable::from_fn(f), TaskMode::NonBlocking, false)
    }

    /// CPU permits (the most CPU tasks running at once).
    pub fn core_pool_size(&self) -> usize {
        self.pool.core
    }

    /// The most threads the pool may have.
    pub fn max_pool_size(&self) -> usize {
        self.pool.max
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.pool.name
    }

    /// `true` if the calling thread is one of this pool's workers.
    pub fn is_current_worker(&self) -> bool {
        worker::is_worker_of(&self.pool)
    }

    /// `true` once [`shutdown`](Self::shutdown) has been called.
    pub fn is_shut_down(&self) -> bool {
        self.pool.is_closed()
    }

    /// A snapshot of the pool's counters (racy, for monitoring and tests).
    pub fn counters(&self) -> SchedulerCounters {
        let control = self.pool.control.load();
        SchedulerCounters {
            threads: control.created(),
            blocking_tasks: control.blocking(),
            free_cpu_permits: control.free_permits(),
            searching_workers: self.pool.idle.searching(),
            queued_globally: self.pool.global_cpu.len() + self.pool.global_blocking.len(),
        }
    }

    /// Stops the pool: new work is rejected at once (`Err(Rejected)`, never a panic), the
    /// workers run what is already queued and exit. Waits up to `timeout` for them; what is
    /// still queued then is rejected (coroutines fail with a "closed" error). Called from one
    /// of the pool's own workers, it does not wait for that worker (which finishes its queue
    /// after the current task returns). Calling it again only waits again.
    ///
    /// The wait is a [`block_in_place`](crate::block_in_place) section: called from a worker of
    /// another pool, that worker's CPU permit is free for others meanwhile.
    pub fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        let started = Instant::now();
        let first = self.pool.close();
        if first {
            tracing::debug!(pool = %self.pool.name, "shutting down");
        }
        let allowed = usize::from(self.is_current_worker());
        let threads_still_running = if timeout.is_zero() {
            self.pool.live_threads()
        } else {
            crate::block_in_place(|| self.pool.wait_for_threads(allowed, timeout))
        };
        let rejected_tasks = if threads_still_running == 0 {
            self.pool.reject_global() + self.pool.reject_local_leftovers()
        } else {
            // Live workers keep draining; only leftovers nobody will reach are rejected.
            0
        };
        ShutdownReport {
            threads_still_running,
            rejected_tasks,
            elapsed: started.elapsed(),
        }
    }
}

/// Counters of a scheduler at one instant; see [`CoroutineScheduler::counters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchedulerCounters {
    /// Worker threads that exist.
    pub threads: usize,
    /// Blocking tasks queued or running.
    pub blocking_tasks: usize,
    /// CPU permits nobody holds.
    pub free_cpu_permits: usize,
    /// Workers looking for work to steal.
    pub searching_workers: usize,
    /// Tasks in the global queues.
    pub queued_globally: usize,
}

/// What [`CoroutineScheduler::shutdown`] achieved.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use corral_scheduler::CoroutineScheduler;
///
/// let pool = CoroutineScheduler::builder().core_pool_size(1).build().unwrap();
/// pool.execute(|| ()).unwrap();
/// let report = pool.shutdown(Duration::from_secs(5));
/// // Every worker exited and every queued task ran.
/// assert!(report.is_clean());
/// assert_eq!((report.threads_still_running, report.rejected_tasks), (0, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Workers still running when the timeout passed (0: all exited).
    pub threads_still_running: usize,
    /// Queued tasks this call rejected instead of running them (once every worker had
    /// exited). A task submitted while the pool closed, which the last exiting worker rejected
    /// itself, is not counted here.
    pub rejected_tasks: usize,
    /// How long the call took.
    pub elapsed: Duration,
}

impl ShutdownReport {
    /// `true` if every worker exited and every queued task ran.
    pub fn is_clean(&self) -> bool {
        self.threads_still_running == 0 && self.rejected_tasks == 0
    }
}

impl fmt::Debug for CoroutineScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoroutineScheduler")
            .field("name", &self.pool.name)
            .field("core_pool_size", &self.pool.core)
            .field("max_pool_size", &self.pool.max)
            .field("counters", &self.counters())
            .finish()
    }
}
