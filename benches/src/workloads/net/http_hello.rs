//! `http_hello`: hyper 1.x serving `hello` over HTTP/1.1 on corral and on tokio, loaded by
//! hyper's own HTTP/1.1 client in the same process: [`CONNECTIONS`] keep-alive connections,
//! each sending [`REQUESTS`] `GET /` one after another.
//!
//! Both runtimes run the same hyper code; only the IO glue differs. On tokio it is
//! hyper-util's `TokioIo` and `TokioExecutor`; on corral, [`super::hyper_io`]'s adapter of
//! `corral::net::TcpStream` to hyper's `rt::Read`/`rt::Write` and its executor that launches
//! coroutines. The client's connection future runs in its own task, spawned through that
//! executor, as hyper's client docs do. Neither server has a timer: hyper's header read
//! timeout applies only when one is configured, so both run the same code path.

use std::convert::Infallible;
use std::io;
use std::time::Instant;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::rt::Executor;
use hyper::{Request, Response};

use crate::runtimes::Runtime;
use crate::workloads::{corral_side, Env, Sample, Workload};

use super::nanos_since;

/// Concurrent keep-alive connections.
const CONNECTIONS: usize = 50;
/// Concurrent connections with `--quick`.
const QUICK_CONNECTIONS: usize = 10;
/// Requests per connection.
const REQUESTS: usize = 400;
/// Requests per connection with `--quick`.
const QUICK_REQUESTS: usize = 20;
/// The response body.
const HELLO: &[u8] = b"hello";

pub(in crate::workloads) fn workload() -> Workload {
    Workload::new(
        "http_hello",
        |quick| {
            let (n, requests) = sizes(quick);
            format!(
                "hyper 1.x HTTP/1.1 `hello` server, {n} keep-alive loopback connections × \
                 {requests} requests from hyper's client in-process; requests/s and p99 latency"
            )
        },
        |_| Vec::new(),
        Some(5),
        &[
            (Runtime::Corral, corral_side!(corral)),
            (Runtime::Tokio, Some(tokio)),
        ],
    )
}

/// (connections, requests per connection) of the mode.
fn sizes(quick: bool) -> (usize, usize) {
    if quick {
        (QUICK_CONNECTIONS, QUICK_REQUESTS)
    } else {
        (CONNECTIONS, REQUESTS)
    }
}

#[cfg(feature = "corral")]
fn corral(env: &Env<'_>) -> Sample {
    use super::hyper_io::HyperIo;

    let (connections, requests) = sizes(env.quick);
    super::on_corral::<super::CorralNet, _, _, _, _>(
        env,
        "http_hello",
        connections,
        move |stream, executor| client(HyperIo::new(stream), requests, executor),
        |stream| serve(HyperIo::new(stream)),
    )
}

fn tokio(env: &Env<'_>) -> Sample {
    use hyper_util::rt::TokioIo;

    let (connections, requests) = sizes(env.quick);
    super::on_tokio(
        env,
        "http_hello",
        connections,
        move |stream, executor| client(TokioIo::new(stream), requests, executor),
        |stream| serve(TokioIo::new(stream)),
    )
}

/// hyper's errors as IO errors, for the sample's report.
fn io_error(error: hyper::Error) -> io::Error {
    io::Error::other(error)
}

/// One client connection: `requests` requests in turn; the latency of each in ns (request
/// sent to response body read).
async fn client<I, E>(io: I, requests: usize, executor: E) -> io::Result<Vec<u64>>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: Executor<super::Task>,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(io_error)?;
    // The connection's errors surface as the requests' errors.
    executor.execute(Box::pin(async move {
        let _ = connection.await;
    }));
    let mut latencies = Vec::with_capacity(requests);
    for _ in 0..requests {
        let sent = Instant::now();
        sender.ready().await.map_err(io_error)?;
        let request = Request::get("/")
            .header(hyper::header::HOST, "localhost")
            .body(Empty::<Bytes>::new())
            .map_err(io::Error::other)?;
        let response = sender.send_request(request).await.map_err(io_error)?;
        let body = response.into_body().collect().await.map_err(io_error)?;
        latencies.push(nanos_since(sent));
        if body.to_bytes() != HELLO {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the response body is not `hello`",
            ));
        }
    }
    Ok(latencies)
}

/// One server connection: `hello` to every request until the client closes.
async fn serve<I>(io: I) -> io::Result<()>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let hello = hyper::service::service_fn(|_: Request<Incoming>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(HELLO))))
    });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(io, hello)
        .await
        .map_err(io_error)
}
