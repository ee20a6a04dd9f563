//! [`EventLoop`]: a FIFO queue of runnables owned by one thread, with its own timers: the loop
//! behind `run_blocking` and the main loop (Kotlin's `BlockingEventLoop`).
//!
//! # No lost wake-ups
//!
//! A dispatch from another thread pushes, then (after a `SeqCst` fence) reads `parked`; the
//! loop stores `parked`, fences, then re-checks the queue before parking. One of them sees
//! the other, and `Thread::unpark` keeps a token if it comes before the park.

use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, Thread, ThreadId};
use std::time::Instant;

use corral_core::error::report_uncaught_panic;
use corral_core::{Dispatch, Dispatcher, Runnable};
use crossbeam_queue::SegQueue;

use crate::dispatchers::Dispatchers;
use crate::limited::check_parallelism;
use crate::timer::Timers;

thread_local! {
    static CURRENT: RefCell<Option<EventLoop>> = const { RefCell::new(None) };
}

/// An event loop owned by one thread, with its own timers. Cheap to clone.
///
/// # Lifecycle
///
/// [`EventLoop::current`] gives the calling thread's loop, creating it if needed.
/// [`enter`](EventLoop::enter) marks it in use; nested `run_blocking` calls on the same thread
/// enter the same loop again, so an inner call drives the outer call's coroutines too. When
/// the outermost [`LoopGuard`] drops, the loop *closes*: it runs what is still queued, hands
/// its pending timers to the shared timer thread, and from then on forwards anything
/// dispatched to it to `Dispatchers::default()` (kotlinx reschedules such work on its
/// `DefaultExecutor`), so a coroutine that outlives its loop still completes.
///
/// # One step of the loop ([`run_until`](EventLoop::run_until))
///
/// Due timers fire first (their wakers queue their coroutines), then one runnable runs; when
/// there is nothing to run the thread parks until the next deadline or a dispatch. That is
/// kotlinx's `processNextEvent` order. A dispatch onto the loop also fires the due timers
/// before it queues its runnable (kotlinx's `enqueue`), so a task queued after a timer became
/// due never runs before that timer's coroutine, even when both happen during one step (a
/// busy coroutine that yields after its sibling's `delay` ran out: the sibling runs first).
///
/// # Panics
///
/// Nothing run by the loop unwinds out of it: coroutines catch their own panics, and a closure
/// dispatched to the loop, a panicking waker or timer callback is reported as an uncaught
/// panic of the thread and the loop carries on.
///
/// # On a scheduler worker
///
/// A loop driven on a worker thread of the shared scheduler (a `run_blocking` inside a Default
/// coroutine) sleeps in [`corral_scheduler::block_in_place`]: the worker gives its CPU permit
/// back while the loop waits and takes one back before it runs the loop's next task, so a
/// pool whose every worker waits in such a loop still runs the Default work they wait for.
#[derive(Clone)]
pub struct EventLoop {
    shared: Arc<LoopShared>,
    dispatcher: Dispatcher,
}

struct LoopShared {
    queue: SegQueue<Runnable>,
    thread: Thread,
    thread_id: ThreadId,
    timers: Arc<Timers>,
    /// Nested `enter` count (touched by the owning thread only).
    depth: AtomicUsize,
    parked: AtomicBool,
    closed: AtomicBool,
}

/// Keeps an [`EventLoop`] entered; the outermost guard's drop closes it.
#[must_use = "the loop closes when the guard drops"]
pub struct LoopGuard {
    event_loop: EventLoop,
}

/// Why [`EventLoop::make_main`] failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MainLoopError {
    /// Another main loop is running.
    #[error("a main loop is already running on thread {thread:?}; only one may run at a time")]
    AlreadyRunning {
        /// The name of the thread running it.
        thread: String,
    },
}

/// While alive, its loop is `Dispatchers::main()`.
#[must_use = "the loop stops being the main loop when the guard drops"]
pub struct MainGuard {
    _private: (),
}

static MAIN: Mutex<Option<EventLoop>> = Mutex::new(None);

impl EventLoop {
    /// The calling thread's loop (created on first use; a new one after the previous one
    /// closed).
    pub fn current() -> EventLoop {
        CURRENT.with(|current| {
            current
                .borrow_mut()
                .get_or_insert_with(EventLoop::new_for_current_thread)
                .clone()
        })
    }

