//! Worker probes and the stall monitor (Go's sysmon is the model).
//!
//! A worker thread of a pool that runs CPU-bound coroutines registers a [`WorkerProbe`] for
//! itself ([`WorkerProbe::register`]). Each poll on that thread then bumps the probe's poll
//! counter and stores the id and creation location of the coroutine it polls: plain relaxed
//! stores by the only writer, into the probe's own cache line, and no clock read.
//!
//! The monitor thread, started with the first probe when the threshold ([`stall_threshold`])
//! is not zero, samples the probes every [`tick`] of the threshold. A probe whose counter has
//! not moved while a coroutine is in a poll, for at least the threshold, is a stall: the monitor
//! emits one `tracing` warning (target `corral::stall`) per stalled poll and marks the
//! coroutine in dumps until its poll ends. The warning carries `task.id`, the launch site
//! (`loc.file`, `loc.line`, `loc.col`) and `running_ms`; `task.name` is filled in when debug is
//! installed (the monitor finds names in the debug registry: reading one from the task itself
//! would race with its end), and is empty otherwise. When every probe is idle for [`IDLE_TICKS`] samples
//! the monitor parks, and the next poll on a probed worker unparks it.
//!
//! A worker running a blocking (IO) task, or inside a `block_in_place` section, marks its probe
//! blocking for the duration: blocking is what those threads are for, and they gave their CPU
//! permit back.
//!
//! # Handoff (`CORRAL_STALL_HANDOFF=1`)
//!
//! Go's handoff of a P from an M blocked in a system call: the monitor gives a stalled worker's
//! CPU permit to the pool ([`StallHandoff::release`]), so another worker (a new one if needed)
//! runs the rest of Default meanwhile; the stalled worker learns at the end of its poll that
//! its permit is gone and takes one again the usual way. Exactly one side gives the permit
//! back; the protocol is the probe's handoff window (`handoff`, with a loom model). The
//! stalled worker counts as a blocking task meanwhile, so the pool may start a thread for the
//! permit.

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};
use std::{cell::Cell, fmt, ptr};

use super::handoff::HandoffWindow;

/// The environment variable holding the stall threshold in milliseconds (0 turns it off).
pub const STALL_ENV: &str = "CORRAL_STALL_MS";

/// The threshold when [`STALL_ENV`] is not set: a poll of 100 ms starves its worker's queue
/// for as long as a whole frame budget of an interactive program several times over (tokio's
/// docs give 10 to 100 µs between awaits as the healthy range).
const DEFAULT_STALL_MS: u64 = 100;

/// Samples per threshold: a stall is seen between 1 and 1 + 1/4 thresholds after it began.
const SAMPLES_PER_THRESHOLD: u32 = 4;

/// Idle samples in a row after which the monitor parks until the next probed poll.
const IDLE_TICKS: u32 = 8;

/// The environment variable that turns the handoff on (`1`; `0` or unset: off).
pub const HANDOFF_ENV: &str = "CORRAL_STALL_HANDOFF";

/// A malformed [`STALL_ENV`] or [`HANDOFF_ENV`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StallConfigError {
    variable: &'static str,
    value: String,
}

impl fmt::Display for StallConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expected = if self.variable == STALL_ENV {
            "a number of milliseconds (0 turns stall detection off)"
        } else {
            "0 or 1"
        };
        write!(f, "{}={:?} is not {expected}", self.variable, self.value)
    }
}

impl std::error::Error for StallConfigError {}

/// The stall threshold from [`STALL_ENV`] (read once): `Ok(None)` when detection is off
/// (`0`), 100 ms when the variable is not set, an error naming the variable when it is not a
/// number.
pub fn stall_threshold() -> Result<Option<Duration>, StallConfigError> {
    static THRESHOLD: OnceLock<Result<Option<Duration>, StallConfigError>> = OnceLock::new();
    THRESHOLD
        .get_or_init(|| parse_threshold(std::env::var_os(STALL_ENV)))
        .clone()
}

