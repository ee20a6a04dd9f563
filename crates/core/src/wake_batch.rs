//! [`WakeBatch`]: the wake-ups of cancelled coroutines, dispatched in chunks.
//!
//! Cancelling a job wakes each of its suspended coroutine children so that the child's future
//! is dropped at its suspension point, on the child's own dispatcher. One dispatch per child
//! is one queue push (and often a worker unpark) per child: for a parent with 100 000
//! children, the queue and the park machinery dominate the cancellation. While the job
//! machinery cancels a run of siblings ([`WorkStack`](crate::job)), the woken children's
//! runnables are instead gathered here per dispatcher, and each chunk of up to [`CHUNK`] is
//! dispatched as **one** runnable that runs the children's runnables in turn on the thread the
//! dispatcher picked. The child references travel with the chunk and are released there.
//!
//! # Invariants
//!
//! * A chunk holds only runnables for one dispatcher (compared with
//!   [`Dispatcher::same_as`]) and is dispatched to that dispatcher: every child still runs (and
//!   its future is dropped) on its own dispatcher.
//! * Only coroutines whose dispatcher needs a dispatch are batched; an in-place resume
//!   (Unconfined, an immediate dispatcher on its thread) runs as it did before.
//! * Every runnable pushed is dispatched exactly once: when its chunk is full, when the
//!   machinery flushes (a run of siblings ended, user code is about to run), or at the latest
//!   when the batch is dropped. A chunk is run (each runnable once) or, if its dispatcher
//!   refuses it, rejected (each runnable rejected once, as a single refused dispatch would be).
//! * Nothing here holds a lock: flushing calls the dispatchers' `dispatch` (user code) with
//!   panics contained, as every other dispatch does.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crate::dispatcher::Dispatcher;
use crate::error::{drop_panic_payload, report_uncaught_panic, DispatchError};
use crate::runnable::{RunTask, Runnable};

/// Runnables per chunk. Large enough that the dispatches of a mass cancellation stop
/// mattering (100 000 children are 196 dispatches), small enough that a chunk is a fair share
/// of work for one worker while the others take the next chunks: measured on the
/// `cancel_100k` bench row, where 512 gave the full gain.
pub(crate) const CHUNK: usize = 512;

/// Dispatchers with a chunk open at once; a wake-up for one more dispatches the open chunks
/// first. Siblings share a dispatcher almost always, so this is rarely reached; siblings
/// spread over more dispatchers than this are dispatched in smaller chunks, never wrongly.
const MAX_OPEN: usize = 8;

/// The wake-ups gathered during a run of sibling cancellations; see the module docs.
pub(crate) struct WakeBatch {
    open: Vec<Chunk>,
    /// Whether a run of sibling cancellations is under way (wake-ups are batched only then).
    gathering: bool,
}

/// The runnables gathered for one dispatcher.
struct Chunk {
    dispatcher: Dispatcher,
    runnables: Vec<Runnable>,
}

impl WakeBatch {
    /// An empty batch, not gathering. Allocates nothing until a wake-up is gathered.
    pub(crate) const fn new() -> WakeBatch {
        WakeBatch {
            open: Vec::new(),
            gathering: false,
        }
    }

    /// Starts gathering: wake-ups from now on may be batched.
    pub(crate) fn start(&mut self) {
        self.gathering = true;
    }

    /// Whether this batch never gathered anything: it owns no memory and has nothing to
    /// dispatch, so forgetting it is the same as dropping it.
    #[inline]
    pub(crate) fn is_unused(&self) -> bool {
        self.open.capacity() == 0
    }

    /// Whether a run of sibling cancellations is under way: only then is a wake-up worth
    /// [`offer`](Self::offer)ing.
    pub(crate) fn is_gathering(&self) -> bool {
        self.gathering
    }

    /// Dispatches everything gathered and stops gathering.
    pub(crate) fn finish(&mut self) {
        self.gathering = false;
        self.flush();
    }

