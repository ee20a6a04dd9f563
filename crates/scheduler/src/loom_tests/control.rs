//! Loom model of the compensation rule over the control word and the separate blocking count.

use loom::sync::Arc;

use crate::control::ControlWord;

/// Two submitters count a blocking task and compensate while a third blocking task ends.
/// Whatever the interleaving of the two atomics, the pool ends with at least `core` threads
/// beside the blocking tasks still counted (the rule errs towards adding, never skips).
#[test]
fn compensation_is_never_lost_between_the_two_counters() {
    const CORE: usize = 1;
    const LIMIT: usize = 8;
    loom::model(|| {
        let control = Arc::new(ControlWord::new(CORE));
        // One worker running one blocking task, and the thread that compensated for it.
        assert!(control.try_add_thread(LIMIT));
        assert!(control.try_add_thread(LIMIT));
        control.add_blocking();

        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let control = control.clone();
                loom::thread::spawn(move || {
                    control.add_blocking();
                    control.try_add_compensating_thread(LIMIT);
                })
            })
            .collect();
        control.remove_blocking();
        for submitter in submitters {
            submitter.join().unwrap();
        }
        let snapshot = control.load();
        assert_eq!(snapshot.blocking(), 2);
        assert!(
            snapshot.created() >= snapshot.blocking() + CORE,
            "blocking tasks left uncompensated: {snapshot:?}"
        );
        assert_eq!(snapshot.free_permits(), CORE);
    });
}