fn parse_threshold(
    value: Option<std::ffi::OsString>,
) -> Result<Option<Duration>, StallConfigError> {
    let millis = match value {
        None => DEFAULT_STALL_MS,
        Some(value) => {
            let text = value.to_string_lossy();
            text.trim().parse::<u64>().map_err(|_| StallConfigError {
                variable: STALL_ENV,
                value: text.into_owned(),
            })?
        }
    };
    Ok((millis > 0).then(|| Duration::from_millis(millis)))
}

/// Whether a stalled worker's CPU permit goes to another worker meanwhile ([`HANDOFF_ENV`],
/// read once; off when unset).
pub fn stall_handoff() -> Result<bool, StallConfigError> {
    static HANDOFF: OnceLock<Result<bool, StallConfigError>> = OnceLock::new();
    HANDOFF
        .get_or_init(|| parse_handoff(std::env::var_os(HANDOFF_ENV)))
        .clone()
}

fn parse_handoff(value: Option<std::ffi::OsString>) -> Result<bool, StallConfigError> {
    let Some(value) = value else {
        return Ok(false);
    };
    let text = value.to_string_lossy();
    match text.trim() {
        "" | "0" | "false" => Ok(false),
        "1" | "true" => Ok(true),
        _ => Err(StallConfigError {
            variable: HANDOFF_ENV,
            value: text.into_owned(),
        }),
    }
}

/// Handoff is on (set when the first probe registers with it on).
static HANDOFF_ON: AtomicBool = AtomicBool::new(false);

/// What the monitor calls to give a stalled worker's CPU permit to the rest of its pool.
pub trait StallHandoff: Send + Sync + fmt::Debug {
    /// Releases one CPU permit on behalf of the stalled worker and makes sure a worker runs the
    /// CPU work queued meanwhile (starting one if needed).
    fn release(&self);
}

/// What one worker thread is polling, for the stall monitor; see the module docs.
///
/// Probes are never freed: a thread that leaves gives its probe back for the next worker, so
/// there are at most as many as workers ever ran at once, and a probe the monitor reads is
/// always valid.
#[repr(align(128))]
#[derive(Debug)]
pub struct WorkerProbe {
    /// Polls begun on this thread (written by the thread only).
    polls: AtomicU64,
    /// The job id of the coroutine in a poll, 0 when none.
    task: AtomicU64,
    location: AtomicPtr<Location<'static>>,
    /// Running a blocking task: not watched.
    blocking: AtomicBool,
    /// `polls + 1` of the poll the monitor found stalled, 0 when none.
    stalled_at: AtomicU64,
    /// With handoff on: the window of the open poll (see `handoff`).
    handed: HandoffWindow,
    /// Written by the worker only: its permit was handed off and it has not noticed yet.
    permit_lost: AtomicBool,
    /// How the monitor gives this worker's permit away (`None`: never).
    handoff: Mutex<Option<Arc<dyn StallHandoff>>>,
}

thread_local! {
    static CURRENT: Cell<Option<&'static WorkerProbe>> = const { Cell::new(None) };
}

struct Probes {
    all: Vec<&'static WorkerProbe>,
    free: Vec<&'static WorkerProbe>,
}

static PROBES: Mutex<Probes> = Mutex::new(Probes {
    all: Vec::new(),
    free: Vec::new(),
});

/// The monitor's thread, once started.
static MONITOR: OnceLock<Thread> = OnceLock::new();
/// Set by the monitor before it parks for idleness.
static MONITOR_PARKED: AtomicBool = AtomicBool::new(false);

fn probes() -> std::sync::MutexGuard<'static, Probes> {
    PROBES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The registration of a worker thread's probe; dropping it (when the thread leaves) gives the
/// probe back.
#[derive(Debug)]
pub struct WorkerProbeGuard {
    probe: &'static WorkerProbe,
}

