//! Helpers the sections share (std only): logs, flags, drop guards, a minimal executor, a
//! recording exception handler, and the lock of the process-wide main loop.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use corral::prelude::*;

/// Serializes the tests that run or need the absence of a main loop (one per process).
pub(crate) static MAIN_LOCK: Mutex<()> = Mutex::new(());

pub(crate) fn main_lock() -> std::sync::MutexGuard<'static, ()> {
    MAIN_LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A generous bound for things that must happen "soon" (never a hang in CI).
pub(crate) const SOON: Duration = Duration::from_secs(10);

/// State shared between the test and its coroutines.
pub(crate) type Shared<T> = Arc<Mutex<T>>;

pub(crate) type Log = Shared<Vec<String>>;

pub(crate) fn log() -> Log {
    Arc::default()
}

pub(crate) fn say(log: &Log, line: impl Into<String>) {
    log.lock().unwrap().push(line.into());
}

pub(crate) fn lines(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

pub(crate) fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

pub(crate) fn thread_name() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_owned()
}

/// `true` for `DefaultDispatcher-worker-N` with N a positive number.
pub(crate) fn is_default_worker(name: &str) -> bool {
    name.strip_prefix("DefaultDispatcher-worker-")
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n >= 1)
}

/// Sets a flag when dropped (a cancelled coroutine's future is dropped).
pub(crate) struct SetOnDrop(pub(crate) Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Logs a line when dropped.
pub(crate) struct LogOnDrop(pub(crate) Log, pub(crate) &'static str);

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        say(&self.0, self.1);
    }
}

/// Registers a completion handler that reports the job's outcome on a channel.
pub(crate) fn outcome(job: &Job) -> mpsc::Receiver<Option<JobError>> {
    let (tx, rx) = mpsc::channel();
    let _handle: CompletionHandle = job.invoke_on_completion(move |error| {
        let _ = tx.send(error.cloned());
    });
    rx
}

/// The message of a caught panic payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic>".to_owned()
    }
}

/// A minimal executor to poll futures outside any coroutine (plain std, no corral).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut future = pin!(future);
    let deadline = Instant::now() + SOON;
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        assert!(Instant::now() < deadline, "block_on: future hung");
        thread::park_timeout(ms(50));
    }
}

/// A handler recording every error it receives.
#[derive(Clone, Default)]
pub(crate) struct Recorder {
    pub(crate) errors: Shared<Vec<(Option<String>, JobError)>>,
}

impl Recorder {
    pub(crate) fn handler(&self) -> CoroutineExceptionHandler {
        let errors = self.errors.clone();
        CoroutineExceptionHandler::new(move |ctx: &Context, err: &JobError| {
            errors
                .lock()
                .unwrap()
                .push((ctx.name().map(str::to_owned), err.clone()));
        })
    }

    pub(crate) fn messages(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e.to_string())
            .collect()
    }

    /// Waits until `n` errors arrived (handlers may run on worker threads).
    pub(crate) fn wait_for(&self, n: usize) -> Vec<(Option<String>, JobError)> {
        let deadline = Instant::now() + SOON;
        loop {
            let errors = self.errors.lock().unwrap().clone();
            if errors.len() >= n || Instant::now() > deadline {
                return errors;
            }
            thread::sleep(ms(2));
        }
    }
}
