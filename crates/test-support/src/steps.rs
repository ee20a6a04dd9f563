//! The step recorder and small fixtures of the ported kotlinx scenarios: `expect(n)` /
//! `finish(n)` ([`Steps`]), a recording exception handler ([`Recorder`]), a never-completing
//! future ([`forever`]) and a drop guard ([`Finally`]).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use corral_core::{CoroutineExceptionHandler, JobError};

/// kotlinx `expect(n)` / `finish(n)` / `expectUnreached()`: asserts that numbered steps run in
/// order. Clones share the count.
#[derive(Clone, Debug, Default)]
pub struct Steps {
    counter: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

impl Steps {
    /// A recorder at step 0.
    pub fn new() -> Steps {
        Steps::default()
    }

    /// Records step `n`, asserting that it is the next one.
    #[track_caller]
    pub fn expect(&self, n: usize) {
        let previous = self.counter.fetch_add(1, Ordering::SeqCst);
        assert_eq!(previous + 1, n, "step {n} ran as step {}", previous + 1);
    }

    /// Records step `n` as [`expect`](Steps::expect) does and marks it as the last one, for
    /// [`assert_finished`](Steps::assert_finished).
    #[track_caller]
    pub fn finish(&self, n: usize) {
        self.expect(n);
        self.finished.store(n, Ordering::SeqCst);
    }

    /// Panics: the caller is a point the scenario must not reach.
    #[track_caller]
    pub fn unreached(&self) -> ! {
        panic!(
            "reached a point that must not be reached (after step {})",
            self.count()
        );
    }

    /// How many steps have run.
    pub fn count(&self) -> usize {
        self.counter.load(Ordering::SeqCst)
    }

    /// Asserts that `finish(n)` ran.
    #[track_caller]
    pub fn assert_finished(&self, n: usize) {
        assert_eq!(
            self.finished.load(Ordering::SeqCst),
            n,
            "finish({n}) was not reached"
        );
    }
}

/// A handler that records every failure it receives (kotlinx `unhandled = [...]`). Clones
/// share the record.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    /// The failures received, in order.
    pub errors: Arc<Mutex<Vec<JobError>>>,
}

impl Recorder {
    /// A handler that appends each failure it is given to [`errors`](Recorder::errors).
    pub fn handler(&self) -> CoroutineExceptionHandler {
        let errors = self.errors.clone();
        CoroutineExceptionHandler::new(move |_ctx, error| {
            errors.lock().unwrap().push(error.clone())
        })
    }

    /// The messages of the failures received, in order.
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

/// Runs its closure when dropped: the `finally { }` of the scenarios.
pub struct Finally<F: FnMut()>(pub F);

impl<F: FnMut()> fmt::Debug for Finally<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Finally(..)")
    }
}

impl<F: FnMut()> Drop for Finally<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}