impl WorkerProbe {
    fn new() -> WorkerProbe {
        WorkerProbe {
            polls: AtomicU64::new(0),
            task: AtomicU64::new(0),
            location: AtomicPtr::new(ptr::null_mut()),
            blocking: AtomicBool::new(false),
            stalled_at: AtomicU64::new(0),
            handed: HandoffWindow::new(),
            permit_lost: AtomicBool::new(false),
            handoff: Mutex::new(None),
        }
    }

    /// Registers a probe for the calling thread, a worker of a pool running CPU-bound
    /// coroutines, when stall detection is on (`None` when it is off or misconfigured; the
    /// pool's configuration reports a malformed [`STALL_ENV`]). `handoff` is how the monitor
    /// gives this worker's permit away when [`stall_handoff`] is on.
    pub fn register(handoff: Option<Arc<dyn StallHandoff>>) -> Option<WorkerProbeGuard> {
        let threshold = stall_threshold().ok().flatten()?;
        let handoff = handoff.filter(|_| stall_handoff() == Ok(true));
        let probe = {
            let mut probes = probes();
            match probes.free.pop() {
                Some(probe) => probe,
                None => {
                    let probe: &'static WorkerProbe = Box::leak(Box::new(WorkerProbe::new()));
                    probes.all.push(probe);
                    probe
                }
            }
        };
        probe.blocking.store(false, Ordering::Relaxed);
        probe.handed.close(0);
        probe.permit_lost.store(false, Ordering::Relaxed);
        if handoff.is_some() {
            HANDOFF_ON.store(true, Ordering::Relaxed);
        }
        *probe.handoff.lock().unwrap_or_else(PoisonError::into_inner) = handoff;
        CURRENT.with(|current| current.set(Some(probe)));
        super::POLL_PROBES.fetch_or(super::PROBE_WORKERS, Ordering::Relaxed);
        start_monitor(threshold);
        Some(WorkerProbeGuard { probe })
    }

    /// Marks the calling thread's probe as running a blocking task (`true`) or not; nothing when
    /// the thread has no probe.
    pub fn set_blocking(blocking: bool) {
        if let Some(probe) = current_worker() {
            probe.blocking.store(blocking, Ordering::Relaxed);
        }
    }

    /// Closes the calling worker's handoff window before it gives its permit back itself (a
    /// `block_in_place` section): returns whether the monitor already gave it away, in which
    /// case the caller must not release it again.
    pub fn close_handoff() -> bool {
        match current_worker() {
            Some(probe) if HANDOFF_ON.load(Ordering::Relaxed) => probe.handed.close(0),
            _ => false,
        }
    }

    /// A poll of `id` begins; returns what was running (a poll nested in another, such as an
    /// undispatched start, restores its parent's when it ends).
    #[inline]
    pub(super) fn begin(&self, id: u64, location: &'static Location<'static>) -> Previous {
        // The only writer of `polls` is this thread, so load-then-store loses no count.
        let stamp = self.polls.load(Ordering::Relaxed) + 1;
        self.polls.store(stamp, Ordering::Relaxed);
        let previous_handed = if HANDOFF_ON.load(Ordering::Relaxed) {
            let (previous, handed) = self.handed.open(stamp);
            self.note_handed(handed);
            previous
        } else {
            0
        };
        let previous_task = self.task.load(Ordering::Relaxed);
        let previous_location = self.location.load(Ordering::Relaxed);
        self.location
            .store(ptr::from_ref(location).cast_mut(), Ordering::Relaxed);
        self.task.store(id, Ordering::Relaxed);
        if MONITOR_PARKED.load(Ordering::Relaxed) {
            wake_monitor();
        }
        Previous {
            task: previous_task,
            location: previous_location,
            handed: previous_handed,
        }
    }

