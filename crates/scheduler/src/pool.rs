//! [`Pool`]: the state every worker and submitter of one scheduler shares, and the submit and
//! signal paths.
//!
//! # Submitting
//!
//! * A CPU task submitted by a worker of this pool that holds a CPU permit goes to that
//!   worker's "run next" slot (or its ring, when `fair`); from anywhere else it goes to the
//!   global CPU queue. Either way the submitter then signals CPU work
//!   ([`signal_cpu_work`](Pool::signal_cpu_work)): it wakes a parked worker, or starts one
//!   if none is parked and nobody searches. Except for a re-queue (`CoroutineScheduler::requeue`,
//!   a yield) by a worker to its own ring: that is the task it runs, no new work, and the
//!   worker is awake to run it; kotlinx's tail dispatch (`skipUnpark`) skips the unpark the
//!   same way, and on the yield path the signal costs a `SeqCst` fence per yield. A plain
//!   `fair` dispatch of other work signals as usual.
//! * A blocking task is counted in the control word *before* it is published (kotlinx #3642)
//!   (a blocking task re-queuing itself with `fair` passes its own count on instead),
//!   always goes to the global blocking queue (so local queues only ever hold CPU work, which
//!   a worker without a permit must not sit on, kotlinx #3418/#4752), and, if no worker could
//!   be woken, the pool grows by a compensating thread while fewer than `core` threads are
//!   left for CPU work.
//!
//! # Threads
//!
//! Workers are created on demand, as kotlinx does: a submission that finds no parked worker
//! and no searcher starts one while fewer than `core` threads are left for CPU work (the same
//! compensation rule that adds threads for blocking tasks, by the worker about to block or by
//! a blocking submitter), never under a lock (kotlinx #3652). So a huge core pool size costs
//! nothing until work needs the threads. Threads above `core` retire after the keep-alive,
//! handing their local work to the global queue first (kotlinx #4743). Slots (index `N - 1`
//! of worker `N`) are reused, so thread names stay dense.
//!
//! A thread the OS refuses to create is not fatal: the pool logs a warning and runs with the
//! threads it has. Only while it has none at all is queued work rejected (coroutines fail
//! with [`DispatchError::Rejected`] naming the OS error), never left waiting for a thread that
//! will not come: a submitter re-checks the thread count after publishing, and whoever saw a
//! spawn fail re-checks the queues after uncounting the thread, so one of them rejects it.
//!
//! # Spawns during shutdown
//!
//! [`close`](Pool::close) (from `CoroutineScheduler::shutdown`, an executor's `close`, or its
//! last handle dropped) sets `closed` and wakes every parked worker. From then on workers run
//! whatever they find, with or without a CPU permit, and exit at the first look that finds
//! nothing; a closing pool starts no thread (`compensate`). A dispatch racing the close ends
//! in one of these ways, and a task is never left in a queue nobody will look at again:
//!
//! 1. It reads `closed` as set before publishing: the runnable is handed back (`Err`), and
//!    the caller rejects it (a coroutine fails with `DispatchError::Closed`).
//! 2. It publishes to a global queue, then, after a `SeqCst` fence, reads `closed` again
//!    (`reject_if_closed`):
//!    * set: it rejects as closed everything the global queues hold at that moment, its own
//!      task included unless a worker took it first. So when a submission races the close,
//!      work queued before the close may be rejected instead of run; it is never dropped
//!      silently.
//!    * not set: the close comes later in the total order of `SeqCst` operations, so anyone
//!      who looks at the queues after a fence that follows reading `closed` as set sees the
//!      task. A worker still running finds it and runs it. A worker that sees the close while
//!      it parks exits without another look (even one this submission just woke), so the
//!      last worker to leave a closed pool fences and rejects what the global queues still
//!      hold (`thread_exited`). A thread counted before the close still starts; its exit
//!      makes it the last worker in turn, and if it fails to start, the failure path rejects
//!      in its place.
//! 3. A task a worker dispatches to its own "run next" slot or ring is run by that worker
//!    before it parks, so before it exits; an exiting worker hands its local queue to the
//!    global queue anyway.
//!
//! `shutdown` with a timeout also rejects what is left once every worker has exited; its
//! [`ShutdownReport`](crate::ShutdownReport) counts the tasks it rejected itself, not those the
//! last worker rejected before it looked.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use corral_core::error::drop_panic_payload;
use corral_core::{DispatchError, Runnable, TaskMode};

