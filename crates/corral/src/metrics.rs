//! Runtime metrics of the process-wide scheduler behind `Dispatchers::default()` and
//! `Dispatchers::io()`, named after tokio's `RuntimeMetrics`, for a user to read and export.

pub use corral_scheduler::{SchedulerMetrics, WorkerMetrics};

/// A snapshot of the runtime's metrics ([`metrics`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// The shared scheduler: per worker polls, steals, parks and local-queue depth; the global
    /// queues; threads, blocking tasks and CPU permits in use.
    pub scheduler: SchedulerMetrics,
    /// Timers waiting on the shared timer thread (`delay`, `with_timeout` outside an event
    /// loop).
    pub timers_pending: usize,
    /// Live coroutines, when `corral::debug` is installed (`None` otherwise: counting them
    /// would cost every spawn).
    pub live_coroutines: Option<usize>,
}

/// The runtime's metrics now (each value recent; the snapshot is not atomic).
///
/// # Examples
///
/// ```
/// use corral::prelude::*;
///
/// run_blocking(|scope| async move {
///     scope.launch_with(Dispatchers::default(), CoroutineStart::Default, |_| async {});
/// })
/// .unwrap();
/// let metrics = corral::metrics::metrics();
/// assert!(metrics.scheduler.total_poll_count() >= 1);
/// assert!(metrics.scheduler.cpu_permits >= 1);
/// ```
pub fn metrics() -> RuntimeMetrics {
    RuntimeMetrics {
        scheduler: corral_dispatchers::Dispatchers::shared_scheduler().metrics(),
        timers_pending: corral_dispatchers::pending_timers(),
        live_coroutines: corral_core::debug::live_coroutines(),
    }
}
