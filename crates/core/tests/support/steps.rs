//! The step recorder and small fixtures of the conformance scenarios, shared by the scenario
//! tests of corral-core and of the facade (included there with `#[path]`): `expect(n)` /
//! `finish(n)`, a recording exception handler, a never-completing future and a drop guard.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different part of the fixtures

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use corral_core::{CoroutineExceptionHandler, JobError};

/// kotlinx `expect(n)` / `finish(n)` / `expectUnreached()`.
#[derive(Clone, Default)]
pub struct Steps {
    counter: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

impl Steps {
    pub fn new() -> Steps {
        Steps::default()
    }

    #[track_caller]
    pub fn expect(&self, n: usize) {
        let previous = self.counter.fetch_add(1, Ordering::SeqCst);
        assert_eq!(previous + 1, n, "step {n} ran as step {}", previous + 1);
    }

    #[track_caller]
    pub fn finish(&self, n: usize) {
        self.expect(n);
        self.finished.store(n, Ordering::SeqCst);
    }

    #[track_caller]
    pub fn unreached(&self) -> ! {
        panic!(
            "reached a point that must not be reached (after step {})",
            self.count()
        );
    }

    pub fn count(&self) -> usize {
        self.counter.load(Ordering::SeqCst)
    }

    #[track_caller]
    pub fn assert_finished(&self, n: usize) {
        assert_eq!(
            self.finished.load(Ordering::SeqCst),
            n,
            "finish({n}) was not reached"
        );
    }
}

/// A handler that records every failure it receives (kotlinx `unhandled = [...]`).
#[derive(Clone, Default)]
pub struct Recorder {
    pub errors: Arc<Mutex<Vec<JobError>>>,
}

impl Recorder {
    pub fn handler(&self) -> CoroutineExceptionHandler {
        let errors = self.errors.clone();
        CoroutineExceptionHandler::new(move |_ctx, error| {
            errors.lock().unwrap().push(error.clone())
        })
    }

    pub fn messages(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.message().to_owned())
            .collect()
    }
}

/// A future that never completes (kotlinx `delay(FOREVER)` / `awaitCancellation()`).
pub async fn forever() {
    std::future::pending::<()>().await;
}

/// Runs `f` when dropped: the `finally { }` of the scenarios.
pub struct Finally<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for Finally<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}
