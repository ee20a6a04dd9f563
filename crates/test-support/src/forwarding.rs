//! A dispatcher that forwards every runnable to another one: kotlinx's "wrapper dispatcher", a
//! *different* dispatcher (so a context switch to it is a real switch) that runs on the same
//! event loop.

use std::fmt;

use corral_core::{current_context, Dispatch, Dispatcher, Runnable};

/// Forwards every runnable to the dispatcher it wraps; displayed as `Forwarding(<inner>)`.
#[derive(Debug)]
pub struct Forwarding(pub Dispatcher);

impl fmt::Display for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Forwarding({})", self.0)
    }
}

impl Dispatch for Forwarding {
    fn dispatch(&self, runnable: Runnable) {
        self.0.dispatch(runnable);
    }

    fn limited_parallelism(&self, this: &Dispatcher, _parallelism: usize) -> Dispatcher {
        this.clone()
    }
}

/// A [`Forwarding`] dispatcher around the calling coroutine's dispatcher.
///
/// # Panics
///
/// Outside a coroutine, or in one whose context has no dispatcher.
#[track_caller]
pub fn other_dispatcher() -> Dispatcher {
    let current = current_context()
        .and_then(|c| c.dispatcher().cloned())
        .expect("in a coroutine");
    Dispatcher::new(Forwarding(current))
}
