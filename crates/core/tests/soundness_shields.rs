//! Shield sections (`with_cleanup`, non-cancellable scopes) moved between coroutines: a guard
//! never outlives the counters it lowers, the coroutine that first polled a moved section is not
//! kept from being dropped, and the section follows the cancellation of the coroutine polling it
//! now. Single-threaded (the test loop, or in place), so these also run under Miri.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use corral_core::{
    current_context, launch, scoped, with_cleanup, yield_now, Context, CoroutineStart, Job,
    JobState, NonCancellable, ScopeKind,
};
use corral_test_support::{forever, run_blocking};

type Section = Pin<Box<dyn Future<Output = ()> + Send>>;
type Slot = Arc<Mutex<Option<Section>>>;

/// Polls `section` once with the current coroutine's waker, then parks it in `slot`.
async fn poll_once_and_park(mut section: Section, slot: &Slot) {
    poll_fn(|cx| {
        assert!(section.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    *slot.lock().unwrap() = Some(section);
}

#[test]
fn finding_04_with_cleanup_outlives_the_coroutine_that_polled_it() {
    let slot: Slot = Arc::default();
    let parked = slot.clone();
    // No dispatcher: the coroutine runs in place and is complete when `launch` returns.
    let job = launch(
        Context::new(),
        CoroutineStart::Default,
        move |_| async move {
            let section: Section = Box::pin(with_cleanup(forever(), async {}));
            poll_once_and_park(section, &parked).await;
        },
    );
    assert!(job.is_completed());
    // The last handle of the coroutine: its task would be freed here if nothing else held it.
    drop(job);
    let mut section = slot.lock().unwrap().take().unwrap();
    // Polled again outside any coroutine, then dropped: the guard lowers the counters of the
    // finished coroutine it was raised for (a use-after-free under Miri before the fix).
    let mut cx = TaskContext::from_waker(Waker::noop());
    assert!(section.as_mut().poll(&mut cx).is_pending());
    drop(section);
}

#[test]
fn finding_04_with_cleanup_moved_to_another_coroutine() {
    let cleanups = Arc::new(AtomicUsize::new(0));
    let ran = cleanups.clone();
    run_blocking(move |scope| async move {
        let slot: Slot = Arc::default();
        let parked = slot.clone();
        let a = scope.launch(move |_| async move {
            let section: Section = Box::pin(with_cleanup(forever(), async move {
                yield_now().await; // the cleanup suspends, shielded
                ran.fetch_add(1, Ordering::SeqCst);
            }));
            poll_once_and_park(section, &parked).await;
            forever().await;
        });
        yield_now().await; // A polls the section and parks it
        let b = scope.launch(move |_| async move {
            let section = slot.lock().unwrap().take().expect("parked by A");
            section.await;
            unreachable!("the body never completes");
        });
        yield_now().await; // B polls the section: its shield moves from A to B
        a.cancel();
        // Before the fix A kept the watch shield of a section it no longer held and stayed
        // Cancelling forever (the test loop then ran dry).
        a.join().await;
        assert_eq!(a.state(), JobState::Cancelled);
        assert_eq!(
            cleanups.load(Ordering::SeqCst),
            0,
            "A's cancellation is not B's"
        );
        assert!(b.is_active());
        // B's cancellation drops the body and runs the cleanup to its end, under B.
        b.cancel();
        b.join().await;
        assert_eq!(b.state(), JobState::Cancelled);
        assert_eq!(cleanups.load(Ordering::SeqCst), 1);
    })
    .unwrap();
}

#[test]
fn finding_04_non_cancellable_scope_moved_to_another_coroutine() {
    run_blocking(move |scope| async move {
        let gate = Job::new();
        let slot: Slot = Arc::default();
        let (parked, opened) = (slot.clone(), gate.clone());
        let a = scope.launch(move |_| async move {
            let context = current_context().unwrap() + NonCancellable;
            let section: Section = Box::pin(async move {
                scoped(context, ScopeKind::Coroutine, move |_| async move {
                    opened.join().await;
                })
                .await
                .expect("the block completes");
            });
            poll_once_and_park(section, &parked).await;
            forever().await;
        });
        yield_now().await;
        let b = scope.launch(move |_| async move {
            let section = slot.lock().unwrap().take().expect("parked by A");
            section.await;
        });
        yield_now().await;
        a.cancel();
        // Before the fix the hard shield raised for A stayed raised: A was never dropped.
        a.join().await;
        assert_eq!(a.state(), JobState::Cancelled);
        // B is protected by the non-cancellable section while it runs there.
        b.cancel();
        yield_now().await;
        assert_eq!(b.state(), JobState::Cancelling);
        assert!(gate.complete());
        b.join().await;
        assert_eq!(b.state(), JobState::Cancelled);
    })
    .unwrap();
}

#[test]
fn shield_guard_does_not_keep_a_forgotten_coroutine_alive() {
    struct SetOnDrop(Arc<AtomicUsize>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let flag = SetOnDrop(dropped.clone());
    // A root coroutine suspended where nothing will ever wake it, its watch shield raised.
    let job = launch(
        Context::new(),
        CoroutineStart::Default,
        move |_| async move {
            let _flag = flag;
            with_cleanup(forever(), async {}).await;
        },
    );
    assert!(job.is_active());
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    // Its last handle: the task and its future are freed. A guard holding a counted handle to
    // its own task would leak both through the cycle.
    drop(job);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}
