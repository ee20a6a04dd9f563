//! Scope futures and shield sections that leave the place they were first polled in:
//! a `with_cleanup` moved between coroutines on worker threads (finding 4), and scope function
//! futures dropped before they returned, as a select-style race drops its loser (finding 7).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use corral::prelude::*;

/// Every wait of these tests is bounded by this, so a regression fails instead of hanging.
const WATCHDOG: Duration = Duration::from_secs(10);
/// How long the cancelled work would run if nothing cancelled it.
const LONG_WORK: Duration = Duration::from_secs(3);
/// The delay that wins the race against the scope future.
const RACE_DELAY: Duration = Duration::from_millis(30);
/// How long the cleanup of the cancelled work takes: the enclosing job must wait for it.
const CLEANUP: Duration = Duration::from_millis(30);

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Waits on a fresh `run_blocking` for `job`, failing the test after [`WATCHDOG`].
fn join_bounded(job: &Job) {
    let job = job.clone();
    let joined = run_blocking(move |_| async move {
        with_timeout_or_none(WATCHDOG, move |_| async move { job.join().await }).await
    });
    assert!(
        matches!(joined, Ok(Ok(Some(())))),
        "not complete after {WATCHDOG:?}: {joined:?}"
    );
}

#[test]
fn finding_04_with_cleanup_moved_between_worker_coroutines() {
    let cleanups = Arc::new(AtomicUsize::new(0));
    let slot: Arc<Mutex<Option<Boxed<()>>>> = Arc::default();
    let (parked, ran) = (slot.clone(), cleanups.clone());
    let a = GlobalScope::launch(move |_| async move {
        let mut section: Boxed<()> = Box::pin(with_cleanup(std::future::pending(), async move {
            delay(Duration::from_millis(5)).await;
            ran.fetch_add(1, Ordering::SeqCst);
        }));
        poll_fn(|cx| {
            assert!(section.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        *parked.lock().unwrap() = Some(section);
        delay(Duration::MAX).await;
    });
    let parked_by = Instant::now() + WATCHDOG;
    while slot.lock().unwrap().is_none() {
        assert!(Instant::now() < parked_by, "A never parked the section");
        std::thread::sleep(Duration::from_millis(1));
    }
    let b = GlobalScope::launch(move |_| async move {
        let section = slot.lock().unwrap().take().expect("parked by A");
        section.await;
    });
    // B polls the section (taking its shield over), then outlives A, which is freed.
    std::thread::sleep(Duration::from_millis(20));
    a.cancel();
    join_bounded(&a);
    assert!(a.is_cancelled());
    drop(a);
    assert_eq!(
        cleanups.load(Ordering::SeqCst),
        0,
        "A's cancellation is not B's"
    );
    assert!(b.is_active());
    b.cancel();
    join_bounded(&b);
    assert_eq!(
        cleanups.load(Ordering::SeqCst),
        1,
        "B's cancellation runs the cleanup"
    );
}

/// Polls both; completes with the first that completes, dropping the other (what `select!`
/// does to its losing branch).
struct Race<A, B>(Option<Pin<Box<A>>>, Option<Pin<Box<B>>>);

impl<A: Future, B: Future> Future for Race<A, B> {
    type Output = &'static str;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<&'static str> {
        let a_ready = self
            .0
            .as_mut()
            .is_some_and(|a| a.as_mut().poll(cx).is_ready());
        let winner = if a_ready {
            "scope"
        } else if self
            .1
            .as_mut()
            .is_some_and(|b| b.as_mut().poll(cx).is_ready())
        {
            "delay"
        } else {
            return Poll::Pending;
        };
        self.0 = None;
        self.1 = None;
        Poll::Ready(winner)
    }
}

/// Counts long pieces of work: how many started, how many ran to their end (none may: they
/// are cancelled), how many finished their cleanup.
#[derive(Clone, Default)]
struct Probe {
    started: Arc<AtomicUsize>,
    ran_to_end: Arc<AtomicUsize>,
    cleaned: Arc<AtomicUsize>,
}

impl Probe {
    /// [`LONG_WORK`] long, with a suspending cleanup that the enclosing job must wait for.
    fn work(&self) -> impl Future<Output = ()> + Send + 'static {
        let probe = self.clone();
        async move {
            probe.started.fetch_add(1, Ordering::SeqCst);
            let (ran_to_end, cleaned) = (probe.ran_to_end.clone(), probe.cleaned.clone());
            with_cleanup(
                async move {
                    delay(LONG_WORK).await;
                    ran_to_end.fetch_add(1, Ordering::SeqCst);
                },
                async move {
                    delay(CLEANUP).await;
                    cleaned.fetch_add(1, Ordering::SeqCst);
                },
            )
            .await;
        }
    }

    /// [`LONG_WORK`] long, for a block running in place: it is dropped with the scope future,
    /// synchronously, so it has no suspending cleanup (none could run) and is not counted in
    /// `started`.
    fn in_place_work(&self) -> impl Future<Output = ()> + Send + 'static {
        let ran_to_end = self.ran_to_end.clone();
        async move {
            delay(LONG_WORK).await;
            ran_to_end.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A child doing [`Probe::work`], launched from `scope`.
    fn launch_in(&self, scope: &CoroutineScope) {
        let work = self.work();
        scope.launch(move |_| work);
    }
}

/// Where the scope future is raced: the root of `run_blocking`, or a coroutine launched on the
/// Default dispatcher.
#[derive(Clone, Copy, Debug)]
enum Enclosing {
    RunBlockingRoot,
    Launched,
}

/// Races the scope future made by `make` against [`RACE_DELAY`] in `enclosing`, and checks
/// that the dropped scope's work (`expected` pieces) was cancelled at once and that the
/// enclosing job completed only after that work had ended (its cleanup included).
fn race_and_drop<S>(enclosing: Enclosing, expected: usize, make: impl FnOnce(Probe) -> S)
where
    S: Future + Send + 'static,
{
    let probe = Probe::default();
    let scope_future = make(probe.clone());
    let racing = async move {
        let winner = Race(
            Some(Box::pin(scope_future)),
            Some(Box::pin(delay(RACE_DELAY))),
        )
        .await;
        assert_eq!(winner, "delay");
    };
    let start = Instant::now();
    match enclosing {
        Enclosing::RunBlockingRoot => run_blocking(|_| racing).expect("the root completes"),
        Enclosing::Launched => join_bounded(&GlobalScope::launch(move |_| racing)),
    }
    let elapsed = start.elapsed();
    let (started, ran_to_end, cleaned) = (
        probe.started.load(Ordering::SeqCst),
        probe.ran_to_end.load(Ordering::SeqCst),
        probe.cleaned.load(Ordering::SeqCst),
    );
    assert_eq!(started, expected, "{enclosing:?}: the work started");
    assert_eq!(
        ran_to_end, 0,
        "{enclosing:?}: dropped scope's work ran to its end"
    );
    assert_eq!(
        cleaned, expected,
        "{enclosing:?}: the enclosing job completed before the cancelled work ended"
    );
    assert!(
        elapsed < LONG_WORK,
        "{enclosing:?}: took {elapsed:?}: the work was not cancelled at once"
    );
}

const BOTH: [Enclosing; 2] = [Enclosing::RunBlockingRoot, Enclosing::Launched];

#[test]
fn finding_07_dropped_coroutine_scope_cancels_its_children() {
    for enclosing in BOTH {
        // The block has returned; only its child runs when the scope future is dropped.
        race_and_drop(enclosing, 1, |probe| {
            coroutine_scope(move |scope| async move { probe.launch_in(&scope) })
        });
        // The block itself still runs too.
        race_and_drop(enclosing, 1, |probe| {
            coroutine_scope(move |scope| async move {
                probe.launch_in(&scope);
                probe.in_place_work().await;
            })
        });
    }
}

#[test]
fn finding_07_dropped_supervisor_scope_cancels_its_children() {
    for enclosing in BOTH {
        race_and_drop(enclosing, 1, |probe| {
            supervisor_scope(move |scope| async move { probe.launch_in(&scope) })
        });
    }
}

#[test]
fn finding_07_dropped_with_context_on_the_same_dispatcher_cancels_its_children() {
    for enclosing in BOTH {
        // No dispatcher named: the block runs in place.
        race_and_drop(enclosing, 1, |probe| {
            with_context(CoroutineName::new("same"), move |scope| async move {
                probe.launch_in(&scope)
            })
        });
    }
}

#[test]
fn finding_07_dropped_with_context_on_another_dispatcher_cancels_its_block() {
    // From the root of `run_blocking` (its event loop), Default is another dispatcher.
    race_and_drop(Enclosing::RunBlockingRoot, 2, |probe| {
        with_context(Dispatchers::default(), move |scope| async move {
            probe.launch_in(&scope);
            probe.work().await;
        })
    });
    let other = new_single_thread_context("finding-07");
    for enclosing in BOTH {
        let dispatcher = other.dispatcher().clone();
        race_and_drop(enclosing, 2, |probe| {
            with_context(dispatcher, move |scope| async move {
                probe.launch_in(&scope);
                probe.work().await;
            })
        });
    }
}

#[test]
fn finding_07_dropped_with_timeout_cancels_its_children() {
    for enclosing in BOTH {
        race_and_drop(enclosing, 1, |probe| {
            with_timeout(Duration::from_secs(60), move |scope| async move {
                probe.launch_in(&scope)
            })
        });
        race_and_drop(enclosing, 1, |probe| {
            with_timeout_or_none(Duration::from_secs(60), move |scope| async move {
                probe.launch_in(&scope)
            })
        });
    }
}
