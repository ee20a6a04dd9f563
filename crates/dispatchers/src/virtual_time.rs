//! Virtual time for tests: [`TestLoop`], a single-threaded loop whose dispatcher carries a
//! virtual clock (kotlinx-coroutines-test's `StandardTestDispatcher` and `TestCoroutineScheduler`),
//! and the functions a test body calls to move that clock ([`current_time`],
//! [`advance_time_by`], [`advance_until_idle`], [`run_current`]).
//!
//! # How a timer finds the virtual clock
//!
//! The loop's dispatcher answers [`Dispatch::clock`] with its clock. `delay` and
//! `schedule_timeout` ask the dispatcher that runs the current coroutine
//! ([`corral_core::with_host_dispatcher`]) for it; when there is one, their timer goes to the
//! clock's own timer heap and its deadline is virtual. So every coroutine that inherits the
//! test's dispatcher sees virtual time, and code sent to another dispatcher
//! (`with_context(Dispatchers::io(), ..)`) sees real time.
//!
//! # One step of the loop
//!
//! 1. A queued runnable runs (FIFO).
//! 2. With nothing queued, the timers due at the current virtual time fire.
//! 3. Still nothing queued: the loop is idle. A pending [`run_current`] resumes; a pending
//!    [`advance_time_by`] moves the clock to the next deadline strictly before its target (and
//!    goes on), else to the target, and resumes; a pending [`advance_until_idle`] moves the
//!    clock to the next deadline, or resumes when there is none. With no such request and
//!    auto-advance on, the clock jumps to the next deadline.
//! 4. Otherwise the thread parks until a dispatch from another thread, at most until the
//!    real-time limit.
//!
//! # Work in flight elsewhere
//!
//! While a block the test sent to another dispatcher runs ([`VirtualTimeHold`], held by
//! `with_context` around such a block), neither auto-advance nor [`advance_until_idle`] moves
//! the clock: the loop waits for the block instead of skipping the test's timeouts past it
//! (kotlinx #4045). An explicit [`advance_time_by`] still moves it. A block elsewhere that
//! itself waits for a test coroutine's virtual timer therefore waits until an explicit
//! `advance_time_by`, or until the real-time limit fails the test.
//!
//! # No lost wake-ups
//!
//! The protocol of [`EventLoop`](crate::EventLoop): a dispatch pushes, fences, then reads
//! `parked`; the loop stores `parked`, fences, then re-checks the queue before parking.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use corral_core::{with_host_dispatcher, Dispatch, DispatchError, Dispatcher, Runnable};
use crossbeam_queue::SegQueue;

use crate::event_loop::run_contained;
use crate::limited::check_parallelism;
use crate::timer::Timers;

/// The name of a test loop's dispatcher (kotlinx's).
const DISPATCHER_NAME: &str = "StandardTestDispatcher";

/// A single-threaded loop with a virtual clock, driven by the thread that created it. Closed
/// (queued work rejected, later dispatches rejected, timers left fired) when dropped.
pub struct TestLoop {
    clock: Arc<TestClock>,
    dispatcher: Dispatcher,
}

/// The loop's state, shared with its dispatcher and with the futures that move its clock.
struct TestClock {
    queue: SegQueue<Runnable>,
    thread: Thread,
    timers: Arc<Timers>,
    start: Instant,
    auto_advance: bool,
    parked: AtomicBool,
    closed: AtomicBool,
    /// Blocks sent to other dispatchers and still running (see the module docs).
    in_flight: AtomicUsize,
    /// The pending clock request of the test ([`advance_time_by`] and friends).
    request: Mutex<Option<Request>>,
}

/// The dispatcher of a [`TestLoop`]: what [`Dispatch::clock`] hands out is its `clock`.
struct TestDispatch {
    clock: Arc<TestClock>,
}

/// A pending request to move the clock, completed by the loop when it is idle.
struct Request {
    until: Until,
    waker: Waker,
    done: Arc<AtomicBool>,
}

