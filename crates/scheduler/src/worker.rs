//! The worker loop: find a task, run it, park when there is none.
//!
//! # Where a worker looks for work
//!
//! With a CPU permit, in this order:
//!
//! 1. every [`GLOBAL_POLL_INTERVAL`]th task, the global queues first, so external and
//!    overflowed work waits a bounded number of local tasks (Go polls every 61 ticks; kotlinx
//!    only probabilistically);
//! 2. its "run next" slot (at most [`MAX_RUN_NEXT_STREAK`] times in a row, so two coroutines
//!    handing a value back and forth cannot starve the ring), then its ring;
//! 3. the global CPU queue, then the global blocking queue;
//! 4. other workers: steal half of a ring, or a "run next" task that waited too long.
//!
//! Without a permit (all `core` are held), only the global blocking queue. Before running a
//! blocking task a worker gives its permit back, moves its "run next" task to its ring where
//! others can steal it, wakes a searcher if it left CPU work behind, and lets the pool add a
//! thread so `core` threads stay available for CPU work (the compensation rule).
//!
//! # Blocking sections
//!
//! A CPU task that must block its thread (a nested `run_blocking` waiting for its event loop,
//! a join on a pool's shutdown) wraps the wait in [`block_in_place`]. The worker then does
//! what it does before a blocking task: it counts itself as a blocking task, gives its permit
//! back, leaves its "run next" task where others can steal it, and lets the pool wake or add a
//! thread, so CPU work keeps running while it waits (kotlinx #3983: every Default worker in
//! `runBlocking`, each waiting for Default work, stalled the pool forever). After the wait it
//! takes a permit back before the CPU task goes on, sleeping until one is released if none is
//! free, so at most `core` CPU tasks run at once again.
//!
//! # Invariants
//!
//! * A worker runs CPU tasks only while holding a permit, so at most `core` run at once.
//! * The local queue only ever holds CPU tasks; a worker without a permit never adds to it.
//! * A worker that exits (retirement or shutdown) leaves nothing in its local queue: it moves
//!   it to the global queue first.
//! * In a closed pool a worker runs what it finds, permit or not, and exits at the first look
//!   that finds nothing, without waiting; the last one to exit rejects what a submission
//!   racing the close left queued (the pool's "Spawns during shutdown").

use corral_core::debug::{StallHandoff, WorkerProbe, WorkerProbeGuard};
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_core::error::report_uncaught_panic;
use corral_core::Runnable;

use crate::idle::Wake;
use crate::local_queue::Owner;
use crate::park_driver::DRIVER_POLL_INTERVAL;
use crate::pool::{Pool, Slot};
use crate::run_next::RUN_NEXT_STEAL_DELAY;

/// Tasks between two looks at the global queues first (Go's `schedtick % 61`).
const GLOBAL_POLL_INTERVAL: u32 = 61;
/// "Run next" tasks taken in a row before the ring gets a turn (tokio's
/// `MAX_LIFO_POLLS_PER_TICK`).
const MAX_RUN_NEXT_STREAK: u32 = 3;

