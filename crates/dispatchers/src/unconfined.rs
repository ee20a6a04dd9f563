//! `Dispatchers::unconfined()`: resumes coroutines in place, on whatever thread wakes them,
//! through corral-core's thread-local trampoline (so nested launches run `1 3 2` and deep
//! resume chains never grow the stack).

use std::fmt;

use corral_core::{trampoline, Dispatch, Dispatcher, Runnable};

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Unconfined;

impl Dispatch for Unconfined {
    fn dispatch(&self, runnable: Runnable) {
        trampoline::run_in_place(runnable);
    }

    fn is_dispatch_needed(&self) -> bool {
        false
    }

    fn limited_parallelism(&self, _this: &Dispatcher, parallelism: usize) -> Dispatcher {
        panic!(
            "Dispatchers.Unconfined.limited_parallelism({parallelism}): Unconfined runs \
             coroutines in place and cannot limit their parallelism"
        )
    }
}

impl fmt::Display for Unconfined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dispatchers.Unconfined")
    }
}
