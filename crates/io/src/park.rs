//! Who drives the reactor: idle scheduler workers, through the scheduler's
//! [`ParkDriver`] hook, and a fallback thread whenever no worker does.
//!
//! # The holder
//!
//! One [`Holder`] value, under the coordination mutex, says who may drive; only that thread
//! locks the driver (so the driver lock is never contended):
//!
//! * `None`: nobody. The fallback thread waits for this and takes over if it lasts longer than
//!   [`FALLBACK_GRACE`], so readiness is delivered while every worker is busy and in programs
//!   that never start a pool.
//! * `Worker`: an idle worker waits in the reactor instead of on its futex; other idle workers
//!   sleep as usual. When events arrive, the worker counts itself as searching before it wakes
//!   their coroutines (the hook's `about_to_wake`), so those wake-ups wake no other worker, and
//!   it runs them itself once it leaves the reactor: no hop through another thread.
//! * `Fallback`: the thread `corral-io-reactor` drives. A worker that parks asks it to step
//!   aside (`yield_requested`, then the reactor's mio `Waker`) and waits for `Handoff`.
//! * `Handoff`: the fallback stepped aside for a waiting worker, which takes it next. Only a
//!   worker that asked and waits sets this state going, so it never stays unclaimed.
//! * `Busy`: a busy worker polls without waiting (every [`DRIVER_POLL_INTERVAL`] tasks and
//!   before it searches, the hook's `poll_now`), and wakes the ready coroutines into its own
//!   queue. It only takes an undriven reactor (`try_lock`, never waiting), and holds it for
//!   one `epoll_wait` with a zero timeout. A worker that parks meanwhile waits for it to end
//!   (microseconds) and drives next, rather than sleeping with nobody driving.
//!
//! A change to `None` notifies the condition variable only if someone waits for it
//! (`waiting`): the fallback thread, or a parking worker behind a `Busy` poll, so a busy poll
//! costs no futex call. Workers' drives count (`worker_drives`): the fallback thread takes the
//! reactor only after a grace in which no worker drove it at all, and gives it back after a
//! drive during which a busy worker tried to poll.
//!
//! [`DRIVER_POLL_INTERVAL`]: corral_scheduler::DRIVER_POLL_INTERVAL
//!
//! # No lost wake-up
//!
//! A worker calls the scheduler's `woken` check only once it holds the driver, and polls only
//! if that check says it was not woken. A wake-up after the check reaches the reactor's mio
//! `Waker` ([`ParkDriver::unpark`]), which only the driver's next `poll` consumes: that poll
//! returns at once.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use corral_scheduler::ParkDriver;

use crate::reactor::{lock, Reactor};

/// How long the reactor may stay undriven before the fallback thread takes it: a worker that
/// left it to run the coroutines it woke usually parks again within this and drives on,
/// without a handoff from the fallback thread (two context switches on each side). It bounds
/// the extra latency of readiness while every worker is busy.
const FALLBACK_GRACE: Duration = Duration::from_millis(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holder {
    None,
    Worker,
    Fallback,
    Handoff,
    Busy,
}

#[derive(Debug)]
struct Coordination {
    holder: Holder,
    /// A worker waits for the fallback to step aside.
    yield_requested: bool,
    /// Someone waits on `changed` for the holder to become `None`.
    waiting: bool,
    /// Drives by workers so far (parked or busy), and busy polls that found the fallback
    /// driving (wrapping): the fallback's sign that workers drive, or would.
    worker_drives: usize,
}

/// The coordination state of the reactor's drivers; see the module docs.
#[derive(Debug)]
pub(crate) struct Drivers {
    reactor: &'static Reactor,
    state: Mutex<Coordination>,
    changed: Condvar,
}

impl Drivers {
    fn release(&self) {
        let mut state = lock(&self.state);
        state.holder = Holder::None;
        state.yield_requested = false;
        let waiting = std::mem::take(&mut state.waiting);
        drop(state);
        if waiting {
            self.changed.notify_all();
        }
    }

    /// Waits on `changed` (for a holder to release, which notifies as `waiting` asks).
    fn wait_changed<'a>(
        &self,
        mut state: MutexGuard<'a, Coordination>,
    ) -> MutexGuard<'a, Coordination> {
        state.waiting = true;
        self.changed
            .wait(state)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The fallback thread's loop: drive whenever nobody else does.
    fn run_fallback(&self) -> ! {
        loop {
            {
                let mut state = lock(&self.state);
                loop {
                    while state.holder != Holder::None {
                        state = self.wait_changed(state);
                    }
                    // A worker that parks within the grace takes the reactor directly, which
                    // costs nobody a handoff, and busy workers poll it meanwhile; only a
                    // reactor nobody drove during the grace is ours.
                    let worker_drives = state.worker_drives;
                    state = self
                        .changed
                        .wait_timeout_while(state, FALLBACK_GRACE, |state| {
                            state.holder == Holder::None
                        })
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                    if state.holder == Holder::None && state.worker_drives == worker_drives {
                        break;
                    }
                }
                state.holder = Holder::Fallback;
            }
            let mut driver = self.reactor.lock_driver();
            let worker_drives = lock(&self.state).worker_drives;
            loop {
                self.reactor.drive(&mut driver, None, &|| {});
                let mut state = lock(&self.state);
                if state.yield_requested {
                    state.yield_requested = false;
                    state.holder = Holder::Handoff;
                    drop(state);
                    drop(driver);
                    self.changed.notify_all();
                    break;
                }
                if state.worker_drives != worker_drives {
                    // Busy workers wanted the reactor meanwhile: theirs again, until a grace
                    // passes without their polls.
                    drop(state);
                    drop(driver);
                    self.release();
                    break;
                }
            }
        }
    }
}