thread_local! {
    static CURRENT: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

enum Next {
    Run(Runnable, Kind),
    /// A stalled "run next" task will be stealable soon: look again after this long.
    RetryAfter(Duration),
    Park,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cpu,
    Blocking,
}

/// The thread-local state of a worker thread.
struct Worker {
    pool: Arc<Pool>,
    index: usize,
    /// `pool`'s slot `index`: this worker's "run next" slot and counters.
    slot: Arc<Slot>,
    owner: Owner,
    has_permit: bool,
    searching: bool,
    running_blocking: bool,
    /// The running blocking task re-queued itself and passed its blocking count on
    /// ([`hand_off_blocking_count`]): `end_blocking` must not uncount it again.
    blocking_handed_off: bool,
    tick: u32,
    run_next_streak: u32,
    rng: u32,
    /// A victim's "run next" task seen stalled: (victim, stamp, first seen).
    watch: Option<(usize, u32, Instant)>,
    /// Retired after the keep-alive (its thread count is already given back).
    retired: bool,
    /// Nesting depth of [`block_in_place`] sections that gave the permit back (0: none).
    blocking_sections: u32,
    /// This thread's probe for the stall monitor (`None`: detection off).
    stall_probe: Option<WorkerProbeGuard>,
}

/// How the stall monitor gives a stalled worker's permit to the rest of its pool
/// (`CORRAL_STALL_HANDOFF=1`; see `corral_core::debug`).
#[derive(Debug)]
struct PoolHandoff(std::sync::Weak<Pool>);

impl StallHandoff for PoolHandoff {
    /// The stalled worker counts as blocking until it notices (`take_permit_lost`), so the
    /// compensation rule may start a thread for the permit when no worker is parked.
    fn release(&self) {
        if let Some(pool) = self.0.upgrade() {
            pool.control.add_blocking();
            pool.release_permit();
            pool.signal_cpu_work();
        }
    }
}

/// The body of a worker thread.
pub(crate) fn run(pool: Arc<Pool>, index: usize) {
    let owner = pool.take_owner(index);
    // Watched by the stall monitor while it runs CPU tasks (see `corral_core::debug`).
    let stall_probe = WorkerProbe::register(Some(Arc::new(PoolHandoff(Arc::downgrade(&pool)))));
    tracing::debug!(pool = %pool.name, worker = index + 1, "worker started");
    let seed = (index as u32).wrapping_mul(0x9E37_79B9) | 1;
    CURRENT.with_borrow_mut(|current| {
        *current = Some(Worker {
            pool: pool.clone(),
            index,
            slot: pool.slot_handle(index),
            owner,
            has_permit: false,
            // Counted as searching by `Pool::spawn_worker`.
            searching: true,
            running_blocking: false,
            blocking_handed_off: false,
            tick: 0,
            run_next_streak: 0,
            rng: seed,
            watch: None,
            retired: false,
            blocking_sections: 0,
            stall_probe,
        });
    });
    // Tasks since the last `poll_now`: the only cost of the hook on this loop without a driver.
    let mut since_driver_poll = 0;
    loop {
        let next = with_worker(Worker::next_task);
        match next {
            Next::Run(task, Kind::Cpu) => {
                since_driver_poll += 1;
                if since_driver_poll == DRIVER_POLL_INTERVAL {
                    since_driver_poll = 0;
                    poll_driver();
                }
                // `next_task` counted it (`count_cpu_task`) under the borrow it had anyway.
                run_task(task);
            }
            Next::Run(task, Kind::Blocking) => {
                with_worker(Worker::begin_blocking);
                WorkerProbe::set_blocking(true);
                run_task(task);
                WorkerProbe::set_blocking(false);
                with_worker(Worker::end_blocking);
            }
            Next::RetryAfter(delay) => std::thread::sleep(delay),
            Next::Park => {
                // What the reactor has ready is work too: wake it into this worker's queue
                // and look again before sleeping.
                if poll_driver() {
                    continue;
                }
                if !with_worker(Worker::park) {
                    break;
                }
            }
        }
    }
    let worker = CURRENT
        .with_borrow_mut(Option::take)
        .expect("the worker's own state");
    worker.exit();
    pool.thread_exited();
}

/// Lets the park driver deliver what is ready, outside the worker's borrow so the tasks it
/// wakes land in this worker's queue; `true` if it woke any.
fn poll_driver() -> bool {
    crate::park_driver::park_driver().is_some_and(|driver| driver.poll_now())
}

fn with_worker<R>(f: impl FnOnce(&mut Worker) -> R) -> R {
    CURRENT.with_borrow_mut(|current| f(current.as_mut().expect("called on a worker thread")))
}

/// Runs one task; a panic (only closures given to `execute` can unwind) is reported like an
/// uncaught exception of the thread and the worker carries on, even if the payload's own
/// `Drop` panics.
fn run_task(task: Runnable) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| task.run())) {
        report_uncaught_panic(payload);
    }
}

