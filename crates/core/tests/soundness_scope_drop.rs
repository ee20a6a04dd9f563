//! A scope frame dropped before it returned (a select-style combinator dropping its losing
//! branch) cancels its job and children at once; they stay children of the enclosing job,
//! which completes only after them. Single-threaded (the test loop), so it also runs under
//! Miri.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use corral_core::{current_context, scoped, yield_now, Job, JobState, ScopeKind};
use corral_test_support::{forever, run_blocking, Finally, Scope, Steps};

#[test]
fn finding_07_dropped_scope_frame_cancels_its_children() {
    let s = Steps::new();
    let steps = s.clone();
    run_blocking(move |_| async move {
        let child: Arc<Mutex<Option<Job>>> = Arc::default();
        let launched = child.clone();
        let s1 = s.clone();
        {
            let context = current_context().unwrap();
            let mut frame = pin!(scoped(
                context,
                ScopeKind::Coroutine,
                move |ctx| async move {
                    let s2 = s1.clone();
                    let job = Scope::new(ctx).launch(move |_| async move {
                        s2.expect(2);
                        let _finally = Finally(move || s2.expect(4));
                        forever().await;
                    });
                    *launched.lock().unwrap() = Some(job);
                    s1.expect(1);
                    // The block returns: only the child is left when the frame is dropped.
                }
            ));
            poll_fn(|cx| {
                assert!(frame.as_mut().poll(cx).is_pending(), "waits for its child");
                Poll::Ready(())
            })
            .await;
            yield_now().await; // the child starts
            s.expect(3);
        } // the frame is dropped here, as a losing select branch would be
        let child = child.lock().unwrap().clone().unwrap();
        // Before the fix the child was left running: the test loop ran dry.
        assert!(child.is_cancelled(), "cancelled at once");
        assert_eq!(child.state(), JobState::Cancelling, "not ended yet");
        // The root's block ends here; the root completes only once the child has ended.
    })
    .unwrap();
    steps.finish(5);
}