    /// The poll begun by [`begin`](Self::begin) ended.
    #[inline]
    pub(super) fn end(&self, previous: Previous) {
        self.task.store(previous.task, Ordering::Relaxed);
        self.location.store(previous.location, Ordering::Relaxed);
        if HANDOFF_ON.load(Ordering::Relaxed) {
            // A nested poll reopens its parent's stamp, which the monitor no longer matches
            // (the counter moved on): no second handoff of the same permit.
            let handed = self.handed.close(previous.handed);
            self.note_handed(handed);
        }
    }

    /// Records that the permit of a poll just closed was given away (`handed`).
    fn note_handed(&self, handed: bool) {
        if handed {
            self.permit_lost.store(true, Ordering::Relaxed);
        }
    }

    /// The monitor found the poll with stamp `polls` stalled: gives its permit away if handoff
    /// is on for this worker and the poll is still open. Returns whether it did.
    fn hand_off(&self, polls: u64) -> bool {
        let handoff = self
            .handoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(handoff) = handoff else {
            return false;
        };
        let won = self.handed.try_hand_off(polls);
        if won {
            handoff.release();
        }
        won
    }
}

/// What a nested poll restores when it ends.
#[derive(Clone, Copy, Debug)]
pub(super) struct Previous {
    task: u64,
    location: *mut Location<'static>,
    handed: u64,
}

impl WorkerProbeGuard {
    /// Whether the monitor gave this worker's permit away during a poll that has ended since;
    /// true once per handoff. The worker then holds no permit.
    pub fn take_permit_lost(&self) -> bool {
        let lost = self.probe.permit_lost.load(Ordering::Relaxed);
        if lost {
            self.probe.permit_lost.store(false, Ordering::Relaxed);
        }
        lost
    }
}

impl Drop for WorkerProbeGuard {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(None));
        *self
            .probe
            .handoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.probe.task.store(0, Ordering::Relaxed);
        self.probe.stalled_at.store(0, Ordering::Relaxed);
        probes().free.push(self.probe);
    }
}

/// The calling thread's probe, if it is a probed worker.
#[inline]
pub(super) fn current_worker() -> Option<&'static WorkerProbe> {
    CURRENT.with(Cell::get)
}

#[cold]
fn wake_monitor() {
    if MONITOR_PARKED.swap(false, Ordering::Relaxed) {
        if let Some(monitor) = MONITOR.get() {
            monitor.unpark();
        }
    }
}

/// The ids of coroutines whose current poll the monitor found stalled.
pub(super) fn stalled_ids() -> Vec<u64> {
    probes()
        .all
        .iter()
        .filter(|probe| {
            let stalled_at = probe.stalled_at.load(Ordering::Relaxed);
            stalled_at != 0 && stalled_at == probe.polls.load(Ordering::Relaxed) + 1
        })
        .map(|probe| probe.task.load(Ordering::Relaxed))
        .filter(|&id| id != 0)
        .collect()
}

/// The monitor's sampling period for `threshold`.
fn tick(threshold: Duration) -> Duration {
    (threshold / SAMPLES_PER_THRESHOLD).max(Duration::from_millis(1))
}

fn start_monitor(threshold: Duration) {
    if MONITOR.get().is_some() {
        return;
    }
    let mut started = false;
    MONITOR.get_or_init(|| {
        started = true;
        thread::Builder::new()
            .name("corral-stall-monitor".into())
            .spawn(move || monitor(threshold))
            .expect("spawning the stall monitor thread")
            .thread()
            .clone()
    });
    if started {
        tracing::debug!(target: "corral::stall", ?threshold, "stall monitor started");
    }
}

/// What the monitor last saw of one probe.
#[derive(Clone, Copy)]
struct Sample {
    polls: u64,
    task: u64,
    since: Instant,
    warned: bool,
}

