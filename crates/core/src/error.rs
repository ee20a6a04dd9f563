//! Errors: [`JobError`], how a coroutine or job ended badly, and [`DispatchError`], why a
//! dispatcher refused a runnable.
//!
//! # Invariants
//!
//! * A `JobError` is cheap to clone (one reference count) and clones compare equal by identity
//!   ([`JobError::same_as`]): the same failure travelling up the Job tree is the same object at
//!   every level, never wrapped per level (kotlinx rule R5).
//! * `Cancelled` errors never carry `suppressed` entries and are never suppressed entries.
//! * The suppressed list of a failure is written once, when the first job whose root cause it is
//!   reaches its final state; later levels read it and do not add to it.
//! * A caught panic payload is dropped only through [`drop_panic_payload`]: a payload is a user
//!   value whose own `Drop` may panic, and that second panic must not escape into the runtime
//!   thread that caught the first one.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Why a dispatcher could not accept a runnable.
///
/// A dispatcher passes it to [`Runnable::reject`](crate::Runnable::reject): the coroutine then
/// fails with it as its cause.
///
/// # Examples
///
/// ```
/// use corral_core::DispatchError;
///
/// let closed = DispatchError::Closed { dispatcher: "pool".to_owned() };
/// assert_eq!(closed.to_string(), "pool was closed and cannot run new work");
/// let not_running = DispatchError::NotRunning {
///     dispatcher: "MyLoop".to_owned(),
///     hint: "start it first".to_owned(),
/// };
/// assert_eq!(not_running.to_string(), "MyLoop is not running: start it first");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The executor behind the dispatcher was closed or shut down.
    #[error("{dispatcher} was closed and cannot run new work")]
    Closed {
        /// The dispatcher's name.
        dispatcher: String,
    },
    /// The dispatcher has nothing running behind it yet (an event loop not started), so the
    /// work has nowhere to go; `hint` tells the user how to start it.
    #[error("{dispatcher} is not running: {hint}")]
    NotRunning {
        /// The dispatcher's name.
        dispatcher: String,
        /// What starts it.
        hint: String,
    },
    /// Any other refusal, with the dispatcher's explanation.
    #[error("{dispatcher} rejected the work: {reason}")]
    Rejected {
        /// The dispatcher's name.
        dispatcher: String,
        /// Why it refused.
        reason: String,
    },
}

/// How a job ended other than by completing normally: cancelled (a timeout included) or failed
/// (a panic, an `Err` returned by a `try_launch` body, a dispatcher that refused it).
///
/// # Examples
///
/// ```
/// use corral_core::JobError;
///
/// let err = JobError::cancelled("Job was cancelled");
/// assert!(err.is_cancelled() && !err.is_failure() && !err.is_timeout());
/// let failure = JobError::from_panic(Box::new("boom"));
/// assert!(failure.is_failure());
/// assert!(failure.to_string().contains("boom"));
/// ```
#[derive(Clone)]
pub enum JobError {
    /// The job was cancelled (Kotlin `CancellationException`).
    Cancelled(Cancellation),
    /// The job failed (Kotlin: any other exception).
    Failed(Failure),
}

/// The details of a cancellation. Cheap to clone; see [`JobError`].
#[derive(Clone)]
pub struct Cancellation {
    inner: Arc<CancellationInner>,
}

struct CancellationInner {
    message: String,
    cause: Option<JobError>,
    timeout: bool,
}

/// The details of a failure. Cheap to clone; see [`JobError`].
#[derive(Clone)]
pub struct Failure {
    inner: Arc<FailureInner>,
}

struct FailureInner {
    message: String,
    source: Option<Arc<dyn StdError + Send + Sync>>,
    suppressed: OnceLock<Box<[JobError]>>,
}

impl JobError {
    /// A cancellation with a message and no cause (Kotlin `CancellationException(message)`).
    pub fn cancelled(message: impl Into<String>) -> JobError {
        JobError::Cancelled(Cancellation {
            inner: Arc::new(CancellationInner {
                message: message.into(),
                cause: None,
                timeout: false,
            }),
        })
    }

    /// A cancellation caused by another error (a parent that failed, a sibling's failure).
    pub fn cancelled_by(message: impl Into<String>, cause: JobError) -> JobError {
        JobError::Cancelled(Cancellation {
            inner: Arc::new(CancellationInner {
                message: message.into(),
                cause: Some(cause),
                timeout: false,
            }),
        })
    }

    /// The cancellation of a timeout: `"Timed out waiting for N ms"`, prefixed by
    /// `Coroutine "name"` when the coroutine has a name (kotlinx's message).
    pub fn timeout(duration: Duration, coroutine_name: Option<&str>) -> JobError {
        let millis = duration.as_millis();
        let message = match coroutine_name {
            Some(name) => format!("Coroutine \"{name}\" timed out waiting for {millis} ms"),
            None => format!("Timed out waiting for {millis} ms"),
        };
        JobError::timeout_with_message(message)
    }

