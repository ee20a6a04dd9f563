//! UDP: [`UdpSocket`].

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use crate::addr::{each_addr, resolve_one};
use crate::evented::PollEvented;
use crate::scheduled_io::Direction;

/// A UDP socket. All operations take `&self`, so one socket can be shared (in an `Arc`) by a
/// sender and a receiver; a dropped `send`/`recv` future leaves nothing registered.
///
/// # Examples
///
/// ```
/// use corral_io::UdpSocket;
/// use corral_scopes::run_blocking;
///
/// let got = run_blocking(|_| async {
///     let a = UdpSocket::bind("127.0.0.1:0").await?;
///     let b = UdpSocket::bind("127.0.0.1:0").await?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!(from, a.local_addr()?);
///     std::io::Result::Ok(buf[..n].to_vec())
/// });
/// assert_eq!(got.unwrap().unwrap(), b"ping");
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    io: PollEvented<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to the first address of `addr` that works.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |address| async move {
            UdpSocket::from_mio(mio::net::UdpSocket::bind(address)?)
        })
        .await
    }

    /// Wraps a bound std socket (set to non-blocking here).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        UdpSocket::from_mio(mio::net::UdpSocket::from_std(socket))
    }

    fn from_mio(socket: mio::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: PollEvented::new(socket)?,
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// The address of [`connect`](UdpSocket::connect), if connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// Sends `buf` to `target` (its first address); the number of bytes sent.
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let target = resolve_one(target)?;
        self.io
            .io_op(Direction::Write, |socket| socket.send_to(buf, target))
            .await
    }

    /// Receives one datagram into `buf`: its length and its sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io
            .io_op(Direction::Read, |socket| socket.recv_from(buf))
            .await
    }

    /// Sets the default target of [`send`](UdpSocket::send) and keeps only its datagrams for
    /// [`recv`](UdpSocket::recv) (the first address of `addr` that works).
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let socket = self.io.get();
        each_addr(addr, |address| async move { socket.connect(address) }).await
    }

    /// Sends `buf` to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io
            .io_op(Direction::Write, |socket| socket.send(buf))
            .await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io
            .io_op(Direction::Read, |socket| socket.recv(buf))
            .await
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get().set_broadcast(on)
    }
}