fn monitor(threshold: Duration) {
    let period = tick(threshold);
    let mut samples: Vec<Sample> = Vec::new();
    let mut idle_ticks = 0;
    loop {
        thread::sleep(period);
        let now = Instant::now();
        let all: Vec<&'static WorkerProbe> = probes().all.clone();
        samples.resize(
            all.len(),
            Sample {
                polls: 0,
                task: 0,
                since: now,
                warned: false,
            },
        );
        let mut busy = false;
        for (probe, sample) in all.iter().zip(samples.iter_mut()) {
            let polls = probe.polls.load(Ordering::Relaxed);
            let task = probe.task.load(Ordering::Relaxed);
            if task == 0 || probe.blocking.load(Ordering::Relaxed) {
                *sample = Sample {
                    polls,
                    task: 0,
                    since: now,
                    warned: false,
                };
                continue;
            }
            busy = true;
            if polls != sample.polls || task != sample.task {
                *sample = Sample {
                    polls,
                    task,
                    since: now,
                    warned: false,
                };
                continue;
            }
            // One period may have passed between the poll's start and the first sample.
            let running = now.saturating_duration_since(sample.since) + period;
            if running >= threshold && !sample.warned {
                sample.warned = true;
                probe.stalled_at.store(polls + 1, Ordering::Relaxed);
                let handed_off = probe.hand_off(polls);
                report(
                    task,
                    probe.location.load(Ordering::Relaxed),
                    running,
                    handed_off,
                );
            }
        }
        if busy {
            idle_ticks = 0;
        } else {
            idle_ticks += 1;
            if idle_ticks >= IDLE_TICKS {
                idle_ticks = 0;
                MONITOR_PARKED.store(true, Ordering::Relaxed);
                // A poll that began before the flag was visible is found at the next sample
                // after any other wake; park may also return spuriously, which only samples.
                thread::park_timeout(period * IDLE_TICKS);
                MONITOR_PARKED.store(false, Ordering::Relaxed);
            }
        }
    }
}

fn report(task_id: u64, location: *mut Location<'static>, running: Duration, handed_off: bool) {
    // Probes only ever hold null or pointers made from `&'static Location` by `begin`, valid
    // for reads for the rest of the program and never written through.
    // SAFETY: a non-null `location` came from a `&'static Location<'static>` (see above).
    let location: Option<&'static Location<'static>> = unsafe { location.as_ref() };
    let name = super::registry::name_of(task_id);
    let running_ms = u64::try_from(running.as_millis()).unwrap_or(u64::MAX);
    tracing::warn!(
        target: "corral::stall",
        running_ms,
        handed_off,
        task.name = name.as_deref().unwrap_or(""),
        task.id = task_id,
        loc.file = location.map_or("", |location| location.file()),
        loc.line = location.map_or(0, |location| location.line()),
        loc.col = location.map_or(0, |location| location.column()),
        "a coroutine has been running one poll for {running:?} on a CPU worker without \
         suspending: it blocks the other coroutines queued there (move blocking work to \
         Dispatchers::io(), or yield_now() in long loops)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_parsed_strictly() {
        assert_eq!(parse_threshold(None), Ok(Some(Duration::from_millis(100))));
        assert_eq!(parse_threshold(Some("0".into())), Ok(None));
        assert_eq!(
            parse_threshold(Some(" 250 ".into())),
            Ok(Some(Duration::from_millis(250)))
        );
        let error = parse_threshold(Some("fast".into())).unwrap_err();
        assert!(
            error.to_string().contains("CORRAL_STALL_MS=\"fast\""),
            "{error}"
        );
        assert!(parse_threshold(Some("-5".into())).is_err());
    }

    #[test]
    fn the_handoff_switch_is_parsed_strictly() {
        assert_eq!(parse_handoff(None), Ok(false));
        assert_eq!(parse_handoff(Some("0".into())), Ok(false));
        assert_eq!(parse_handoff(Some("1".into())), Ok(true));
        let error = parse_handoff(Some("yes".into())).unwrap_err();
        assert!(
            error.to_string().contains("CORRAL_STALL_HANDOFF=\"yes\""),
            "{error}"
        );
    }
}
