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

    /// Runs `op` once the socket is ready for `direction`, until it does not block, waiting
    /// under the waiter slot reserved for `poll_*` methods of that direction (see
    /// [`Direction::poll_slot`]).
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut op: impl FnMut(&E) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let mut id = Some(direction.poll_slot());
        self.poll_io_as(cx, direction, &mut id, &mut op)
    }

    fn poll_io_as<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        id: &mut Option<u64>,
        op: &mut impl FnMut(&E) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.registration.io();
        loop {
            let event = ready!(io.poll_ready(cx, direction, id));
            match op(self.get()) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    io.clear_readiness(event);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    /// A future running `op` as [`poll_io`](PollEvented::poll_io) does, with a waiter id of its
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
            .poll_io_as(cx, this.direction, &mut this.id, &mut this.op)
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
