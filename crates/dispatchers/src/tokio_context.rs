//! The `tokio` feature: tokio-based futures (`tokio::net`, `tokio::time`, `tokio::io`, and
//! the crates built on them) run inside every coroutine, with no call by the user.
//!
//! A background tokio runtime, started on first use, owns tokio's IO and time drivers: a
//! current-thread runtime that the thread `corral-tokio` drives forever (`block_on` of a
//! future that never ends), so tokio's reactor and timer wheel are serviced whatever corral's
//! threads are doing, and `tokio::spawn` runs its tasks there. Every thread that polls a
//! coroutine enters that runtime's context once, through corral-core's thread hook, unless it
//! already has a tokio context (it runs inside a tokio runtime): tokio futures created there
//! find the drivers, and their wakers are corral's, so a coroutine resumes on its own
//! dispatcher.
//!
//! Without the feature [`install`] is empty. With it, every dispatcher's creation calls it
//! (the shared pool, executors, event loops, the process-wide unconfined and main
//! dispatchers), so the hook is in place before any of them polls.

/// Installs the thread hook (once per process).
#[cfg(feature = "tokio")]
pub(crate) fn install() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        if corral_core::thread_hook::install(enter_runtime).is_err() {
            tracing::warn!(
                target: "corral::tokio",
                "another thread hook is installed: tokio futures need their own runtime context"
            );
        }
    });
}

/// Without the `tokio` feature: nothing to install.
#[cfg(not(feature = "tokio"))]
pub(crate) fn install() {}

/// The background runtime's handle, starting it on first use.
#[cfg(feature = "tokio")]
fn handle() -> &'static tokio::runtime::Handle {
    static HANDLE: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("corral-tokio")
            .build()
            .unwrap_or_else(|error| panic!("corral: cannot start the tokio runtime: {error}"));
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("corral-tokio".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .unwrap_or_else(|error| panic!("corral: cannot start the tokio thread: {error}"));
        handle
    })
}

/// The thread hook: enters the background runtime's context on this thread for good, unless
/// the thread has a tokio context already.
#[cfg(feature = "tokio")]
fn enter_runtime() {
    if tokio::runtime::Handle::try_current().is_ok() {
        return;
    }
    // Kept for the thread's life: the guard would restore the thread's previous (empty)
    // context on drop, and the thread only ever runs corral's loops from here on.
    std::mem::forget(handle().enter());
}
