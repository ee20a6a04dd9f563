//! The network rows: request/response traffic over loopback TCP, client and server in one
//! process on the same runtime (`echo`, `http_hello`, `tokio_compat`).
//!
//! Every sample runs the same driver ([`drive`]) with the runtime's sockets (a [`Transport`])
//! and its spawner ([`on_corral`], [`on_tokio`], [`on_async_io`]): one driver task binds a listener on `127.0.0.1:0`, launches an
//! acceptor that accepts exactly as many connections as there are clients and serves each in
//! its own task, then launches the clients, one task per connection. Both ends set
//! `TCP_NODELAY`. Each client sends its requests one after another and records the latency of
//! each (request written to reply read) in nanoseconds. The sample is timed on the bench
//! thread from before the driver is launched until the last client has reported; the
//! connections' server tasks then end on their own (the clients close their sockets) and are
//! waited for, untimed, so that no traffic of one runtime overlaps the next one's sample.
//!
//! Bounded: the bench thread gives every sample [`DEADLINE`] (or [`QUICK_DEADLINE`]) and
//! panics when a client or server has not reported by then, or reported an IO error, so a
//! hang fails the run instead of blocking it.
//!
//! The peers' runtimes for these rows are built here, once, by [`peers`]: the harness's
//! shared tokio runtime has no IO driver, and smol's reactor is fastest when the executor's
//! own threads drive it. See `benches/README.md`.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use hyper::rt::Executor;
use hyper_util::rt::TokioExecutor;

use crate::clock::{Elapsed, Stopwatch};
use crate::runtimes::core_pool_size;
use crate::threads::{ASYNC_EXECUTOR_THREAD_NAME, TOKIO_THREAD_NAME};
use crate::workloads::{Env, Metric, Sample};

pub(super) mod echo;
pub(super) mod http_hello;
#[cfg(feature = "corral")]
mod hyper_io;
pub(super) mod tokio_compat;

/// How long one full-size sample may take before the run fails as hung. A full sample takes
/// about a second on a loaded 2-core machine; this leaves room for a very slow one.
const DEADLINE: Duration = Duration::from_secs(60);
/// [`DEADLINE`] with `--quick` (a quick sample takes a few milliseconds).
const QUICK_DEADLINE: Duration = Duration::from_secs(10);

/// The listener's address: loopback, any free port.
const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// What a task of a sample reports to the bench thread.
enum Report {
    /// A client's request latencies, in nanoseconds, in order.
    Client(io::Result<Vec<u64>>),
    /// A server connection (or the acceptor, or the setup) ended.
    Server(io::Result<()>),
}

/// The sending end of a sample's reports, one clone per task.
#[derive(Clone)]
struct Reporter(Sender<Report>);

impl Reporter {
    fn client(&self, result: io::Result<Vec<u64>>) {
        // The bench thread only stops listening after panicking: nothing left to tell then.
        let _ = self.0.send(Report::Client(result));
    }

    fn server(&self, result: io::Result<()>) {
        let _ = self.0.send(Report::Server(result));
    }
}

/// The bench thread's side of a sample: its clock, its deadline and its reports.
struct Collector {
    what: String,
    clients: usize,
    deadline: Instant,
    stopwatch: Stopwatch,
    reports: Receiver<Report>,
}

impl Collector {
    /// Starts a sample of `what` (`"echo on tokio"`) with `clients` connections, with the
    /// deadline of the mode, and the reporter its tasks send to.
    fn start(env: &Env<'_>, what: String, clients: usize) -> (Collector, Reporter) {
        Collector::with_deadline(what, clients, env.size(DEADLINE, QUICK_DEADLINE))
    }

    /// [`start`](Collector::start) with the deadline `within` from now.
    fn with_deadline(what: String, clients: usize, within: Duration) -> (Collector, Reporter) {
        let (tx, rx) = mpsc::channel();
        let collector = Collector {
            what,
            clients,
            deadline: Instant::now() + within,
            stopwatch: Stopwatch::start(),
            reports: rx,
        };
        (collector, Reporter(tx))
    }

