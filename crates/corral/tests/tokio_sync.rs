//! `tokio::sync` primitives used from coroutines, with waiters cancelled while they wait, on
//! every dispatcher (finding 1 of the soundness issue).
//!
//! tokio's Mutex, Semaphore, bounded mpsc and Notify keep each waiting future in an intrusive
//! list, by address, until the future's destructor unlinks it. A coroutine cancelled while it
//! waits must therefore drop that future where it was polled (Pin's drop guarantee); a future
//! moved before its drop leaves a dangling node in the list, which corrupts the heap or loses a
//! wake-up. Each test queues many waiters, cancels half of them, and then checks that every
//! other waiter still gets through and that the primitive is usable afterwards.
//!
//! The waiting futures are pinned inside the coroutine's own future (never boxed), so a move
//! of the coroutine's future moves them too.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use corral::prelude::*;

mod common;
use common::{dispatchers, eventually, join_all, SOON};

/// Waiters per dispatcher; every other one is cancelled.
const WAITERS: usize = 16;

fn cancelled(index: usize) -> bool {
    index % 2 == 0
}

const SURVIVORS: usize = WAITERS / 2;

/// Awaits `future` pinned in place (in the caller's own future) and counts in `queued` once it
/// returned `Pending`: from then on it sits in the primitive's wait list.
async fn queued<F: Future>(future: F, queued: &AtomicUsize) -> F::Output {
    Queued {
        inner: pin!(future),
        queued,
        counted: false,
    }
    .await
}

struct Queued<'a, F> {
    inner: Pin<&'a mut F>,
    queued: &'a AtomicUsize,
    counted: bool,
}

impl<F: Future> Future for Queued<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let polled = self.inner.as_mut().poll(cx);
        if polled.is_pending() && !self.counted {
            self.counted = true;
            self.queued.fetch_add(1, Ordering::SeqCst);
        }
        polled
    }
}

/// Runs `scenario` once per dispatcher, inside one `run_blocking`.
fn on_every_dispatcher<F, Fut>(scenario: F)
where
    F: Fn(String, Dispatcher, CoroutineScope) -> Fut,
    Fut: Future<Output = ()>,
{
    let pool = new_fixed_thread_pool_context(2, "tokio-sync-pool");
    let pool_ref = &pool;
    run_blocking(|scope| async move {
        for (name, dispatcher) in dispatchers(&scope, pool_ref) {
            scenario(name, dispatcher, scope.clone()).await;
        }
    })
    .unwrap();
    pool.close();
}

/// Launches `WAITERS` coroutines running `waiter(index, queued)` on `dispatcher`, waits until
/// all of them wait in the primitive, cancels every other one and waits until those are gone
/// (their handles dropped, so their tasks are freed). Returns the others.
async fn queue_and_cancel_half<W, Fut>(
    name: &str,
    dispatcher: &Dispatcher,
    scope: &CoroutineScope,
    waiter: W,
) -> Vec<Job>
where
    W: Fn(usize, Arc<AtomicUsize>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let in_list = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<Job> = (0..WAITERS)
        .map(|index| {
            let waits = waiter(index, in_list.clone());
            scope.launch_with(dispatcher.clone(), CoroutineStart::Default, |_| waits)
        })
        .collect();
    let all_waiting = eventually(|| in_list.load(Ordering::SeqCst) == WAITERS).await;
    assert!(all_waiting, "{name}: waiters never queued");
    let (doomed, survivors): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .enumerate()
        .partition(|(index, _)| cancelled(*index));
    let doomed: Vec<Job> = doomed.into_iter().map(|(_, job)| job).collect();
    for job in &doomed {
        job.cancel();
    }
    join_all(name, doomed).await;
    survivors.into_iter().map(|(_, job)| job).collect()
}

#[test]
fn finding_01_tokio_mutex_waiters_cancelled_on_every_dispatcher() {
    on_every_dispatcher(|name, dispatcher, scope| async move {
        let mutex = Arc::new(tokio::sync::Mutex::new(0usize));
        let held = mutex.clone().lock_owned().await;
        let survivors = queue_and_cancel_half(&name, &dispatcher, &scope, |_, in_list| {
            let mutex = mutex.clone();
            async move {
                let mut guard = queued(mutex.lock(), &in_list).await;
                *guard += 1;
            }
        })
        .await;
        drop(held);
        join_all(&name, survivors).await;
        assert_eq!(*mutex.try_lock().expect(&name), SURVIVORS, "{name}");
        let mutex = mutex.clone();
        let relocked = with_timeout(SOON, |_| async move { *mutex.lock().await }).await;
        assert_eq!(relocked.ok(), Some(SURVIVORS), "{name}: mutex unusable");
    });
}

