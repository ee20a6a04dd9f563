//! corral-scheduler: the work-stealing pool shared by `Dispatchers::default()` and
//! `Dispatchers::io()`, usable on its own as a thread pool.
//!
//! # Model
//!
//! Threads are separate from **CPU permits** (kotlinx's design): the pool has `core` permits
//! and a worker runs CPU tasks only while holding one, so at most `core` CPU tasks run at once.
//! A task submitted as [`TaskMode::ProbablyBlocking`](corral_core::TaskMode) gives its permit
//! back while it runs, and the pool adds a thread so `core` threads stay free for CPU work;
//! blocking calls pile up on extra threads (up to `max_pool_size`) without starving CPU work,
//! and a switch from CPU to blocking work usually stays on the same thread.
//!
//! # Parts
//!
//! * `control`: threads and free permits in one atomic word, the count of
//!   blocking tasks beside it.
//! * `local_queue`: each worker's ring (owner pushes without a CAS, thieves steal half), plus
//!   the "run next" slot (`run_next`) that gives ping-pong affinity but lets
//!   thieves rescue a task stuck behind a blocked worker.
//! * `GlobalQueue`: external submissions and overflow; lock-free and it gives memory back.
//! * `permit_gate`: where a worker leaving a blocking section waits for a
//!   CPU permit.
//! * `idle`: the parked-worker stack (`index_stack`) and the
//!   searching count, with the rule that makes lost wake-ups impossible.
//! * `park_driver`: [`ParkDriver`], the hook through which an idle worker drives another
//!   layer's event source (corral-io's reactor) instead of sleeping.
//! * `worker`: where a worker looks for work, when it parks or retires, and
//!   [`block_in_place`]: a CPU task about to block its thread gives its permit back meanwhile.
//!
//! # Configuration
//!
//! [`SchedulerBuilder`] sets the core and maximum pool sizes, the keep-alive of extra threads
//! (a keep-alive too long for an `Instant`, such as `Duration::MAX`, means they never retire)
//! and the worker threads' stack size ([`SchedulerBuilder::thread_stack_size`], like tokio's
//! option; `corral-dispatchers` reads `CORRAL_THREAD_STACK_SIZE` for the shared pool and
//! executors). Workers are created on demand, up to the core pool size as work arrives, so a
//! large core pool size costs nothing until it is used; a thread the OS refuses to create is
//! logged and the pool runs with the threads it has.
//!
//! # Features
//!
//! * `bench-internals` (off by default): makes the worker ring (`local_queue`), its capacity
//!   and the `GlobalQueue` public so the repository's criterion benches can measure them
//!   alone. They are machinery, not API: no stability promise, and only `corral-benches`
//!   enables the feature.
//!
//! `docs/architecture.md` in the repository walks a task through these parts. The loom models
//! live in `src/loom_tests/` (`--cfg corral_loom`), the stress tests in `tests/`.

mod control;
mod error;
// `pub` items for the `bench-internals` feature; crate-private without it.
#[cfg_attr(not(feature = "bench-internals"), allow(unreachable_pub))]
mod global_queue;
mod idle;
mod index_stack;
// The ring and the global queue are machinery; the `bench-internals` feature exposes them to
// the criterion benches only (see the crate docs).
#[cfg(feature = "bench-internals")]
pub mod local_queue;
#[cfg(not(feature = "bench-internals"))]
#[allow(unreachable_pub)]
mod local_queue;
mod loom;
#[cfg(all(test, corral_loom))]
mod loom_tests;
mod metrics;
mod park_driver;
mod parker;
mod permit_gate;
mod pool;
mod run_next;
mod scheduler;
mod worker;

pub use control::MAX_POOL_SIZE;
pub use error::{BuildError, Rejected};
#[cfg(feature = "bench-internals")]
pub use global_queue::GlobalQueue;
#[cfg(feature = "bench-internals")]
pub use local_queue::LOCAL_QUEUE_CAPACITY;
pub use metrics::{SchedulerMetrics, WorkerMetrics};
pub use park_driver::{install_park_driver, ParkDriver, DRIVER_POLL_INTERVAL};
pub use scheduler::{
    default_core_pool_size, CoroutineScheduler, SchedulerBuilder, SchedulerCounters,
    ShutdownReport, DEFAULT_EXTRA_THREADS, DEFAULT_KEEP_ALIVE, MIN_THREAD_STACK_SIZE,
};
pub use worker::block_in_place;
