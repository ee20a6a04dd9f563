//! # corral: Kotlin's structured concurrency for Rust
//!
//! corral brings the programming model of kotlinx.coroutines to Rust: coroutines that form a
//! **tree of Jobs**, four **start modes**, **dispatchers** that share one work-stealing
//! scheduler, and **scope functions**. `use corral::prelude::*;` gives the whole API.
//!
//! ## The model in one page
//!
//! **Coroutines and scopes.** A coroutine is a Rust future with a [`Job`]. It is started from a
//! [`CoroutineScope`] with [`launch`](CoroutineScope::launch) (fire and forget) or
//! [`async_`](CoroutineScope::async_) (returns a [`Deferred`], a future of its result). Each
//! builder hands the new coroutine *its own* scope, so children launched from it are its
//! children.
//!
//! ```
//! use corral::prelude::*;
//!
//! let out = run_blocking(|scope| async move {
//!     scope.launch(|_| async { print!("A") });
//!     scope.launch(|_| async { print!("B") });
//!     print!("C");
//!     let answer = scope.async_(|_| async { 6 * 7 });
//!     answer.await
//! });
//! assert_eq!(out.unwrap().unwrap(), 42); // printed "CAB"
//! ```
//!
//! **Structured concurrency.** A parent completes only after all its children. Cancelling a
//! job cancels its children, recursively. A child that *fails* (panics, or returns `Err` from a
//! [`try_launch`](CoroutineScope::try_launch) body) cancels its parent and so its siblings,
//! unless the parent is a supervisor ([`SupervisorJob`], [`supervisor_scope`]). The first
//! failure wins; later ones are attached as [`JobError::suppressed`]. A failure that reaches a
//! root `launch` goes to its [`CoroutineExceptionHandler`], or to stderr.
//!
//! **Cancellation is drop.** A cancelled coroutine's future is dropped at its next suspension
//! (every `.await` that waits), on its own dispatcher, so destructors run as Kotlin's `finally`
//! blocks do. For cleanup that must suspend, use [`with_cleanup`]; for a section that must not
//! be interrupted, `with_context(NonCancellable, ..)`. CPU loops check [`is_active`],
//! [`ensure_active`] or call [`yield_now`].
//!
//! **Start modes** ([`CoroutineStart`]): `Default` (dispatched now; never runs if cancelled
//! first), `Lazy` (waits for `start`, `join` or `.await`), `Atomic` (runs until its first
//! suspension even if cancelled), `Undispatched` (runs inline in the caller until it suspends).
//!
//! **Dispatchers** ([`Dispatchers`]): `default()` for CPU work (as many runners as cores),
//! `io()` for blocking calls (the same threads, plus up to 64 more while they block),
//! `limited_parallelism(n)` views of either, `unconfined()` (runs in place), and `main()` (the
//! loop of [`run_main_loop`]). Worker threads are named `DefaultDispatcher-worker-N`.
//!
//! **Scope functions** run a block under a new job and return `Err` instead of failing the
//! caller: [`coroutine_scope`] and [`supervisor_scope`] run in place and may borrow;
//! [`with_context`] switches dispatcher (or adds `NonCancellable`, a name, a job);
//! [`with_timeout`] cancels the block after a duration.
//!
//! **Network IO.** `corral::net` (default feature `net`) has TCP, UDP and Unix sockets whose
//! futures wait on a reactor that idle workers drive. With the `tokio` feature, tokio-based
//! futures (`tokio::net`, `tokio::time`, and crates built on them) run inside every coroutine
//! as they are, and `corral::net`'s streams implement tokio's io traits too.
//!
//! ## What Rust changes
//!
//! Children that run in parallel cannot borrow from their parent, so `launch`, `async_` and
//! `with_context` take `Send + 'static` blocks; `coroutine_scope` and `supervisor_scope` run in
//! place and may borrow. A dropped [`Job`] or [`Deferred`] handle never cancels anything: the
//! tree owns the coroutines. See `docs/kotlin-guide.md` in the repository for the full mapping.