    /// Waits for every client, stops the clock, waits for every server connection, and
    /// summarises the sample.
    ///
    /// # Panics
    ///
    /// When the deadline passes first (a hang) or a task reports an error.
    fn finish(self) -> Sample {
        let mut latencies = Vec::new();
        let (mut clients, mut servers) = (0, 0);
        let mut elapsed = None;
        while servers < self.clients || clients < self.clients {
            let timeout = self.deadline.saturating_duration_since(Instant::now());
            let report = match self.reports.recv_timeout(timeout) {
                Ok(report) => report,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: {clients} of {n} clients and {servers} of {n} server connections \
                     finished before the deadline (a hang)",
                    self.what,
                    n = self.clients
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{}: a task ended without reporting (it panicked)",
                    self.what
                ),
            };
            match report {
                Report::Client(Ok(mut measured)) => {
                    latencies.append(&mut measured);
                    clients += 1;
                    if clients == self.clients {
                        elapsed = Some(self.stopwatch.elapsed());
                    }
                }
                Report::Server(Ok(())) => servers += 1,
                Report::Client(Err(error)) | Report::Server(Err(error)) => {
                    panic!("{}: {error}", self.what)
                }
            }
        }
        let elapsed = elapsed.expect("every client reported");
        summarise(elapsed, latencies)
    }
}

/// The sample's rows: wall and CPU time of the whole sample, requests per second over it, and
/// the 99th percentile of the request latencies.
fn summarise(elapsed: Elapsed, mut latencies: Vec<u64>) -> Sample {
    let requests = latencies.len();
    let p99 = percentile(&mut latencies, 0.99);
    Sample::time(elapsed, 1)
        .with(
            Metric::RequestsPerSec,
            requests as f64 / elapsed.wall.as_secs_f64(),
        )
        .with(Metric::P99Latency, p99 as f64 * 1e-9)
}

/// The nearest-rank `q`-quantile of `values` (reordered); 0 if there are none.
fn percentile(values: &mut [u64], q: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    *values.select_nth_unstable(rank - 1).1
}

/// Nanoseconds since `start`, saturated.
fn nanos_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The peers' runtimes for the network rows, with the harness's worker count each.
struct NetPeers {
    /// tokio's multi-thread runtime with the IO and time drivers (as `#[tokio::main]`).
    tokio: tokio::runtime::Runtime,
    /// async-executor, run by threads blocked in `async_io::block_on`, so that an idle one
    /// drives smol's reactor (as `smol::block_on(ex.run(..))` on every thread does).
    smol: Arc<async_executor::Executor<'static>>,
}

/// The peers, built at the first network sample and kept for the rest of the run (idle in
/// between). Their threads carry the harness's names, so thread counting still attributes
/// them to the right runtime.
fn peers() -> &'static NetPeers {
    static PEERS: OnceLock<NetPeers> = OnceLock::new();
    PEERS.get_or_init(|| {
        let workers = core_pool_size();
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name(TOKIO_THREAD_NAME)
            .enable_all()
            .build()
            .expect("build the tokio runtime with IO");
        let smol = Arc::new(async_executor::Executor::new());
        for i in 0..workers {
            let executor = smol.clone();
            thread::Builder::new()
                .name(format!("{ASYNC_EXECUTOR_THREAD_NAME}-net-{i}"))
                .spawn(move || async_io::block_on(executor.run(std::future::pending::<()>())))
                .expect("spawn an async-io thread");
        }
        NetPeers { tokio, smol }
    })
}

/// A task handed to a runtime by a sample's driver, boxed (one allocation per connection
/// task, the same on every runtime).
type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The runtime's task spawner, as hyper's executor: the driver launches the acceptor, the
/// server connections and the clients through it, and hyper's client its connection task.
trait Spawner: Executor<Task> + Clone + Send + Sync + 'static {}

impl<E: Executor<Task> + Clone + Send + Sync + 'static> Spawner for E {}

/// async-executor's spawner (detached tasks).
#[derive(Clone)]
struct SmolExecutor(Arc<async_executor::Executor<'static>>);

impl Executor<Task> for SmolExecutor {
    fn execute(&self, future: Task) {
        self.0.spawn(future).detach();
    }
}

/// A runtime's TCP sockets, as its users call them.
trait Transport: 'static {
    /// Its `TcpListener`.
    type Listener: Send + Sync + 'static;
    /// Its `TcpStream`.
    type Stream: Send + 'static;

    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;
    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send + '_;
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    fn set_nodelay(stream: &Self::Stream) -> io::Result<()>;
}

