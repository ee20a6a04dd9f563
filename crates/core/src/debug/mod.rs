//! Seeing inside a running program: coroutine dumps (kotlinx's `DebugProbes`), the
//! `runtime.spawn` tracing span around every poll, and the per-worker probes the stall monitor
//! samples.
//!
//! # What this module owns
//!
//! * The **debug registry** (`registry`): a sharded map from job id to a weak reference to the
//!   task, its creation time and, when a `tracing` subscriber wants it, its span. Nothing of
//!   this lives in the task: a task carries only its creation location (one pointer, written by
//!   the `#[track_caller]` builders), and its poll count is kept by the state word's `RUNNING`
//!   CAS (see `task::state`), so recording adds nothing to polls. Entries are added at spawn
//!   only while the registry is in use (debug installed, or a subscriber interested in the
//!   span). An entry leaves when the body ends (its last poll; that closes its span); entries
//!   of coroutines that ended without a last poll (a lazy coroutine cancelled before it
//!   started, a coroutine its dispatcher rejected) are purged, amortised, by later spawns once
//!   their task is freed; dumps skip finished coroutines meanwhile.
//! * [`dump`] and [`Dump`]: a snapshot of the live coroutines as a tree, following the job
//!   tree (a coroutine's parent in the dump is its nearest ancestor job that is a recorded
//!   coroutine, so scope functions in between are skipped).
//! * The **signal dump** (`signal`, Unix): with `CORRAL_DEBUG` set, `SIGQUIT` writes a dump to
//!   stderr, like the JVM's thread dump, so a hung process can be looked at without changes.
//! * The **worker probes** and the stall monitor (`stall`): see [`stall_threshold`].
//!
//! # Cost
//!
//! * Spawn: one relaxed load of the debug state, plus `tracing`'s cached interest check for
//!   the span (a relaxed load of the global maximum level when no subscriber is set).
//! * Poll: one relaxed load of `POLL_PROBES`; while it is zero (no span kept, no probed
//!   worker) nothing else. On a probed worker: a thread-local read, and relaxed loads and
//!   stores into the worker's own cache line. With spans kept (a subscriber wants them): one
//!   shard lock per poll. With spans kept or debug installed: one shard lock at the end of the
//!   body, to remove its entry.
//!
//! # Invariants
//!
//! * Only the registry holds strong references it takes from tasks, and only while a dump is
//!   being built, outside every shard lock: dropping the last reference of a task runs user
//!   destructors, which may spawn, which takes shard locks.
//! * Nothing here recurses with the depth of the job tree: dumps are built and printed with
//!   explicit stacks.

mod dump;
mod handoff;
mod registry;
#[cfg(unix)]
mod signal;
mod stall;

use std::panic::Location;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

pub use self::dump::{CoroutineInfo, Dump, RunState};
#[cfg(all(test, corral_loom))]
pub(crate) use self::handoff::HandoffWindow;
pub(crate) use self::registry::Probe;
pub use self::stall::{
    stall_handoff, stall_threshold, StallConfigError, StallHandoff, WorkerProbe, WorkerProbeGuard,
    HANDOFF_ENV, STALL_ENV,
};
use crate::context::Elements;

/// The environment variable that installs the probes at start-up (`1`; `0` or empty: not).
pub const DEBUG_ENV: &str = "CORRAL_DEBUG";

/// Debug state: the environment was not read yet.
const UNREAD: u8 = 0;
/// Debug state: not installed.
const OFF: u8 = 1;
/// Debug state: installed.
const ON: u8 = 2;

/// Whether coroutines are recorded ([`UNREAD`], [`OFF`], [`ON`]); the first spawn reads
/// [`DEBUG_ENV`].
static DEBUG: AtomicU8 = AtomicU8::new(UNREAD);

/// Poll probe bit: spans are kept in the registry, so a poll looks its span up.
const PROBE_REGISTRY: u8 = 1;
/// Poll probe bit: debug is installed, so the end of a body removes its entry.
const PROBE_RECORD: u8 = 4;
/// Poll probe bit: some worker thread registered a [`WorkerProbe`].
const PROBE_WORKERS: u8 = 2;

/// What a poll has to do besides polling (bits above). Set once, never cleared: a registry in
/// use stays in use, and a process that once had probed workers may get new ones.
static POLL_PROBES: AtomicU8 = AtomicU8::new(0);

