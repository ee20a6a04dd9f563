//! Loom model of the stall monitor's handoff window ([`crate::debug`]): a stalled poll's CPU
//! permit is given back by exactly one side, the monitor or the worker.

use loom::sync::Arc;
use loom::thread;

use crate::debug::HandoffWindow;

/// The monitor tries to hand off poll 1 while the worker ends it, runs a nested-free poll 2
/// and ends that: the monitor's release happens iff the worker learns its permit is gone.
#[test]
fn loom_a_handed_permit_is_released_once() {
    loom::model(|| {
        let window = Arc::new(HandoffWindow::new());
        let (previous, handed) = window.open(1);
        assert_eq!((previous, handed), (0, false));

        let monitor = {
            let window = window.clone();
            thread::spawn(move || window.try_hand_off(1))
        };

        let mut lost = window.close(0);
        let (_, reopened_handed) = window.open(2);
        lost |= reopened_handed;
        lost |= window.close(0);

        let released = monitor.join().unwrap();
        assert_eq!(
            released, lost,
            "released by the monitor iff the worker saw it"
        );
    });
}

/// A nested poll reopens its parent's stamp, which the monitor, having sampled the nested
/// poll's, cannot match: the parent's permit is handed off at most once.
#[test]
fn loom_a_nested_poll_does_not_allow_a_second_handoff() {
    loom::model(|| {
        let window = Arc::new(HandoffWindow::new());
        let _ = window.open(1);
        let monitor = {
            let window = window.clone();
            thread::spawn(move || {
                usize::from(window.try_hand_off(1)) + usize::from(window.try_hand_off(2))
            })
        };
        let (parent, parent_handed) = window.open(2);
        let mut lost = usize::from(parent_handed);
        lost += usize::from(window.close(parent));
        lost += usize::from(window.close(0));
        let released = monitor.join().unwrap();
        assert_eq!(released, lost);
        assert!(released <= 2);
    });
}