use crate::control::ControlWord;
use crate::global_queue::GlobalQueue;
use crate::idle::Idle;
use crate::local_queue::{self, Owner, Stealer};
use crate::metrics::WorkerCounters;
use crate::permit_gate::PermitGate;
use crate::run_next::RunNext;
use crate::worker;

/// What the pool knows about one worker slot.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) stealer: Stealer,
    /// The owner end of the slot's queue while no thread holds it.
    pub(crate) owner: Mutex<Option<Owner>>,
    pub(crate) run_next: RunNext,
    /// Tasks this slot's worker has started (wrapping); see [`RunNext`].
    pub(crate) tasks_started: AtomicU32,
    /// A live worker owns this slot.
    pub(crate) active: AtomicBool,
    /// Polls, steals and parks of the slot's workers (their own cache line).
    pub(crate) counters: WorkerCounters,
}

impl Slot {
    fn new() -> Slot {
        let (owner, stealer) = local_queue::new();
        Slot {
            stealer,
            owner: Mutex::new(Some(owner)),
            run_next: RunNext::default(),
            tasks_started: AtomicU32::new(0),
            active: AtomicBool::new(false),
            counters: WorkerCounters::default(),
        }
    }
}

/// How worker threads are named: `<pool name>-worker-N` unless the builder says otherwise.
#[derive(Clone, Default)]
pub(crate) struct ThreadName(Option<Arc<dyn Fn(usize) -> String + Send + Sync>>);

impl ThreadName {
    pub(crate) fn custom(name: impl Fn(usize) -> String + Send + Sync + 'static) -> ThreadName {
        ThreadName(Some(Arc::new(name)))
    }

    /// The name of worker `number` (1-based) of pool `pool`.
    fn of(&self, pool: &str, number: usize) -> String {
        match &self.0 {
            Some(name) => name(number),
            None => format!("{pool}-worker-{number}"),
        }
    }
}

impl fmt::Debug for ThreadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "custom"
        } else {
            "<name>-worker-N"
        })
    }
}

/// The shared state of one scheduler; see the module docs.
#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) name: String,
    thread_name: ThreadName,
    pub(crate) core: usize,
    pub(crate) max: usize,
    /// Idle threads above `core` retire after this long; one too long for an `Instant`
    /// (such as `Duration::MAX`) means never.
    pub(crate) keep_alive: Duration,
    /// The worker threads' stack size (`None`: the standard library's default).
    stack_size: Option<usize>,
    pub(crate) control: ControlWord,
    pub(crate) global_cpu: GlobalQueue,
    pub(crate) global_blocking: GlobalQueue,
    pub(crate) idle: Idle,
    /// Shared (`Arc`) so a worker holds its own slot directly instead of looking it up here
    /// several times per task.
    slots: Box<[OnceLock<Arc<Slot>>]>,
    /// One past the highest slot index ever used.
    slots_used: AtomicUsize,
    free_indices: Mutex<Vec<usize>>,
    closed: AtomicBool,
    /// Signalled whenever a worker thread exits (shutdown waits on it).
    exited: (Mutex<()>, Condvar),
    /// Worker threads whose closure has not returned yet.
    live_threads: AtomicUsize,
    /// Workers leaving a blocking section that wait for a CPU permit.
    permit_gate: PermitGate,
    /// Why the last worker thread could not be started (for the rejection message).
    spawn_error: Mutex<Option<String>>,
}

impl Pool {
    pub(crate) fn new(
        name: String,
        thread_name: ThreadName,
        core: usize,
        max: usize,
        keep_alive: Duration,
        stack_size: Option<usize>,
    ) -> Pool {
        Pool {
            name,
            thread_name,
            core,
            max,
            keep_alive,
            stack_size,
            control: ControlWord::new(core),
            global_cpu: GlobalQueue::new(),
            global_blocking: GlobalQueue::new(),
            idle: Idle::new(max),
            slots: (0..max).map(|_| OnceLock::new()).collect(),
            slots_used: AtomicUsize::new(0),
            free_indices: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            exited: (Mutex::new(()), Condvar::new()),
            live_threads: AtomicUsize::new(0),
            permit_gate: PermitGate::default(),
            spawn_error: Mutex::new(None),
        }
    }

    pub(crate) fn slot(&self, index: usize) -> &Slot {
        self.slots[index]
            .get()
            .expect("a worker's slot is initialised before it starts")
    }

