//! Regression tests: handles that name an entry by key (a `delay`'s or a timeout's timer, a
//! completion handler, a join waiter) stay harmless once their entry is gone. Keys used to
//! repeat: the timer heap reset its slot generations when it shrank after a burst of more
//! than 64 timers, and the job slabs reused slots with no generation at all, so a spent
//! handle could steal the waker of, cancel, or remove whatever took its slot.
//!
//! The tests share the process-wide timer thread, whose heap must be empty at known moments,
//! so they run one at a time (`serial`). Every wait is bounded: a regression fails, it does not
//! hang.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use corral::prelude::*;
use corral::JobState;
use corral_dispatchers::{schedule_timeout, Delay, TimeoutHandle};

/// More timers than the 64 slots an emptied heap keeps, so that emptying it shrinks it.
const BURST: usize = 100;
/// Deadline of a burst: long enough that all its timers are registered before any fires.
const BURST_DELAY: Duration = Duration::from_millis(10);
/// How long a test waits for something that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(3);

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A waker counting its wake-ups.
fn counting_waker() -> (Waker, Arc<AtomicUsize>) {
    struct Count(Arc<AtomicUsize>);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let count = Arc::new(AtomicUsize::new(0));
    (Waker::from(Arc::new(Count(count.clone()))), count)
}

/// Waits until `done` holds; `false` if it did not within [`PATIENCE`].
fn eventually(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut TaskContext::from_waker(waker))
}

/// [`BURST`] delays polled once (registered in the shared timer heap), then left alone until
/// all fired: the heap emptied and shrank, and every returned delay holds the key of a fired
/// timer, like the `delay` of a coroutine woken but not polled yet.
fn fired_delays() -> Vec<Pin<Box<Delay>>> {
    let (waker, woken) = counting_waker();
    let mut delays: Vec<Pin<Box<Delay>>> =
        (0..BURST).map(|_| Box::pin(delay(BURST_DELAY))).collect();
    for d in &mut delays {
        assert!(poll_once(d.as_mut(), &waker).is_pending());
    }
    assert!(
        eventually(|| woken.load(Ordering::SeqCst) == BURST),
        "the burst fired"
    );
    delays
}

