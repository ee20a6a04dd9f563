//! UDP and Unix-domain sockets.

use std::time::Duration;

use corral_core::CoroutineStart;
use corral_dispatchers::Dispatchers;
use corral_io::UdpSocket;
use corral_scopes::{run_blocking, with_timeout};

const WATCHDOG: Duration = Duration::from_secs(20);

#[test]
fn udp_send_to_recv_from_and_connected_send_recv() {
    let out = run_blocking(|scope| {
        with_timeout(WATCHDOG, |_| async move {
            let server = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let address = server.local_addr().unwrap();
            let echo = {
                let server = server.clone();
                scope.launch_with(
                    Dispatchers::io(),
                    CoroutineStart::Default,
                    move |_| async move {
                        let mut buf = [0u8; 64];
                        loop {
                            let (n, from) = server.recv_from(&mut buf).await.unwrap();
                            server.send_to(&buf[..n], from).await.unwrap();
                        }
                    },
                )
            };
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut buf = [0u8; 64];
            for round in 0..50u8 {
                client.send_to(&[round; 3], address).await.unwrap();
                let (n, from) = client.recv_from(&mut buf).await.unwrap();
                assert_eq!((&buf[..n], from), (&[round; 3][..], address));
            }
            client.connect(address).await.unwrap();
            assert_eq!(client.peer_addr().unwrap(), address);
            client.send(b"connected").await.unwrap();
            let n = client.recv(&mut buf).await.unwrap();
            echo.cancel();
            buf[..n].to_vec()
        })
    });
    assert_eq!(out.unwrap().unwrap(), b"connected");
}

#[cfg(unix)]
mod unix {
    use super::*;
    use corral_io::{UnixDatagram, UnixListener, UnixStream};
    use futures::io::{AsyncReadExt, AsyncWriteExt};

    fn socket_path(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("corral-io-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn unix_stream_echo() {
        let path = socket_path("stream");
        let listen_path = path.clone();
        let out = run_blocking(|scope| {
            with_timeout(WATCHDOG, move |_| async move {
                let listener = UnixListener::bind(&listen_path).unwrap();
                scope.launch_with(
                    Dispatchers::default(),
                    CoroutineStart::Default,
                    move |_| async move {
                        let (stream, _) = listener.accept().await.unwrap();
                        let (mut read, mut write) = stream.split();
                        futures::io::copy(&mut read, &mut write).await.unwrap();
                    },
                );
                let mut stream = UnixStream::connect(&listen_path).await.unwrap();
                stream.write_all(b"over a unix socket").await.unwrap();
                stream.shutdown(std::net::Shutdown::Write).unwrap();
                let mut echoed = Vec::new();
                stream.read_to_end(&mut echoed).await.unwrap();
                echoed
            })
        });
        let _ = std::fs::remove_file(&path);
        assert_eq!(out.unwrap().unwrap(), b"over a unix socket");
    }

    #[test]
    fn unix_datagrams_and_pairs() {
        let path = socket_path("datagram");
        let bound = path.clone();
        let out = run_blocking(|_| {
            with_timeout(WATCHDOG, move |_| async move {
                let server = UnixDatagram::bind(&bound).unwrap();
                let client = UnixDatagram::unbound().unwrap();
                client.send_to(b"to a path", &bound).await.unwrap();
                let mut buf = [0u8; 32];
                let (n, _) = server.recv_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], b"to a path");
                let (a, b) = UnixDatagram::pair().unwrap();
                a.send(b"paired").await.unwrap();
                let n = b.recv(&mut buf).await.unwrap();
                let (mut x, mut y) = UnixStream::pair().unwrap();
                x.write_all(b"!").await.unwrap();
                let mut one = [0u8; 1];
                y.read_exact(&mut one).await.unwrap();
                [&buf[..n], &one[..]].concat()
            })
        });
        let _ = std::fs::remove_file(&path);
        assert_eq!(out.unwrap().unwrap(), b"paired!");
    }
}