/// Implements [`Transport`] as `$name` for a runtime's `TcpListener` and `TcpStream`, whose
/// methods have the same names and shapes on every runtime.
macro_rules! transport {
    ($(#[$doc:meta])* $name:ident, $listener:ty, $stream:ty) => {
        $(#[$doc])*
        struct $name;

        impl Transport for $name {
            type Listener = $listener;
            type Stream = $stream;

            async fn bind(addr: SocketAddr) -> io::Result<$listener> {
                <$listener>::bind(addr).await
            }

            fn local_addr(listener: &$listener) -> io::Result<SocketAddr> {
                listener.local_addr()
            }

            async fn accept(listener: &$listener) -> io::Result<$stream> {
                listener.accept().await.map(|(stream, _)| stream)
            }

            async fn connect(addr: SocketAddr) -> io::Result<$stream> {
                <$stream>::connect(addr).await
            }

            fn set_nodelay(stream: &$stream) -> io::Result<()> {
                stream.set_nodelay(true)
            }
        }
    };
}

#[cfg(feature = "corral")]
transport!(
    /// `corral::net`.
    CorralNet,
    corral::net::TcpListener,
    corral::net::TcpStream
);
transport!(
    /// `tokio::net` (on tokio's runtime, or in corral coroutines with the `tokio` feature).
    TokioNet,
    tokio::net::TcpListener,
    tokio::net::TcpStream
);
transport!(
    /// `async-net`, on smol's reactor.
    AsyncNet,
    async_net::TcpListener,
    async_net::TcpStream
);

/// A sample's driver, the same on every runtime (see the module docs): binds, launches the
/// acceptor and the clients through `spawner`, and has every end reported to `reporter`.
/// `client` runs on each client connection (with the spawner, for hyper's connection task);
/// `serve` on each accepted one.
async fn drive<T, E, C, CF, S, SF>(
    spawner: E,
    reporter: Reporter,
    clients: usize,
    client: C,
    serve: S,
) where
    T: Transport,
    E: Spawner,
    C: Fn(T::Stream, E) -> CF + Send + Sync + 'static,
    CF: Future<Output = io::Result<Vec<u64>>> + Send + 'static,
    S: Fn(T::Stream) -> SF + Send + Sync + 'static,
    SF: Future<Output = io::Result<()>> + Send + 'static,
{
    let bound = async {
        let listener = T::bind(LOOPBACK).await?;
        let addr = T::local_addr(&listener)?;
        Ok::<_, io::Error>((listener, addr))
    };
    let (listener, addr) = match bound.await {
        Ok(bound) => bound,
        Err(error) => return reporter.server(Err(error)),
    };
    let (client, serve) = (Arc::new(client), Arc::new(serve));
    let (accepting, acceptor_spawner) = (reporter.clone(), spawner.clone());
    spawner.execute(Box::pin(async move {
        for _ in 0..clients {
            let stream = match T::accept(&listener).await {
                Ok(stream) => stream,
                Err(error) => return accepting.server(Err(error)),
            };
            let (serve, reporter) = (serve.clone(), accepting.clone());
            acceptor_spawner.execute(Box::pin(async move {
                let served = match T::set_nodelay(&stream) {
                    Ok(()) => serve(stream).await,
                    Err(error) => Err(error),
                };
                reporter.server(served);
            }));
        }
    }));
    for _ in 0..clients {
        let (client, reporter, own) = (client.clone(), reporter.clone(), spawner.clone());
        spawner.execute(Box::pin(async move {
            let connected = async {
                let stream = T::connect(addr).await?;
                T::set_nodelay(&stream)?;
                Ok::<_, io::Error>(stream)
            };
            let result = match connected.await {
                Ok(stream) => client(stream, own).await,
                Err(error) => Err(error),
            };
            reporter.client(result);
        }));
    }
}

/// Runs a sample of `what` with `T`'s sockets in corral coroutines (see [`drive`]).
#[cfg(feature = "corral")]
fn on_corral<T, C, CF, S, SF>(
    env: &Env<'_>,
    what: &str,
    clients: usize,
    client: C,
    serve: S,
) -> Sample
where
    T: Transport,
    C: Fn(T::Stream, hyper_io::CorralExecutor) -> CF + Send + Sync + 'static,
    CF: Future<Output = io::Result<Vec<u64>>> + Send + 'static,
    S: Fn(T::Stream) -> SF + Send + Sync + 'static,
    SF: Future<Output = io::Result<()>> + Send + 'static,
{
    let (collector, reporter) = Collector::start(env, format!("{what} on corral"), clients);
    let root = super::CorralRoot::new();
    root.scope.launch(move |scope| {
        drive::<T, _, _, _, _, _>(
            hyper_io::CorralExecutor(scope),
            reporter,
            clients,
            client,
            serve,
        )
    });
    let sample = collector.finish();
    root.finish();
    sample
}

/// Runs a sample of `what` with tokio's sockets on tokio's runtime (see [`drive`]).
fn on_tokio<C, CF, S, SF>(env: &Env<'_>, what: &str, clients: usize, client: C, serve: S) -> Sample
where
    C: Fn(tokio::net::TcpStream, TokioExecutor) -> CF + Send + Sync + 'static,
    CF: Future<Output = io::Result<Vec<u64>>> + Send + 'static,
    S: Fn(tokio::net::TcpStream) -> SF + Send + Sync + 'static,
    SF: Future<Output = io::Result<()>> + Send + 'static,
{
    let (collector, reporter) = Collector::start(env, format!("{what} on tokio"), clients);
    peers().tokio.spawn(drive::<TokioNet, _, _, _, _, _>(
        TokioExecutor::new(),
        reporter,
        clients,
        client,
        serve,
    ));
    collector.finish()
}

/// Runs a sample of `what` with async-net's sockets on async-executor (see [`drive`]).
fn on_async_io<C, CF, S, SF>(
    env: &Env<'_>,
    what: &str,
    clients: usize,
    client: C,
    serve: S,
) -> Sample
where
    C: Fn(async_net::TcpStream, SmolExecutor) -> CF + Send + Sync + 'static,
    CF: Future<Output = io::Result<Vec<u64>>> + Send + 'static,
    S: Fn(async_net::TcpStream) -> SF + Send + Sync + 'static,
    SF: Future<Output = io::Result<()>> + Send + 'static,
{
    let (collector, reporter) = Collector::start(env, format!("{what} on async-io"), clients);
    let executor = SmolExecutor(peers().smol.clone());
    executor.execute(Box::pin(drive::<AsyncNet, _, _, _, _, _>(
        executor.clone(),
        reporter,
        clients,
        client,
        serve,
    )));
    collector.finish()
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::thread;
    use std::time::{Duration, Instant};

    use super::{percentile, Collector, Metric};

    /// A short deadline: the tests below fail fast instead of waiting a sample's minute.
    const TEST_DEADLINE: Duration = Duration::from_millis(100);

    #[test]
    #[should_panic(
        expected = "1 of 2 clients and 0 of 2 server connections finished before the deadline (a hang)"
    )]
    fn a_hang_fails_at_the_deadline() {
        let (collector, reporter) = Collector::with_deadline("hang".to_owned(), 2, TEST_DEADLINE);
        reporter.client(Ok(vec![1]));
        // Keeps the channel open: the rest never report, as hung tasks would not.
        let _hung = reporter;
        collector.finish();
    }

    #[test]
    fn a_hang_fails_promptly() {
        let started = Instant::now();
        let hung = thread::spawn(|| {
            let (collector, _reporter) =
                Collector::with_deadline("hang".to_owned(), 1, TEST_DEADLINE);
            collector.finish();
        });
        assert!(hung.join().is_err(), "a sample with no reports must fail");
        assert!(
            started.elapsed() < TEST_DEADLINE * 20,
            "it failed only after {:?}",
            started.elapsed()
        );
    }

    #[test]
    #[should_panic(expected = "broken: connection reset")]
    fn an_io_error_fails_the_sample() {
        let (collector, reporter) = Collector::with_deadline("broken".to_owned(), 1, TEST_DEADLINE);
        reporter.server(Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection reset",
        )));
        collector.finish();
    }

    #[test]
    fn a_complete_sample_counts_every_request() {
        let (collector, reporter) =
            Collector::with_deadline("ok".to_owned(), 2, Duration::from_secs(10));
        reporter.client(Ok(vec![5, 1, 3]));
        reporter.server(Ok(()));
        reporter.client(Ok(vec![2, 4]));
        reporter.server(Ok(()));
        let sample = collector.finish();
        let value = |metric| sample.0.iter().find(|(m, _)| *m == metric).map(|&(_, v)| v);
        assert_eq!(value(Metric::P99Latency), Some(5e-9));
        assert!(value(Metric::RequestsPerSec).is_some_and(|rps| rps > 0.0));
        assert!(value(Metric::Time).is_some());
    }

    #[test]
    fn nearest_rank_percentile() {
        let mut values: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut values, 0.99), 99);
        assert_eq!(percentile(&mut values, 1.0), 100);
        assert_eq!(percentile(&mut [7], 0.99), 7);
        assert_eq!(percentile(&mut [], 0.99), 0);
    }
}
