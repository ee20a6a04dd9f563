//! [`Join`]: the future returned by [`Job::join`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::current;
use crate::job::state_machine::CompletionEntry;
use crate::job::Job;
use crate::slab::SlabKey;

/// Future of [`Job::join`].
///
/// Polling order (kotlinx `joinSuspend` with prompt cancellation):
/// 1. start the job if it is lazy (once);
/// 2. look at the job: final, or register (or refresh) one waker entry, which is removed again
///    if the `Join` is dropped first;
/// 3. if the calling coroutine is cancelled, stay pending whatever step 2 saw: the coroutine
///    is dropped at this suspension (so `join` of an already finished job still "throws" for a
///    cancelled caller). Checked after step 2, so that seeing a failed child final implies
///    seeing the cancellation it caused.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Join {
    job: Job,
    started: bool,
    waiter: Option<SlabKey>,
}

impl Join {
    pub(crate) fn new(job: Job) -> Join {
        Join {
            job,
            started: false,
            waiter: None,
        }
    }

    /// Polls for completion without the cancellation check: used by awaiters that do their own.
    pub(crate) fn poll_completion(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        if !self.started {
            self.started = true;
            self.job.start();
        }
        if self.job.is_completed() {
            self.waiter = None;
            return Poll::Ready(());
        }
        match self.waiter {
            Some(key) if self.job.core().update_waker(key, cx.waker()) => Poll::Pending,
            Some(_) => {
                // Our entry was consumed: the job completed and woke us.
                self.waiter = None;
                Poll::Ready(())
            }
            None => match self
                .job
                .core()
                .register(CompletionEntry::Waker(cx.waker().clone()))
            {
                Ok(key) => {
                    self.waiter = Some(key);
                    Poll::Pending
                }
                Err(_) => Poll::Ready(()),
            },
        }
    }
}

impl Future for Join {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.started {
            this.started = true;
            this.job.start();
        }
        // Completion is read before the caller's cancellation: a failing child cancels its
        // parent before it becomes final, so a joiner that sees it final also sees its own
        // cancellation (the other order lets a parent pass its join after the child failed,
        // STRUCT-11).
        let completed = this.poll_completion(cx);
        if current::cancellation_requested() {
            return Poll::Pending;
        }
        completed
    }
}

impl Drop for Join {
    fn drop(&mut self) {
        if let Some(key) = self.waiter.take() {
            self.job.core().unregister(key);
        }
    }
}
