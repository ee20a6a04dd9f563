//! The scheduler's errors: a configuration it refuses, and work it refuses after shutdown.

use std::fmt;

/// A [`SchedulerBuilder`](crate::SchedulerBuilder) configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `core_pool_size(0)`.
    #[error("core_pool_size must be at least 1, got 0")]
    ZeroCorePoolSize,
    /// More CPU permits than the control word can count.
    #[error("core_pool_size ({core}) exceeds the supported maximum ({limit})")]
    CoreTooLarge {
        /// The core pool size asked for.
        core: usize,
        /// The largest supported value.
        limit: usize,
    },
    /// `thread_stack_size` below the supported minimum.
    #[error("thread_stack_size ({size} bytes) is below the minimum of {min} bytes")]
    StackTooSmall {
        /// The stack size asked for, in bytes.
        size: usize,
        /// The smallest accepted size, in bytes.
        min: usize,
    },
    /// `max_pool_size` below `core_pool_size`.
    #[error("max_pool_size ({max}) must be at least core_pool_size ({core})")]
    MaxBelowCore {
        /// The core pool size asked for.
        core: usize,
        /// The max pool size asked for.
        max: usize,
    },
    /// More threads than the control word can count.
    #[error("max_pool_size ({max}) exceeds the supported maximum ({limit})")]
    TooLarge {
        /// The max pool size asked for.
        max: usize,
        /// The largest supported value.
        limit: usize,
    },
    /// `keep_alive(Duration::ZERO)`.
    #[error("keep_alive must be longer than zero")]
    ZeroKeepAlive,
    /// `name("")`.
    #[error("the scheduler's name must not be empty (it names the worker threads)")]
    EmptyName,
}

/// Work a shut-down scheduler refused; [`into_inner`](Rejected::into_inner) gives it back.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use corral_scheduler::CoroutineScheduler;
///
/// let pool = CoroutineScheduler::builder().name("closed").build().unwrap();
/// pool.shutdown(Duration::from_secs(5));
/// let rejected = pool.execute(|| println!("never runs here")).unwrap_err();
/// assert_eq!(rejected.scheduler(), "closed");
/// assert!(rejected.to_string().contains("shut down"));
/// rejected.into_inner().run(); // the caller may run it itself, or drop it
/// ```
#[derive(thiserror::Error)]
#[error("scheduler `{scheduler}` is shut down and accepts no new work")]
pub struct Rejected<T> {
    item: T,
    scheduler: String,
}

impl<T> Rejected<T> {
    pub(crate) fn new(item: T, scheduler: &str) -> Rejected<T> {
        Rejected {
            item,
            scheduler: scheduler.to_owned(),
        }
    }

    /// The refused work.
    pub fn into_inner(self) -> T {
        self.item
    }

    /// The name of the scheduler that refused it.
    pub fn scheduler(&self) -> &str {
        &self.scheduler
    }
}

impl<T> fmt::Debug for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("scheduler", &self.scheduler)
            .finish_non_exhaustive()
    }
}
