//! The `tokio` feature: tokio's timers, sockets and io traits inside coroutines on every
//! dispatcher (Default, IO, limited views, Unconfined, an executor and `run_blocking`'s loop),
//! with no call by the user; cancelled tokio timers; corral::net streams under tokio's traits.
#![cfg(feature = "tokio")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::{dispatchers, eventually, join_all, SOON};

/// A tokio timer short enough for the tests, long enough that it must really wait.
const NAP: Duration = Duration::from_millis(20);

#[test]
fn tokio_time_and_net_run_on_every_dispatcher() {
    let pool = new_fixed_thread_pool_context(2, "tokio-feature-pool");
    let pool_ref = &pool;
    run_blocking(|scope| async move {
        for (name, dispatcher) in dispatchers(&scope, pool_ref) {
            let echoed = with_timeout(SOON, move |scope| async move {
                scope
                    .async_with(dispatcher, CoroutineStart::Default, |_| async {
                        let started = Instant::now();
                        tokio::time::sleep(NAP).await;
                        assert!(started.elapsed() >= NAP);
                        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                        let address = listener.local_addr().unwrap();
                        let client = async {
                            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
                            stream.write_all(b"tokio inside corral").await.unwrap();
                            stream.shutdown().await.unwrap();
                        };
                        let server = async {
                            let (mut stream, _) = listener.accept().await.unwrap();
                            let mut got = String::new();
                            stream.read_to_string(&mut got).await.unwrap();
                            got
                        };
                        let ((), got) = futures::join!(client, server);
                        got
                    })
                    .await
                    .unwrap()
            })
            .await;
            assert_eq!(
                echoed.unwrap_or_else(|error| panic!("{name}: {error}")),
                "tokio inside corral",
                "{name}"
            );
        }
    })
    .unwrap();
    pool.close();
}

#[test]
fn tokio_timers_in_the_run_blocking_root() {
    let out = run_blocking(|_| async {
        let started = Instant::now();
        tokio::time::sleep(NAP).await;
        tokio::time::timeout(NAP, std::future::pending::<()>())
            .await
            .unwrap_err();
        started.elapsed()
    });
    assert!(out.unwrap() >= 2 * NAP);
}

#[test]
fn cancelling_1000_coroutines_waiting_on_tokio_timers() {
    const WAITERS: usize = 1000;
    let out = run_blocking(|scope| async move {
        let waiting = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let views = [
            Dispatchers::default(),
            Dispatchers::io(),
            Dispatchers::default().limited_parallelism(1),
        ];
        let jobs: Vec<Job> = (0..WAITERS)
            .map(|index| {
                let (waiting, finished) = (waiting.clone(), finished.clone());
                scope.launch_with(
                    views[index % views.len()].clone(),
                    CoroutineStart::Default,
                    move |_| async move {
                        waiting.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        finished.fetch_add(1, Ordering::SeqCst);
                    },
                )
            })
            .collect();
        assert!(eventually(|| waiting.load(Ordering::SeqCst) == WAITERS).await);
        for job in &jobs {
            job.cancel();
        }
        join_all("tokio timers", jobs).await;
        assert_eq!(finished.load(Ordering::SeqCst), 0);
        // The timer wheel still works after a thousand deregistrations.
        let started = Instant::now();
        tokio::time::sleep(NAP).await;
        started.elapsed()
    });
    assert!(out.unwrap() >= NAP);
}

#[test]
fn corral_net_streams_implement_tokio_io() {
    use corral::net::{TcpListener, TcpStream};
    let out = run_blocking(|scope| {
        with_timeout(SOON, |_| async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            scope.launch_with(
                Dispatchers::default(),
                CoroutineStart::Default,
                move |_| async move {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    let (mut read, mut write) = TcpStream::split(&mut stream);
                    tokio::io::copy(&mut read, &mut write).await.unwrap();
                    write.shutdown().await.unwrap();
                },
            );
            let mut stream = TcpStream::connect(address).await.unwrap();
            stream.write_all(b"tokio traits").await.unwrap();
            AsyncWriteExt::shutdown(&mut stream).await.unwrap();
            let mut got = Vec::new();
            AsyncReadExt::read_to_end(&mut stream, &mut got)
                .await
                .unwrap();
            got
        })
    });
    assert_eq!(out.unwrap().unwrap(), b"tokio traits");
}