/// Starts recording live coroutines, from now on, for [`dump`] (kotlinx's
/// `DebugProbes.install()`). Idempotent. Setting `CORRAL_DEBUG=1` in the environment does the
/// same at the first spawn and also installs the signal dump (`SIGQUIT` on Unix).
///
/// Coroutines created before the call are not recorded.
///
/// # Examples
///
/// ```
/// use corral_core::{debug, launch, Context, CoroutineStart};
///
/// debug::install();
/// let job = launch(Context::new(), CoroutineStart::Lazy, |_| async {});
/// assert!(debug::dump().to_string().contains(&format!("id={}", job.id())));
/// job.cancel();
/// ```
pub fn install() {
    let previous = DEBUG.swap(ON, Ordering::Relaxed);
    POLL_PROBES.fetch_or(PROBE_RECORD, Ordering::Relaxed);
    // The first install also honours the environment's request for the signal dump, so an
    // explicit call before the first spawn does not hide it.
    #[cfg(unix)]
    if previous == UNREAD && env_wants_debug() {
        signal::install_dump_on_signal();
    }
    #[cfg(not(unix))]
    let _ = previous;
}

/// Whether [`install`] ran (or `CORRAL_DEBUG=1` installed the probes).
pub fn is_installed() -> bool {
    DEBUG.load(Ordering::Relaxed) == ON
}

/// How many coroutines recorded since [`install`] are live, or `None` when debug is not
/// installed (nothing counts coroutines then: that would cost every spawn).
pub fn live_coroutines() -> Option<usize> {
    is_installed().then(|| registry::live().len())
}

/// A snapshot of every live coroutine recorded since [`install`], as a tree.
pub fn dump() -> Dump {
    Dump::take()
}

/// Called by a new task before it is started: records it when debug is installed, and opens
/// its span when a subscriber wants one. The one relaxed load of the spawn path is here.
#[inline]
pub(crate) fn on_spawn<P: Probe>(
    task: &Arc<P>,
    id: u64,
    context: &Elements,
    kind: &'static str,
    location: &'static Location<'static>,
) {
    let mut record = DEBUG.load(Ordering::Relaxed);
    if record == UNREAD {
        record = read_env();
    }
    let span = tracing::trace_span!(
        target: "corral::task",
        parent: None,
        "runtime.spawn",
        kind = kind,
        task.name = context.name().unwrap_or(""),
        task.id = id,
        loc.file = location.file(),
        loc.line = location.line(),
        loc.col = location.column(),
    );
    if record == ON || !span.is_disabled() {
        registry::insert(task, id, span);
    }
}

/// Runs one poll of the task whose id `id` gives (the body step `poll`, which returns `Some`
/// when the body ended): enters the task's span and tells the worker's probe what it runs.
/// The id is asked for only when a probe is on (it is a virtual call on the job).
#[inline]
pub(crate) fn around_poll<T>(
    id: impl FnOnce() -> u64,
    location: &'static Location<'static>,
    poll: impl FnOnce() -> Option<T>,
) -> Option<T> {
    let probes = POLL_PROBES.load(Ordering::Relaxed);
    if probes == 0 {
        return poll();
    }
    let id = id();
    let worker = if probes & PROBE_WORKERS != 0 {
        stall::current_worker()
    } else {
        None
    };
    let previous = worker.map(|probe| probe.begin(id, location));
    let result = if probes & PROBE_REGISTRY != 0 {
        let span = registry::span(id);
        let _entered = span.as_ref().map(tracing::Span::enter);
        poll()
    } else {
        poll()
    };
    if result.is_some() && probes & (PROBE_REGISTRY | PROBE_RECORD) != 0 {
        registry::remove(id);
    }
    if let (Some(probe), Some(previous)) = (worker, previous) {
        probe.end(previous);
    }
    result
}

/// With the `console` feature: a wake of the task `id` as the `runtime::waker` event
/// tokio-console reads (`op`, and `task.id`: the id of the task's `runtime.spawn` span). Only
/// tasks with a span (a subscriber wanted it at spawn) emit it.
#[cfg(feature = "console")]
#[inline]
pub(crate) fn console_waker_op(id: u64, op: &'static str) {
    if POLL_PROBES.load(Ordering::Relaxed) & PROBE_REGISTRY == 0 {
        return;
    }
    if let Some(span_id) = registry::span_id(id) {
        tracing::trace!(target: "runtime::waker", op, task.id = span_id.into_u64());
    }
}

/// Reads [`DEBUG_ENV`] once (racing first spawns read it alike) and installs what it asks.
#[cold]
fn read_env() -> u8 {
    if env_wants_debug() {
        install();
        return ON;
    }
    let _ = DEBUG.compare_exchange(UNREAD, OFF, Ordering::Relaxed, Ordering::Relaxed);
    DEBUG.load(Ordering::Relaxed)
}

/// Whether [`DEBUG_ENV`] asks for the probes; a malformed value is a clear panic.
fn env_wants_debug() -> bool {
    match std::env::var(DEBUG_ENV) {
        Err(std::env::VarError::NotPresent) => false,
        Ok(value) => match value.trim() {
            "" | "0" | "false" => false,
            "1" | "true" => true,
            other => panic!("{DEBUG_ENV}={other:?} is not 0, 1, true or false"),
        },
        Err(std::env::VarError::NotUnicode(value)) => {
            panic!("{DEBUG_ENV}={value:?} is not 0, 1, true or false")
        }
    }
}
