//! The reactor: one process-wide mio [`Poll`](mio::Poll), the readiness of every registered
//! socket, and the wakers waiting on it.
//!
//! # Who drives it
//!
//! The `Poll` sits behind the *driver lock*; whoever holds it calls [`Reactor::drive`], which
//! waits in `epoll_wait` (or the platform's equivalent), turns each event into readiness bits
//! on its socket's [`ScheduledIo`] and wakes the coroutines waiting for them. Idle workers of
//! the scheduler drive it while they wait for work, and a fallback thread whenever no worker
//! does (see [`crate::park`], which decides who holds the lock), so readiness is delivered even while every worker
//! is busy or before any pool has started.
//!
//! # Tokens and generations
//!
//! A socket's mio token packs its slot in the reactor's slab with the slot's generation, which
//! is bumped each time a socket leaves the slot. An event that arrives with a stale token (its
//! socket was dropped and the slot reused after `epoll_wait` returned it) finds another
//! generation and is ignored.
//!
//! # Readiness and wakers
//!
//! A socket's readiness is one atomic word: the ready bits in its low byte and a tick, bumped by
//! every event, above them. An operation reads the word, tries its system call and, on
//! `WouldBlock`, clears its bit only if the word did not change since it read it (an event that
//! came in between keeps the bit). A waiter registers under the socket's waiter mutex and
//! re-reads the word there; the reactor sets the bits before it takes that mutex to wake, so a
//! waiter either sees the new bits or is in the list the reactor drains: no wake-up is lost.
//! Each waiter has an id; the futures remove their entry when dropped, so a cancelled read,
//! write, accept or connect leaves no waker behind.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock, PoisonError};
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Registry, Token};

use crate::scheduled_io::{ScheduledIo, ERROR, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED};

/// The token of the reactor's own [`mio::Waker`], which no socket ever gets (slot keys stay
/// below [`MAX_KEY`]).
const WAKE_TOKEN: Token = Token(usize::MAX);
/// Bits of a token holding the slot key; the generation takes the rest.
const KEY_BITS: u32 = usize::BITS / 2;
/// The largest slot key: one less than all ones, so no token equals [`WAKE_TOKEN`].
const MAX_KEY: usize = (1 << KEY_BITS) - 2;
/// Events taken from the OS per `poll` call (tokio's driver uses the same number).
const EVENTS_CAPACITY: usize = 1024;
/// How long the fallback thread waits before trying again after `poll` failed, so a
/// persistent error does not spin a core.
const POLL_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Locks `mutex`, ignoring poisoning: no code that holds these locks runs user code.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn event_bits(event: &mio::event::Event) -> u64 {
    let mut bits = 0;
    if event.is_readable() {
        bits |= READABLE;
    }
    if event.is_writable() {
        bits |= WRITABLE;
    }
    if event.is_read_closed() {
        bits |= READ_CLOSED;
    }
    if event.is_write_closed() {
        bits |= WRITE_CLOSED;
    }
    if event.is_error() {
        bits |= ERROR;
    }
    bits
}

#[derive(Debug)]
struct Slot {
    generation: usize,
    io: Option<Arc<ScheduledIo>>,
}

/// The registered sockets, by slot key; a slot's generation tells a stale token apart.
#[derive(Debug, Default)]
struct Slab {
    slots: Vec<Slot>,
    free: Vec<usize>,
}

impl Slab {
    fn insert(&mut self, io: Arc<ScheduledIo>) -> io::Result<Token> {
        let key = match self.free.pop() {
            Some(key) => key,
            None if self.slots.len() <= MAX_KEY => {
                self.slots.push(Slot {
                    generation: 0,
                    io: None,
                });
                self.slots.len() - 1
            }
            None => {
                return Err(io::Error::other(
                    "corral-io: too many sockets registered with the reactor",
                ))
            }
        };
        let slot = &mut self.slots[key];
        slot.io = Some(io);
        Ok(Token(slot.generation << KEY_BITS | key))
    }

    fn get(&self, token: Token) -> Option<&Arc<ScheduledIo>> {
        let key = token.0 & ((1 << KEY_BITS) - 1);
        let slot = self.slots.get(key)?;
        if slot.generation != token.0 >> KEY_BITS {
            return None;
        }
        slot.io.as_ref()
    }

    fn remove(&mut self, token: Token) {
        let key = token.0 & ((1 << KEY_BITS) - 1);
        if let Some(slot) = self.slots.get_mut(key) {
            if slot.generation == token.0 >> KEY_BITS && slot.io.take().is_some() {
                slot.generation = (slot.generation + 1) & (usize::MAX >> KEY_BITS);
                self.free.push(key);
            }
        }
    }
}

/// What the driver lock guards: the `Poll` and the buffers of one drive.
#[derive(Debug)]
pub(crate) struct Driver {
    poll: mio::Poll,
    events: Events,
    ready: Vec<(Arc<ScheduledIo>, u64)>,
}