#[test]
fn finding_01_tokio_semaphore_waiters_cancelled_on_every_dispatcher() {
    const PERMITS: u32 = 2;
    on_every_dispatcher(|name, dispatcher, scope| async move {
        let semaphore = Arc::new(tokio::sync::Semaphore::new(PERMITS as usize));
        let through = Arc::new(AtomicUsize::new(0));
        let held = semaphore.clone().acquire_many_owned(PERMITS).await.unwrap();
        let survivors = queue_and_cancel_half(&name, &dispatcher, &scope, |_, in_list| {
            let (semaphore, through) = (semaphore.clone(), through.clone());
            async move {
                let _permit = queued(semaphore.acquire(), &in_list).await.unwrap();
                through.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await;
        drop(held);
        join_all(&name, survivors).await;
        assert_eq!(through.load(Ordering::SeqCst), SURVIVORS, "{name}");
        assert_eq!(
            semaphore.available_permits(),
            PERMITS as usize,
            "{name}: permits lost"
        );
        let all = semaphore.clone();
        let reacquired = with_timeout(
            SOON,
            |_| async move { all.acquire_many(PERMITS).await.is_ok() },
        )
        .await;
        assert_eq!(reacquired.ok(), Some(true), "{name}: semaphore unusable");
    });
}

#[test]
fn finding_01_tokio_bounded_mpsc_full_senders_cancelled_on_every_dispatcher() {
    const FIRST: usize = usize::MAX;
    on_every_dispatcher(|name, dispatcher, scope| async move {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<usize>(1);
        sender.try_send(FIRST).expect("empty channel");
        let survivors = queue_and_cancel_half(&name, &dispatcher, &scope, |index, in_list| {
            let sender = sender.clone();
            async move {
                queued(sender.send(index), &in_list).await.unwrap();
            }
        })
        .await;
        let received = with_timeout(SOON, |_| async move {
            let mut received = Vec::new();
            for _ in 0..=SURVIVORS {
                received.push(receiver.recv().await.expect("senders alive"));
            }
            (received, receiver)
        })
        .await;
        let (mut received, mut receiver) = received.unwrap_or_else(|e| panic!("{name}: {e}"));
        join_all(&name, survivors).await;
        received.sort_unstable();
        let mut expected: Vec<usize> = (0..WAITERS).filter(|i| !cancelled(*i)).collect();
        expected.push(FIRST);
        assert_eq!(received, expected, "{name}");
        assert!(
            receiver.try_recv().is_err(),
            "{name}: a cancelled send arrived"
        );
        assert_eq!(sender.capacity(), 1, "{name}: capacity lost");
        sender.try_send(1).expect("channel usable");
        assert_eq!(receiver.try_recv().ok(), Some(1), "{name}");
    });
}

#[test]
fn finding_01_tokio_notify_waiters_cancelled_on_every_dispatcher() {
    on_every_dispatcher(|name, dispatcher, scope| async move {
        let notify = Arc::new(tokio::sync::Notify::new());
        let woken = Arc::new(AtomicUsize::new(0));
        let survivors = queue_and_cancel_half(&name, &dispatcher, &scope, |_, in_list| {
            let (notify, woken) = (notify.clone(), woken.clone());
            async move {
                queued(notify.notified(), &in_list).await;
                woken.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await;
        // One notification per surviving waiter: none may go to a cancelled one.
        for _ in 0..SURVIVORS {
            notify.notify_one();
        }
        join_all(&name, survivors).await;
        assert_eq!(woken.load(Ordering::SeqCst), SURVIVORS, "{name}");
        let (fresh, seen) = (notify.clone(), woken.clone());
        let late = scope.launch_with(
            dispatcher.clone(),
            CoroutineStart::Default,
            |_| async move {
                fresh.notified().await;
                seen.fetch_add(1, Ordering::SeqCst);
            },
        );
        let waiting = eventually(|| late.is_active()).await;
        assert!(waiting, "{name}");
        notify.notify_one();
        join_all(&name, vec![late]).await;
        assert_eq!(woken.load(Ordering::SeqCst), SURVIVORS + 1, "{name}");
    });
}

#[test]
fn finding_01_tokio_sleeps_cancelled_on_every_dispatcher() {
    const SHORT: Duration = Duration::from_millis(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let handle = runtime.handle();
    on_every_dispatcher(|name, dispatcher, scope| async move {
        let survivors = queue_and_cancel_half(&name, &dispatcher, &scope, |index, in_list| {
            let handle = handle.clone();
            async move {
                // A tokio timer is registered with the runtime it is created in. Created here,
                // so even a short one is still pending at its first poll.
                let sleep = {
                    let _entered = handle.enter();
                    tokio::time::sleep(if cancelled(index) { SOON } else { SHORT })
                };
                queued(sleep, &in_list).await;
            }
        })
        .await;
        join_all(&name, survivors).await;
        let sleep = {
            let _entered = handle.enter();
            tokio::time::sleep(SHORT)
        };
        let slept = with_timeout(SOON, |_| sleep).await;
        assert!(slept.is_ok(), "{name}: tokio timer unusable: {slept:?}");
    });
}