#[derive(Clone, Copy, Debug)]
enum Until {
    /// [`run_current`]: until nothing is due at the current time.
    Current,
    /// [`advance_until_idle`]: until no timer is left.
    Idle,
    /// [`advance_time_by`]: until this instant.
    Instant(Instant),
}

/// The real-time limit of [`TestLoop::run_until`] passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealTimeLimit;

impl TestLoop {
    /// A loop on the calling thread, whose clock starts at zero. With `auto_advance`, the clock
    /// jumps to the next timer whenever the loop is idle.
    pub fn new(auto_advance: bool) -> TestLoop {
        let thread = thread::current();
        let start = Instant::now();
        let clock = Arc::new(TestClock {
            queue: SegQueue::new(),
            timers: Timers::new_virtual(thread.clone(), start),
            thread,
            start,
            auto_advance,
            parked: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            request: Mutex::new(None),
        });
        TestLoop {
            dispatcher: Dispatcher::new(TestDispatch {
                clock: clock.clone(),
            }),
            clock,
        }
    }

    /// The dispatcher that queues runnables on this loop (displayed `StandardTestDispatcher`).
    pub fn dispatcher(&self) -> Dispatcher {
        self.dispatcher.clone()
    }

    /// Virtual time since the loop was made.
    pub fn current_time(&self) -> Duration {
        self.clock.current_time()
    }

    /// Runs the loop until `done()` returns `true` (checked before each step; see the module
    /// docs), or until the real instant `limit` passes.
    ///
    /// # Panics
    ///
    /// If called on another thread than the one that made the loop.
    pub fn run_until(
        &self,
        done: &mut dyn FnMut() -> bool,
        limit: Instant,
    ) -> Result<(), RealTimeLimit> {
        assert!(
            thread::current().id() == self.clock.thread.id(),
            "TestLoop::run_until must be called on the thread that made the loop"
        );
        let clock = &*self.clock;
        let mut due = Vec::new();
        loop {
            if done() {
                return Ok(());
            }
            if Instant::now() >= limit {
                return Err(RealTimeLimit);
            }
            if let Some(runnable) = clock.queue.pop() {
                run_contained(runnable);
                continue;
            }
            let next = clock.timers.fire_due(clock.timers.now(), &mut due);
            if !clock.queue.is_empty() || clock.idle_step(next) {
                continue;
            }
            clock.park_until(limit);
        }
    }
}

impl TestClock {
    fn current_time(&self) -> Duration {
        self.timers.now().saturating_duration_since(self.start)
    }

    /// The loop is idle and `next` is the earliest deadline: serves the pending request or
    /// auto-advances. `true` if it moved the clock or resumed a request (the loop goes on),
    /// `false` if the loop must wait for something from outside.
    fn idle_step(&self, next: Option<Instant>) -> bool {
        let nothing_in_flight = self.in_flight.load(Ordering::Acquire) == 0;
        let mut request = self.request.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(pending) = request.as_ref() else {
            drop(request);
            return match next {
                Some(deadline) if self.auto_advance && nothing_in_flight => {
                    self.timers.advance_to(deadline);
                    true
                }
                _ => false,
            };
        };
        match (pending.until, next) {
            (Until::Instant(target), Some(deadline)) if deadline < target => {
                self.timers.advance_to(deadline);
                return true;
            }
            (Until::Instant(target), _) => self.timers.advance_to(target),
            (Until::Idle, Some(deadline)) if nothing_in_flight => {
                self.timers.advance_to(deadline);
                return true;
            }
            (Until::Idle, _) if !nothing_in_flight => return false,
            (Until::Idle | Until::Current, _) => {}
        }
        let finished = request.take().expect("checked above");
        drop(request);
        finished.done.store(true, Ordering::Release);
        finished.waker.wake();
        true
    }

