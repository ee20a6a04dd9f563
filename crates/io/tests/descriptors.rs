//! The count of open file descriptors is unchanged after 10 000 cancelled accepts and
//! connects, and after cancelled readers and writers. One test in this binary, so nothing else
//! opens files while it counts.

use std::time::Duration;

use corral_core::CoroutineStart;
use corral_dispatchers::{delay, Dispatchers};
use corral_io::{TcpListener, TcpStream};
use corral_scopes::{run_blocking, with_timeout};
use futures::io::{AsyncReadExt, AsyncWriteExt};

const WATCHDOG: Duration = Duration::from_secs(60);
const CANCELLED: usize = 10_000;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
#[cfg(target_os = "linux")]
fn descriptors_are_unchanged_after_cancelled_operations() {
    let out = run_blocking(|scope| async move {
        with_timeout(WATCHDOG, move |_| async move {
            // Warm-up: the reactor (epoll, its waker) and the pool's threads exist from here.
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            drop(TcpStream::connect(address).await.unwrap());
            drop(listener.accept().await.unwrap());
            let before = open_descriptors();

            // Cancelled accepts: coroutines waiting in accept, cancelled.
            for _ in 0..CANCELLED / 100 {
                let listener = std::sync::Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
                let jobs: Vec<_> = (0..100)
                    .map(|_| {
                        let listener = listener.clone();
                        scope.launch_with(
                            Dispatchers::default(),
                            CoroutineStart::Default,
                            move |_| async move {
                                let _ = listener.accept().await;
                                unreachable!("nobody connects");
                            },
                        )
                    })
                    .collect();
                for job in jobs {
                    job.cancel();
                    job.join().await;
                }
            }
            assert_eq!(
                open_descriptors(),
                before,
                "after {CANCELLED} cancelled accepts"
            );

            // Cancelled connects: each polled once (the socket is half-open) and dropped.
            // (On loopback the reactor may see one complete before its first poll: then the
            // stream is dropped instead, which must close it as well.)
            let mut pending = 0;
            for _ in 0..CANCELLED {
                let mut connect = std::pin::pin!(TcpStream::connect(address));
                if futures::poll!(connect.as_mut()).is_pending() {
                    pending += 1;
                }
            }
            assert!(pending > 0, "no connect waited");
            assert_eq!(
                open_descriptors(),
                before,
                "after {CANCELLED} cancelled connects"
            );

            // Cancelled readers and writers, on a listener whose accept queue is empty (the one
            // above holds the connections that completed before they were cancelled).
            drop(listener);
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            for _ in 0..100 {
                // Two connections: a reader waits on one (nobody writes to it), a writer fills
                // the other (nobody reads it), so both operations wait when cancelled.
                let read_client = TcpStream::connect(address).await.unwrap();
                let (mut read_server, _) = listener.accept().await.unwrap();
                let mut write_client = TcpStream::connect(address).await.unwrap();
                let (write_server, _) = listener.accept().await.unwrap();
                let reader = scope.launch_with(
                    Dispatchers::io(),
                    CoroutineStart::Default,
                    move |_| async move {
                        let mut buf = [0u8; 8];
                        let _ = read_server.read(&mut buf).await;
                        unreachable!("nobody writes");
                    },
                );
                let writer = scope.launch_with(
                    Dispatchers::default(),
                    CoroutineStart::Default,
                    move |_| async move {
                        let block = vec![0u8; 1 << 16];
                        loop {
                            write_client.write_all(&block).await.unwrap();
                        }
                    },
                );
                delay(Duration::from_millis(1)).await;
                writer.cancel();
                reader.cancel();
                writer.join().await;
                reader.join().await;
                drop((read_client, write_server));
            }
            drop(listener);
            assert_eq!(
                open_descriptors(),
                before - 1,
                "after cancelled readers and writers"
            );
        })
        .await
    });
    out.unwrap().unwrap();
}
