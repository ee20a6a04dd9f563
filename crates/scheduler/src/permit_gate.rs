//! [`PermitGate`]: where workers leaving a blocking section wait for a CPU permit.
//!
//! A worker that gave its permit back for a [`block_in_place`](crate::block_in_place) section
//! must hold one again before its CPU task goes on. If none is free it sleeps here until a
//! permit is released. The handshake, all `SeqCst`:
//!
//! * waiter: count itself in `waiters`, fence, then (under the lock) retry taking a permit,
//!   and wait on the condition variable only if that failed;
//! * releaser: release the permit in the control word, fence, then read `waiters`; if
//!   non-zero, notify under the lock.
//!
//! Either the waiter's retry sees the released permit, or the releaser sees the waiter and its
//! notification (under the lock) comes after the waiter's retry, so it wakes the waiter. A
//! release with no waiter costs a fence and a load. The loom model `loom_tests/permit_gate.rs` checks it.

use crate::loom::sync::atomic::{fence, AtomicUsize, Ordering};
use crate::loom::sync::{lock, Condvar, Mutex};

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct PermitGate {
    waiters: AtomicUsize,
    lock: Mutex<()>,
    freed: Condvar,
}

impl PermitGate {
    /// Called after a permit was released: wakes one waiter, if any.
    pub(crate) fn permit_released(&self) {
        // The two fences make the store-buffer pattern explicit: the `SeqCst` RMWs on both
        // sides would do in the C++ model, but loom treats them as `AcqRel` and finds the
        // lost wake-up without the fences (as in `idle.rs`). Slow paths only (a park, a
        // blocking task), never a dispatch.
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.lock);
            self.freed.notify_one();
        }
    }

    /// Returns once `try_acquire` succeeded, sleeping between attempts until a permit is
    /// released. Waiters are woken one per released permit and compete with workers looking
    /// for work, so none waits longer than the CPU work ahead keeps every permit busy.
    pub(crate) fn acquire(&self, try_acquire: impl Fn() -> bool) {
        if try_acquire() {
            return;
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let mut guard = lock(&self.lock);
        while !try_acquire() {
            guard = self
                .freed
                .wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}
