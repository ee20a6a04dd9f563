//! `CORRAL_STALL_MS=0` turns stall detection off: no monitor thread, no warning, no probe.
//!
//! One test: the threshold is read once per process.

use std::time::Duration;

use corral::prelude::*;
use corral_test_support::tracing_capture::{capture, lock};

#[test]
fn a_zero_threshold_turns_detection_off() {
    std::env::set_var("CORRAL_STALL_MS", "0");
    let capture = capture();
    assert_eq!(corral::debug::stall_threshold(), Ok(None));
    let blocker = GlobalScope::launch(|_| async { std::thread::sleep(Duration::from_millis(300)) });
    let join = blocker.clone();
    run_blocking(|_| async move { join.join().await }).unwrap();
    let warnings = lock(&capture.events)
        .iter()
        .filter(|event| event.target == "corral::stall")
        .count();
    assert_eq!(warnings, 0);
    #[cfg(target_os = "linux")]
    {
        let threads = std::fs::read_dir("/proc/self/task").expect("procfs");
        for thread in threads {
            let comm = std::fs::read_to_string(thread.expect("a thread").path().join("comm"))
                .unwrap_or_default();
            assert_ne!(comm.trim(), "corral-stall-mo", "the monitor thread runs");
        }
    }
}
