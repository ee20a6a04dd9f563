//! [`run_test`] and [`run_test_with`]: running a test body on a single-threaded loop with a
//! virtual clock (kotlinx-coroutines-test's `runTest`).
//!
//! The body is the root frame of a [`TestLoop`] driven by the calling thread, as
//! `run_blocking` drives its event loop; the loop's dispatcher is the default of every
//! coroutine of the test, and its clock is what their `delay`, `with_timeout` and other timers
//! read (see `corral_dispatchers::virtual_time`).
//!
//! # Failures
//!
//! A failing child fails the root, as in `run_blocking`. Failures that reach an exception
//! handler instead (children of a `supervisor_scope`, root coroutines made with the test's
//! context) go to the test's own handler, and the first of them fails `run_test` once the body
//! completed: every failure is reported by the test that caused it, never by a later one.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use corral_core::{Context, CoroutineExceptionHandler, Dispatcher, JobError};
use corral_dispatchers::virtual_time::TestLoop;

use crate::run_blocking::{drive, Driver};
use crate::scope::CoroutineScope;

/// kotlinx-coroutines-test's default `runTest` timeout (60 s since 1.7): long enough for any
/// sane test on a loaded machine, short enough to fail a hung CI job with a clear message.
pub const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How [`run_test_with`] runs a test.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral_scopes::test::{run_test_with, TestConfig};
///
/// let config = TestConfig::default()
///     .auto_advance(false)
///     .timeout(Duration::from_secs(5));
/// assert_eq!(run_test_with(config, |_| async { 1 }).unwrap(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestConfig {
    /// See [`TestConfig::auto_advance`].
    pub auto_advance: bool,
    /// See [`TestConfig::timeout`].
    pub timeout: Duration,
}

impl Default for TestConfig {
    /// Auto-advance on, a real-time limit of [`DEFAULT_TEST_TIMEOUT`].
    fn default() -> TestConfig {
        TestConfig {
            auto_advance: true,
            timeout: DEFAULT_TEST_TIMEOUT,
        }
    }
}

impl TestConfig {
    /// Whether the virtual clock jumps to the next timer whenever every coroutine of the test
    /// is idle (default `true`). Off, it moves only by `advance_time_by`,
    /// `advance_until_idle` and `run_current`.
    pub fn auto_advance(mut self, on: bool) -> TestConfig {
        self.auto_advance = on;
        self
    }

    /// The real (wall-clock) time the test may take before it fails (default
    /// [`DEFAULT_TEST_TIMEOUT`]). Must not be zero.
    pub fn timeout(mut self, limit: Duration) -> TestConfig {
        self.timeout = limit;
        self
    }
}

/// Runs `block` as the root coroutine of a test on a single-threaded loop with a virtual clock
/// (Kotlin `runTest`): `delay`, `with_timeout` and every timer of the coroutines that inherit
/// the test's dispatcher run in virtual time, and whenever all of them are idle the clock
/// jumps to the next timer, so a day of delays takes milliseconds. Returns the body's value
/// once it and all its children completed, or the first failure of any coroutine of the test.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral_dispatchers::delay;
/// use corral_dispatchers::virtual_time::current_time;
/// use corral_scopes::test::run_test;
///
/// let elapsed = run_test(|scope| async move {
///     scope.launch(|_| async { delay(Duration::from_secs(3600)).await });
///     delay(Duration::from_secs(86_400)).await;
///     current_time()
/// });
/// assert_eq!(elapsed.unwrap(), Duration::from_secs(86_400));
/// ```
pub fn run_test<F, Fut, T>(block: F) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut,
    Fut: Future<Output = T>,
{
    run_test_with(TestConfig::default(), block)
}

/// [`run_test`] with a [`TestConfig`]: auto-advance on or off, and the real-time limit after
/// which a test that never finishes fails with an error saying so.
pub fn run_test_with<F, Fut, T>(config: TestConfig, block: F) -> Result<T, JobError>
where
    F: FnOnce(CoroutineScope) -> Fut,
    Fut: Future<Output = T>,
{
    if config.timeout.is_zero() {
        return Err(JobError::failure(
            "run_test_with: TestConfig::timeout must be longer than zero",
        ));
    }
    let reported: Arc<Mutex<Option<JobError>>> = Arc::default();
    let handler = {
        let reported = reported.clone();
        CoroutineExceptionHandler::new(move |_, error| {
            reported
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert_with(|| error.clone());
        })
    };
    let test_loop = TestDriver {
        test_loop: TestLoop::new(config.auto_advance),
        limit: Instant::now().checked_add(config.timeout),
        timeout: config.timeout,
    };
    let result = drive(&test_loop, Context::new() + handler, block);
    drop(test_loop);
    let reported = reported
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    match (result, reported) {
        (Ok(_), Some(error)) => Err(error),
        (result, _) => result,
    }
}

/// A [`TestLoop`] with its real-time limit, as the root's driver.
struct TestDriver {
    test_loop: TestLoop,
    /// `None`: too far away to represent, never reached.
    limit: Option<Instant>,
    timeout: Duration,
}

impl Driver for TestDriver {
    fn dispatcher(&self) -> Dispatcher {
        self.test_loop.dispatcher()
    }

    fn run_until(&self, done: &mut dyn FnMut() -> bool) -> Result<(), JobError> {
        let limit = self
            .limit
            .unwrap_or_else(|| Instant::now() + DEFAULT_TEST_TIMEOUT);
        match self.test_loop.run_until(done, limit) {
            Ok(()) => Ok(()),
            Err(_) if self.limit.is_none() => Ok(()),
            Err(_) => Err(JobError::failure(format!(
                "run_test: the test did not complete within {:?} of real time (virtual time \
                 {:?}); it may wait for something that never happens (raise the limit with \
                 TestConfig::timeout)",
                self.timeout,
                self.test_loop.current_time()
            ))),
        }
    }
}