    /// Slots that may hold a worker (for stealing scans).
    pub(crate) fn slots_used(&self) -> usize {
        self.slots_used.load(Ordering::Acquire)
    }

    /// The slot at `index` if it was ever initialised.
    pub(crate) fn slot_if_used(&self, index: usize) -> Option<&Slot> {
        self.slots[index].get().map(|slot| &**slot)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Queues `task`; gives it back if the pool is shut down.
    ///
    /// Inlined into the dispatcher's submit: the local push and the signal after it are the
    /// path of every wake and yield on a worker, and each call level there cost about as much
    /// as the push itself. The global and blocking paths stay out of line.
    /// `requeue` (implies `fair`): the running task re-queues itself (see
    /// `CoroutineScheduler::requeue`).
    #[inline]
    pub(crate) fn dispatch(
        self: &Arc<Self>,
        task: Runnable,
        mode: TaskMode,
        fair: bool,
        requeue: bool,
    ) -> Result<(), Runnable> {
        debug_assert!(fair || !requeue, "a re-queue is fair");
        if self.closed.load(Ordering::Acquire) {
            return Err(task);
        }
        match mode {
            TaskMode::ProbablyBlocking => self.dispatch_blocking(task, fair),
            TaskMode::NonBlocking => match worker::push_local(self, task, fair) {
                // A worker re-queuing the task it runs (a yield): no new work appeared, and
                // this worker is awake to run it (kotlinx's tail dispatch skips the unpark too).
                Ok(()) if requeue => {}
                // Pushed by a worker of this pool: a thread exists.
                Ok(()) => self.signal_cpu_work(),
                Err(task) => self.dispatch_global(task),
            },
        }
        Ok(())
    }

    /// The blocking side of [`dispatch`](Self::dispatch).
    #[inline(never)]
    fn dispatch_blocking(self: &Arc<Self>, task: Runnable, fair: bool) {
        // A blocking task that re-queues itself fairly (it yields: a limited view's loop after
        // its batch) hands its own count on instead of adding one. Counting both until it
        // returns made every batch boundary of `Dispatchers::io()` look like 65 blocking
        // tasks, and the compensation rule then added a thread each time: 2000 blocking IO
        // coroutines ended on 64 + core + 10 threads and more.
        if !(fair && worker::hand_off_blocking_count(self)) {
            self.control.add_blocking();
        }
        self.global_blocking.push(task);
        self.reject_if_closed();
        if !self.idle.notify_work() {
            self.compensate();
        }
        self.reject_if_threadless();
    }

    /// A CPU task submitted from outside this pool's workers: to the global queue.
    #[inline(never)]
    fn dispatch_global(self: &Arc<Self>, task: Runnable) {
        self.global_cpu.push(task);
        self.reject_if_closed();
        self.signal_cpu_work();
        self.reject_if_threadless();
    }

    /// Called after publishing CPU work: wakes a parked worker or, if none is parked and
    /// nobody searches (a searcher would find the work and signal in turn), starts a worker
    /// while fewer than `core` threads can run CPU work (kotlinx's `signalCpuWork`). In a busy
    /// pool this adds loads and no RMW to a submission.
    #[inline]
    pub(crate) fn signal_cpu_work(self: &Arc<Self>) {
        if !self.idle.notify_work() && self.idle.searching() == 0 {
            self.compensate();
        }
    }

    /// After an external submission: if the pool has no thread at all (none could be
    /// started), rejects what is queued instead of leaving it to wait forever. (A closing
    /// pool has no threads either; `reject_if_closed` rejected its queues as closed.) The
    /// submitter's `SeqCst` fence after publishing (in `reject_if_closed`) pairs with the one
    /// in `spawn_worker`'s failure path.
    fn reject_if_threadless(&self) {
        if self.control.created() == 0 && !self.is_closed() {
            self.reject_queued_without_threads();
        }
    }

    /// Rejects the global queues because no worker thread exists (and none could be started).
    fn reject_queued_without_threads(&self) {
        let error = self
            .spawn_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| "unknown error".to_owned());
        let reason = format!("no worker thread could be started ({error})");
        let rejected = self.reject_global_with(|| DispatchError::Rejected {
            dispatcher: self.name.clone(),
            reason: reason.clone(),
        });
        if rejected > 0 {
            tracing::warn!(pool = %self.name, rejected, %reason, "rejected queued work");
        }
    }

