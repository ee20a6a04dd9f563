//! [`Deferred`]: the handle of an `async_` coroutine, a future of its result.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::current;
use crate::error::JobError;
use crate::job::{Job, Join};
use crate::task::OutputSlot;

/// The result of an `async_` coroutine (Kotlin `Deferred`): a [`Job`] (through `Deref`) and a
/// future of `Result<T, JobError>`.
///
/// Awaiting starts a lazy coroutine, waits for it (children included) and gives its value, or
/// the error it ended with. Inside a coroutine the await is a cancellation point, also when the
/// value is already there (prompt cancellation); but an awaiter cancelled while the awaited
/// coroutine fails gets that failure (kotlinx rethrows it from `await`) instead of being
/// dropped. The value is moved out by the first await; polling again after that panics, as
/// for any completed future.
///
/// # Examples
///
/// ```
/// use corral_core::{async_, Context, CoroutineStart};
///
/// // A context without a dispatcher resumes in place: this coroutine runs to its end at once.
/// let mut answer = async_(Context::new(), CoroutineStart::Default, |_| async { 6 * 7 });
/// assert!(answer.is_completed()); // `Job`'s methods, through `Deref`
/// assert_eq!(answer.try_take().unwrap().unwrap(), 42);
/// ```
pub struct Deferred<T> {
    join: Join,
    job: Job,
    output: Arc<dyn OutputSlot<T>>,
    taken: bool,
}

impl<T> Deferred<T> {
    pub(crate) fn new(job: Job, output: Arc<dyn OutputSlot<T>>) -> Deferred<T> {
        Deferred {
            join: job.join(),
            job,
            output,
            taken: false,
        }
    }

    /// The job of the coroutine.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The result if the coroutine already finished (moving the value out), else `None`.
    pub fn try_take(&mut self) -> Option<Result<T, JobError>> {
        if !self.job.is_completed() {
            return None;
        }
        Some(self.take_result())
    }

    fn take_result(&mut self) -> Result<T, JobError> {
        if let Some(error) = self.job.completion_error() {
            return Err(error);
        }
        assert!(!self.taken, "the value of this Deferred was already taken");
        self.taken = true;
        // The callers checked that the job is final (an Acquire load of its state), so no runner
        // writes the output any more, and this `Deferred`, which is not `Clone`, is the only owner
        // of the output.
        // SAFETY: that is `OutputSlot::take`'s contract.
        let value = unsafe { self.output.take() };
        Ok(value.expect("an async_ coroutine that completed normally stored its value"))
    }
}

impl<T> Deref for Deferred<T> {
    type Target = Job;

    fn deref(&self) -> &Job {
        &self.job
    }
}

impl<T> Future for Deferred<T> {
    type Output = Result<T, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<T, JobError>> {
        let this = self.get_mut();
        this.job.start();
        // Completion first, then the caller's cancellation (see `Join`'s poll for why).
        let completed = this.join.poll_completion(cx);
        if current::cancellation_requested() {
            // kotlinx `AwaitContinuation.getContinuationCancellationCause`: an awaiter cancelled
            // while the awaited job fails (typically *because* it fails: a failing child
            // cancels its parent) gets that failure as it is, so its code handling the `Err` runs
            // (ASYNC-02, ASYNC-05 (b)); otherwise it is dropped here (prompt cancellation). A
            // cancellation of the awaited job is not delivered: for the awaiter it would be
            // the same as being dropped.
            return match this.job.core().root_failure() {
                Some(failure) => Poll::Ready(Err(failure)),
                None => Poll::Pending,
            };
        }
        match completed {
            Poll::Ready(()) => Poll::Ready(this.take_result()),
            Poll::Pending => {
                // If this coroutine is cancelled while waiting here, it must be polled once
                // more to receive the awaited job's failure (see above) instead of being
                // dropped unpolled.
                current::poll_on_cancel();
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for Deferred<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Deferred").field(&self.job).finish()
    }
}
