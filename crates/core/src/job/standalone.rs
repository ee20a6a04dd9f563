//! Plain jobs: `Job::new()`, `Job::new_child(..)` and `SupervisorJob`, which have no body.
//!
//! Their "body" is done when they are completed by hand or cancelled (kotlinx
//! `onCancelComplete`): a cancelled plain job completes as soon as its children have.

use std::any::Any;
use std::panic;
use std::sync::Arc;

use crate::error::JobError;
use crate::job::core::{JobCore, JobKind, JobState};
use crate::job::{attach, Job, JobNode};

pub(crate) struct StandaloneJob {
    core: JobCore,
}

impl StandaloneJob {
    pub(crate) fn create(kind: JobKind, parent: Option<&Job>) -> Job {
        let job = Job::from_node(Arc::new(StandaloneJob {
            core: JobCore::new(kind, JobState::Active),
        }));
        if let Some(parent) = parent {
            attach(&job, parent);
        }
        job
    }
}

impl JobNode for StandaloneJob {
    fn core(&self) -> &JobCore {
        &self.core
    }

    fn on_cancelling(self: Arc<Self>, _this: &Job) -> bool {
        // No body to stop: cancelled, a plain job only waits for its children.
        true
    }

    fn start_body(self: Arc<Self>, _this: &Job) {
        // Plain jobs are created Active; `JobCore::start` never succeeds for them.
    }

    fn report_unhandled(&self, _error: &JobError) {
        // kotlinx: a plain job does not handle exceptions itself; the failing child reports.
    }

    fn completion_handlers_panicked(&self, mut panics: Vec<Box<dyn Any + Send>>) {
        // Every handler ran; re-raise the first panic to whoever completed or cancelled the job
        // (kotlinx throws a CompletionHandlerException from `cancel()`).
        let first = panics.remove(0);
        panic::resume_unwind(first);
    }
}
