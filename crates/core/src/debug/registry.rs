//! The debug registry: live coroutines by job id, sharded so spawns on different threads
//! rarely meet on a lock. See the module docs of [`debug`](super).

use std::collections::BTreeMap;
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
}

struct Entry {
    task: Weak<dyn Probe>,
    created: Instant,
    polls: u64,
    /// The task's `runtime.spawn` span, when a subscriber wanted it at spawn.
    span: Option<tracing::Span>,
}

struct Shard {
    entries: BTreeMap<u64, Entry>,
    purge_at: usize,
}

static REGISTRY: [Mutex<Shard>; SHARDS] = [const {
    Mutex::new(Shard {
        entries: BTreeMap::new(),
        purge_at: PURGE_MIN,
    })
}; SHARDS];

/// The shard of `id`. No user code runs under a shard lock, so a poisoned one is consistent.
fn shard(id: u64) -> MutexGuard<'static, Shard> {
    // The modulo keeps the index below `SHARDS`, so the cast back cannot truncate.
    let index = (id % SHARDS as u64) as usize;
    REGISTRY[index]
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
        polls: 0,
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

/// Counts a poll of `id`; returns its span, if it has one.
pub(super) fn count_poll(id: u64) -> Option<tracing::Span> {
    let mut shard = shard(id);
    let entry = shard.entries.get_mut(&id)?;
    entry.polls += 1;
    entry.span.clone()
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
    pub(super) polls: u64,
}

/// Every recorded task still alive and not final, in id order per shard.
pub(super) fn live() -> Vec<Recorded> {
    let mut live = Vec::new();
    for index in 0..SHARDS {
        let shard = REGISTRY[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        live.extend(shard.entries.iter().filter_map(|(&id, entry)| {
            Some(Recorded {
                id,
                task: entry.task.upgrade()?,
                created: entry.created,
                polls: entry.polls,
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
