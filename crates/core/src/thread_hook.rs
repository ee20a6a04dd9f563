//! A process-wide function run once on each thread, before the first coroutine poll on that
//! thread: how a layer puts per-thread state in place for the futures coroutines poll (the
//! `tokio` feature of `corral-dispatchers` enters a tokio runtime's context, so `tokio::net`
//! and `tokio::time` futures work inside coroutines).
//!
//! One hook per process ([`install`]); it runs at most once per thread, on that thread, from
//! the poll paths ([`run_on_this_thread`]: every task run, and `run_blocking`'s root). Without
//! a hook the poll path pays one relaxed load; with one, one thread-local flag check after the
//! first run.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static HOOK: OnceLock<fn()> = OnceLock::new();
/// Set after `HOOK`: a relaxed `true` here means `HOOK` is set (read with acquire below).
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static RAN: Cell<bool> = const { Cell::new(false) };
}

/// Installs the process's thread hook. `Err` gives `hook` back if one is already installed
/// (another layer owns it).
pub fn install(hook: fn()) -> Result<(), fn()> {
    HOOK.set(hook)?;
    INSTALLED.store(true, Ordering::Release);
    Ok(())
}

/// Runs the hook on this thread unless it already ran here (a no-op without a hook). Called
/// by the poll paths before they poll a coroutine.
#[inline]
pub fn run_on_this_thread() {
    // The flag check inline, the first run out of line: with a hook installed this runs on
    // every poll, and a call per poll cost more than the check itself.
    if INSTALLED.load(Ordering::Relaxed) && !RAN.get() {
        run_once_here();
    }
}

#[cold]
fn run_once_here() {
    if let Some(hook) = HOOK.get() {
        // Marked first: a hook that polls a coroutine itself does not run twice.
        RAN.set(true);
        // A hook's panic must not take a runtime thread down: it is reported and the thread
        // carries on without it.
        if std::panic::catch_unwind(hook).is_err() {
            tracing::error!(target: "corral::task", "the thread hook panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        RUNS.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn the_hook_runs_once_per_thread() {
        install(count).unwrap();
        assert!(install(|| {}).is_err(), "one hook per process");
        let before = RUNS.load(Ordering::SeqCst);
        std::thread::spawn(|| {
            run_on_this_thread();
            run_on_this_thread();
        })
        .join()
        .unwrap();
        assert_eq!(RUNS.load(Ordering::SeqCst), before + 1);
    }
}