    /// Parks until a dispatch, a change of the work in flight, or the real-time `limit`.
    fn park_until(&self, limit: Instant) {
        self.parked.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.queue.is_empty() {
            let now = Instant::now();
            if limit > now {
                // On a scheduler worker (a test run inside a Default coroutine), the worker's CPU
                // permit serves others while the loop waits, as an event loop's does.
                corral_scheduler::block_in_place(|| thread::park_timeout(limit - now));
            }
        }
        self.parked.store(false, Ordering::SeqCst);
    }

    fn unpark(&self) {
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
    }

    fn closed_error() -> DispatchError {
        DispatchError::Closed {
            dispatcher: DISPATCHER_NAME.to_owned(),
        }
    }
}

impl Drop for TestLoop {
    /// Closes the loop: coroutines that outlive their test are rejected (failed, dropped here)
    /// instead of waiting forever for a loop nobody drives; their timers fire so that those
    /// asleep are rejected too.
    fn drop(&mut self) {
        let clock = &*self.clock;
        clock.closed.store(true, Ordering::SeqCst);
        let mut due = Vec::new();
        loop {
            while let Some(runnable) = clock.queue.pop() {
                runnable.reject(TestClock::closed_error());
            }
            match clock.timers.next_deadline() {
                Some(deadline) => {
                    clock.timers.advance_to(deadline);
                    clock.timers.fire_due(deadline, &mut due);
                }
                None => break,
            }
        }
        if let Some(request) = clock
            .request
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            request.waker.wake();
        }
    }
}

impl Dispatch for TestDispatch {
    fn dispatch(&self, runnable: Runnable) {
        let clock = &*self.clock;
        if clock.closed.load(Ordering::SeqCst) {
            return runnable.reject(TestClock::closed_error());
        }
        clock.queue.push(runnable);
        fence(Ordering::SeqCst);
        if clock.closed.load(Ordering::SeqCst) {
            // Raced with the close: whatever its drain did not take is rejected here.
            while let Some(runnable) = clock.queue.pop() {
                runnable.reject(TestClock::closed_error());
            }
            return;
        }
        if clock.parked.load(Ordering::SeqCst) {
            clock.thread.unpark();
        }
    }

    fn limited_parallelism(&self, this: &Dispatcher, parallelism: usize) -> Dispatcher {
        check_parallelism(self, parallelism);
        this.clone()
    }

    fn clock(&self) -> Option<&(dyn Any + Send + Sync)> {
        Some(&self.clock)
    }
}

impl fmt::Display for TestDispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DISPATCHER_NAME)
    }
}

impl fmt::Debug for TestLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestLoop")
            .field("current_time", &self.current_time())
            .field("queued", &self.clock.queue.len())
            .field("timers", &self.clock.timers.len())
            .finish()
    }
}

/// The virtual clock of the dispatcher running the current coroutine, if it has one.
fn current_clock() -> Option<Arc<TestClock>> {
    with_host_dispatcher(|dispatcher| {
        dispatcher
            .and_then(|dispatcher| dispatcher.as_dispatch().clock())
            .and_then(|clock| clock.downcast_ref::<Arc<TestClock>>())
            .cloned()
    })
}

/// The heap of the virtual clock of the current coroutine's dispatcher, if it has one: where
/// `delay` and `schedule_timeout` put their timers.
pub(crate) fn virtual_timers() -> Option<Arc<Timers>> {
    with_host_dispatcher(|dispatcher| {
        dispatcher
            .and_then(|dispatcher| dispatcher.as_dispatch().clock())
            .and_then(|clock| clock.downcast_ref::<Arc<TestClock>>())
            .map(|clock| clock.timers.clone())
    })
}

fn test_clock(function: &str) -> Arc<TestClock> {
    current_clock().unwrap_or_else(|| {
        panic!(
            "corral::test::{function} was called outside a test: call it in a coroutine running \
             on the test's dispatcher (inside `run_test`)"
        )
    })
}

/// Virtual time since the test started (kotlinx `currentTime`).
///
/// # Panics
///
/// Outside a coroutine running on a test's dispatcher.
pub fn current_time() -> Duration {
    test_clock("current_time").current_time()
}

