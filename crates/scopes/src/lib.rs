//! corral-scopes: the user-facing coroutine API of corral: [`CoroutineScope`] and its
//! builders, [`GlobalScope`], the scope functions ([`coroutine_scope`], [`supervisor_scope`],
//! [`with_context`], [`with_timeout`]) and the blocking bridges ([`run_blocking`],
//! [`run_main_loop`]), and [`test::run_test`], the same bridge on a loop with a virtual clock.
//!
//! It adds to corral-core's mechanisms the one thing core cannot know: the default dispatcher
//! (`Dispatchers::default()` from corral-dispatchers) for coroutines whose context names none,
//! and the calling thread's event loop for `run_blocking`.

#[cfg(any(doc, doctest))]
pub mod compile_fail;
mod functions;
mod run_blocking;
mod scope;
pub mod test;

pub use functions::{
    coroutine_scope, supervisor_scope, with_context, with_timeout, with_timeout_or_none,
};
pub use run_blocking::{run_blocking, run_blocking_with, run_main_loop};
pub use scope::{CoroutineScope, GlobalScope};
