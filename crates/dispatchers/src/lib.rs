//! corral-dispatchers: where coroutines run, and when they wake up.
//!
//! * [`Dispatchers`]: `default()` (CPU work) and `io()` (blocking calls) on one shared
//!   work-stealing [`CoroutineScheduler`](corral_scheduler::CoroutineScheduler), `unconfined()`
//!   (in place, trampolined) and `main()` (the running main loop).
//! * [`LimitedDispatcher`]: `limited_parallelism(n)` views of any dispatcher.
//! * [`EventLoop`]: the single-thread loop behind `run_blocking` and the main loop.
//! * [`new_fixed_thread_pool_context`] / [`new_single_thread_context`]: closable executors.
//! * [`delay`] and [`schedule_timeout`]: timers with O(log n) cancellation, fired by the event
//!   loop that owns them or by the shared `corral-timer` thread.
//! * [`config`]: the `CORRAL_*` environment variables, read once.
//!
//! # Examples
//!
//! ```
//! use corral_dispatchers::Dispatchers;
//!
//! assert_eq!(Dispatchers::default().to_string(), "Dispatchers.Default");
//! assert_eq!(Dispatchers::io().to_string(), "Dispatchers.IO");
//! assert_eq!(
//!     Dispatchers::io().limited_parallelism(8).to_string(),
//!     "Dispatchers.IO.limitedParallelism(8)"
//! );
//! // Views of Default at or above its parallelism are Default itself.
//! assert_eq!(Dispatchers::default().limited_parallelism(10_000), Dispatchers::default());
//! ```

pub mod config;
mod delay;
mod dispatchers;
mod event_loop;
mod executor;
mod limited;
mod main_dispatcher;
mod scheduler_dispatcher;
mod timer;
mod tokio_context;
mod unconfined;

pub use config::{SharedConfig, DEFAULT_IO_PARALLELISM};
pub use delay::{delay, schedule_timeout, Delay, TimeoutHandle};
pub use dispatchers::{Dispatchers, DEFAULT_SCHEDULER_NAME};
pub use event_loop::{EventLoop, LoopGuard, MainGuard, MainLoopError};
pub use executor::{new_fixed_thread_pool_context, new_single_thread_context, ExecutorDispatcher};
pub use limited::LimitedDispatcher;
pub use timer::TIMER_THREAD_NAME;
