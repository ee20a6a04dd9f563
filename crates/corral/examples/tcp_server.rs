//! A TCP server in coroutines: one child coroutine per connection under `supervisor_scope`
//! (a failing connection does not take the server down), a `with_timeout` on every request,
//! and graceful shutdown: cancelling the server's job ends every connection coroutine, and
//! every socket closes with it.
//!
//! The protocol is one request per line, `square N`, answered with `N*N`. Clients: a few that
//! make requests and stay connected, one that sends half a request and stalls (its request
//! times out and the server hangs up), and one that sends garbage (its handler fails, alone).
//! At the end the example prints what it served and compares the count of open file
//! descriptors with the count before the server started.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral::net::{TcpListener, TcpStream};
use corral::prelude::*;
use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// How long a request may take to arrive once its connection is idle.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(200);
/// Clients that make requests and stay connected until the shutdown.
const CLIENTS: u64 = 4;
/// Requests per client.
const REQUESTS: u64 = 5;

/// Open file descriptors of this process (Linux); `None` elsewhere.
fn open_descriptors() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

/// Serves one connection: a request per line. An idle connection may wait for its next
/// request as long as it likes; once a request starts, it has `REQUEST_TIMEOUT` to arrive.
async fn serve(stream: TcpStream, served: Arc<AtomicUsize>) -> Result<(), String> {
    let peer = stream.peer_addr().map_err(|e| e.to_string())?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        if reader
            .fill_buf()
            .await
            .map_err(|e| e.to_string())?
            .is_empty()
        {
            return Ok(()); // the client closed
        }
        // The block must own what it uses (it may be cancelled and dropped), so the reader
        // goes in and comes back out with the line.
        let (back, line) = with_timeout(REQUEST_TIMEOUT, move |_| async move {
            let mut line = String::new();
            let read = reader.read_line(&mut line).await;
            (reader, read.map(|_| line))
        })
        .await
        .map_err(|_| format!("{peer}: request incomplete after {REQUEST_TIMEOUT:?}, hanging up"))?;
        reader = back;
        let line = line.map_err(|e| e.to_string())?;
        let number: u64 = line
            .strip_prefix("square ")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| format!("{peer}: bad request {:?}", line.trim_end()))?;
        let answer = format!("{}\n", number * number);
        write
            .write_all(answer.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        served.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sends `REQUESTS` requests and checks the answers; returns the still open connection.
async fn client(address: std::net::SocketAddr, id: u64) -> TcpStream {
    let stream = TcpStream::connect(address).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut reader = BufReader::new(stream);
    for n in 0..REQUESTS {
        let number = id * 100 + n;
        let request = format!("square {number}\n");
        reader
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        let mut answer = String::new();
        reader.read_line(&mut answer).await.unwrap();
        assert_eq!(answer.trim().parse::<u64>().unwrap(), number * number);
    }
    reader.into_inner()
}

/// `true` if the server closed `stream` (end of stream or reset).
async fn server_hung_up(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte).await, Ok(0) | Err(_))
}

fn main() {
    let outcome = run_blocking(|scope| async move {
        // The reactor and its descriptors exist from the first socket on: start it first.
        drop(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let before = open_descriptors();

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let (served_by_server, failed_by_server) = (served.clone(), failed.clone());
        let server = scope.launch_with(
            Dispatchers::default() + CoroutineName::new("server"),
            CoroutineStart::Default,
            move |_| async move {
                let _ = supervisor_scope(|connections| async move {
                    loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        let (served, failed) = (served_by_server.clone(), failed_by_server.clone());
                        connections.launch(move |_| async move {
                            if let Err(why) = serve(stream, served).await {
                                println!("  connection ended: {why}");
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                    }
                })
                .await;
            },
        );
        println!("serving on {address}");

        // Well-behaved clients, in parallel; they keep their connections open.
        let clients: Vec<_> = (1..=CLIENTS)
            .map(|id| {
                scope.async_with(Dispatchers::default(), CoroutineStart::Default, move |_| {
                    client(address, id)
                })
            })
            .collect();
        let mut open = Vec::new();
        for client in clients {
            open.push(client.await.unwrap());
        }
        println!("{CLIENTS} clients made {REQUESTS} requests each and stay connected");

        // A client that stalls halfway through a request: the server times it out.
        let mut stalled = TcpStream::connect(address).await.unwrap();
        stalled.write_all(b"square 1").await.unwrap();
        assert!(server_hung_up(&mut stalled).await);
        // A client that sends garbage: only its own connection fails.
        let mut rude = TcpStream::connect(address).await.unwrap();
        rude.write_all(b"hello?\n").await.unwrap();
        assert!(server_hung_up(&mut rude).await);
        drop((stalled, rude));

        // Graceful shutdown: cancel the server, wait for it; every connection coroutine ends
        // and closes its socket, so each open client sees the server hang up.
        server.cancel();
        server.join().await;
        let mut closed = 0;
        for mut stream in open {
            if server_hung_up(&mut stream).await {
                closed += 1;
            }
        }
        println!("shutdown: {closed} of {CLIENTS} open connections closed by the server");
        let refused = TcpStream::connect(address).await.is_err();
        println!("shutdown: the listener is closed: {refused}");
        let after = open_descriptors();
        (
            served.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed),
            before,
            after,
        )
    });
    let (served, failed, before, after) = outcome.expect("the server example failed");
    println!("served {served} requests; {failed} connections ended with an error");
    assert_eq!(served as u64, CLIENTS * REQUESTS);
    assert_eq!(failed, 2, "the stalled and the rude client");
    match (before, after) {
        (Some(before), Some(after)) => {
            println!("open file descriptors: {before} before the server, {after} after it");
            assert_eq!(before, after, "a socket was left open");
            println!("nothing is left open");
        }
        _ => println!("(open file descriptors are counted on Linux only)"),
    }
}
