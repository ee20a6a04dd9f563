//! [`GlobalQueue`]: the unbounded multi-producer multi-consumer queue for work submitted from
//! outside the pool and for local-queue overflow.
//!
//! It is crossbeam's segmented queue: lock-free, FIFO, and it frees each 31-slot segment once
//! consumed, so a burst of a million submissions does not pin a million-slot array afterwards
//! (kotlinx's `LockFreeTaskQueue` never shrinks).
//!
//! Under loom it is a mutex around a `VecDeque`: crossbeam's queue spins on atomics loom does
//! not see, which a model cannot schedule around; the models check the code that uses it.

use corral_core::Runnable;

#[cfg(not(corral_loom))]
type Queue = crossbeam_queue::SegQueue<Runnable>;
#[cfg(corral_loom)]
type Queue = loom_queue::LockedQueue;

/// A lock-free FIFO of runnables; see the module docs.
#[derive(Debug, Default)]
pub struct GlobalQueue {
    queue: Queue,
}

impl GlobalQueue {
    /// An empty queue.
    pub fn new() -> GlobalQueue {
        GlobalQueue::default()
    }

    /// Appends one task.
    pub fn push(&self, task: Runnable) {
        self.queue.push(task);
    }

    /// Appends a batch of tasks (in order).
    pub fn push_batch(&self, tasks: impl Iterator<Item = Runnable>) {
        for task in tasks {
            self.queue.push(task);
        }
    }

    /// Takes the oldest task.
    pub fn pop(&self) -> Option<Runnable> {
        self.queue.pop()
    }

    /// `true` if nothing is queued (a racy hint under concurrency).
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Tasks queued (a racy hint under concurrency).
    pub fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(corral_loom)]
mod loom_queue {
    use std::collections::VecDeque;

    use corral_core::Runnable;

    use crate::loom::sync::{lock, Mutex};

    /// The loom stand-in for the segmented queue (same method names).
    #[derive(Debug, Default)]
    pub(crate) struct LockedQueue(Mutex<VecDeque<Runnable>>);

    impl LockedQueue {
        pub(crate) fn push(&self, task: Runnable) {
            lock(&self.0).push_back(task);
        }

        pub(crate) fn pop(&self) -> Option<Runnable> {
            lock(&self.0).pop_front()
        }

        pub(crate) fn is_empty(&self) -> bool {
            lock(&self.0).is_empty()
        }

        pub(crate) fn len(&self) -> usize {
            lock(&self.0).len()
        }
    }
}
