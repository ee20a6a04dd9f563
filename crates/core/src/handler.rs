//! Reporting failures nobody handles: the context's `CoroutineExceptionHandler`, else the
//! default handler, which writes one line naming the coroutine to stderr (never silently lost).
//!
//! Nothing here unwinds: these functions run in the middle of the job machinery, on whatever
//! runtime thread finalizes a job.

use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::task::Waker;

use crate::context::Context;
use crate::error::{report_uncaught_panic, JobError};

/// Reports `error` of coroutine `id` to the handler of `context`, or to the default handler.
/// A panicking handler is itself reported by the default handler (it must not take the runtime
/// down with it).
pub(crate) fn handle_coroutine_exception(context: &Context, id: u64, error: &JobError) {
    if let Some(handler) = context.exception_handler() {
        let result = panic::catch_unwind(AssertUnwindSafe(|| handler.handle(context, error)));
        if let Err(payload) = result {
            let handler_error = JobError::from_panic(payload);
            default_handler(context, id, &handler_error);
        }
        return;
    }
    default_handler(context, id, error);
}

/// The default handler: one line on stderr and an `error` tracing event.
fn default_handler(context: &Context, id: u64, error: &JobError) {
    let name = context.name().unwrap_or("coroutine");
    tracing::error!(coroutine.id = id, coroutine.name = name, %error, "unhandled coroutine failure");
    // Not `eprintln!`: it panics when stderr is gone.
    let _ = writeln!(
        std::io::stderr(),
        "Exception in coroutine \"{name}\"#{id}: {error}"
    );
}

/// Wakes a waiter of the job machinery (a `join` or a scope frame polled by any executor, so
/// possibly a user's `Waker`). A panicking waker is reported as an uncaught panic of this
/// thread: the finalization or cancellation that wakes it carries on.
pub(crate) fn wake_contained(waker: Waker) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || waker.wake())) {
        report_uncaught_panic(payload);
    }
}
