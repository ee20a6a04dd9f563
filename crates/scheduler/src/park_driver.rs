//! [`ParkDriver`]: what an idle worker does instead of sleeping, when a layer below installs
//! one (corral-io installs its reactor, so idle workers wait in `epoll` and a readiness event
//! wakes its coroutine on the worker that received it).
//!
//! The scheduler knows nothing of IO: the driver is a trait object, installed once per process
//! with [`install_park_driver`]. Without one, parking is unchanged (one `OnceLock` load on the
//! park path, nothing on dispatch or wake paths). Unparking a worker that is inside the driver
//! calls [`ParkDriver::unpark`]; the worker's parker records that it is driving under the same
//! mutex as its wake-up token, so the waker either sees it driving (and interrupts the driver)
//! or the worker sees the token before it starts.

use std::sync::OnceLock;
use std::time::Duration;

/// A way for an idle worker to wait that does useful work meanwhile (drive an IO reactor).
///
/// # Contract
///
/// * [`park`](ParkDriver::park) is called by a worker with nothing to do, instead of sleeping
///   for up to `timeout`. It either returns `false` at once (another thread drives; the worker
///   then sleeps as usual) or waits, and returns `true`. It must call `woken` after it became
///   the driver and before it blocks, and not block if `woken` returns `true`. It may return
///   early at any time (the worker treats that as a spurious wake-up).
/// * If what it waited for wakes tasks (a reactor delivering readiness), it calls
///   `about_to_wake` once, before the first of those wake-ups: the worker then counts as
///   searching, so the tasks it is about to wake do not wake another worker, and it runs them
///   itself when `park` returns (no hop through another thread). It must not block after
///   that call (an `unpark` from then on may not reach it).
/// * [`unpark`](ParkDriver::unpark) is called (from any thread) when a worker that may be
///   inside `park` is woken: a `park` that has called `woken` and not yet returned must return
///   soon after.
/// * Neither may unwind: both run on runtime threads outside any task.
pub trait ParkDriver: Send + Sync + 'static {
    /// Waits as described in the trait docs; `true` if this thread was the driver.
    fn park(&self, timeout: Duration, woken: &dyn Fn() -> bool, about_to_wake: &dyn Fn()) -> bool;

    /// Makes a `park` in progress return.
    fn unpark(&self);

    /// Delivers what is ready now, without waiting, unless another thread drives; `true` if
    /// it woke tasks. A busy worker calls it every [`DRIVER_POLL_INTERVAL`] tasks and before
    /// it looks for work elsewhere, outside any task, so the tasks it wakes go to its own
    /// queue (tokio's `event_interval`). The default does nothing.
    fn poll_now(&self) -> bool {
        false
    }
}

/// Tasks a worker runs between two [`ParkDriver::poll_now`] calls (tokio's default
/// `event_interval`, 61).
pub const DRIVER_POLL_INTERVAL: u32 = 61;

static DRIVER: OnceLock<&'static dyn ParkDriver> = OnceLock::new();

/// Installs the process's park driver; every pool's idle workers use it from their next park
/// on. `Err` gives `driver` back if one is already installed (there is only ever one).
pub fn install_park_driver(driver: &'static dyn ParkDriver) -> Result<(), &'static dyn ParkDriver> {
    DRIVER.set(driver)
}

/// The installed driver, if any.
pub(crate) fn park_driver() -> Option<&'static dyn ParkDriver> {
    DRIVER.get().copied()
}