/// Called when a blocking task is dispatched with `fair` (a yield): if the caller is a worker
/// of `pool` running a blocking task, that task is re-queuing itself and returns right after,
/// so its blocking count passes to the new task (once per running task). `true` if it did;
/// the caller then does not count the new task again.
pub(crate) fn hand_off_blocking_count(pool: &Arc<Pool>) -> bool {
    CURRENT.with(|current| {
        let Ok(mut current) = current.try_borrow_mut() else {
            return false;
        };
        match current.as_mut() {
            Some(worker)
                if Arc::ptr_eq(&worker.pool, pool)
                    && worker.running_blocking
                    && !worker.blocking_handed_off =>
            {
                worker.blocking_handed_off = true;
                true
            }
            _ => false,
        }
    })
}

/// Runs `block`, which is about to block the calling thread (waiting on a condition variable,
/// a parker, a join), and returns its result.
///
/// On a worker thread of a [`CoroutineScheduler`](crate::CoroutineScheduler) running a CPU
/// task, the worker gives its CPU permit back for the duration (counted as a blocking task,
/// like a task dispatched as `ProbablyBlocking`), so another thread, an idle one or one the
/// pool adds within its maximum, runs the pool's CPU work meanwhile; afterwards it takes a
/// permit back, waiting for one to be released if none is free. Anywhere else (another
/// thread, a blocking task, a nested call) it just runs `block`.
///
/// # Examples
///
/// ```
/// use corral_scheduler::{block_in_place, CoroutineScheduler};
/// use std::sync::mpsc;
///
/// let pool = CoroutineScheduler::builder().core_pool_size(1).max_pool_size(2).build().unwrap();
/// let (sender, receiver) = mpsc::channel();
/// let inner = pool.clone();
/// pool.execute(move || {
///     let (reply, answer) = mpsc::channel();
///     inner.execute(move || reply.send(42).unwrap()).unwrap();
///     // The only CPU permit is released while this task waits, so the task above can run.
///     sender.send(block_in_place(|| answer.recv().unwrap())).unwrap();
/// })
/// .unwrap();
/// assert_eq!(receiver.recv().unwrap(), 42);
/// pool.shutdown(std::time::Duration::from_secs(1));
/// ```
pub fn block_in_place<R>(block: impl FnOnce() -> R) -> R {
    let _section = BlockingSection::enter();
    block()
}

/// A [`block_in_place`] section; its drop ends it (also when `block` unwinds).
struct BlockingSection {
    /// The pool whose permit was given back; `None` when the section changed nothing.
    pool: Option<Arc<Pool>>,
    nested: bool,
}

impl BlockingSection {
    fn enter() -> BlockingSection {
        let idle = BlockingSection {
            pool: None,
            nested: false,
        };
        CURRENT.with(|current| {
            let Ok(mut current) = current.try_borrow_mut() else {
                return idle;
            };
            let Some(worker) = current.as_mut() else {
                return idle;
            };
            if worker.blocking_sections > 0 {
                worker.blocking_sections += 1;
                return BlockingSection {
                    pool: Some(worker.pool.clone()),
                    nested: true,
                };
            }
            // Without a permit (a blocking task, or the drain at shutdown) there is nothing to
            // give back.
            if !worker.has_permit || worker.running_blocking {
                return idle;
            }
            worker.blocking_sections = 1;
            worker.pool.control.add_blocking();
            // Not watched while it blocks; a permit the monitor already gave away is not
            // given back twice.
            WorkerProbe::set_blocking(true);
            if WorkerProbe::close_handoff() {
                worker.has_permit = false;
                worker.pool.control.remove_blocking();
            }
            worker.give_up_permit();
            BlockingSection {
                pool: Some(worker.pool.clone()),
                nested: false,
            }
        })
    }
}