    /// A submission that raced with shutdown: if the pool closed meanwhile, whatever is still
    /// queued globally is rejected now, so no task waits in a pool nobody runs any more.
    fn reject_if_closed(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.reject_global();
        }
    }

    /// Rejects everything in the global queues as closed; returns how many tasks that was.
    pub(crate) fn reject_global(&self) -> usize {
        self.reject_global_with(|| self.closed_error())
    }

    fn reject_global_with(&self, error: impl Fn() -> DispatchError) -> usize {
        let mut rejected = 0;
        while let Some(task) = self.global_cpu.pop() {
            self.reject(task, error());
            rejected += 1;
        }
        while let Some(task) = self.global_blocking.pop() {
            self.control.remove_blocking();
            self.reject(task, error());
            rejected += 1;
        }
        rejected
    }

    /// Adds a thread if fewer than `core` threads are left for CPU work (the first workers,
    /// and compensation for blocking tasks), within `max`.
    ///
    /// Inlined (it runs after most submissions, finding nothing to do); starting the thread is
    /// out of line.
    #[inline]
    pub(crate) fn compensate(self: &Arc<Self>) {
        // A closing pool only drains: its exiting workers must not be replaced.
        if self.is_closed() {
            return;
        }
        if self.control.try_add_compensating_thread(self.max) {
            self.add_worker();
        }
    }

    /// Starts the worker [`compensate`](Self::compensate) counted.
    #[inline(never)]
    fn add_worker(self: &Arc<Self>) {
        tracing::debug!(pool = %self.name, "adding a worker");
        self.spawn_worker();
    }

    /// Gives a CPU permit back, and wakes a worker waiting for one at the end of a blocking
    /// section, if any.
    pub(crate) fn release_permit(&self) {
        self.control.release_permit();
        self.permit_gate.permit_released();
    }

    /// Takes a CPU permit, sleeping until one is released if none is free (the end of a
    /// blocking section: the CPU task must not go on without one).
    pub(crate) fn acquire_permit_blocking(&self) {
        self.permit_gate
            .acquire(|| self.control.try_acquire_permit());
    }

    /// Starts a worker thread for a thread already counted in the control word. A thread the
    /// OS refuses is uncounted and logged; see the module docs.
    fn spawn_worker(self: &Arc<Self>) {
        let free = self
            .free_indices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let index =
            match free {
                Some(index) => index,
                // A fresh slot, claimed atomically: two threads spawning workers at once must
                // never get the same index (the stress tests caught that race).
                None => match self.slots_used.fetch_update(
                    Ordering::AcqRel,
                    Ordering::Acquire,
                    |used| (used < self.max).then_some(used + 1),
                ) {
                    Ok(index) => index,
                    Err(_) => {
                        // A retiring worker has given up its count but not yet its slot.
                        self.control.remove_thread();
                        return;
                    }
                },
            };
        let slot = self.slots[index].get_or_init(|| Arc::new(Slot::new()));
        slot.active.store(true, Ordering::Release);
        self.idle.reset(index);
        // A new worker starts as a searcher, as a woken one does: when it finds work and is the
        // last searcher, it signals in turn, so a burst grows the pool one worker at a time up
        // to `core` (a worker that found its first task in the global queue without searching
        // would not, and the pool would stay at two threads under a burst).
        self.idle.add_searcher();
        self.live_threads.fetch_add(1, Ordering::SeqCst);
        let pool = self.clone();
        let mut builder =
            std::thread::Builder::new().name(self.thread_name.of(&self.name, index + 1));
        if let Some(stack_size) = self.stack_size {
            builder = builder.stack_size(stack_size);
        }
        let spawned = builder.spawn(move || worker::run(pool, index));
        if let Err(error) = spawned {
            tracing::warn!(
                pool = %self.name,
                %error,
                threads = self.control.created().saturating_sub(1),
                "could not start a worker thread; running with the threads the pool has"
            );
            *self
                .spawn_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
            self.idle.stop_searching();
            self.live_threads.fetch_sub(1, Ordering::SeqCst);
            slot.active.store(false, Ordering::Release);
            self.free_indices
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(index);
            self.control.remove_thread();
            // Pairs with `reject_if_threadless` of submitters: see the module docs.
            std::sync::atomic::fence(Ordering::SeqCst);
            if self.control.created() == 0 {
                if self.is_closed() {
                    // No worker is left to run it, nor will one start ("Spawns during
                    // shutdown" in the module docs).
                    self.reject_global();
                } else {
                    self.reject_queued_without_threads();
                }
            }
        }
    }

    /// A handle to slot `index`, for the worker that runs in it.
    pub(crate) fn slot_handle(&self, index: usize) -> Arc<Slot> {
        self.slots[index]
            .get()
            .expect("a worker's slot is initialised before it starts")
            .clone()
    }

    /// A worker thread takes slot `index`'s queue (the slot keeps it while no thread runs, so
    /// a thread that failed to start loses nothing).
    pub(crate) fn take_owner(&self, index: usize) -> Owner {
        self.slot(index)
            .owner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .expect("a slot keeps its queue's owner end while no worker holds it")
    }

    /// A worker thread leaves slot `index`, returning its queue's owner end.
    pub(crate) fn release_slot(&self, index: usize, owner: Owner) {
        let slot = self.slot(index);
        slot.active.store(false, Ordering::Release);
        *slot.owner.lock().unwrap_or_else(PoisonError::into_inner) = Some(owner);
        self.free_indices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(index);
    }

    /// Called last by every worker thread. The last worker to leave a closed pool rejects
    /// what a submission racing the close left in the global queues (see "Spawns during
    /// shutdown" in the module docs).
    pub(crate) fn thread_exited(&self) {
        let left = {
            let _guard = self.exited.0.lock().unwrap_or_else(PoisonError::into_inner);
            let left = self.live_threads.fetch_sub(1, Ordering::SeqCst) - 1;
            self.exited.1.notify_all();
            left
        };
        // Outside the lock: a rejected task's drop may run user code that calls `shutdown`,
        // which takes it.
        if left == 0 && self.is_closed() {
            // Pairs with the fence of `reject_if_closed`: a submitter that read `closed` as
            // false published its task before that fence, so these pops see it.
            std::sync::atomic::fence(Ordering::SeqCst);
            let rejected = self.reject_global();
            if rejected > 0 {
                tracing::debug!(
                    pool = %self.name,
                    rejected,
                    "rejected work submitted during shutdown"
                );
            }
        }
    }

    /// Live worker threads.
    pub(crate) fn live_threads(&self) -> usize {
        self.live_threads.load(Ordering::SeqCst)
    }

    /// Closes the pool: no new work is accepted and every worker exits once the queues are
    /// empty. Returns `false` if it was already closed.
    pub(crate) fn close(&self) -> bool {
        let first = !self.closed.swap(true, Ordering::SeqCst);
        self.idle.wake_all();
        first
    }

    /// Waits until at most `allowed` worker threads are alive, or `timeout` (one too long
    /// for an `Instant` waits without limit); returns how many are still alive.
    pub(crate) fn wait_for_threads(&self, allowed: usize, timeout: Duration) -> usize {
        let deadline = std::time::Instant::now().checked_add(timeout);
        let mut guard = self.exited.0.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let live = self.live_threads();
            let remaining = deadline.map_or(Duration::MAX, |deadline| {
                deadline.saturating_duration_since(std::time::Instant::now())
            });
            if live <= allowed || remaining.is_zero() {
                return live;
            }
            guard = self
                .exited
                .1
                .wait_timeout(guard, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            // Workers parked before the close may need another nudge.
            self.idle.wake_all();
        }
    }

    fn closed_error(&self) -> DispatchError {
        DispatchError::Closed {
            dispatcher: self.name.clone(),
        }
    }

    /// Fails a task the pool will not run. A coroutine's rejection never unwinds; a closure
    /// is just dropped, and a panic from its drop is contained here.
    fn reject(&self, task: Runnable, error: DispatchError) {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| task.reject(error))) {
            tracing::error!(pool = %self.name, "a rejected task panicked while being dropped");
            drop_panic_payload(payload);
        }
    }

    /// Rejects the tasks left in the slots of exited workers; returns how many.
    pub(crate) fn reject_local_leftovers(&self) -> usize {
        let mut rejected = 0;
        for index in 0..self.slots_used() {
            let Some(slot) = self.slot_if_used(index) else {
                continue;
            };
            if let Some(task) = slot.run_next.take() {
                self.reject(task, self.closed_error());
                rejected += 1;
            }
            if let Some(owner) = slot
                .owner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_mut()
            {
                while let Some(task) = owner.pop() {
                    self.reject(task, self.closed_error());
                    rejected += 1;
                }
            }
        }
        rejected
    }
}
