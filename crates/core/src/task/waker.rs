//! The waker side of a task: the std [`Wake`] impl on `Arc<Task<B>>`, the borrowed waker of a
//! poll, `yield_now`'s request, and handing the task to its dispatcher ([`Task::schedule`]).
//!
//! A wake sets `SCHEDULED` ([`super::state`]); the one wake that finds the task idle owns the
//! duty to dispatch it, and makes a [`Runnable`] from a reference to the task's own allocation
//! (no allocation). A task without a dispatcher, or whose dispatcher needs no dispatch, runs in
//! place through the [`trampoline`].

use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Wake, Waker};

use super::body::Body;
use super::state::WakeAction;
use super::Task;
use crate::current::YieldRequest;
use crate::dispatcher::{Dispatch, Dispatcher};
use crate::error::report_uncaught_panic;
use crate::runnable::Runnable;
use crate::trampoline;
use crate::wake_batch::WakeBatch;

impl<B: Body> Task<B> {
    /// The waker for a poll, without touching the reference count (see `borrowed_job`).
    /// Clones made by the future (`cx.waker().clone()`) are real, counted wakers.
    pub(super) fn borrowed_waker(self: &Arc<Self>) -> ManuallyDrop<Waker> {
        let task: *const Task<B> = Arc::as_ptr(self);
        // `task` is the pointer of a live `Arc<Task<B>>`, which `Arc::from_raw` accepts; the waker
        // made from it is never dropped, so it never releases the reference it did not take.
        // SAFETY: the waker is used only during the poll, while `self` keeps the task alive.
        ManuallyDrop::new(Waker::from(unsafe { Arc::from_raw(task) }))
    }

    /// Wakes the task (see [`TaskState::wake`](super::state::TaskState::wake)) and dispatches
    /// it if this call must.
    pub(crate) fn wake_task(self: &Arc<Self>) {
        if self.cell.wake() == WakeAction::Dispatch {
            self.schedule(false);
        }
    }

    /// Wakes the task because its job is cancelling, so that its future is dropped on its own
    /// dispatcher. The caller's reference becomes the runnable's; while a run of sibling
    /// cancellations is under way the runnable goes to `wakes`, which dispatches it in a chunk
    /// with its siblings' (see [`WakeBatch`]).
    pub(super) fn wake_to_drop(self: Arc<Self>, wakes: &mut WakeBatch) {
        if self.cell.wake() != WakeAction::Dispatch {
            return;
        }
        let Some(dispatcher) = self.elements.dispatcher().filter(|_| wakes.is_gathering()) else {
            return self.schedule_owned(false);
        };
        // The handle is copied (a `'static` one) or counted: the runnable may run and free the
        // task, and its context with it, as soon as it is dispatched.
        let dispatcher = dispatcher.clone();
        if let Err(runnable) = wakes.offer(&dispatcher, Runnable::new(self)) {
            submit_to(dispatcher.as_dispatch(), runnable, false);
        }
    }

    /// The first dispatch of a task its builder created `SCHEDULED` (see the creation protocol
    /// of the builders): the builder owns that bit, and no wake can have dispatched the task.
    pub(crate) fn schedule_first(self: &Arc<Self>) {
        self.schedule(false);
    }

    /// Hands the task to its dispatcher, or runs it in place (trampoline) when no dispatch is
    /// needed. The caller owns the `SCHEDULED` bit.
    fn schedule(self: &Arc<Self>, fair: bool) {
        let runnable = Runnable::new(self.clone());
        submit(self.elements.dispatcher(), runnable, fair);
    }

    /// [`schedule`](Self::schedule) with a reference the caller gives up (the runner's after a
    /// poll, a waker's in `wake`): on a process-wide dispatcher that reference becomes the
    /// runnable's, saving an increment and a decrement of the count, two locked instructions
    /// per yield or wake. Elsewhere it is cloned as usual: the runnable may run and free the
    /// task on another thread while `dispatch` is still executing, and a dispatcher owned only
    /// by tasks would then be freed under it; a `'static` one cannot be.
    pub(super) fn schedule_owned(self: Arc<Self>, fair: bool) {
        match self.elements.dispatcher().and_then(Dispatcher::as_static) {
            Some(dispatcher) => submit_to(dispatcher, Runnable::new(self), fair),
            None => self.schedule(fair),
        }
    }
}

impl<B: Body> Wake for Task<B> {
    fn wake(self: Arc<Self>) {
        #[cfg(feature = "console")]
        crate::debug::console_waker_op(self.job.id(), "waker.wake");
        if self.cell.wake() == WakeAction::Dispatch {
            self.schedule_owned(false);
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        #[cfg(feature = "console")]
        crate::debug::console_waker_op(self.job.id(), "waker.wake_by_ref");
        self.wake_task();
    }
}

impl<B: Body> YieldRequest for Task<B> {
    fn request_yield(&self, waker: &Waker) -> bool {
        // Our own waker's data pointer is this task (the std `Wake` impl on `Arc<Task<B>>`).
        if std::ptr::eq(waker.data(), (self as *const Self).cast()) {
            // The runner waking itself: recorded for `end_run`, which makes the wake in the
            // CAS that releases `RUNNING` (no read-modify-write of its own).
            self.job.shields().set_yielded();
            true
        } else {
            self.cell.request_yield();
            false
        }
    }
}

/// Dispatches `runnable` on `dispatcher`, or runs it in place (trampoline) when there is none
/// or it needs no dispatch.
fn submit(dispatcher: Option<&Dispatcher>, runnable: Runnable, fair: bool) {
    match dispatcher {
        Some(dispatcher) => submit_to(dispatcher.as_dispatch(), runnable, fair),
        None => trampoline::run_in_place(runnable),
    }
}

/// A `Dispatch` may be the user's, and the trampoline re-raises a closure's panic to its
/// caller: neither may unwind into the job machinery or the runtime thread that wakes the
/// coroutine (a cancellation, a timer, a finalization), so a panic is reported here. The
/// coroutine it was dispatching is then lost with the runnable, as with any dispatcher that
/// drops work.
fn submit_to(dispatcher: &dyn Dispatch, runnable: Runnable, fair: bool) {
    let submitted = panic::catch_unwind(AssertUnwindSafe(move || {
        if !dispatcher.is_dispatch_needed() {
            trampoline::run_in_place(runnable);
        } else if fair {
            dispatcher.dispatch_yield(runnable);
        } else {
            dispatcher.dispatch(runnable);
        }
    }));
    if let Err(payload) = submitted {
        report_uncaught_panic(payload);
    }
}
