//! Cancellation: dropped futures leave no waker behind and dropped sockets close. Descriptor
//! counts live in `descriptors.rs`, alone in their binary, so no other test opens files
//! meanwhile.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use corral_core::CoroutineStart;
use corral_dispatchers::{delay, Dispatchers};
use corral_io::{TcpListener, TcpStream, UdpSocket};
use corral_scopes::{run_blocking, with_timeout};
use futures::io::AsyncReadExt;

const WATCHDOG: Duration = Duration::from_secs(20);

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls `future` once with a waker of its own, drops it, and returns how many clones of that
/// waker are still alive somewhere (0: nothing stayed registered).
fn wakers_left_after_cancel<F: Future>(future: F) -> usize {
    let waker_arc = Arc::new(Noop);
    let waker = Waker::from(waker_arc.clone());
    {
        let mut future = pin!(future);
        let polled = future.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(polled.is_pending(), "the operation had to wait");
    }
    drop(waker);
    Arc::strong_count(&waker_arc) - 1
}

#[test]
fn dropped_operation_futures_leave_no_waker() {
    let out = run_blocking(|_| {
        with_timeout(WATCHDOG, |_| async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            assert_eq!(wakers_left_after_cancel(listener.accept()), 0, "accept");
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut buf = [0u8; 8];
            assert_eq!(
                wakers_left_after_cancel(udp.recv_from(&mut buf)),
                0,
                "recv_from"
            );
            udp.connect(listener.local_addr().unwrap()).await.unwrap();
            assert_eq!(wakers_left_after_cancel(udp.recv(&mut buf)), 0, "recv");
            let address = listener.local_addr().unwrap();
            assert_eq!(
                wakers_left_after_cancel(TcpStream::connect(address)),
                0,
                "connect"
            );
        })
    });
    out.unwrap().unwrap();
}

#[test]
fn cancelling_the_server_job_ends_accepts_and_readers() {
    let out = run_blocking(|scope| async move {
        with_timeout(WATCHDOG, |_| async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let server = scope.launch_with(
                Dispatchers::default(),
                CoroutineStart::Default,
                move |scope| async move {
                    loop {
                        let (mut stream, _) = listener.accept().await.unwrap();
                        scope.launch(move |_| async move {
                            let mut buf = [0u8; 16];
                            while stream.read(&mut buf).await.unwrap() > 0 {}
                        });
                    }
                },
            );
            let mut clients = Vec::new();
            for _ in 0..8 {
                clients.push(TcpStream::connect(address).await.unwrap());
            }
            delay(Duration::from_millis(50)).await;
            server.cancel();
            server.join().await;
            // Every server-side socket closed: each client reads end-of-stream.
            for client in &mut clients {
                let mut buf = [0u8; 1];
                assert_eq!(client.read(&mut buf).await.unwrap(), 0);
            }
            // And the listener is gone.
            assert!(TcpStream::connect(address).await.is_err());
        })
        .await
    });
    out.unwrap().unwrap();
}
