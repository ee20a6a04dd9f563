//! TCP: [`TcpListener`], [`TcpStream`] and the stream's halves.

use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use crate::addr::each_addr;
use crate::evented::PollEvented;
use crate::scheduled_io::Direction;
use crate::stream::byte_stream;

/// A TCP socket listening for connections.
///
/// Dropping it closes the socket; an `accept` future dropped while it waits leaves nothing
/// registered.
///
/// # Examples
///
/// ```
/// use corral_io::{TcpListener, TcpStream};
/// use corral_scopes::run_blocking;
/// use futures_io::{AsyncRead, AsyncWrite};
///
/// let echoed = run_blocking(|scope| async move {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let address = listener.local_addr()?;
///     scope.launch(move |_| async move {
///         let (mut stream, _) = listener.accept().await.unwrap();
///         let mut byte = [0u8; 1];
///         std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_read(cx, &mut byte))
///             .await
///             .unwrap();
///     });
///     let mut client = TcpStream::connect(address).await?;
///     std::future::poll_fn(|cx| std::pin::Pin::new(&mut client).poll_write(cx, b"x")).await
/// });
/// assert_eq!(echoed.unwrap().unwrap(), 1);
/// ```
#[derive(Debug)]
pub struct TcpListener {
    io: PollEvented<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to the first address of `addr` that works (std's [`ToSocketAddrs`]: `"host:port"`,
    /// a [`SocketAddr`], ...), with `SO_REUSEADDR` on Unix.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |address| async move {
            TcpListener::from_mio(mio::net::TcpListener::bind(address)?)
        })
        .await
    }

    /// Wraps a bound std listener (set to non-blocking here).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(listener))
    }

    fn from_mio(listener: mio::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: PollEvented::new(listener)?,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// Waits for a connection. Several coroutines may accept on one listener at once.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, address) = self
            .io
            .io_op(Direction::Read, mio::net::TcpListener::accept)
            .await?;
        Ok((TcpStream::from_mio(stream)?, address))
    }
}

/// A TCP connection: [`futures_io::AsyncRead`] and [`futures_io::AsyncWrite`] (and tokio's
/// `AsyncRead`/`AsyncWrite` with the `tokio` feature).
///
/// `poll_close` shuts the write side down. Dropping the stream closes it; a `connect` future
/// dropped while it waits closes its half-open socket.
#[derive(Debug)]
pub struct TcpStream {
    io: PollEvented<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to the first address of `addr` that accepts.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, TcpStream::connect_addr).await
    }

    async fn connect_addr(address: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(address)?)?;
        // mio's recipe: once writable, a pending error means the connect failed, and
        // `NotConnected` from `peer_addr` means it is still in progress.
        stream
            .io
            .io_op(Direction::Write, |socket| {
                if let Some(error) = socket.take_error()? {
                    return Err(error);
                }
                match socket.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(error) if error.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(error) => Err(error),
                }
            })
            .await?;
        Ok(stream)
    }

    /// Wraps a connected std stream (set to non-blocking here).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: PollEvented::new(stream)?,
        })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get().nodelay()
    }

    /// Shuts the read side, the write side or both down.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get().shutdown(how)
    }

    /// Borrowed read and write halves, to read and write at once within one coroutine (in
    /// `futures::join!`, say). With `futures`' `AsyncReadExt` in scope, write
    /// `TcpStream::split(&mut stream)`: method syntax picks that trait's `split(self)`.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        let stream: &TcpStream = self;
        (ReadHalf(stream), WriteHalf(stream))
    }

    /// Owned read and write halves, which can move to different coroutines.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let stream = Arc::new(self);
        (OwnedReadHalf(stream.clone()), OwnedWriteHalf(stream))
    }
}

byte_stream!(TcpStream, |stream| &stream.io);

/// The read half of [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a TcpStream);

/// The write half of [`TcpStream::split`]; `poll_close` shuts the stream's write side down.
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a TcpStream);

/// The read half of [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf(Arc<TcpStream>);

/// The write half of [`TcpStream::into_split`]; `poll_close` shuts the stream's write side
/// down. The socket closes when both halves are dropped.
#[derive(Debug)]
pub struct OwnedWriteHalf(Arc<TcpStream>);

byte_stream!(ReadHalf<'_>, read, |half| &half.0.io);
byte_stream!(WriteHalf<'_>, write, |half| &half.0.io);
byte_stream!(OwnedReadHalf, read, |half| &half.0.io);
byte_stream!(OwnedWriteHalf, write, |half| &half.0.io);

macro_rules! half_addresses {
    ($($ty:ty),*) => {$(
        impl $ty {
            /// The remote address of the stream.
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                self.0.peer_addr()
            }

            /// The local address of the stream.
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                self.0.local_addr()
            }
        }
    )*};
}

half_addresses!(ReadHalf<'_>, WriteHalf<'_>, OwnedReadHalf, OwnedWriteHalf);