    /// A timeout cancellation with a custom message (`"Timed out immediately"`).
    pub fn timeout_with_message(message: impl Into<String>) -> JobError {
        JobError::Cancelled(Cancellation {
            inner: Arc::new(CancellationInner {
                message: message.into(),
                cause: None,
                timeout: true,
            }),
        })
    }

    /// A failure from a caught panic payload (`&str` and `String` payloads keep their text).
    /// A payload that already is a [`JobError`] (rethrown with `std::panic::panic_any(error)`,
    /// Kotlin's `throw e` of a caught exception) is returned as it is: the same error, so a
    /// parent that already holds it does not record it twice among its `suppressed`.
    ///
    /// ```
    /// use std::panic::{self, AssertUnwindSafe};
    ///
    /// use corral_core::JobError;
    ///
    /// let original = JobError::failure("TE");
    /// let rethrow = AssertUnwindSafe(|| panic::panic_any(original.clone()));
    /// let payload = panic::catch_unwind(rethrow).unwrap_err();
    /// assert!(JobError::from_panic(payload).same_as(&original));
    /// ```
    pub fn from_panic(payload: Box<dyn Any + Send>) -> JobError {
        match payload.downcast::<JobError>() {
            Ok(error) => *error,
            Err(payload) => {
                let message = panic_message(&*payload);
                drop_panic_payload(payload);
                JobError::failed(message, None)
            }
        }
    }

    /// A failure from an error value (an `Err` returned by a `try_launch` body). An error that
    /// already is a [`JobError`] is returned as it is, so `ensure_active()?` in a fallible body
    /// cancels rather than fails.
    pub fn from_error(error: Box<dyn StdError + Send + Sync>) -> JobError {
        match error.downcast::<JobError>() {
            Ok(job_error) => *job_error,
            Err(error) => {
                let message = error.to_string();
                JobError::failed(message, Some(Arc::from(error)))
            }
        }
    }

    /// A failure with a plain message.
    pub fn failure(message: impl Into<String>) -> JobError {
        JobError::failed(message.into(), None)
    }

    fn failed(message: String, source: Option<Arc<dyn StdError + Send + Sync>>) -> JobError {
        JobError::Failed(Failure {
            inner: Arc::new(FailureInner {
                message,
                source,
                suppressed: OnceLock::new(),
            }),
        })
    }

    /// `true` for cancellations, timeouts included.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JobError::Cancelled(_))
    }

    /// `true` for the cancellation of a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, JobError::Cancelled(c) if c.inner.timeout)
    }

    /// `true` for a panic, an `Err` returned by a fallible body, or a rejected dispatch.
    pub fn is_failure(&self) -> bool {
        matches!(self, JobError::Failed(_))
    }

    /// Later failures of siblings attached to this one (the first failure wins). Always empty
    /// for cancellations.
    pub fn suppressed(&self) -> &[JobError] {
        match self {
            JobError::Cancelled(_) => &[],
            JobError::Failed(f) => f.inner.suppressed.get().map(|s| &s[..]).unwrap_or(&[]),
        }
    }

    /// The error that caused a cancellation (a failure up or down the tree), if any.
    pub fn cause(&self) -> Option<&JobError> {
        match self {
            JobError::Cancelled(c) => c.inner.cause.as_ref(),
            JobError::Failed(_) => None,
        }
    }

    /// The failure at the root of this error: itself for a failure, the cause chain's first
    /// failure for a cancellation caused by one.
    pub fn root_failure(&self) -> Option<&JobError> {
        match self {
            JobError::Failed(_) => Some(self),
            JobError::Cancelled(c) => c.inner.cause.as_ref().and_then(JobError::root_failure),
        }
    }

    /// The message: the panic text, the error's `Display`, or the cancellation message.
    pub fn message(&self) -> &str {
        match self {
            JobError::Cancelled(c) => &c.inner.message,
            JobError::Failed(f) => &f.inner.message,
        }
    }

    /// `true` if both are the same error object (clones of one another).
    pub fn same_as(&self, other: &JobError) -> bool {
        match (self, other) {
            (JobError::Cancelled(a), JobError::Cancelled(b)) => Arc::ptr_eq(&a.inner, &b.inner),
            (JobError::Failed(a), JobError::Failed(b)) => Arc::ptr_eq(&a.inner, &b.inner),
            _ => false,
        }
    }

    /// Attaches the suppressed failures. Only the first call for a failure has an effect
    /// (see the module invariants); cancellations ignore it.
    pub(crate) fn set_suppressed(&self, suppressed: Vec<JobError>) {
        if let JobError::Failed(f) = self {
            if !suppressed.is_empty() {
                let _ = f.inner.suppressed.set(suppressed.into_boxed_slice());
            }
        }
    }
}