    /// Takes `runnable`, a coroutine woken by its cancellation whose dispatcher is
    /// `dispatcher`, if this batch is gathering and the dispatcher needs a dispatch; otherwise
    /// gives it back for the ordinary path.
    pub(crate) fn offer(
        &mut self,
        dispatcher: &Dispatcher,
        runnable: Runnable,
    ) -> Result<(), Runnable> {
        if !self.gathering {
            return Err(runnable);
        }
        // `is_dispatch_needed` may be the user's: a panic means "not batched", and the
        // ordinary path asks again and reports it.
        match panic::catch_unwind(AssertUnwindSafe(|| dispatcher.is_dispatch_needed())) {
            Ok(true) => {}
            Ok(false) => return Err(runnable),
            Err(payload) => {
                drop_panic_payload(payload);
                return Err(runnable);
            }
        }
        let index = match self
            .open
            .iter()
            .position(|chunk| chunk.dispatcher.same_as(dispatcher))
        {
            Some(index) => index,
            None => {
                if self.open.len() == MAX_OPEN {
                    self.flush();
                }
                self.open.push(Chunk {
                    dispatcher: dispatcher.clone(),
                    runnables: Vec::with_capacity(CHUNK),
                });
                self.open.len() - 1
            }
        };
        let chunk = &mut self.open[index];
        chunk.runnables.push(runnable);
        if chunk.runnables.len() == CHUNK {
            self.open.swap_remove(index).dispatch();
        }
        Ok(())
    }

    /// Dispatches the open chunks, in the order they were opened.
    pub(crate) fn flush(&mut self) {
        if self.open.is_empty() {
            return;
        }
        for chunk in std::mem::take(&mut self.open) {
            chunk.dispatch();
        }
    }
}

impl Drop for WakeBatch {
    /// The last chance to dispatch what was gathered: a runnable dropped unrun would leave its
    /// coroutine scheduled forever.
    fn drop(&mut self) {
        self.flush();
    }
}

impl Chunk {
    /// Dispatches the chunk as one runnable (a lone runnable as itself). The dispatcher handle
    /// is held until `dispatch` returned, so a dispatcher owned only by the chunk's coroutines
    /// is not freed under it.
    fn dispatch(self) {
        let Chunk {
            dispatcher,
            mut runnables,
        } = self;
        let runnable = if runnables.len() == 1 {
            runnables.pop().expect("one runnable")
        } else {
            Runnable::from_task(Arc::new(ChunkTask(runnables)))
        };
        let submitted =
            panic::catch_unwind(AssertUnwindSafe(move || dispatcher.dispatch(runnable)));
        if let Err(payload) = submitted {
            report_uncaught_panic(payload);
        }
    }
}

/// A chunk on its way through a dispatcher: runs (or rejects) each runnable once.
struct ChunkTask(Vec<Runnable>);

impl ChunkTask {
    /// The runnables, once: a chunk's `Arc` is made with one reference and never cloned
    /// (one runnable per chunk), so the dispatcher's call owns it.
    fn take(self: Arc<Self>) -> Vec<Runnable> {
        Arc::try_unwrap(self).map_or_else(|_| Vec::new(), |chunk| chunk.0)
    }
}

impl RunTask for ChunkTask {
    fn run(self: Arc<Self>) {
        for runnable in self.take() {
            // A coroutine's run contains its user code's panics; should the machinery itself
            // panic, the rest of the chunk still runs.
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || runnable.run())) {
                report_uncaught_panic(payload);
            }
        }
    }

    fn reject(self: Arc<Self>, error: DispatchError) {
        for runnable in self.take() {
            let error = error.clone();
            if let Err(payload) =
                panic::catch_unwind(AssertUnwindSafe(move || runnable.reject(error)))
            {
                report_uncaught_panic(payload);
            }
        }
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests;
