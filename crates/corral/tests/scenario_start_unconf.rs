//! START-07 of the conformance scenarios (docs/conformance.md), against the facade: start modes of
//! Unconfined children whose parent is already cancelled (the other START scenarios need no real
//! dispatcher and live in corral-core's `scenario_start.rs`).

use corral::prelude::*;
use corral_test_support::{Recorder, Steps};

/// START-07: under a cancelled parent, an Unconfined child with Default start never runs and
/// is complete as soon as `launch` returns; with Atomic start it runs until its first
/// suspension (`yield_now`), where it is dropped.
#[test]
fn start_07_unconfined_children_of_cancelled_parent() {
    let s = Steps::new();
    let recorder = Recorder::default();
    run_blocking_with(recorder.handler(), {
        let s = s.clone();
        move |scope| async move {
            let parent = Job::new();
            let (s1, cancel) = (s.clone(), parent.clone());
            let outer = scope.launch_with(
                parent.clone(),
                CoroutineStart::Default,
                move |scope| async move {
                    s1.expect(1);
                    cancel.cancel();
                    let unreached = s1.clone();
                    let default_child = scope.launch_with(
                        Dispatchers::unconfined(),
                        CoroutineStart::Default,
                        move |_| async move { unreached.unreached() },
                    );
                    assert!(default_child.is_cancelled(), "Default child not cancelled");
                    assert!(
                        default_child.is_completed(),
                        "Default child not complete at once"
                    );
                    assert!(!default_child.is_active());
                    let s2 = s1.clone();
                    let atomic_child = scope.launch_with(
                        Dispatchers::unconfined(),
                        CoroutineStart::Atomic,
                        move |_| async move {
                            s2.expect(2);
                            yield_now().await;
                            s2.unreached();
                        },
                    );
                    assert!(atomic_child.is_cancelled());
                },
            );
            outer.join().await;
            assert!(outer.is_cancelled() && outer.is_completed());
            s.finish(3);
        }
    })
    .unwrap();
    s.assert_finished(3);
    // A child reaching `unreached` would have failed and been reported here.
    assert!(recorder.messages().is_empty(), "{:?}", recorder.messages());
}