/// [`BURST`] timeouts that all ran: the heap emptied and shrank, and every returned handle
/// holds the key of a fired timer.
fn fired_timeouts() -> Vec<TimeoutHandle> {
    let ran = Arc::new(AtomicUsize::new(0));
    let handles = (0..BURST)
        .map(|_| {
            let ran = ran.clone();
            schedule_timeout(BURST_DELAY, move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    assert!(
        eventually(|| ran.load(Ordering::SeqCst) == BURST),
        "the burst ran"
    );
    handles
}

/// A `delay` that fired is re-polled and dropped after the heap shrank and a new timer took
/// its slot: it must neither steal the new timer's waker nor cancel it.
#[test]
fn finding_02_a_fired_delay_never_touches_a_new_timer_after_the_heap_shrinks() {
    let _serial = serial();
    // A first burst leaves the heap empty and freshly shrunk, so the second one fills slots
    // from 0 (the slots a timer registered next reuses).
    drop(fired_delays());
    let fired = fired_delays();

    let (waker, woken) = counting_waker();
    let mut fresh = Box::pin(delay(Duration::from_millis(20)));
    assert!(poll_once(fresh.as_mut(), &waker).is_pending());
    // The fired delays' coroutines run: each polls its delay once more, then drops it.
    let still_pending = fired
        .into_iter()
        .map(|mut d| poll_once(d.as_mut(), Waker::noop()).is_pending())
        .filter(|&pending| pending)
        .count();

    assert!(
        eventually(|| woken.load(Ordering::SeqCst) > 0),
        "the new timer never woke its delay (waker stolen or timer cancelled by a stale key)"
    );
    assert!(poll_once(fresh.as_mut(), &waker).is_ready());
    assert_eq!(
        still_pending, 0,
        "a fired delay stayed pending (it matched the new timer)"
    );
}

/// A spent `schedule_timeout` handle (its callback ran) is cancelled after the heap shrank and
/// a new timeout took its slot: the new timeout must still run (`with_timeout` relies on it).
#[test]
fn finding_02_a_spent_timeout_handle_never_cancels_a_new_timeout_after_the_heap_shrinks() {
    let _serial = serial();
    drop(fired_timeouts());
    let spent = fired_timeouts();

    let (sender, receiver) = mpsc::channel();
    let fresh = schedule_timeout(Duration::from_millis(20), move || {
        sender.send(()).unwrap();
    });
    let cancelled_something = spent
        .into_iter()
        .map(TimeoutHandle::cancel)
        .filter(|&cancelled| cancelled)
        .count();
    assert_eq!(
        cancelled_something, 0,
        "a spent handle cancelled a live timeout"
    );
    assert!(
        receiver.recv_timeout(PATIENCE).is_ok(),
        "the new timeout never ran"
    );
    assert!(!fresh.cancel(), "it ran");
}

/// The natural shape: more than 64 coroutines loop on 1 ms delays and 1 ms timeouts, so the
/// shared heap keeps filling, emptying and shrinking while woken delays wait to be polled.
/// Every loop must finish.
#[test]
fn finding_02_coroutines_looping_on_short_delays_and_timeouts_all_finish() {
    let _serial = serial();
    const COROUTINES: usize = 200;
    const ITERATIONS: usize = 50;
    let finished = Arc::new(AtomicUsize::new(0));
    let scope = CoroutineScope::new(Job::new());
    for _ in 0..COROUTINES {
        let finished = finished.clone();
        scope.launch(move |_| async move {
            for _ in 0..ITERATIONS {
                delay(Duration::from_millis(1)).await;
                let timed_out = with_timeout(Duration::from_millis(1), |_| async {
                    std::future::pending::<()>().await;
                })
                .await;
                assert!(timed_out.unwrap_err().is_timeout());
            }
            finished.fetch_add(1, Ordering::SeqCst);
        });
    }
    let all = eventually(|| finished.load(Ordering::SeqCst) == COROUTINES);
    scope.cancel();
    assert!(
        all,
        "{} of {COROUTINES} coroutines hung in delay or with_timeout",
        COROUTINES - finished.load(Ordering::SeqCst)
    );
}

/// A coroutine registers an on-cancelling hook and disposes of it in its cleanup, as one
/// releases a resource. The hook ran (and left the job's entries) when cancellation started;
/// by the time the cleanup disposes of it, `cancel_and_join`'s waker sits in its slot.
#[test]
fn finding_03_a_spent_on_cancelling_handle_disposed_in_a_cleanup_never_hangs_cancel_and_join() {
    let _serial = serial();
    let hook_ran = Arc::new(AtomicBool::new(false));
    let ran = hook_ran.clone();
    let result = run_blocking(|scope| async move {
        let job = scope.launch_with(
            Dispatchers::default(),
            CoroutineStart::Default,
            |_| async move {
                let me = current_job().expect("inside a coroutine");
                let hook = me.invoke_on_cancelling(move |_| ran.store(true, Ordering::SeqCst));
                with_cleanup(std::future::pending::<()>(), async move {
                    delay(Duration::from_millis(20)).await;
                    hook.dispose();
                })
                .await;
            },
        );
        delay(Duration::from_millis(10)).await;
        with_timeout_or_none(
            PATIENCE,
            move |_| async move { job.cancel_and_join().await },
        )
        .await
    });
    assert!(hook_ran.load(Ordering::SeqCst));
    assert!(
        matches!(result, Ok(Ok(Some(())))),
        "cancel_and_join hung: the spent handle removed its waker ({result:?})"
    );
}

/// A plain job held in Cancelling by a child in a non-cancellable section. Its on-cancelling
/// handle is spent when `cancel` runs the handler; entries registered afterwards (a completion
/// handler, a join waiter) reuse the freed slots, and disposing of the spent handle must leave
/// them in place.
#[test]
fn finding_03_a_spent_handle_never_removes_a_later_handler_or_joiner() {
    let _serial = serial();
    let parent = Job::new();
    let spent = parent.invoke_on_cancelling(|_| {});
    let release = Arc::new(AtomicBool::new(false));
    let (entered, in_section) = mpsc::channel();
    let released = release.clone();
    CoroutineScope::new(parent.clone()).launch(move |_| async move {
        let _ = with_context(NonCancellable, move |_| async move {
            entered.send(()).unwrap();
            while !released.load(Ordering::SeqCst) {
                delay(Duration::from_millis(1)).await;
            }
        })
        .await;
    });
    in_section
        .recv_timeout(PATIENCE)
        .expect("the child entered its section");
    parent.cancel();
    assert_eq!(parent.state(), JobState::Cancelling);

    let handler_ran = Arc::new(AtomicBool::new(false));
    let ran = handler_ran.clone();
    let later = parent.invoke_on_completion(move |_| ran.store(true, Ordering::SeqCst));
    let (waker, woken) = counting_waker();
    let mut join = Box::pin(parent.join());
    assert!(poll_once(join.as_mut(), &waker).is_pending());
    spent.dispose();
    release.store(true, Ordering::SeqCst);

    assert!(
        eventually(|| woken.load(Ordering::SeqCst) > 0),
        "the joiner was never woken (the spent handle removed its entry)"
    );
    assert!(poll_once(join.as_mut(), &waker).is_ready());
    assert_eq!(parent.state(), JobState::Cancelled);
    assert!(
        handler_ran.load(Ordering::SeqCst),
        "the completion handler never ran (the spent handle removed it)"
    );
    later.dispose(); // ran already: a no-op
}
