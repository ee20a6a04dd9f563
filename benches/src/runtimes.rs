//! The three runtimes under comparison, built once per run with the same number of worker
//! threads.
//!
//! * **corral**: its global `Dispatchers::default()` pool, whose core pool size is
//!   `CORRAL_CORE_POOL_SIZE` if set, else `available_parallelism().max(2)` ([`core_pool_size`]
//!   computes the same number). Nothing is built here: the pool starts at first use (the
//!   warm-up round).
//! * **tokio**: a multi-thread runtime with `worker_threads = core_pool_size()`, the time
//!   driver enabled and its default blocking pool (up to 512 threads).
//! * **async-executor**: one `Executor` run by `core_pool_size()` threads, each blocked in
//!   `executor.run(<until shutdown>)`, as async-executor's own multi-thread benches do.

use std::fmt;
use std::sync::Arc;
use std::thread;

use async_executor::Executor;

use crate::sync::{oneshot, Sender};
use crate::threads::{ASYNC_EXECUTOR_THREAD_NAME, TOKIO_THREAD_NAME};

/// A runtime under comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Runtime {
    /// corral's `Dispatchers::default()` (and `io()`).
    Corral,
    /// tokio's multi-thread runtime.
    Tokio,
    /// async-executor on a fixed set of threads.
    AsyncExecutor,
}

impl Runtime {
    /// The stable name used in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Runtime::Corral => "corral",
            Runtime::Tokio => "tokio",
            Runtime::AsyncExecutor => "async-executor",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// corral's core pool size: `CORRAL_CORE_POOL_SIZE` if set and valid, else
/// `available_parallelism().max(2)`, which is corral's default.
pub(crate) fn core_pool_size() -> usize {
    let from_env = std::env::var("CORRAL_CORE_POOL_SIZE")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0);
    from_env.unwrap_or_else(|| {
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .max(2)
    })
}

/// The peers, built once per run.
#[derive(Debug)]
pub(crate) struct Runtimes {
    /// tokio's multi-thread runtime.
    pub(crate) tokio: tokio::runtime::Runtime,
    /// async-executor and its threads.
    pub(crate) async_executor: AsyncExecutorPool,
}

impl Runtimes {
    /// Builds tokio and async-executor with `workers` threads each.
    pub(crate) fn new(workers: usize) -> Runtimes {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name(TOKIO_THREAD_NAME)
            .enable_time()
            .build()
            .expect("build the tokio runtime");
        Runtimes {
            tokio,
            async_executor: AsyncExecutorPool::new(workers),
        }
    }
}

/// An async-executor `Executor` driven by a fixed number of threads until dropped.
pub(crate) struct AsyncExecutorPool {
    /// The executor; tasks spawned on it run on the pool's threads.
    pub(crate) executor: Arc<Executor<'static>>,
    shutdown: Vec<Sender>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl AsyncExecutorPool {
    fn new(threads: usize) -> AsyncExecutorPool {
        let executor = Arc::new(Executor::new());
        let (shutdown, threads) = (0..threads)
            .map(|i| {
                let (stop, stopped) = oneshot();
                let executor = executor.clone();
                let thread = thread::Builder::new()
                    .name(format!("{ASYNC_EXECUTOR_THREAD_NAME}-{i}"))
                    .spawn(move || futures_lite::future::block_on(executor.run(stopped)))
                    .expect("spawn an async-executor thread");
                (stop, thread)
            })
            .unzip();
        AsyncExecutorPool {
            executor,
            shutdown,
            threads,
        }
    }
}

impl fmt::Debug for AsyncExecutorPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncExecutorPool")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl Drop for AsyncExecutorPool {
    fn drop(&mut self) {
        for stop in self.shutdown.drain(..) {
            stop.send();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