    fn new_for_current_thread() -> EventLoop {
        crate::tokio_context::install();
        let thread = thread::current();
        let shared = Arc::new(LoopShared {
            queue: SegQueue::new(),
            thread_id: thread.id(),
            timers: Timers::new(Some(thread.clone())),
            thread,
            depth: AtomicUsize::new(0),
            parked: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        EventLoop {
            dispatcher: Dispatcher::from_arc(shared.clone()),
            shared,
        }
    }

    /// The dispatcher that queues runnables on this loop (displayed `BlockingEventLoop`; the
    /// same handle every call).
    pub fn dispatcher(&self) -> Dispatcher {
        self.dispatcher.clone()
    }

    /// `true` if the calling thread owns this loop.
    pub fn is_current_thread(&self) -> bool {
        thread::current().id() == self.shared.thread_id
    }

    /// Marks the loop in use until the guard drops.
    ///
    /// # Panics
    ///
    /// If called on another thread than the loop's, or on a loop that already closed.
    pub fn enter(&self) -> LoopGuard {
        assert!(
            self.is_current_thread(),
            "EventLoop::enter must be called on the loop's own thread"
        );
        assert!(
            !self.shared.closed.load(Ordering::SeqCst),
            "EventLoop::enter on a loop that already closed (use EventLoop::current() for a new one)"
        );
        self.shared.depth.fetch_add(1, Ordering::Relaxed);
        LoopGuard {
            event_loop: self.clone(),
        }
    }

    /// Runs the loop until `done()` returns `true` (checked before each step). See the module
    /// docs for the order of one step.
    pub fn run_until(&self, done: &mut dyn FnMut() -> bool) {
        debug_assert!(self.is_current_thread(), "run_until off the loop's thread");
        let shared = &*self.shared;
        let mut due = Vec::new();
        loop {
            if done() {
                return;
            }
            let next_deadline = shared.timers.fire_due(Instant::now(), &mut due);
            if let Some(runnable) = shared.queue.pop() {
                run_contained(runnable);
                continue;
            }
            shared.parked.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if shared.queue.is_empty() {
                // On a scheduler worker (`run_blocking` inside a Default coroutine), the
                // worker's CPU permit is free for others while the loop sleeps: the work it
                // waits for may need it (kotlinx #3983).
                corral_scheduler::block_in_place(|| match next_deadline {
                    Some(deadline) => {
                        let now = Instant::now();
                        if deadline > now {
                            thread::park_timeout(deadline - now);
                        }
                    }
                    None => thread::park(),
                });
            }
            shared.parked.store(false, Ordering::SeqCst);
        }
    }

    /// Makes this loop `Dispatchers::main()` until the guard drops.
    pub fn make_main(&self) -> Result<MainGuard, MainLoopError> {
        let mut main = MAIN.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = &*main {
            return Err(MainLoopError::AlreadyRunning {
                thread: running
                    .shared
                    .thread
                    .name()
                    .unwrap_or("<unnamed>")
                    .to_owned(),
            });
        }
        *main = Some(self.clone());
        Ok(MainGuard { _private: () })
    }

    /// The running main loop, if any.
    pub(crate) fn main() -> Option<EventLoop> {
        MAIN.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Runnables waiting in the queue.
    pub fn queued(&self) -> usize {
        self.shared.queue.len()
    }

    /// Closes the loop (the outermost guard dropped): see the module docs.
    fn close(&self) {
        let shared = &*self.shared;
        shared.closed.store(true, Ordering::SeqCst);
        CURRENT.with(|current| {
            let mut current = current.borrow_mut();
            if current
                .as_ref()
                .is_some_and(|existing| Arc::ptr_eq(&existing.shared, &self.shared))
            {
                *current = None;
            }
        });
        // Work queued before the close runs here; later dispatches are forwarded.
        while let Some(runnable) = shared.queue.pop() {
            run_contained(runnable);
        }
        shared.timers.hand_to_shared_timer();
        tracing::trace!("event loop closed");
    }
}

/// Runs one runnable of the loop. Coroutines never unwind; a closure dispatched to the loop
/// may, and its panic is reported as an uncaught panic of this thread (as a worker does), so
/// it neither stops the loop nor unwinds out of `run_blocking`.
fn run_contained(runnable: Runnable) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| runnable.run())) {
        report_uncaught_panic(payload);
    }
}

/// The timers of the loop entered on this thread, if any: `delay` registers there.
pub(crate) fn current_timers() -> Option<Arc<Timers>> {
    CURRENT
        .try_with(|current| {
            current
                .borrow()
                .as_ref()
                .filter(|event_loop| event_loop.shared.depth.load(Ordering::Relaxed) > 0)
                .map(|event_loop| event_loop.shared.timers.clone())
        })
        .ok()
        .flatten()
}

impl LoopShared {
    fn forward_to_default(runnable: Runnable) {
        Dispatchers::default().dispatch(runnable);
    }
}

impl Dispatch for LoopShared {
    fn dispatch(&self, runnable: Runnable) {
        if self.closed.load(Ordering::SeqCst) {
            return LoopShared::forward_to_default(runnable);
        }
        // Timers that are due go first: their coroutines are queued ahead of this runnable, as
        // kotlinx's `enqueue` moves due delayed tasks into the queue before the new task (an
        // overdue `delay` runs before the `yield_now` or `launch` that follows its deadline).
        self.timers.fire_due_now();
        self.queue.push(runnable);
        fence(Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            // Raced with the close: whatever the closing drain did not take is forwarded.
            while let Some(runnable) = self.queue.pop() {
                LoopShared::forward_to_default(runnable);
            }
            return;
        }
        if self.parked.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
    }

    fn limited_parallelism(&self, this: &Dispatcher, parallelism: usize) -> Dispatcher {
        check_parallelism(self, parallelism);
        this.clone()
    }
}

impl fmt::Display for LoopShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlockingEventLoop")
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("thread", &self.shared.thread.name())
            .field("queued", &self.shared.queue.len())
            .field("timers", &self.shared.timers.len())
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl Drop for LoopGuard {
    fn drop(&mut self) {
        if self.event_loop.shared.depth.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.event_loop.close();
        }
    }
}

impl fmt::Debug for LoopGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopGuard").finish_non_exhaustive()
    }
}

impl Drop for MainGuard {
    fn drop(&mut self) {
        *MAIN.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl fmt::Debug for MainGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MainGuard").finish_non_exhaustive()
    }
}
