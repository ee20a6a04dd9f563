//! The few synchronisation helpers every workload uses, identically for all three runtimes, so
//! that what is measured is the runtime and not a channel.
//!
//! * [`Latch`]: a countdown the bench thread blocks on (like the `std::sync::mpsc` channel
//!   tokio's own benches block on);
//! * [`oneshot`]: a one-shot signal between two tasks (a `Mutex<Option<Waker>>` and a flag);
//! * [`Gauge`]: current and maximum concurrency of a section;
//! * [`Polled`]: a count of tasks that reached their suspension point.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

/// A countdown from `n`; [`wait`](Latch::wait) blocks the calling thread until it reaches zero.
#[derive(Debug)]
pub(crate) struct Latch {
    remaining: AtomicUsize,
    done: Mutex<bool>,
    cond: Condvar,
}

impl Latch {
    /// A latch that opens after `n` calls of [`count_down`](Latch::count_down).
    pub(crate) fn new(n: usize) -> Arc<Latch> {
        Arc::new(Latch {
            remaining: AtomicUsize::new(n),
            done: Mutex::new(n == 0),
            cond: Condvar::new(),
        })
    }

    /// Counts one down; the last one wakes the waiter.
    pub(crate) fn count_down(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.done.lock().unwrap() = true;
            self.cond.notify_all();
        }
    }

    /// Blocks until the count reaches zero.
    pub(crate) fn wait(&self) {
        let mut done = self.done.lock().unwrap();
        while !*done {
            done = self.cond.wait(done).unwrap();
        }
    }
}

#[derive(Debug, Default)]
struct OneshotState {
    sent: bool,
    waker: Option<Waker>,
}

/// The sending half of a [`oneshot`].
#[derive(Debug)]
pub(crate) struct Sender(Arc<Mutex<OneshotState>>);

/// The receiving half of a [`oneshot`]: a future that completes once the sender has sent.
#[derive(Debug)]
pub(crate) struct Receiver(Arc<Mutex<OneshotState>>);

/// A one-shot signal: one allocation, a mutex-protected flag and waker.
pub(crate) fn oneshot() -> (Sender, Receiver) {
    let state = Arc::new(Mutex::new(OneshotState::default()));
    (Sender(state.clone()), Receiver(state))
}

impl Sender {
    /// Completes the receiver.
    pub(crate) fn send(self) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.sent = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Future for Receiver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.lock().unwrap();
        if state.sent {
            return Poll::Ready(());
        }
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The current and the largest number of callers inside a section.
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    current: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    /// A new gauge at zero.
    pub(crate) fn new() -> Arc<Gauge> {
        Arc::new(Gauge::default())
    }

    /// Runs `f` inside the section.
    pub(crate) fn measure<T>(&self, f: impl FnOnce() -> T) -> T {
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        let out = f();
        self.current.fetch_sub(1, Ordering::SeqCst);
        out
    }

    /// The most callers that were inside at once.
    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// How many tasks reached their suspension point (a static counter, so that the counted
/// futures capture nothing).
#[derive(Debug)]
pub(crate) struct Polled(AtomicUsize);

impl Polled {
    /// A counter at zero.
    pub(crate) const fn new() -> Polled {
        Polled(AtomicUsize::new(0))
    }

    /// Resets the count to zero.
    pub(crate) fn reset(&self) {
        self.0.store(0, Ordering::SeqCst);
    }

    /// Counts one task.
    pub(crate) fn hit(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Sleeps until `n` tasks were counted.
    ///
    /// # Panics
    ///
    /// After 60 s without reaching `n`: a runtime lost tasks.
    pub(crate) fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.0.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} tasks reached their suspension point in 60 s",
                self.0.load(Ordering::SeqCst)
            );
            thread::sleep(Duration::from_micros(200));
        }
    }
}
