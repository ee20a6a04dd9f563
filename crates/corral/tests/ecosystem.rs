//! The ecosystem's channels and combinators inside coroutines, with waiters cancelled while
//! they wait: `async-channel` (Kotlin's `Channel`), `futures`' `select`, streams (`Flow`),
//! `futures::lock::Mutex` and `futures::channel::mpsc`. (`tokio::sync` is in `tokio_sync.rs`.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral::prelude::*;
use futures::{FutureExt, SinkExt, StreamExt};

mod common;
use common::{dispatchers, eventually, join_all, SOON};

const WAITERS: usize = 32;

#[test]
fn async_channel_senders_and_receivers_cancelled_while_waiting() {
    let out = run_blocking(|scope| async move {
        // Full channel: every sender waits.
        let (sender, receiver) = async_channel::bounded::<usize>(1);
        sender.send(usize::MAX).await.unwrap();
        let waiting = Arc::new(AtomicUsize::new(0));
        let senders: Vec<Job> = (0..WAITERS)
            .map(|index| {
                let (sender, waiting) = (sender.clone(), waiting.clone());
                scope.launch_with(
                    Dispatchers::default(),
                    CoroutineStart::Default,
                    move |_| async move {
                        waiting.fetch_add(1, Ordering::SeqCst);
                        sender.send(index).await.unwrap();
                    },
                )
            })
            .collect();
        assert!(eventually(|| waiting.load(Ordering::SeqCst) == WAITERS).await);
        let kept = cancel_every_other("senders", senders).await;
        let mut received = Vec::new();
        for _ in 0..=WAITERS / 2 {
            received.push(receiver.recv().await.unwrap());
        }
        join_all("senders", kept).await;
        assert!(receiver.try_recv().is_err(), "a cancelled send arrived");
        received.sort_unstable();
        let mut expected: Vec<usize> = (1..WAITERS).step_by(2).collect();
        expected.push(usize::MAX);
        assert_eq!(received, expected);

        // Empty channel: every receiver waits; cancel half, the rest each get one value.
        let got = Arc::new(AtomicUsize::new(0));
        let receivers: Vec<Job> = (0..WAITERS)
            .map(|_| {
                let (receiver, got) = (receiver.clone(), got.clone());
                scope.launch_with(
                    Dispatchers::io(),
                    CoroutineStart::Default,
                    move |_| async move {
                        receiver.recv().await.unwrap();
                        got.fetch_add(1, Ordering::SeqCst);
                    },
                )
            })
            .collect();
        assert!(eventually(|| receiver.receiver_count() == WAITERS + 1).await);
        delay(Duration::from_millis(10)).await; // let them all reach `recv`
        let kept = cancel_every_other("receivers", receivers).await;
        for value in 0..WAITERS / 2 {
            sender.send(value).await.unwrap();
        }
        join_all("receivers", kept).await;
        got.load(Ordering::SeqCst)
    });
    assert_eq!(out.unwrap(), WAITERS / 2);
}

#[test]
fn futures_select_cancels_the_loser() {
    let out = run_blocking(|_| async {
        let (sender, receiver) = async_channel::bounded::<u32>(1);
        // The timeout wins: the receive is dropped while it waits.
        let first = futures::select! {
            _ = receiver.recv().fuse() => "received",
            _ = delay(Duration::from_millis(10)).fuse() => "timed out",
        };
        sender.send(7).await.unwrap();
        // The value sent after the dropped receive is still there for the next one.
        let second = futures::select! {
            value = receiver.recv().fuse() => value.unwrap(),
            _ = delay(SOON).fuse() => 0,
        };
        (first, second)
    });
    assert_eq!(out.unwrap(), ("timed out", 7));
}

#[test]
fn streams_as_flows_stop_when_their_coroutine_is_cancelled() {
    let out = run_blocking(|scope| async move {
        let produced = Arc::new(AtomicUsize::new(0));
        let counter = produced.clone();
        let (sink, mut values) = futures::channel::mpsc::channel::<usize>(0);
        let collector = scope.launch_with(
            Dispatchers::default(),
            CoroutineStart::Default,
            move |_| async move {
                // A cold flow: numbers, mapped asynchronously, four at a time.
                futures::stream::iter(0..)
                    .map(|n| async move {
                        delay(Duration::from_millis(1)).await;
                        n * 2
                    })
                    .buffered(4)
                    .for_each(|n| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let mut sink = sink.clone();
                        async move {
                            let _ = sink.send(n).await;
                        }
                    })
                    .await;
            },
        );
        let firsts: Vec<usize> = values.by_ref().take(5).collect().await;
        collector.cancel();
        collector.join().await;
        let after_cancel = produced.load(Ordering::SeqCst);
        delay(Duration::from_millis(20)).await;
        (firsts, after_cancel, produced.load(Ordering::SeqCst))
    });
    let (firsts, after_cancel, later) = out.unwrap();
    assert_eq!(firsts, [0, 2, 4, 6, 8]);
    assert_eq!(
        after_cancel, later,
        "the flow went on after its coroutine was cancelled"
    );
}

#[test]
fn futures_mutex_waiters_cancelled_while_waiting_on_every_confined_dispatcher() {
    let pool = new_fixed_thread_pool_context(2, "ecosystem-pool");
    let pool_ref = &pool;
    let out = run_blocking(|scope| async move {
        // Not Unconfined: `futures::lock::Mutex` wakes the next waiter while it holds its
        // waiter list's lock, and an unconfined waiter woken from outside any coroutine (the
        // root below drops the guard) resumes inline and locks that list again: a deadlock.
        let every: Vec<_> = dispatchers(&scope, pool_ref)
            .into_iter()
            .filter(|(name, _)| name != "Unconfined")
            .collect();
        let mutex = Arc::new(futures::lock::Mutex::new(0usize));
        let held = mutex.lock().await;
        let waiting = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<Job> = (0..WAITERS)
            .map(|index| {
                let (mutex, waiting) = (mutex.clone(), waiting.clone());
                let (_, dispatcher) = &every[index % every.len()];
                scope.launch_with(
                    dispatcher.clone(),
                    CoroutineStart::Default,
                    move |_| async move {
                        waiting.fetch_add(1, Ordering::SeqCst);
                        *mutex.lock().await += 1;
                    },
                )
            })
            .collect();
        assert!(eventually(|| waiting.load(Ordering::SeqCst) == WAITERS).await);
        delay(Duration::from_millis(10)).await;
        let kept = cancel_every_other("cancelled", jobs).await;
        drop(held);
        join_all("kept", kept).await;
        let total = *mutex.lock().await;
        total
    });
    pool.close();
    assert_eq!(out.unwrap(), WAITERS / 2);
}

/// Cancels the waiters at even indices and waits until they have ended (`what` names them in
/// a timeout); returns the others, still waiting.
async fn cancel_every_other(what: &str, waiters: Vec<Job>) -> Vec<Job> {
    let (cancelled, kept): (Vec<_>, Vec<_>) = waiters
        .into_iter()
        .enumerate()
        .partition(|(index, _)| index % 2 == 0);
    let cancelled: Vec<Job> = cancelled.into_iter().map(|(_, job)| job).collect();
    for job in &cancelled {
        job.cancel();
    }
    join_all(what, cancelled).await;
    kept.into_iter().map(|(_, job)| job).collect()
}
