//! [`Pool`]: the state every worker and submitter of one scheduler shares, and the submit and
//! signal paths.
//!
//! # Submitting
//!
//! * A CPU task submitted by a worker of this pool that holds a CPU permit goes to that
//!   worker's "run next" slot (or its ring, when `fair`); from anywhere else it goes to the
//!   global CPU queue. Either way the submitter then calls [`Idle::notify_work`].
//! * A blocking task is counted in the control word *before* it is published (kotlinx #3642)
//!   (a blocking task re-queuing itself with `fair` passes its own count on instead),
//!   always goes to the global blocking queue (so local queues only ever hold CPU work, which
//!   a worker without a permit must not sit on, kotlinx #3418/#4752), and, if no worker could
//!   be woken, the pool grows by a compensating thread while fewer than `core` threads are
//!   left for CPU work.
//!
//! # Threads
//!
//! `core` workers start with the pool. Extra workers are created only to compensate for
//! blocking tasks, by the worker about to block or by a blocking submitter, never under a
//! lock (kotlinx #3652); they retire after the keep-alive, handing their local work to the
//! global queue first (kotlinx #4743). Slots (index `N - 1` of worker `N`) are reused, so
//! thread names stay dense.

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
    pub(crate) keep_alive: Duration,
    pub(crate) control: ControlWord,
    pub(crate) global_cpu: GlobalQueue,
    pub(crate) global_blocking: GlobalQueue,
    pub(crate) idle: Idle,
    slots: Box<[OnceLock<Box<Slot>>]>,
    /// One past the highest slot index ever used.
    slots_used: AtomicUsize,
    free_indices: Mutex<Vec<usize>>,
    closed: AtomicBool,
    /// Signalled whenever a worker thread exits (shutdown waits on it).
    exited: (Mutex<()>, Condvar),
    /// Worker threads whose closure has not returned yet.
    live_threads: AtomicUsize,
}

impl Pool {
    pub(crate) fn new(
        name: String,
        thread_name: ThreadName,
        core: usize,
        max: usize,
        keep_alive: Duration,
    ) -> Pool {
        Pool {
            name,
            thread_name,
            core,
            max,
            keep_alive,
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
        }
    }

    /// Starts the `core` workers.
    pub(crate) fn start(self: &Arc<Self>) {
        for _ in 0..self.core {
            if self.control.try_add_thread(self.max) {
                self.spawn_worker();
            }
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
    pub(crate) fn dispatch(
        self: &Arc<Self>,
        task: Runnable,
        mode: TaskMode,
        fair: bool,
    ) -> Result<(), Runnable> {
        if self.closed.load(Ordering::Acquire) {
            return Err(task);
        }
        match mode {
            TaskMode::ProbablyBlocking => {
                // A blocking task that re-queues itself fairly (it yields: a limited view's
                // loop after its batch) hands its own count on instead of adding one. Counting
                // both until it returns made every batch boundary of `Dispatchers::io()` look
                // like 65 blocking tasks, and the compensation rule then added a thread each
                // time: 2000 blocking IO coroutines ended on 64 + core + 10 threads and more.
                if !(fair && worker::hand_off_blocking_count(self)) {
                    self.control.add_blocking();
                }
                self.global_blocking.push(task);
                self.reject_if_closed();
                if !self.idle.notify_work() {
                    self.compensate();
                }
            }
            TaskMode::NonBlocking => {
                if let Err(task) = worker::push_local(self, task, fair) {
                    self.global_cpu.push(task);
                    self.reject_if_closed();
                }
                self.idle.notify_work();
            }
        }
        Ok(())
    }

    /// A submission that raced with shutdown: if the pool closed meanwhile, whatever is still
    /// queued globally is rejected now, so no task waits in a pool nobody runs any more.
    fn reject_if_closed(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.reject_global();
        }
    }

    /// Rejects everything in the global queues; returns how many tasks that was.
    pub(crate) fn reject_global(&self) -> usize {
        let mut rejected = 0;
        while let Some(task) = self.global_cpu.pop() {
            self.reject(task);
            rejected += 1;
        }
        while let Some(task) = self.global_blocking.pop() {
            self.control.remove_blocking();
            self.reject(task);
            rejected += 1;
        }
        rejected
    }

    /// Adds a thread if fewer than `core` threads are left for CPU work (compensation for
    /// blocking tasks), within `max`.
    pub(crate) fn compensate(self: &Arc<Self>) {
        if self.control.try_add_compensating_thread(self.max) {
            tracing::debug!(pool = %self.name, "adding a worker to compensate for blocking tasks");
            self.spawn_worker();
        }
    }

    /// Starts a worker thread for a thread already counted in the control word.
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
        let slot = self.slots[index].get_or_init(|| Box::new(Slot::new()));
        slot.active.store(true, Ordering::Release);
        self.idle.reset(index);
        self.live_threads.fetch_add(1, Ordering::SeqCst);
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name(self.thread_name.of(&self.name, index + 1))
            .spawn(move || worker::run(pool, index));
        if let Err(error) = spawned {
            tracing::error!(pool = %self.name, %error, "could not start a worker thread");
            eprintln!(
                "corral: could not start a worker thread for {}: {error}",
                self.name
            );
            self.live_threads.fetch_sub(1, Ordering::SeqCst);
            slot.active.store(false, Ordering::Release);
            self.free_indices
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(index);
            self.control.remove_thread();
        }
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

    /// Called last by every worker thread.
    pub(crate) fn thread_exited(&self) {
        let _guard = self.exited.0.lock().unwrap_or_else(PoisonError::into_inner);
        self.live_threads.fetch_sub(1, Ordering::SeqCst);
        self.exited.1.notify_all();
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

    /// Waits until at most `allowed` worker threads are alive, or `timeout`; returns how many
    /// are still alive.
    pub(crate) fn wait_for_threads(&self, allowed: usize, timeout: Duration) -> usize {
        let deadline = std::time::Instant::now() + timeout;
        let mut guard = self.exited.0.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let live = self.live_threads();
            let now = std::time::Instant::now();
            if live <= allowed || now >= deadline {
                return live;
            }
            guard = self
                .exited
                .1
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            // Workers parked before the close may need another nudge.
            self.idle.wake_all();
        }
    }

    /// Fails a task the pool will not run (`DispatchError::Closed`). A coroutine's rejection
    /// never unwinds; a closure is just dropped, and a panic from its drop is contained here.
    fn reject(&self, task: Runnable) {
        let error = DispatchError::Closed {
            dispatcher: self.name.clone(),
        };
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
                self.reject(task);
                rejected += 1;
            }
            if let Some(owner) = slot
                .owner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_mut()
            {
                while let Some(task) = owner.pop() {
                    self.reject(task);
                    rejected += 1;
                }
            }
        }
        rejected
    }
}