/// Drops a caught panic payload without letting a panic of its own `Drop` unwind: a second
/// panic is caught and its payload dropped the same way, up to a limit after which the last
/// payload is kept alive for good (dropping it could panic again, without end).
///
/// Every runtime thread that catches a user panic drops the payload through this function,
/// so a payload whose destructor panics cannot kill a worker, the timer thread or an event
/// loop.
///
/// ```
/// use std::panic::{self, AssertUnwindSafe};
///
/// struct Evil;
/// impl Drop for Evil {
///     fn drop(&mut self) {
///         panic!("a payload whose drop panics");
///     }
/// }
///
/// let payload = panic::catch_unwind(AssertUnwindSafe(|| panic::panic_any(Evil))).unwrap_err();
/// corral_core::error::drop_panic_payload(payload); // returns normally
/// ```
pub fn drop_panic_payload(payload: Box<dyn Any + Send>) {
    let mut payload = payload;
    for _ in 0..NESTED_PAYLOAD_DROPS {
        match panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            // The drop panicked: its payload is usually a plain message, dropped next time.
            Err(next) => payload = next,
        }
    }
    keep_forever(payload);
}

/// How many payloads in a row [`drop_panic_payload`] drops, each the panic of the previous
/// one's destructor, before it gives up (a payload whose drop panics with another such
/// payload would go on without end). A real chain is one or two long; the limit is arbitrary.
const NESTED_PAYLOAD_DROPS: usize = 8;

/// Keeps a payload that cannot be dropped alive until the process ends. It is parked where a
/// static reaches it, not forgotten, so leak checkers (Miri, LeakSanitizer) see it for what it
/// is: kept on purpose. Only payloads whose destructors panic [`NESTED_PAYLOAD_DROPS`] times
/// in a row end here.
#[cold]
fn keep_forever(payload: Box<dyn Any + Send>) {
    static KEPT: std::sync::Mutex<Vec<Box<dyn Any + Send>>> = std::sync::Mutex::new(Vec::new());
    KEPT.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(payload);
}

/// Reports a panic nobody can handle (a closure run by an executor, a waker, a timer callback)
/// like an uncaught exception of the current thread (one line on stderr and an `error`
/// tracing event), then drops the payload with [`drop_panic_payload`]. The thread carries on.
pub fn report_uncaught_panic(payload: Box<dyn Any + Send>) {
    let message = panic_message(&*payload);
    drop_panic_payload(payload);
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("<unnamed>");
    tracing::error!(thread = name, %message, "uncaught panic");
    // Not `eprintln!`: it panics when stderr is gone, and this runs on runtime threads.
    let _ = writeln!(
        std::io::stderr(),
        "Exception in thread \"{name}\": {message}"
    );
}

/// The text of a panic payload (`&str`, `String` or a rethrown [`JobError`]), or a placeholder
/// for other payloads.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(e) = payload.downcast_ref::<JobError>() {
        e.to_string()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())?;
        if let Some(cause) = self.cause() {
            write!(f, " (caused by: {cause})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = match self {
            JobError::Cancelled(_) if self.is_timeout() => f.debug_struct("Timeout"),
            JobError::Cancelled(_) => f.debug_struct("Cancelled"),
            JobError::Failed(_) => f.debug_struct("Failed"),
        };
        d.field("message", &self.message());
        if let Some(cause) = self.cause() {
            d.field("cause", cause);
        }
        if !self.suppressed().is_empty() {
            d.field("suppressed", &self.suppressed());
        }
        d.finish()
    }
}

impl StdError for JobError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            JobError::Cancelled(c) => c
                .inner
                .cause
                .as_ref()
                .map(|e| e as &(dyn StdError + 'static)),
            JobError::Failed(f) => f
                .inner
                .source
                .as_deref()
                .map(|e| e as &(dyn StdError + 'static)),
        }
    }
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Cancellation { .. }")
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Failure { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload whose own `Drop` panics (with another payload of the same kind, so a naive
    /// drop of the second would panic again).
    struct Evil;

    impl Drop for Evil {
        fn drop(&mut self) {
            panic::panic_any(Evil);
        }
    }

    #[test]
    fn finding_05_from_panic_drops_an_evil_payload_safely() {
        let payload = panic::catch_unwind(|| panic::panic_any(Evil)).unwrap_err();
        let converted = panic::catch_unwind(AssertUnwindSafe(|| JobError::from_panic(payload)));
        let error = converted.unwrap_or_else(|second| {
            std::mem::forget(second);
            panic!("from_panic let the payload's drop unwind")
        });
        assert!(error.is_failure());
        assert_eq!(error.message(), "a panic with a non-string payload");
    }
}
