//! The debug registry: live coroutines by job id, sharded so spawns on different threads
//! rarely meet on a lock. See the module docs of [`debug`](super).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::Location;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Instant;

use crate::job::{Job, JobState};

/// Shards of the registry; ids are sequential, so consecutive spawns use different shards.
/// A power of two a little above the thread counts of typical pools.
const SHARDS: usize = 32;

/// A shard is purged of ended coroutines when it has grown to this many times its size after
/// the last purge (amortised constant work per spawn).
const PURGE_GROWTH: usize = 2;

/// Smallest shard size worth a purge.
const PURGE_MIN: usize = 64;

/// What a dump reads from a task (implemented by the task).
pub(crate) trait Probe: Send + Sync + 'static {
    /// The task's job.
    fn probe_job(self: Arc<Self>) -> Job;
    /// The task's name, dispatcher, and run state right now.
    fn probe_name(&self) -> Option<String>;
    fn probe_dispatcher(&self) -> Option<String>;
    fn probe_run_state(&self) -> super::RunState;
    fn probe_location(&self) -> &'static Location<'static>;
    /// Polls so far (counted in the task's state word).
    fn probe_polls(&self) -> u64;
}

struct Entry {
    task: Weak<dyn Probe>,
    created: Instant,
    /// The task's `runtime.spawn` span, when a subscriber wanted it at spawn.
    span: Option<tracing::Span>,
}

/// Hashes a job id: ids are unique and sequential, so one multiplication (Fibonacci hashing)
/// spreads them over the table's buckets and control bytes; no need for SipHash's resistance
/// to chosen keys.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(FIBONACCI);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(FIBONACCI);
    }
}

/// 2^64 divided by the golden ratio (Knuth's multiplicative hashing).
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

struct Shard {
    entries: HashMap<u64, Entry, BuildHasherDefault<IdHasher>>,
    purge_at: usize,
}

/// A shard alone on its cache lines (128 bytes: two lines, as adjacent-line prefetchers pair
/// them), so workers spawning and finishing coroutines of neighbouring shards do not contend.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

static REGISTRY: [Padded; SHARDS] = [const {
    Padded(Mutex::new(Shard {
        entries: HashMap::with_hasher(BuildHasherDefault::new()),
        purge_at: PURGE_MIN,
    }))
}; SHARDS];

/// The shard of `id`. No user code runs under a shard lock, so a poisoned one is consistent.
fn shard(id: u64) -> MutexGuard<'static, Shard> {
    // The modulo keeps the index below `SHARDS`, so the cast back cannot truncate.
    let index = (id % SHARDS as u64) as usize;
    REGISTRY[index]
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Records a new task (with its span unless the span is disabled).
#[cold]
pub(super) fn insert<P: Probe>(task: &Arc<P>, id: u64, span: tracing::Span) {
    let weak: Weak<P> = Arc::downgrade(task);
    let entry = Entry {
        task: weak,
        created: Instant::now(),
        span: (!span.is_disabled()).then_some(span),
    };
    if entry.span.is_some() {
        super::POLL_PROBES.fetch_or(super::PROBE_REGISTRY, std::sync::atomic::Ordering::Relaxed);
    }
    let mut dropped = Vec::new();
    {
        let mut shard = shard(id);
        if shard.entries.len() >= shard.purge_at {
            purge(&mut shard, &mut dropped);
        }
        shard.entries.insert(id, entry);
    }
    // Spans close outside the lock: closing one calls into the subscriber.
    drop(dropped);
}

/// Moves the entries of ended coroutines out of `shard` into `dropped`.
fn purge(shard: &mut Shard, dropped: &mut Vec<Entry>) {
    let ids: Vec<u64> = shard
        .entries
        .iter()
        .filter(|(_, entry)| entry.task.strong_count() == 0)
        .map(|(&id, _)| id)
        .collect();
    dropped.extend(ids.iter().filter_map(|id| shard.entries.remove(id)));
    shard.purge_at = (shard.entries.len() * PURGE_GROWTH).max(PURGE_MIN);
}

/// The span of `id`, if it has one.
pub(super) fn span(id: u64) -> Option<tracing::Span> {
    shard(id).entries.get(&id)?.span.clone()
}

/// The id of the span of `id`, if it has one.
#[cfg(feature = "console")]
pub(super) fn span_id(id: u64) -> Option<tracing::Id> {
    shard(id).entries.get(&id)?.span.as_ref()?.id()
}

/// Forgets `id`: its body ended.
pub(super) fn remove(id: u64) {
    let entry = shard(id).entries.remove(&id);
    drop(entry);
}

/// A recorded task, taken out for a dump.
pub(super) struct Recorded {
    pub(super) id: u64,
    pub(super) task: Arc<dyn Probe>,
    pub(super) created: Instant,
}

/// Every recorded task still alive and not final.
pub(super) fn live() -> Vec<Recorded> {
    let mut live = Vec::new();
    for padded in &REGISTRY {
        let shard = padded.0.lock().unwrap_or_else(PoisonError::into_inner);
        live.extend(shard.entries.iter().filter_map(|(&id, entry)| {
            Some(Recorded {
                id,
                task: entry.task.upgrade()?,
                created: entry.created,
            })
        }));
    }
    // The strong references taken above are dropped by the caller, outside every lock.
    live.retain(|recorded| !is_final(&recorded.task));
    live
}

/// The name a live coroutine was given, if it is recorded (for the stall monitor).
pub(super) fn name_of(id: u64) -> Option<String> {
    let task = shard(id).entries.get(&id)?.task.upgrade();
    let name = task.as_ref().and_then(|task| task.probe_name());
    drop(task);
    name
}

fn is_final(task: &Arc<dyn Probe>) -> bool {
    matches!(
        Arc::clone(task).probe_job().state(),
        JobState::Cancelled | JobState::Completed
    )
}