impl ParkDriver for Drivers {
    fn park(&self, timeout: Duration, woken: &dyn Fn() -> bool, about_to_wake: &dyn Fn()) -> bool {
        {
            let mut state = lock(&self.state);
            loop {
                match state.holder {
                    Holder::None | Holder::Handoff => break,
                    Holder::Worker => return false,
                    // A poll without waiting: over in microseconds, then this worker drives.
                    Holder::Busy => state = self.wait_changed(state),
                    Holder::Fallback => {
                        if !state.yield_requested {
                            state.yield_requested = true;
                            self.reactor.wake_driver();
                        }
                        state = self
                            .changed
                            .wait(state)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                }
            }
            state.holder = Holder::Worker;
            state.worker_drives = state.worker_drives.wrapping_add(1);
        }
        let mut driver = self.reactor.lock_driver();
        if !woken() {
            // A keep-alive of `Duration::MAX` is "no timeout" to mio as well.
            let timeout = (timeout < Duration::from_secs(u32::MAX.into())).then_some(timeout);
            self.reactor.drive(&mut driver, timeout, about_to_wake);
        }
        drop(driver);
        self.release();
        true
    }

    fn poll_now(&self) -> bool {
        {
            let mut state = match self.state.try_lock() {
                Ok(state) => state,
                Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return false,
            };
            if state.holder != Holder::None {
                if state.holder == Holder::Fallback {
                    // Counted, so the fallback thread hands the reactor back after its drive.
                    state.worker_drives = state.worker_drives.wrapping_add(1);
                }
                return false;
            }
            state.holder = Holder::Busy;
            state.worker_drives = state.worker_drives.wrapping_add(1);
        }
        let mut driver = self.reactor.lock_driver();
        let delivered = self
            .reactor
            .drive(&mut driver, Some(Duration::ZERO), &|| {});
        drop(driver);
        self.release();
        delivered > 0
    }

    fn unpark(&self) {
        self.reactor.wake_driver();
    }
}

/// Starts the fallback thread and installs the workers' park driver (once, from
/// [`Reactor::get`]).
pub(crate) fn start(reactor: &'static Reactor) {
    let drivers: &'static Drivers = Box::leak(Box::new(Drivers {
        reactor,
        state: Mutex::new(Coordination {
            holder: Holder::None,
            yield_requested: false,
            waiting: false,
            worker_drives: 0,
        }),
        changed: Condvar::new(),
    }));
    let spawned = std::thread::Builder::new()
        .name("corral-io-reactor".into())
        .spawn(move || drivers.run_fallback());
    if let Err(error) = spawned {
        tracing::error!(target: "corral::io", %error, "cannot start the reactor thread");
    }
    if corral_scheduler::install_park_driver(drivers).is_err() {
        tracing::warn!(
            target: "corral::io",
            "another park driver is installed: only the fallback thread drives the reactor"
        );
    }
}
