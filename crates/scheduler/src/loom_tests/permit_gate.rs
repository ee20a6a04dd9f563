//! Loom model of the permit gate: a worker leaving a blocking section while the only permit is
//! released.

use loom::sync::Arc;

use crate::control::ControlWord;
use crate::permit_gate::PermitGate;

/// The only permit is held; one thread releases it while another waits for it. The waiter
/// always gets it (a lost notification shows up as a loom deadlock), and afterwards no permit
/// is free.
#[test]
fn a_waiter_gets_the_released_permit() {
    loom::model(|| {
        let control = Arc::new(ControlWord::new(1));
        let gate = Arc::new(PermitGate::default());
        assert!(control.try_acquire_permit());

        let releaser = {
            let (control, gate) = (control.clone(), gate.clone());
            loom::thread::spawn(move || {
                control.release_permit();
                gate.permit_released();
            })
        };
        gate.acquire(|| control.try_acquire_permit());
        releaser.join().unwrap();
        assert_eq!(control.load().free_permits(), 0);
    });
}