impl Drop for BlockingSection {
    fn drop(&mut self) {
        let Some(pool) = self.pool.take() else {
            return;
        };
        with_worker(|worker| worker.blocking_sections -= 1);
        if self.nested {
            return;
        }
        pool.control.remove_blocking();
        // Not under the worker's `RefCell` borrow: this may sleep.
        pool.acquire_permit_blocking();
        with_worker(|worker| worker.has_permit = true);
        WorkerProbe::set_blocking(false);
    }
}

/// `task` queued on the calling worker's own queue, if the caller is a worker of `pool` that
/// may run CPU work; otherwise it is handed back.
#[inline]
pub(crate) fn push_local(pool: &Arc<Pool>, task: Runnable, fair: bool) -> Result<(), Runnable> {
    CURRENT.with(|current| {
        let Ok(mut current) = current.try_borrow_mut() else {
            return Err(task);
        };
        match current.as_mut() {
            Some(worker)
                if Arc::ptr_eq(&worker.pool, pool)
                    && worker.has_permit
                    && !worker.running_blocking =>
            {
                worker.push_local(task, fair);
                Ok(())
            }
            _ => Err(task),
        }
    })
}

/// `true` if the calling thread is a worker of `pool`.
pub(crate) fn is_worker_of(pool: &Arc<Pool>) -> bool {
    CURRENT.with(|current| match current.try_borrow() {
        Ok(current) => current
            .as_ref()
            .is_some_and(|worker| Arc::ptr_eq(&worker.pool, pool)),
        // Borrowed mutably: only the worker loop itself does that, so this is a worker; but
        // of which pool is unknown here, and the loop never calls back into user code.
        Err(_) => false,
    })
}

impl Worker {
    #[inline]
    fn push_local(&mut self, task: Runnable, fair: bool) {
        let pool = &*self.pool;
        if fair {
            self.owner.push_back(task, &pool.global_cpu);
            return;
        }
        let slot = &self.slot;
        let stamp = slot.tasks_started.load(Ordering::Relaxed);
        if let Some(displaced) = slot.run_next.put(task, stamp) {
            self.owner.push_back(displaced, &pool.global_cpu);
        }
    }

