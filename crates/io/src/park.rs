//! Who drives the reactor: the fallback thread.
//!
//! The thread `corral-io-reactor` holds the driver lock and waits in the reactor whenever no
//! other thread drives it, so readiness is delivered even with no scheduler running.

use std::time::Duration;

use crate::reactor::Reactor;

/// How long the fallback thread waits in one drive; it drives again at once after.
const FALLBACK_POLL_TIMEOUT: Option<Duration> = None;

/// Starts the fallback thread (once, from [`Reactor::get`]).
pub(crate) fn start(reactor: &'static Reactor) {
    let spawned = std::thread::Builder::new()
        .name("corral-io-reactor".into())
        .spawn(move || loop {
            let mut driver = reactor.lock_driver();
            reactor.drive(&mut driver, FALLBACK_POLL_TIMEOUT);
        });
    if let Err(error) = spawned {
        tracing::error!(target: "corral::io", %error, "cannot start the reactor thread");
    }
}
