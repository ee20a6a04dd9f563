//! Where readiness is delivered: on an idle worker of the pool, which then runs the woken
//! coroutine itself, and still (by the fallback thread) while every worker is busy.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use corral_core::CoroutineStart;
use corral_dispatchers::{delay, Dispatchers};
use corral_io::{TcpListener, TcpStream};
use corral_scopes::{run_blocking, with_timeout};
use futures::io::{AsyncReadExt, AsyncWriteExt};

const WATCHDOG: Duration = Duration::from_secs(20);
/// Time for the pool's workers to run out of work and park (one of them in the reactor).
const SETTLE: Duration = Duration::from_millis(100);

/// The tests share the pool: they run one at a time, so the busy workers of one are not
/// mistaken for a hop in the other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Wraps a future's waker so the name of the thread that wakes it is recorded.
struct RecordWaker<F> {
    inner: F,
    woken_on: Arc<Mutex<Vec<String>>>,
}

struct Recording {
    inner: Waker,
    woken_on: Arc<Mutex<Vec<String>>>,
}

impl Wake for Recording {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        self.woken_on.lock().unwrap().push(name);
        self.inner.wake_by_ref();
    }
}

impl<F: Future + Unpin> Future for RecordWaker<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let waker = Waker::from(Arc::new(Recording {
            inner: cx.waker().clone(),
            woken_on: self.woken_on.clone(),
        }));
        Pin::new(&mut self.inner).poll(&mut Context::from_waker(&waker))
    }
}

async fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

#[test]
fn readiness_wakes_the_coroutine_from_an_idle_worker() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let woken_on = Arc::new(Mutex::new(Vec::new()));
    let recorded = woken_on.clone();
    let out = run_blocking(|_| {
        with_timeout(WATCHDOG, |scope| async move {
            let (mut client, mut server) = connected_pair().await;
            let reader = scope.async_with(
                Dispatchers::default(),
                CoroutineStart::Default,
                move |_| async move {
                    let mut byte = [0u8; 1];
                    let read = RecordWaker {
                        inner: Box::pin(server.read(&mut byte)),
                        woken_on: recorded,
                    };
                    read.await.unwrap();
                    let resumed_on = std::thread::current().name().map(str::to_owned);
                    (byte[0], resumed_on)
                },
            );
            delay(SETTLE).await;
            client.write_all(&[7]).await.unwrap();
            reader.await.unwrap()
        })
    });
    let (byte, resumed_on) = out.unwrap().unwrap();
    assert_eq!(byte, 7);
    let woken_on = woken_on.lock().unwrap();
    assert_eq!(
        woken_on.last().map(String::as_str),
        resumed_on.as_deref(),
        "the worker that delivered the readiness did not run the coroutine itself"
    );
    assert!(
        woken_on
            .iter()
            .all(|name| name.starts_with("DefaultDispatcher-worker")),
        "readiness was delivered by {woken_on:?}, not by the idle worker driving the reactor"
    );
    assert!(!woken_on.is_empty());
}

#[test]
fn readiness_while_every_worker_is_busy_is_delivered_once_one_frees() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const BUSY_FOR: Duration = Duration::from_millis(300);
    let out = run_blocking(|_| {
        with_timeout(WATCHDOG, |scope| async move {
            let (mut client, mut server) = connected_pair().await;
            let reader = scope.async_with(
                Dispatchers::default(),
                CoroutineStart::Default,
                move |_| async move {
                    let mut byte = [0u8; 1];
                    server.read_exact(&mut byte).await.unwrap();
                    byte[0]
                },
            );
            delay(SETTLE).await;
            let started = Arc::new(AtomicBool::new(false));
            let busy_until = Instant::now() + BUSY_FOR;
            for _ in 0..corral_scheduler::default_core_pool_size() {
                let started = started.clone();
                scope.launch_with(
                    Dispatchers::default(),
                    CoroutineStart::Default,
                    move |_| async move {
                        started.store(true, Ordering::SeqCst);
                        while Instant::now() < busy_until {
                            std::hint::spin_loop();
                        }
                    },
                );
            }
            while !started.load(Ordering::SeqCst) {
                delay(Duration::from_millis(1)).await;
            }
            client.write_all(&[9]).await.unwrap();
            reader.await.unwrap()
        })
    });
    assert_eq!(
        out.unwrap().unwrap(),
        9,
        "the read completed once a busy worker freed"
    );
}
