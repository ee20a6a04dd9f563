//! hyper on corral: [`HyperIo`], `corral::net::TcpStream` as hyper's `rt::Read` and
//! `rt::Write`, and [`CorralExecutor`], hyper's `rt::Executor` launching coroutines. This is
//! the glue a corral user writes today (hyper-util's `TokioIo` and `TokioExecutor` play these
//! parts on tokio).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use corral::net::TcpStream;
use corral::CoroutineScope;
use futures_lite::{AsyncRead, AsyncWrite};
use hyper::rt::ReadBufCursor;

/// Bytes read per `poll_read` at most: hyper's initial read buffer size, so that one read
/// usually takes what hyper has room for.
const READ_CHUNK: usize = 8 * 1024;

/// A corral TCP stream as hyper's IO.
///
/// hyper reads into uninitialised memory and `futures_io` reads into initialised memory, so
/// reads go through a buffer of the adapter's own and are copied into hyper's (a few hundred
/// bytes per request here), which keeps the adapter free of `unsafe`.
pub(super) struct HyperIo {
    stream: TcpStream,
    scratch: Box<[u8]>,
}

impl HyperIo {
    pub(super) fn new(stream: TcpStream) -> HyperIo {
        HyperIo {
            stream,
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }
}

impl hyper::rt::Read for HyperIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let room = buf.remaining().min(this.scratch.len());
        let read = ready!(Pin::new(&mut this.stream).poll_read(cx, &mut this.scratch[..room]))?;
        buf.put_slice(&this.scratch[..read]);
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for HyperIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    /// corral's stream writes vectors with one `writev`, as tokio's does (hyper then sends
    /// head and body without copying them together).
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_close(cx)
    }
}

/// hyper's executor on corral: each future becomes a coroutine of the scope, so it is
/// cancelled with it and the scope waits for it.
#[derive(Clone)]
pub(super) struct CorralExecutor(pub(super) CoroutineScope);

impl<F> hyper::rt::Executor<F> for CorralExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, future: F) {
        self.0.launch(move |_| future);
    }
}