/// Runs every task due strictly before now + `by` (moving the clock to each deadline in
/// turn), then sets the clock to now + `by` (kotlinx `advanceTimeBy`). Tasks due exactly at
/// the new time run when the caller next suspends, or with [`run_current`].
///
/// # Panics
///
/// Outside a coroutine running on a test's dispatcher.
pub async fn advance_time_by(by: Duration) {
    let clock = test_clock("advance_time_by");
    let now = clock.timers.now();
    let target = now.checked_add(by).unwrap_or_else(|| {
        panic!("corral::test::advance_time_by({by:?}): the virtual clock cannot go that far")
    });
    ClockRequest::new(clock, Until::Instant(target)).await;
}

/// Runs tasks and moves the clock to each next timer until nothing is queued and no timer is
/// left (kotlinx `advanceUntilIdle`). Waits, without moving the clock, while a block sent to
/// another dispatcher is running.
///
/// # Panics
///
/// Outside a coroutine running on a test's dispatcher.
pub async fn advance_until_idle() {
    ClockRequest::new(test_clock("advance_until_idle"), Until::Idle).await;
}

/// Runs the tasks due at the current virtual time, without moving the clock (kotlinx
/// `runCurrent`).
///
/// # Panics
///
/// Outside a coroutine running on a test's dispatcher.
pub async fn run_current() {
    ClockRequest::new(test_clock("run_current"), Until::Current).await;
}

/// A pending clock request; withdrawn if dropped before the loop completed it.
struct ClockRequest {
    clock: Arc<TestClock>,
    until: Until,
    done: Option<Arc<AtomicBool>>,
}

impl ClockRequest {
    fn new(clock: Arc<TestClock>, until: Until) -> ClockRequest {
        ClockRequest {
            clock,
            until,
            done: None,
        }
    }
}

impl Future for ClockRequest {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if let Some(done) = &self.done {
            if done.load(Ordering::Acquire) || self.clock.closed.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
        }
        let done = self.done.get_or_insert_with(Arc::default).clone();
        let mut request = self
            .clock
            .request
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(other) = request.as_ref() {
            assert!(
                Arc::ptr_eq(&other.done, &done),
                "corral::test: two coroutines move the virtual clock at once ({:?} and {:?}); \
                 only one may wait in advance_time_by, advance_until_idle or run_current",
                other.until,
                self.until
            );
        }
        *request = Some(Request {
            until: self.until,
            waker: cx.waker().clone(),
            done,
        });
        drop(request);
        self.clock.unpark();
        Poll::Pending
    }
}

impl Drop for ClockRequest {
    fn drop(&mut self) {
        if let Some(done) = &self.done {
            let mut request = self
                .clock
                .request
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if request
                .as_ref()
                .is_some_and(|pending| Arc::ptr_eq(&pending.done, done))
            {
                *request = None;
            }
        }
    }
}

impl fmt::Debug for ClockRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClockRequest")
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}

/// Keeps the virtual clock of the current coroutine's test loop from jumping while alive: held
/// by `with_context` while a block it sent to another dispatcher runs (see the module docs).
#[must_use = "the clock is held only while the guard lives"]
pub struct VirtualTimeHold {
    clock: Arc<TestClock>,
}

/// Holds the virtual clock of the current coroutine's dispatcher, if it has one (see
/// [`VirtualTimeHold`]); `None`, at the cost of one look at the current frame, otherwise.
pub fn hold_virtual_time() -> Option<VirtualTimeHold> {
    let clock = current_clock()?;
    clock.in_flight.fetch_add(1, Ordering::AcqRel);
    Some(VirtualTimeHold { clock })
}

impl Drop for VirtualTimeHold {
    fn drop(&mut self) {
        self.clock.in_flight.fetch_sub(1, Ordering::AcqRel);
        // The loop may be parked waiting for this: it looks at the clock again.
        self.clock.unpark();
    }
}

impl fmt::Debug for VirtualTimeHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualTimeHold").finish_non_exhaustive()
    }
}