pub use corral_core::error::{Cancellation, Failure};
pub use corral_core::{
    async_, current_context, current_job, ensure_active, is_active, launch, try_launch,
    with_cleanup, yield_now, CompletionHandle, Context, CoroutineExceptionHandler, CoroutineName,
    CoroutineStart, Deferred, Dispatch, DispatchError, Dispatcher, Job, JobElement, JobError,
    JobState, Join, NonCancellable, Runnable, SupervisorJob, TaskMode, WithCleanup, YieldNow,
};
pub use corral_dispatchers::{
    delay, new_fixed_thread_pool_context, new_single_thread_context, Delay, Dispatchers, EventLoop,
    ExecutorDispatcher, LoopGuard, MainGuard, MainLoopError,
};
pub use corral_scheduler::{
    block_in_place, default_core_pool_size, BuildError, CoroutineScheduler, Rejected,
    SchedulerBuilder, SchedulerCounters, ShutdownReport, DEFAULT_EXTRA_THREADS, DEFAULT_KEEP_ALIVE,
    MAX_POOL_SIZE, MIN_THREAD_STACK_SIZE,
};
pub use corral_scopes::{
    coroutine_scope, run_blocking, run_blocking_with, run_main_loop, supervisor_scope,
    with_context, with_timeout, with_timeout_or_none, CoroutineScope, GlobalScope,
};

/// Network IO: TCP, UDP and Unix-domain sockets whose futures wait on corral's reactor
/// (the `net` feature, on by default). See the [`corral_io`] crate docs.
#[cfg(feature = "net")]
pub mod net {
    pub use corral_io::*;
}

pub mod advanced {
    //! The machinery under the scope functions and dispatchers, for code that builds its own.
    //!
    //! A coroutine program needs none of this: [`prelude`](crate::prelude) has the whole API.
    //! These are the parts the layers below the facade compose, for writing a custom scope
    //! function, a custom dispatcher or an executor of one's own:
    //!
    //! * [`scoped`] and [`async_scoped`]: run a block in place under a new scope job (the engine
    //!   of [`coroutine_scope`](crate::coroutine_scope),
    //!   [`supervisor_scope`](crate::supervisor_scope) and `with_context`), and launch a
    //!   coroutine whose block may borrow from a scope;
    //!   [`ScopeKind`] picks coroutine or supervisor failure rules.
    //! * [`scoped_with_host`] and [`host_dispatcher`]: a scope block polled by a dispatcher other
    //!   than the one its context names (how [`run_blocking_with`](crate::run_blocking_with) runs
    //!   its root on the calling thread's loop).
    //! * [`Dispatch`], [`Runnable`], [`RunTask`], [`TaskMode`], [`DispatchError`]: the protocol
    //!   between a coroutine and the dispatcher that runs it; [`trampoline`] resumes in place
    //!   without growing the stack (what `Dispatchers::unconfined()` uses).
    //! * [`LimitedDispatcher`], [`EventLoop`], [`schedule_timeout`]: building blocks of the
    //!   standard dispatchers and timers.
    //!
    //! Some of these are also re-exported at the crate root, where they have always been.
    //!
    //! # Examples
    //!
    //! A scope function of one's own, built on [`scoped`]:
    //!
    //! ```
    //! use corral::advanced::{scoped, ScopeKind};
    //! use corral::prelude::*;
    //!
    //! let out = run_blocking(|scope| async move {
    //!     let context = scope.context().clone();
    //!     scoped(context, ScopeKind::Coroutine, |_ctx| async { 6 * 7 }).await
    //! });
    //! assert_eq!(out.unwrap().unwrap(), 42);
    //! ```

    pub use corral_core::{
        async_scoped, host_dispatcher, scoped, scoped_with_host, trampoline, Dispatch,
        DispatchError, RunTask, Runnable, ScopeKind, Scoped, TaskMode,
    };
    pub use corral_dispatchers::{schedule_timeout, EventLoop, LimitedDispatcher, TimeoutHandle};
}

/// Everything a coroutine program needs: `use corral::prelude::*;`.
pub mod prelude {
    pub use corral_core::{
        current_job, ensure_active, is_active, with_cleanup, yield_now, CompletionHandle, Context,
        CoroutineExceptionHandler, CoroutineName, CoroutineStart, Deferred, Dispatcher, Job,
        JobError, NonCancellable, SupervisorJob,
    };
    pub use corral_dispatchers::{
        delay, new_fixed_thread_pool_context, new_single_thread_context, Dispatchers,
        ExecutorDispatcher,
    };
    pub use corral_scopes::{
        coroutine_scope, run_blocking, run_blocking_with, run_main_loop, supervisor_scope,
        with_context, with_timeout, with_timeout_or_none, CoroutineScope, GlobalScope,
    };
}
