//! The job machinery's work stack: how a cancellation or a completion crosses a tree of any
//! depth without one nested call per level.
//!
//! Trees can be 100 000 levels deep, so no call nests once per level. A job's work that
//! involves another job (cancel a child, cancel the parent with a failure, tell the parent
//! that a child is gone) is never a nested call into that job:
//!
//! * the parent to tell next is *returned*
//!   ([`JobCore::run_finalization`](super::state_machine::JobCore::run_finalization)), and
//!   [`complete_ancestors`] walks up the chain in a loop;
//! * everything else goes onto a [`WorkStack`] owned by the outermost call (`cancel`,
//!   `body_completed`), which runs it before returning. Last pushed runs first, and what a
//!   step must do after another job's work is pushed *before* that work, so the order is
//!   the one the recursive calls had (rules 2, 3 and 6 of [`state_machine`](super::state_machine)
//!   and kotlinx `notifyCancelling`).
//!
//! A completing leaf with a live parent pushes nothing, so the stack never allocates then.
//! User code that calls back into a job (a handler cancelling another tree) starts a call of
//! its own, with its own stack: the nesting follows the user's calls, not the tree.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use crate::error::{drop_panic_payload, JobError};
use crate::job::children::ChildTicket;
use crate::job::state_machine::{End, Finalization, JobCore, NotifyCancelling};
use crate::job::Job;
use crate::wake_batch::WakeBatch;

/// Tells parents, one after the other, that a child reached its final state; each may become
/// final in turn and hand over its own parent (rule 6, as a loop rather than a recursion).
pub(super) fn complete_ancestors(mut next: Option<(Job, ChildTicket)>, work: &mut WorkStack) {
    while let Some((parent, ticket)) = next {
        next = parent.core().child_completed(&parent, ticket, work);
    }
}

/// A step of the job machinery left for later by [`JobCore`](super::state_machine::JobCore)
/// methods; see the module docs.
pub(super) enum Work {
    /// Cancel this job (a child of a cancelling job, or a parent told about a failure).
    Cancel(Job, JobError),
    /// The children of a cancelling job not cancelled yet, in order, with their cause.
    CancelChildren(std::vec::IntoIter<Job>, JobError),
    /// The rest of a job's cancellation after its children.
    Notify(Job, NotifyCancelling),
    /// The end of a job's cancellation after its parent was told about the failure.
    End(Job, End),
    /// The rest of a finalization after the parent was cancelled by the failure (and
    /// whether the parent handles it).
    Finish(Job, Finalization, bool),
    /// Completion or on-cancelling handlers of this job panicked.
    Panicked(Job, Vec<Box<dyn Any + Send>>),
}

impl Work {
    fn run(self, work: &mut WorkStack) {
        match self {
            Work::Cancel(job, error) => JobCore::cancel_step(job, error, work),
            Work::CancelChildren(children, cause) => cancel_children(children, cause, work),
            Work::Notify(job, rest) => JobCore::notify_cancelling(job, rest, work),
            Work::End(job, end) => JobCore::end_cancelling(job, end, work),
            Work::Finish(job, finalization, handled) => {
                let next = job
                    .core()
                    .finish_finalization(&job, finalization, handled, work);
                complete_ancestors(next, work);
            }
            Work::Panicked(job, panics) => job.node().completion_handlers_panicked(panics),
        }
    }
}

/// Cancels `children` in order with `cause`. A child whose cancellation left work (its own
/// children, its parent to tell) gets it done before its next sibling: the siblings left go
/// under that work. Leaf children are cancelled without touching the stack.
///
/// The coroutines this run of siblings wakes (to drop their futures) are gathered in the
/// stack's [`WakeBatch`] and dispatched in chunks when the run ends, before any work a child
/// left: the dispatch order is the one of the wake-ups.
fn cancel_children(mut children: std::vec::IntoIter<Job>, cause: JobError, work: &mut WorkStack) {
    work.wakes.start();
    while let Some(child) = children.next() {
        if children.len() == 0 {
            // The last child takes the cause itself (one clone less, see `Causes::record`).
            JobCore::cancel_step(child, cause, work);
            break;
        }
        let height = work.items.len();
        JobCore::cancel_step(child, cause.clone(), work);
        if work.items.len() > height {
            // At most a few items sit above `height`: the child's own pushes.
            work.items
                .insert(height, Work::CancelChildren(children, cause));
            break;
        }
    }
    work.wakes.finish();
}

/// The work left by the steps of one outer call (`cancel`, `body_completed`), run by that
/// call before it returns: last pushed first, so an item pushed before a step runs after all
/// the work that step left, in the order of the recursive calls it replaces. Its memory is
/// the caller's: nothing is allocated until a step leaves work (a leaf completing with a live
/// parent leaves none).
pub(super) struct WorkStack {
    items: Vec<Work>,
    /// The wake-ups of cancelled coroutines gathered during a run of sibling cancellations
    /// (see [`cancel_children`]); empty and idle otherwise.
    pub(super) wakes: WakeBatch,
}

impl WorkStack {
    pub(super) fn new() -> WorkStack {
        WorkStack {
            items: Vec::new(),
            wakes: WakeBatch::new(),
        }
    }

    pub(super) fn push(&mut self, item: Work) {
        self.items.push(item);
    }

    /// Runs the work until none is left. User code inside a step (handlers, wakers, dispatch)
    /// is contained where it runs, so no step is expected to panic; should one, it does not
    /// stop the rest, which the tree needs to end: the first panic is re-raised at the end,
    /// as the trampoline does.
    #[inline]
    pub(super) fn drain(self) {
        if self.items.capacity() == 0 && self.wakes.is_unused() {
            // Nothing was ever pushed or gathered (a completing leaf, most completions): no
            // work to run and no memory owned, so there is nothing for a destructor to do.
            std::mem::forget(self);
            return;
        }
        self.drain_used();
    }

    /// [`drain`](Self::drain) of a stack that was used.
    fn drain_used(mut self) {
        let mut first_panic = None;
        while let Some(item) = self.items.pop() {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| item.run(&mut self))) {
                // A run of siblings cut short: what it gathered goes out before the next item.
                self.wakes.finish();
                match first_panic {
                    None => first_panic = Some(payload),
                    Some(_) => drop_panic_payload(payload),
                }
            }
        }
        // Already empty unless a step panicked inside a run of siblings.
        self.wakes.finish();
        if let Some(payload) = first_panic {
            panic::resume_unwind(payload);
        }
    }
}
