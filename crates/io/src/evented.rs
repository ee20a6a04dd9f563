//! [`PollEvented`]: a mio socket registered with the reactor, and the loop every operation runs
//! (wait until ready, try the system call, on `WouldBlock` clear the readiness and wait again).
//!
//! Invariant: the socket is deregistered from the `Poll` before it is closed, and its
//! registration (the slot in the reactor) is freed after that, both in [`PollEvented`]'s drop.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use mio::event::Source;

use crate::reactor::{Reactor, Registration};
use crate::scheduled_io::Direction;

/// A registered mio socket; see the module docs.
#[derive(Debug)]
pub(crate) struct PollEvented<E: Source> {
    /// `Some` until drop.
    io: Option<E>,
    registration: Registration,
}

impl<E: Source> PollEvented<E> {
    /// Registers `io` with the reactor (starting the reactor on first use).
    pub(crate) fn new(mut io: E) -> io::Result<PollEvented<E>> {
        let registration = Reactor::get()?.register(&mut io)?;
        Ok(PollEvented {
            io: Some(io),
            registration,
        })
    }

    /// The socket.
    pub(crate) fn get(&self) -> &E {
        self.io
            .as_ref()
            .expect("a PollEvented holds its socket until it drops")
    }

    /// Runs `op`, a stream transfer of up to `requested` bytes, once the socket is ready for
    /// `direction`, until it does not block, waiting under the waiter slot reserved for
    /// `poll_*` methods of that direction (see [`Direction::poll_slot`]). A
    /// short transfer (`0 < n < requested`) drained the socket's receive buffer (or filled its
    /// send buffer), so it clears the readiness as a `WouldBlock` would, and the next attempt
    /// waits for the next edge instead of spending a system call on `EAGAIN` (tokio does the
    /// same). An event that came in since the attempt read the readiness keeps the bit.
    pub(crate) fn poll_transfer(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        requested: usize,
        mut op: impl FnMut(&E) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let mut id = Some(direction.poll_slot());
        self.poll_io_as(
            cx,
            direction,
            &mut id,
            &mut op,
            |result| matches!(result, Ok(n) if 0 < *n && *n < requested),
        )
    }

    fn poll_io_as<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        id: &mut Option<u64>,
        op: &mut impl FnMut(&E) -> io::Result<R>,
        drained: impl Fn(&io::Result<R>) -> bool,
    ) -> Poll<io::Result<R>> {
        let io = self.registration.io();
        loop {
            let event = ready!(io.poll_ready(cx, direction, id));
            match op(self.get()) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    io.clear_readiness(event);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                result => {
                    if drained(&result) {
                        io.clear_readiness(event);
                    }
                    return Poll::Ready(result);
                }
            }
        }
    }

    /// A future running `op` as [`poll_transfer`](PollEvented::poll_transfer) does, with a waiter id of its
    /// own that it removes when dropped.
    pub(crate) fn io_op<R, F: FnMut(&E) -> io::Result<R> + Unpin>(
        &self,
        direction: Direction,
        op: F,
    ) -> IoOp<'_, E, F> {
        IoOp {
            evented: self,
            direction,
            id: None,
            op,
        }
    }
}

impl<E: Source> Drop for PollEvented<E> {
    fn drop(&mut self) {
        if let Some(mut io) = self.io.take() {
            if let Err(error) = self.registration.deregister(&mut io) {
                tracing::debug!(target: "corral::io", %error, "deregistering a socket failed");
            }
            drop(io); // closes the descriptor, before the registration frees its slot
        }
    }
}

/// The future of [`PollEvented::io_op`].
#[derive(Debug)]
pub(crate) struct IoOp<'a, E: Source, F> {
    evented: &'a PollEvented<E>,
    direction: Direction,
    /// The waiter id, from the first `Pending` on.
    id: Option<u64>,
    op: F,
}

impl<E: Source, R, F: FnMut(&E) -> io::Result<R> + Unpin> Future for IoOp<'_, E, F> {
    type Output = io::Result<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let this = self.get_mut();
        this.evented
            .poll_io_as(cx, this.direction, &mut this.id, &mut this.op, |_| false)
    }
}

impl<E: Source, F> Drop for IoOp<'_, E, F> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.evented
                .registration
                .io()
                .remove_waiter(self.direction, id);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::io::{Read, Write};
    use std::task::Waker;
    use std::time::{Duration, Instant};

    use super::*;

    /// Bounds the wait for the fallback thread to deliver the event.
    const WATCHDOG: Duration = Duration::from_secs(5);

    #[test]
    fn a_short_read_clears_the_readiness() {
        let (mut peer, socket) = mio::net::UnixStream::pair().unwrap();
        let evented = PollEvented::new(socket).unwrap();
        peer.write_all(b"abc").unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let mut buf = [0; 64];
        let started = Instant::now();
        let read = loop {
            let polled = evented.poll_transfer(&mut cx, Direction::Read, buf.len(), |io| {
                (&mut &*io).read(&mut buf)
            });
            if let Poll::Ready(read) = polled {
                break read.unwrap();
            }
            assert!(
                started.elapsed() < WATCHDOG,
                "the reactor never delivered the event"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(read, 3);
        assert!(
            !evented.registration.io().is_ready(Direction::Read),
            "the short read drained the socket: the next read waits for an event"
        );
    }
}
