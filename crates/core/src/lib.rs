//! corral-core: the coroutine core of corral.
//!
//! This crate turns a Rust future into a *coroutine*: one heap task carrying the future, a
//! [`Job`] (its node in the structured-concurrency tree), and the [`Context`] it runs with.
//! It knows nothing about threads: where a coroutine runs is decided by a [`Dispatcher`]
//! (implemented in `corral-dispatchers`), which receives [`Runnable`]s and runs them.
//!
//! What lives here:
//! * [`Job`], [`SupervisorJob`] and the job state machine (New, Active, Completing, Cancelling,
//!   Cancelled, Completed) with kotlinx's rules: parents wait for children, cancellation flows
//!   down, failures flow up unless a supervisor stops them, first failure wins.
//! * The builders [`launch`], [`try_launch`], [`async_`] and their [`CoroutineStart`] modes, and
//!   [`Deferred`].
//! * Cancellation by drop: a cancelled coroutine's future is dropped at its next suspension, on
//!   its own dispatcher; [`NonCancellable`] sections and [`with_cleanup`] give awaitable cleanup.
//! * Failures: panics are caught per poll; [`JobError`]; [`CoroutineExceptionHandler`].
//! * The thread-local [`trampoline`] for in-place resumes, [`yield_now`], and access to the
//!   current coroutine ([`current_job`], [`is_active`], [`ensure_active`]).
//! * [`scoped`]: running a block in place under a new job, the mechanism of the scope
//!   functions of `corral-scopes`.
//!
//! Users normally reach all of this through the `corral` facade crate.

mod builder;
mod cleanup;
mod context;
mod context_values;
mod current;
pub mod debug;
mod deferred;
pub mod dispatcher;
pub mod error;
mod handler;
mod job;
mod loom;
#[cfg(all(test, corral_loom))]
mod loom_tests;
mod runnable;
mod scope;
mod slab;
// Under loom only its own model uses it (job state uses loom's mutex there, see the module).
#[cfg_attr(corral_loom, allow(dead_code))]
mod spin_lock;
mod task;
mod thread_context;
pub mod thread_hook;
pub mod trampoline;
mod wake_batch;
mod yield_now;

pub use builder::{async_, async_scoped, launch, try_launch, CoroutineStart};
pub use cleanup::{with_cleanup, WithCleanup};
pub use context::{Context, CoroutineExceptionHandler, CoroutineName, JobElement, NonCancellable};
pub use context_values::ContextValue;
pub use current::{
    current_context, current_job, ensure_active, host_dispatcher, is_active, with_host_dispatcher,
};
pub use deferred::Deferred;
pub use dispatcher::{Dispatch, Dispatcher, TaskMode};
pub use error::{DispatchError, JobError};
pub use job::{CompletionHandle, Job, JobState, Join, SupervisorJob};
pub use runnable::{RunTask, Runnable};
pub use scope::{scoped, scoped_with_host, ScopeKind, Scoped};
pub use thread_context::{ThreadContextElement, ThreadElement};
pub use yield_now::{yield_now, YieldNow};
