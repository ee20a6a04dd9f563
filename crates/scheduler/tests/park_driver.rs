//! The park-driver hook seen from a pool: a busy worker polls the driver every
//! `DRIVER_POLL_INTERVAL` tasks, outside any task, and what the poll wakes runs on that
//! worker. Alone in its binary: the driver is process-wide.
//!
//! Not run under Miri, like the other pool tests of this crate: a shut-down pool's threads
//! are counted out before the OS has joined them, which Miri reports as threads left running;
//! the unsafe code under it is covered by the unit tests, which Miri runs.

#![cfg(not(miri))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use corral_scheduler::{install_park_driver, CoroutineScheduler, ParkDriver, DRIVER_POLL_INTERVAL};

const WATCHDOG: Duration = Duration::from_secs(10);

/// A driver whose "reactor" is a queue of closures that `poll_now` runs (as a reactor wakes
/// coroutines); its `park` never drives, so workers sleep as usual.
struct TestDriver {
    polls: AtomicUsize,
    ready: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
}

impl ParkDriver for TestDriver {
    fn park(&self, _: Duration, _: &dyn Fn() -> bool, _: &dyn Fn()) -> bool {
        false
    }

    fn unpark(&self) {}

    fn poll_now(&self) -> bool {
        self.polls.fetch_add(1, Ordering::SeqCst);
        let ready = std::mem::take(&mut *self.ready.lock().unwrap());
        let woke = !ready.is_empty();
        for wake in ready {
            wake();
        }
        woke
    }
}

static DRIVER: TestDriver = TestDriver {
    polls: AtomicUsize::new(0),
    ready: Mutex::new(Vec::new()),
};

#[test]
fn a_busy_worker_polls_the_driver_and_runs_what_it_wakes() {
    assert!(install_park_driver(&DRIVER).is_ok());
    let pool = CoroutineScheduler::builder()
        .core_pool_size(1)
        .max_pool_size(1)
        .build()
        .unwrap();
    let (done, finished) = mpsc::channel();
    let (woken_on, woken) = mpsc::channel();
    let tasks = 3 * DRIVER_POLL_INTERVAL as usize;
    let inner = pool.clone();
    pool.execute(move || {
        // Pending "readiness": a task the next poll wakes onto the polling worker's pool.
        let pool = inner.clone();
        DRIVER.ready.lock().unwrap().push(Box::new(move || {
            pool.execute(move || {
                woken_on.send(std::thread::current().id()).unwrap();
            })
            .unwrap();
        }));
        let polls_before = DRIVER.polls.load(Ordering::SeqCst);
        // A chain of tasks keeps the only worker busy: it never searches or parks.
        fn chain(pool: CoroutineScheduler, left: usize, done: mpsc::Sender<usize>, before: usize) {
            if left == 0 {
                done.send(DRIVER.polls.load(Ordering::SeqCst) - before)
                    .unwrap();
                return;
            }
            let next = pool.clone();
            pool.execute(move || chain(next, left - 1, done, before))
                .unwrap();
        }
        chain(inner, tasks, done, polls_before);
    })
    .unwrap();
    let polls = finished.recv_timeout(WATCHDOG).expect("the chain finished");
    assert!(
        polls >= 2,
        "{polls} polls of the driver in {tasks} tasks of a busy worker"
    );
    woken
        .recv_timeout(WATCHDOG)
        .expect("the task the poll woke ran");
    pool.shutdown(WATCHDOG);
}
