//! TCP: echo with many clients, halves, connect errors.

use std::time::Duration;

use corral_core::CoroutineStart;
use corral_dispatchers::Dispatchers;
use corral_io::{TcpListener, TcpStream};
use corral_scopes::{run_blocking, with_timeout};
use futures::io::{AsyncReadExt, AsyncWriteExt};

/// Every test's bound: far above what it needs on a loaded two-core machine.
const WATCHDOG: Duration = Duration::from_secs(20);
const CLIENTS: usize = 64;
const ROUND_TRIPS: usize = 20;
const MESSAGE: usize = 64;

#[test]
fn echo_with_many_clients_on_default() {
    let served = run_blocking(|_| {
        with_timeout(WATCHDOG, |scope| async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let server = scope.launch_with(
                Dispatchers::default(),
                CoroutineStart::Default,
                move |scope| async move {
                    loop {
                        let (mut stream, _) = listener.accept().await.unwrap();
                        scope.launch(move |_| async move {
                            let mut buf = [0u8; MESSAGE];
                            loop {
                                match stream.read(&mut buf).await.unwrap() {
                                    0 => break,
                                    n => stream.write_all(&buf[..n]).await.unwrap(),
                                }
                            }
                        });
                    }
                },
            );
            let clients: Vec<_> = (0..CLIENTS)
                .map(|client| {
                    scope.async_with(
                        Dispatchers::default(),
                        CoroutineStart::Default,
                        move |_| async move {
                            let mut stream = TcpStream::connect(address).await.unwrap();
                            stream.set_nodelay(true).unwrap();
                            let mut buf = [0u8; MESSAGE];
                            for round in 0..ROUND_TRIPS {
                                let message = [(client + round) as u8; MESSAGE];
                                stream.write_all(&message).await.unwrap();
                                stream.read_exact(&mut buf).await.unwrap();
                                assert_eq!(buf, message);
                            }
                            ROUND_TRIPS
                        },
                    )
                })
                .collect();
            let mut total = 0;
            for client in clients {
                total += client.await.unwrap();
            }
            server.cancel();
            total
        })
    });
    assert_eq!(served.unwrap().unwrap(), CLIENTS * ROUND_TRIPS);
}

#[test]
fn owned_halves_move_to_two_coroutines() {
    let out = run_blocking(|_| async move {
        with_timeout(WATCHDOG, |scope| async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            scope.launch(move |_| async move {
                let (stream, _) = listener.accept().await.unwrap();
                let (mut read, mut write) = stream.into_split();
                futures::io::copy(&mut read, &mut write).await.unwrap();
                write.close().await.unwrap();
            });
            let mut stream = TcpStream::connect(address).await.unwrap();
            assert_eq!(stream.peer_addr().unwrap(), address);
            // Named in full: `futures`' `AsyncReadExt::split` (by value) would win otherwise.
            let (mut read, mut write) = TcpStream::split(&mut stream);
            write.write_all(b"hello halves").await.unwrap();
            write.close().await.unwrap();
            let mut echoed = Vec::new();
            read.read_to_end(&mut echoed).await.unwrap();
            echoed
        })
        .await
    });
    assert_eq!(out.unwrap().unwrap(), b"hello halves");
}

#[test]
fn connecting_to_a_closed_port_fails() {
    let out = run_blocking(|_| async {
        let address = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        }; // dropped: nothing listens there any more
        TcpStream::connect(address).await
    });
    let error = out.unwrap().unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn bind_resolves_host_names_and_rejects_garbage() {
    let out = run_blocking(|_| async {
        let listener = TcpListener::bind("localhost:0").await.unwrap();
        assert!(listener.local_addr().unwrap().ip().is_loopback());
        TcpListener::bind("not an address").await.map(|_| ())
    });
    assert!(out.unwrap().is_err());
}
