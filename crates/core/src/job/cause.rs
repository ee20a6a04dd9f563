//! [`Causes`]: what a cancelling job collects on its way to its final error (kotlinx
//! `Finishing`: `rootCause` and the exceptions list), and every cancellation a job's state
//! derives from them.
//!
//! # Invariants
//!
//! * `failures` holds distinct failures (never cancellations) in arrival order: the first is
//!   the root cause, the others become its `suppressed` list (rule 4 of
//!   [`state_machine`](super::state_machine)).
//! * `first_cancellation` is the first cancellation recorded; it is the final error only when
//!   no failure arrives. Cancellations are never suppressed.
//!
//! `Causes` lives inside a job's lock; nothing here locks, calls user code or allocates except
//! the failure list on a job's first failure.

use crate::error::JobError;

/// The errors a job collected while cancelling; see the module docs.
#[derive(Default)]
pub(super) struct Causes {
    /// While cancelling: the first cancellation seen (used only if no failure arrives). Once
    /// the job is final: its final error ([`set_final`](Self::set_final)). One slot for both
    /// saves 16 bytes in every job: the collection has ended when the final error exists.
    first_cancellation: Option<JobError>,
    /// Failures in arrival order: the first is the root cause, the rest are suppressed.
    failures: Failures,
}

impl Causes {
    /// Records an error while cancelling. Returns `true` if it is the first failure.
    ///
    /// Takes the error by value: a parent cancelling 100 000 children hands each the same
    /// cancellation, and every clone or drop of it is an atomic operation on one cache line
    /// that all workers finalizing children share.
    pub(super) fn record(&mut self, error: JobError) -> bool {
        if error.is_failure() {
            if self.failures.iter().any(|f| f.same_as(&error)) {
                return false;
            }
            self.failures.push(error);
            self.failures.len() == 1
        } else {
            if self.first_cancellation.is_none() {
                self.first_cancellation = Some(error);
            }
            false
        }
    }

    /// The failure the job is failing with, if any (kotlinx `Finishing.rootCause`, restricted
    /// to failures).
    pub(super) fn root_failure(&self) -> Option<&JobError> {
        self.failures.first()
    }

    /// The root cause: the first failure, else the first cancellation.
    pub(super) fn root_cause(&self) -> Option<&JobError> {
        self.failures.first().or(self.first_cancellation.as_ref())
    }

    /// The error a child should be cancelled with when this job is cancelling: the
    /// cancellation itself, or a cancellation caused by the failure (kotlinx
    /// `getChildJobCancellationCause`).
    pub(super) fn child_cancellation_cause(&self) -> JobError {
        self.wrapped("Parent job is cancelling", "Parent job is cancelling")
    }

    /// The cancellation cause of a cancelling job: the root failure wrapped in a cancellation,
    /// or the first cancellation.
    pub(super) fn cancelling_cause(&self) -> JobError {
        self.wrapped("Job is cancelling", "Job was cancelled")
    }

    /// The root failure wrapped in a cancellation saying `by_failure`, else the first
    /// cancellation, else a new one saying `no_cause`.
    fn wrapped(&self, by_failure: &str, no_cause: &str) -> JobError {
        match self.failures.first() {
            Some(failure) => JobError::cancelled_by(by_failure, failure.clone()),
            None => self
                .first_cancellation
                .clone()
                .unwrap_or_else(|| JobError::cancelled(no_cause)),
        }
    }

    /// Ends the collection as the job becomes final: the final error and its suppressed list.
    /// Moved out, not cloned (see [`record`](Self::record)): once final, readers use the job's
    /// final error.
    pub(super) fn take_final(&mut self) -> (JobError, Vec<JobError>) {
        let mut failures = self.failures.take_all();
        if failures.is_empty() {
            let error = self
                .first_cancellation
                .take()
                .unwrap_or_else(|| JobError::cancelled("Job was cancelled"));
            (error, Vec::new())
        } else {
            let root = failures.remove(0);
            (root, failures)
        }
    }

    /// Keeps the job's final error once the job is final ([`take_final`](Self::take_final)
    /// emptied the collection, or nothing was collected); read by
    /// [`final_error`](Self::final_error). The other methods are meaningless from here on.
    pub(super) fn set_final(&mut self, error: Option<JobError>) {
        debug_assert!(self.failures.len() == 0, "the collection has not ended");
        self.first_cancellation = error;
    }

    /// The final error stored by [`set_final`](Self::set_final); only meaningful once the job
    /// is final.
    pub(super) fn final_error(&self) -> Option<&JobError> {
        self.first_cancellation.as_ref()
    }
}

/// The cancellation cause of a job that ended cancelled with `final_error` (kotlinx
/// `getCancellationException` of a completed-exceptionally job: a failure wrapped in a
/// cancellation; JOB-11 (c)).
pub(super) fn cancelled_cause(final_error: Option<&JobError>) -> JobError {
    match final_error {
        Some(error) if error.is_failure() => {
            JobError::cancelled_by("Job was cancelled", error.clone())
        }
        Some(error) => error.clone(),
        None => JobError::cancelled("Job was cancelled"),
    }
}

/// The error a child attached to a final parent is refused and cancelled with.
pub(super) fn refused_child_cause(final_error: Option<&JobError>) -> JobError {
    final_error
        .map(|e| JobError::cancelled_by("Parent job is completed", e.clone()))
        .unwrap_or_else(|| JobError::cancelled("Parent job is completed"))
}

/// A job's failures in arrival order. Boxed: most jobs never fail, and the empty list is one
/// null pointer in every coroutine instead of a 24-byte vector.
#[derive(Default)]
#[allow(clippy::box_collection)] // deliberate: 8 bytes per job instead of 24, see above
struct Failures(Option<Box<Vec<JobError>>>);

impl Failures {
    fn first(&self) -> Option<&JobError> {
        self.0.as_ref().and_then(|failures| failures.first())
    }

    fn iter(&self) -> impl Iterator<Item = &JobError> {
        self.0.iter().flat_map(|failures| failures.iter())
    }

    fn push(&mut self, error: JobError) {
        self.0.get_or_insert_with(Default::default).push(error);
    }

    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |failures| failures.len())
    }

    fn take_all(&mut self) -> Vec<JobError> {
        self.0.take().map(|failures| *failures).unwrap_or_default()
    }
}
