//! `echo`: [`CONNECTIONS`] loopback TCP connections, each making [`ROUND_TRIPS`] round trips
//! of a [`MESSAGE`]-byte message to an echo server, one at a time: corral::net, tokio::net and
//! async-net (smol's reactor) on async-executor.
//!
//! Client and server run in the same process on the same runtime (see the parent module for
//! the shape of a sample). A client writes the message, reads the echo whole, and records the
//! latency; a server connection reads what arrives and writes it back until the client
//! closes. The same client and server code runs on every runtime through [`Wire`], which maps
//! to `futures-lite`'s extension traits (corral, async-net) or to tokio's, the way a user of
//! each runtime writes it.

use std::future::Future;
use std::io;
use std::time::Instant;

use crate::runtimes::Runtime;
use crate::workloads::{corral_side, Env, Sample, Workload};

use super::nanos_since;

/// Concurrent connections.
const CONNECTIONS: usize = 100;
/// Concurrent connections with `--quick`.
const QUICK_CONNECTIONS: usize = 20;
/// Round trips per connection.
const ROUND_TRIPS: usize = 500;
/// Round trips per connection with `--quick`.
const QUICK_ROUND_TRIPS: usize = 20;
/// Bytes per message.
pub(super) const MESSAGE: usize = 64;

pub(in crate::workloads) fn workload() -> Workload {
    Workload::new(
        "echo",
        |quick| {
            let (n, trips) = sizes(quick);
            format!(
                "{n} loopback connections × {trips} round trips of {MESSAGE} B to an echo \
                 server, client and server in-process; requests/s and p99 latency"
            )
        },
        |_| {
            vec![
                "async-executor column: async-net on smol's reactor (async-io), its threads \
                 in async_io::block_on"
                    .to_owned(),
            ]
        },
        Some(5),
        &[
            (Runtime::Corral, corral_side!(corral)),
            (Runtime::Tokio, Some(tokio)),
            (Runtime::AsyncExecutor, Some(async_io)),
        ],
    )
}

/// (connections, round trips per connection) of the mode.
pub(super) fn sizes(quick: bool) -> (usize, usize) {
    if quick {
        (QUICK_CONNECTIONS, QUICK_ROUND_TRIPS)
    } else {
        (CONNECTIONS, ROUND_TRIPS)
    }
}

#[cfg(feature = "corral")]
fn corral(env: &Env<'_>) -> Sample {
    let (connections, trips) = sizes(env.quick);
    super::on_corral::<super::CorralNet, _, _, _, _>(
        env,
        "echo",
        connections,
        move |stream, _| client(FuturesWire(stream), trips),
        |stream| serve(FuturesWire(stream)),
    )
}

fn tokio(env: &Env<'_>) -> Sample {
    let (connections, trips) = sizes(env.quick);
    super::on_tokio(
        env,
        "echo",
        connections,
        move |stream, _| client(stream, trips),
        serve,
    )
}

fn async_io(env: &Env<'_>) -> Sample {
    let (connections, trips) = sizes(env.quick);
    super::on_async_io(
        env,
        "echo",
        connections,
        move |stream, _| client(FuturesWire(stream), trips),
        |stream| serve(FuturesWire(stream)),
    )
}

/// A byte stream as each runtime's users drive it: the three calls the echo needs.
pub(super) trait Wire: Send + 'static {
    /// Reads what is available into `buf`; 0 at end of stream.
    fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
    /// Fills `buf`.
    fn read_exact<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
    /// Writes all of `buf`.
    fn write_all<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
}

/// A `futures_io` stream (corral::net, async-net) through `futures-lite`'s extension traits.
pub(super) struct FuturesWire<S>(pub(super) S);

impl<S> Wire for FuturesWire<S>
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        futures_lite::AsyncReadExt::read(&mut self.0, buf)
    }

    fn read_exact<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        futures_lite::AsyncReadExt::read_exact(&mut self.0, buf)
    }

    fn write_all<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        futures_lite::AsyncWriteExt::write_all(&mut self.0, buf)
    }
}

impl Wire for tokio::net::TcpStream {
    fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        tokio::io::AsyncReadExt::read(self, buf)
    }

    async fn read_exact<'a>(&'a mut self, buf: &'a mut [u8]) -> io::Result<()> {
        tokio::io::AsyncReadExt::read_exact(self, buf)
            .await
            .map(drop)
    }

    fn write_all<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        tokio::io::AsyncWriteExt::write_all(self, buf)
    }
}

/// One client connection: `trips` round trips, one at a time; the latency of each in ns.
pub(super) async fn client<W: Wire>(mut wire: W, trips: usize) -> io::Result<Vec<u64>> {
    let mut latencies = Vec::with_capacity(trips);
    let mut reply = [0u8; MESSAGE];
    for trip in 0..trips {
        // A different message each time, so that a reply to the wrong request is caught.
        let request = [trip as u8; MESSAGE];
        let sent = Instant::now();
        wire.write_all(&request).await?;
        wire.read_exact(&mut reply).await?;
        latencies.push(nanos_since(sent));
        if reply != request {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the echo differs from the request",
            ));
        }
    }
    Ok(latencies)
}

/// One server connection: echoes what it reads until the client closes.
pub(super) async fn serve<W: Wire>(mut wire: W) -> io::Result<()> {
    let mut buf = [0u8; MESSAGE];
    loop {
        let read = wire.read(&mut buf).await?;
        if read == 0 {
            return Ok(());
        }
        wire.write_all(&buf[..read]).await?;
    }
}
