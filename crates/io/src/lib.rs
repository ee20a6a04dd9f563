//! # corral-io: network IO for corral coroutines
//!
//! TCP ([`TcpListener`], [`TcpStream`]), UDP ([`UdpSocket`]) and, on Unix, Unix-domain
//! sockets ([`UnixListener`], [`UnixStream`], [`UnixDatagram`]), on one process-wide
//! [mio](https://docs.rs/mio) reactor. The facade re-exports this crate as `corral::net`.
//!
//! Streams implement [`futures_io::AsyncRead`] and [`futures_io::AsyncWrite`] (and tokio's
//! `AsyncRead`/`AsyncWrite` with the `tokio` feature), so `futures`' `AsyncReadExt`, codecs
//! and protocol crates work on them. The futures of this crate run on any dispatcher, in
//! `run_blocking` and on foreign executors alike.
//!
//! ## Cancellation
//!
//! Every operation is a future that can be dropped at its `.await` (a cancelled coroutine):
//! an `accept`, `connect`, `send_to`, `recv_from`, ... future removes its waker from the
//! socket when dropped; a dropped `connect` closes its half-open socket; a dropped socket is
//! deregistered from the reactor and closed at once. The `poll_read`/`poll_write` methods keep
//! one waker per direction in the socket (their `&mut` receiver makes them its only user),
//! replaced by the next poll and freed with the socket.
//!
//! ## Addresses
//!
//! `bind`, `connect` and `send_to` take std's [`ToSocketAddrs`](std::net::ToSocketAddrs) and
//! resolve on the calling thread: a `SocketAddr` (or an IP and port) converts inline, and a
//! string, which may name a host and block in the system resolver, resolves inside
//! [`corral_scheduler::block_in_place`], which hands the worker's CPU permit to another
//! thread meanwhile. Pass a `SocketAddr` where connections are made often.

mod addr;
mod evented;
mod loom;
#[cfg(all(test, corral_loom))]
mod loom_tests;
mod park;
mod reactor;
mod scheduled_io;
mod stream;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use tcp::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, TcpListener, TcpStream, WriteHalf};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixListener, UnixStream};