    /// A CPU task is about to run: counts its poll and moves the "run next" stamp base on (see
    /// [`RunNext`](crate::run_next::RunNext)). Only this worker writes `tasks_started`.
    #[inline]
    fn count_cpu_task(&self) {
        let slot = &self.slot;
        slot.counters.poll();
        let started = &slot.tasks_started;
        started.store(
            started.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    fn next_random(&mut self) -> u32 {
        // Marsaglia's xorshift32 (13, 17, 5), as kotlinx's workers use.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    fn next_task(&mut self) -> Next {
        // The stall monitor gave the permit away during the last poll (handoff).
        if self.has_permit
            && self
                .stall_probe
                .as_ref()
                .is_some_and(WorkerProbeGuard::take_permit_lost)
        {
            self.has_permit = false;
            self.pool.control.remove_blocking();
        }
        if !self.has_permit {
            self.has_permit = self.pool.control.try_acquire_permit();
        }
        // While shutting down, queued work runs whatever the permits say, so nothing is left.
        let found = if self.has_permit || self.pool.is_closed() {
            self.find_any()
        } else {
            self.pool
                .global_blocking
                .pop()
                .map(|task| Next::Run(task, Kind::Blocking))
        };
        match found {
            Some(next @ Next::Run(_, kind)) => {
                self.stop_searching(true);
                if kind == Kind::Cpu {
                    self.count_cpu_task();
                }
                next
            }
            Some(other) => other,
            None => Next::Park,
        }
    }

    fn find_any(&mut self) -> Option<Next> {
        self.tick = self.tick.wrapping_add(1);
        if self.tick % GLOBAL_POLL_INTERVAL == 0 {
            if let Some(found) = self.poll_global() {
                return Some(found);
            }
        }
        if let Some(task) = self.poll_local() {
            return Some(Next::Run(task, Kind::Cpu));
        }
        if let Some(found) = self.poll_global() {
            return Some(found);
        }
        self.steal()
    }

    fn poll_local(&mut self) -> Option<Runnable> {
        let slot = &self.slot;
        if self.run_next_streak < MAX_RUN_NEXT_STREAK {
            if let Some(task) = slot.run_next.take() {
                self.run_next_streak += 1;
                return Some(task);
            }
        }
        self.run_next_streak = 0;
        self.owner.pop().or_else(|| slot.run_next.take())
    }

    fn poll_global(&mut self) -> Option<Next> {
        let pool = &*self.pool;
        if let Some(task) = pool.global_cpu.pop() {
            return Some(Next::Run(task, Kind::Cpu));
        }
        pool.global_blocking
            .pop()
            .map(|task| Next::Run(task, Kind::Blocking))
    }

    /// Steals from another worker, as one of the limited number of searchers.
    fn steal(&mut self) -> Option<Next> {
        let pool = self.pool.clone();
        if !self.searching {
            if !pool.idle.try_start_searching(pool.core) {
                return None;
            }
            self.searching = true;
        }
        let used = pool.slots_used();
        if used < 2 {
            return None;
        }
        let start = self.next_random() as usize % used;
        let mut retry_after = None;
        for offset in 0..used {
            let victim = (start + offset) % used;
            if victim == self.index {
                continue;
            }
            let Some(slot) = pool.slot_if_used(victim) else {
                continue;
            };
            if let Some(task) = slot.stealer.steal_into(&mut self.owner) {
                self.slot.counters.steal();
                return Some(Next::Run(task, Kind::Cpu));
            }
            if let Some(stamp) = slot.run_next.full_stamp() {
                if stamp != slot.tasks_started.load(Ordering::Relaxed) {
                    continue; // its owner has moved on and will run it shortly
                }
                match self.watch {
                    Some((watched, seen, since)) if watched == victim && seen == stamp => {
                        let waited = since.elapsed();
                        if waited >= RUN_NEXT_STEAL_DELAY {
                            if let Some(task) = slot.run_next.take() {
                                self.watch = None;
                                tracing::trace!(
                                    victim = victim + 1,
                                    "took a stalled run-next task"
                                );
                                return Some(Next::Run(task, Kind::Cpu));
                            }
                        } else {
                            retry_after = Some(RUN_NEXT_STEAL_DELAY - waited);
                        }
                    }
                    _ => {
                        self.watch = Some((victim, stamp, Instant::now()));
                        retry_after = Some(RUN_NEXT_STEAL_DELAY);
                    }
                }
            }
        }
        retry_after.map(Next::RetryAfter)
    }

    /// Leaves the searching state (if in it); the last searcher to find work wakes another
    /// worker, since where there was one task there may be more.
    fn stop_searching(&mut self, found_work: bool) {
        if self.searching {
            self.searching = false;
            if self.pool.idle.stop_searching() && found_work {
                self.pool.signal_cpu_work();
            }
        }
    }

    fn begin_blocking(&mut self) {
        self.slot.counters.poll();
        self.running_blocking = true;
        self.give_up_permit();
    }

    /// Before this thread blocks (a blocking task, or a [`block_in_place`] section): gives
    /// the permit back, leaves the "run next" task where thieves can take it, and makes sure
    /// someone runs the CPU work left behind.
    fn give_up_permit(&mut self) {
        let pool = self.pool.clone();
        if self.has_permit {
            self.has_permit = false;
            pool.release_permit();
        }
        let slot = pool.slot(self.index);
        if let Some(task) = slot.run_next.take() {
            self.owner.push_back(task, &pool.global_cpu);
        }
        if !self.owner.is_empty() || !pool.global_cpu.is_empty() {
            // CPU work left behind while this thread blocks: make sure someone takes it.
            pool.idle.notify_work();
        }
        pool.compensate();
    }

    fn end_blocking(&mut self) {
        self.running_blocking = false;
        if std::mem::take(&mut self.blocking_handed_off) {
            return; // the task's count went to the task it re-queued
        }
        self.pool.control.remove_blocking();
    }

    /// Is there work this worker could take (checked after announcing itself parked)?
    fn work_available(&self, check_locals: bool) -> bool {
        let pool = &*self.pool;
        if !pool.global_blocking.is_empty() {
            return true;
        }
        let mut cpu_work = !pool.global_cpu.is_empty() || !self.owner.is_empty();
        if !cpu_work && check_locals {
            cpu_work = (0..pool.slots_used()).any(|index| {
                pool.slot_if_used(index).is_some_and(|slot| {
                    slot.active.load(Ordering::Acquire)
                        && (!slot.stealer.is_empty() || slot.run_next.is_full())
                })
            });
        }
        cpu_work && pool.control.load().free_permits() > 0
    }

    /// Parks until woken; `false` if the worker should exit (shutdown or retirement).
    fn park(&mut self) -> bool {
        let pool = self.pool.clone();
        if self.has_permit {
            self.has_permit = false;
            pool.release_permit();
        }
        let last_searcher = pool
            .idle
            .announce_park(self.index, std::mem::take(&mut self.searching));
        if pool.is_closed() {
            return self.leave_park(false);
        }
        if self.work_available(last_searcher || pool.idle.searching() == 0) {
            let keep_running = self.leave_park(true);
            // Searching again, so that taking this work hands the duty to wake a sleeper on
            // (`stop_searching`): a submitter that saw us searching skipped its wake-up, and
            // there may be more than the one task we are about to take (a lost wake-up the
            // EXC-13 scenario found under load, with two tasks that had to meet).
            if !self.searching {
                self.searching = pool.idle.try_start_searching(pool.core);
            }
            return keep_running;
        }
        tracing::trace!(pool = %pool.name, worker = self.index + 1, "parking");
        self.slot.counters.park();
        // `None`: a keep-alive too long for an `Instant` (`Duration::MAX`) never ends.
        let keep_alive_deadline = || Instant::now().checked_add(pool.keep_alive);
        let mut deadline = keep_alive_deadline();
        loop {
            let remaining = deadline.map_or(Duration::MAX, |deadline| {
                deadline.saturating_duration_since(Instant::now())
            });
            match pool.idle.wait(self.index, remaining) {
                Wake::Claimed => {
                    self.searching = true;
                    return true;
                }
                Wake::Rescan => return true,
                Wake::TimedOut if pool.is_closed() => return self.leave_park(false),
                Wake::TimedOut if deadline.is_none_or(|deadline| Instant::now() < deadline) => {}
                Wake::TimedOut => {
                    if !pool.idle.try_retire(self.index) {
                        continue; // claimed meanwhile: the next wait returns `Claimed`
                    }
                    if pool.control.try_remove_thread(pool.core) {
                        self.retired = true;
                        tracing::debug!(pool = %pool.name, worker = self.index + 1, "retiring after the keep-alive");
                        return false;
                    }
                    pool.idle.unretire(self.index);
                    deadline = keep_alive_deadline();
                }
            }
        }
    }

    /// Leaves the parked state early; `keep_running` is what `park` returns.
    fn leave_park(&mut self, keep_running: bool) -> bool {
        if self.pool.idle.cancel_park(self.index) == Wake::Claimed {
            self.searching = true;
        }
        keep_running
    }

    /// The thread is leaving: hand local work on, give back the permit and the slot.
    fn exit(mut self) {
        self.stop_searching(false);
        let pool = self.pool.clone();
        let slot = pool.slot(self.index);
        if let Some(task) = slot.run_next.take() {
            pool.global_cpu.push(task);
        }
        let handed_on = !self.owner.is_empty();
        self.owner.drain_into(&pool.global_cpu);
        if self.has_permit {
            pool.release_permit();
        }
        if !self.retired {
            pool.control.remove_thread();
        }
        if handed_on {
            pool.signal_cpu_work();
        }
        tracing::debug!(pool = %pool.name, worker = self.index + 1, "worker exiting");
        pool.release_slot(self.index, self.owner);
    }
}
