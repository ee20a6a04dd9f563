//! The byte-stream traits (`futures_io`'s, and tokio's with the `tokio` feature) for every
//! stream type and half, written once over [`StreamSocket`].

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::task::{Context, Poll};

use mio::event::Source;

use crate::evented::PollEvented;
use crate::scheduled_io::Direction;

/// A connected mio stream socket: reads and writes through a shared reference.
pub(crate) trait StreamSocket: Source
where
    for<'a> &'a Self: Read + Write,
{
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
}

impl StreamSocket for mio::net::TcpStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        mio::net::TcpStream::shutdown(self, how)
    }
}

#[cfg(unix)]
impl StreamSocket for mio::net::UnixStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        mio::net::UnixStream::shutdown(self, how)
    }
}

pub(crate) fn poll_read<E: StreamSocket>(
    evented: &PollEvented<E>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a E: Read + Write,
{
    let requested = buf.len();
    evented.poll_transfer(cx, Direction::Read, requested, |io| (&mut &*io).read(buf))
}

pub(crate) fn poll_read_vectored<E: StreamSocket>(
    evented: &PollEvented<E>,
    cx: &mut Context<'_>,
    bufs: &mut [IoSliceMut<'_>],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a E: Read + Write,
{
    let requested = bufs.iter().map(|buf| buf.len()).sum();
    evented.poll_transfer(cx, Direction::Read, requested, |io| {
        (&mut &*io).read_vectored(bufs)
    })
}

pub(crate) fn poll_write<E: StreamSocket>(
    evented: &PollEvented<E>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a E: Read + Write,
{
    evented.poll_transfer(cx, Direction::Write, buf.len(), |io| (&mut &*io).write(buf))
}

pub(crate) fn poll_write_vectored<E: StreamSocket>(
    evented: &PollEvented<E>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a E: Read + Write,
{
    let requested = bufs.iter().map(|buf| buf.len()).sum();
    evented.poll_transfer(cx, Direction::Write, requested, |io| {
        (&mut &*io).write_vectored(bufs)
    })
}

/// Shuts the write side down (the stream's `close`); a peer that already left is no error.
pub(crate) fn poll_close<E: StreamSocket>(evented: &PollEvented<E>) -> Poll<io::Result<()>>
where
    for<'a> &'a E: Read + Write,
{
    match evented.get().shutdown(Shutdown::Write) {
        Err(error) if error.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(error)),
        _ => Poll::Ready(Ok(())),
    }
}

/// Implements `futures_io::AsyncRead + AsyncWrite` (and tokio's traits with the `tokio`
/// feature) for `$ty`, whose `&PollEvented` is `$evented` of `self` (bound to `$this`).
macro_rules! byte_stream {
    ($ty:ty, read, |$this:ident| $evented:expr) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = &*self;
                $crate::stream::poll_read($evented, cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = &*self;
                $crate::stream::poll_read_vectored($evented, cx, bufs)
            }
        }

        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this = &*self;
                let read = std::task::ready!($crate::stream::poll_read(
                    $evented,
                    cx,
                    buf.initialize_unfilled()
                ))?;
                buf.advance(read);
                std::task::Poll::Ready(Ok(()))
            }
        }
    };
    ($ty:ty, write, |$this:ident| $evented:expr) => {
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = &*self;
                $crate::stream::poll_write($evented, cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = &*self;
                $crate::stream::poll_write_vectored($evented, cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this = &*self;
                $crate::stream::poll_close($evented)
            }
        }

        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = &*self;
                $crate::stream::poll_write($evented, cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = &*self;
                $crate::stream::poll_write_vectored($evented, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this = &*self;
                $crate::stream::poll_close($evented)
            }
        }
    };
    ($ty:ty, |$this:ident| $evented:expr) => {
        $crate::stream::byte_stream!($ty, read, |$this| $evented);
        $crate::stream::byte_stream!($ty, write, |$this| $evented);
    };
}

pub(crate) use byte_stream;