/// The process-wide reactor; see the module docs.
#[derive(Debug)]
pub(crate) struct Reactor {
    registry: Registry,
    waker: mio::Waker,
    driver: Mutex<Driver>,
    slab: Mutex<Slab>,
}

static REACTOR: OnceLock<Result<Reactor, String>> = OnceLock::new();
static FALLBACK: Once = Once::new();

impl Reactor {
    fn new() -> io::Result<Reactor> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(&registry, WAKE_TOKEN)?;
        Ok(Reactor {
            registry,
            waker,
            driver: Mutex::new(Driver {
                poll,
                events: Events::with_capacity(EVENTS_CAPACITY),
                ready: Vec::new(),
            }),
            slab: Mutex::new(Slab::default()),
        })
    }

    /// The reactor, created (with its fallback thread) on first use.
    pub(crate) fn get() -> io::Result<&'static Reactor> {
        let reactor = REACTOR
            .get_or_init(|| Reactor::new().map_err(|error| error.to_string()))
            .as_ref()
            .map_err(|message| io::Error::other(format!("corral-io: no reactor: {message}")))?;
        FALLBACK.call_once(|| crate::park::start(reactor));
        Ok(reactor)
    }

    /// Registers `source` for both directions; the registration ends when the result drops.
    pub(crate) fn register(&'static self, source: &mut impl Source) -> io::Result<Registration> {
        let io = Arc::new(ScheduledIo::new());
        let token = lock(&self.slab).insert(io.clone())?;
        if let Err(error) =
            self.registry
                .register(source, token, Interest::READABLE | Interest::WRITABLE)
        {
            lock(&self.slab).remove(token);
            return Err(error);
        }
        Ok(Registration {
            reactor: self,
            token,
            io,
        })
    }

    /// Waits for the driver lock.
    pub(crate) fn lock_driver(&self) -> MutexGuard<'_, Driver> {
        lock(&self.driver)
    }

    /// Makes the current (or next) [`drive`](Reactor::drive) return at once.
    pub(crate) fn wake_driver(&self) {
        if let Err(error) = self.waker.wake() {
            tracing::error!(target: "corral::io", %error, "cannot wake the reactor");
        }
    }

    /// Waits up to `timeout` (`None`: until an event or [`wake_driver`](Reactor::wake_driver))
    /// and delivers the events: sets each socket's readiness and wakes its waiters, calling
    /// `before_waking` first if there is any. Returns how many socket events it delivered.
    pub(crate) fn drive(
        &self,
        driver: &mut Driver,
        timeout: Option<Duration>,
        before_waking: &dyn Fn(),
    ) -> usize {
        let Driver {
            poll,
            events,
            ready,
        } = driver;
        if let Err(error) = poll.poll(events, timeout) {
            if error.kind() != io::ErrorKind::Interrupted {
                tracing::error!(target: "corral::io", %error, "polling the reactor failed");
                std::thread::sleep(POLL_ERROR_BACKOFF);
            }
            return 0;
        }
        {
            let slab = lock(&self.slab);
            for event in events.iter() {
                if event.token() == WAKE_TOKEN {
                    continue;
                }
                if let Some(io) = slab.get(event.token()) {
                    ready.push((io.clone(), event_bits(event)));
                }
            }
        }
        let delivered = ready.len();
        if delivered > 0 {
            before_waking();
        }
        for (io, bits) in ready.drain(..) {
            // A waker is foreign code: its panic must not take the driving thread down.
            if catch_unwind(AssertUnwindSafe(|| io.set_readiness(bits))).is_err() {
                tracing::error!(target: "corral::io", "a waker panicked while the reactor woke it");
            }
        }
        delivered
    }
}

/// A socket's place in the reactor; dropping it frees the slot (the owner deregisters the
/// source from mio first, see [`crate::evented::PollEvented`]).
#[derive(Debug)]
pub(crate) struct Registration {
    reactor: &'static Reactor,
    token: Token,
    io: Arc<ScheduledIo>,
}

impl Registration {
    /// The socket's readiness and waiters.
    pub(crate) fn io(&self) -> &ScheduledIo {
        &self.io
    }

    /// Removes `source` from the `Poll` (before it is closed).
    pub(crate) fn deregister(&self, source: &mut impl Source) -> io::Result<()> {
        self.reactor.registry.deregister(source)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.reactor.slab).remove(self.token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_token_finds_nothing() {
        let mut slab = Slab::default();
        let first = slab.insert(Arc::new(ScheduledIo::new())).unwrap();
        slab.remove(first);
        let second = slab.insert(Arc::new(ScheduledIo::new())).unwrap();
        assert_ne!(first, second, "the reused slot has a new generation");
        assert!(slab.get(first).is_none());
        assert!(slab.get(second).is_some());
        slab.remove(first); // stale: a no-op
        assert!(slab.get(second).is_some());
    }
}
