//! [`Dispatchers`]: the process-wide dispatchers, created on first use.

use std::sync::OnceLock;

use corral_core::{Dispatch, Dispatcher, TaskMode};
use corral_scheduler::CoroutineScheduler;

use crate::config::SharedConfig;
use crate::limited::LimitedDispatcher;
use crate::main_dispatcher::MainDispatch;
use crate::scheduler_dispatcher::SchedulerDispatch;
use crate::unconfined::Unconfined;

/// The name of the shared scheduler (and the prefix of its threads' names).
pub const DEFAULT_SCHEDULER_NAME: &str = "DefaultDispatcher";

/// The process-wide dispatchers, created on first use.
///
/// Default and IO share one [`CoroutineScheduler`] named `DefaultDispatcher` (threads
/// `DefaultDispatcher-worker-N`), configured from the environment ([`crate::config`]):
///
/// * `default()` submits CPU tasks; its parallelism is the core pool size, and its
///   `limited_parallelism(n)` views stay within the CPU permits (`n >= core` gives Default).
/// * `io()` is a [`LimitedDispatcher`] of `max(64, cores)` over the scheduler's *blocking side*
///   (tasks that give their CPU permit back while they run). `io().limited_parallelism(n)` is
///   a sibling view over the same unbounded side, not a sub-view of IO's 64: views are elastic
///   and do not take from each other (kotlinx's rule).
/// * Because the pool is shared, `with_context(Dispatchers::io(), ..)` from a Default worker
///   usually continues on the same thread: the worker gives its permit back instead of
///   handing the work to another pool.
///
/// # Examples
///
/// ```
/// use corral_dispatchers::Dispatchers;
///
/// // Handles are cheap and compare by identity: every call gives the same dispatcher.
/// assert_eq!(Dispatchers::io(), Dispatchers::io());
/// assert_eq!(Dispatchers::unconfined().to_string(), "Dispatchers.Unconfined");
/// // IO's views are siblings over the blocking side, not slices of IO's own limit.
/// let uploads = Dispatchers::io().limited_parallelism(100);
/// assert_eq!(uploads.to_string(), "Dispatchers.IO.limitedParallelism(100)");
/// ```
#[derive(Debug)]
pub struct Dispatchers;

struct Shared {
    config: SharedConfig,
    scheduler: CoroutineScheduler,
    default: Dispatcher,
    io: Dispatcher,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let config = SharedConfig::from_env();
        let scheduler = CoroutineScheduler::builder()
            .core_pool_size(config.core_pool_size)
            .max_pool_size(config.max_pool_size)
            .keep_alive(config.keep_alive)
            .name(DEFAULT_SCHEDULER_NAME);
        let scheduler = match config.thread_stack_size {
            Some(bytes) => scheduler.thread_stack_size(bytes),
            None => scheduler,
        }
        .build()
        .unwrap_or_else(|error| panic!("corral: cannot start the shared scheduler: {error}"));
        let default = process_wide(SchedulerDispatch::new(
            scheduler.clone(),
            TaskMode::NonBlocking,
            "Dispatchers.Default",
            Some(config.core_pool_size),
        ));
        let blocking = process_wide(SchedulerDispatch::new(
            scheduler.clone(),
            TaskMode::ProbablyBlocking,
            "Dispatchers.IO",
            None,
        ));
        let io = process_wide(
            LimitedDispatcher::new(
                blocking.clone(),
                config.io_parallelism,
                Some("Dispatchers.IO".to_owned()),
            )
            .with_views_over(blocking),
        );
        Shared {
            config,
            scheduler,
            default,
            io,
        }
    })
}

/// A handle to a dispatcher that lives as long as the process: the statics of this module
/// hold these forever anyway, and `'static` handles clone without touching a shared
/// reference count (see [`Dispatcher::from_static`]).
fn process_wide(dispatch: impl Dispatch) -> Dispatcher {
    Dispatcher::from_static(Box::leak(Box::new(dispatch)))
}

fn static_dispatcher(
    cell: &'static OnceLock<Dispatcher>,
    make: impl FnOnce() -> Dispatcher,
) -> Dispatcher {
    cell.get_or_init(|| {
        crate::tokio_context::install();
        make()
    })
    .clone()
}

impl Dispatchers {
    /// CPU work: parallelism = the core pool size (`max(2, cores)` unless configured).
    #[allow(clippy::should_implement_trait)] // the public name, after kotlinx `Dispatchers.Default`
    pub fn default() -> Dispatcher {
        shared().default.clone()
    }

    /// Blocking IO: `max(64, cores)` at once (or `CORRAL_IO_PARALLELISM`), on the same threads
    /// as Default. Its `limited_parallelism(n)` views are elastic siblings, see [`Dispatchers`].
    pub fn io() -> Dispatcher {
        shared().io.clone()
    }

    /// Runs coroutines in place on whatever thread resumes them (trampolined).
    pub fn unconfined() -> Dispatcher {
        static UNCONFINED: OnceLock<Dispatcher> = OnceLock::new();
        static_dispatcher(&UNCONFINED, || process_wide(Unconfined))
    }

    /// The running main loop (`run_main_loop`). With none running, coroutines dispatched here
    /// fail with a clear error.
    pub fn main() -> Dispatcher {
        static MAIN: OnceLock<Dispatcher> = OnceLock::new();
        static_dispatcher(&MAIN, || process_wide(MainDispatch { immediate: false }))
    }

    pub(crate) fn main_immediate() -> Dispatcher {
        static MAIN_IMMEDIATE: OnceLock<Dispatcher> = OnceLock::new();
        static_dispatcher(&MAIN_IMMEDIATE, || {
            process_wide(MainDispatch { immediate: true })
        })
    }

    /// The scheduler behind Default and IO (for monitoring: counters, thread names).
    pub fn shared_scheduler() -> &'static CoroutineScheduler {
        &shared().scheduler
    }

    /// The configuration the shared scheduler was built with.
    pub fn shared_config() -> &'static SharedConfig {
        &shared().config
    }
}
