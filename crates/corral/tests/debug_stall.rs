//! Stall detection: a poll blocking a CPU worker longer than `CORRAL_STALL_MS` gets one
//! `corral::stall` warning naming the coroutine, and dumps mark it while it lasts.
//!
//! One test: the threshold is read once per process.

use std::time::{Duration, Instant};

use corral::prelude::*;
use corral_test_support::tracing_capture::{capture, lock, EventRecord};

/// The threshold this binary runs with.
const STALL_MS: u64 = 40;
/// How long the stalled poll blocks: many thresholds, so a loaded machine still sees it.
const BLOCK: Duration = Duration::from_millis(1500);

fn stall_warnings(id: u64) -> Vec<EventRecord> {
    lock(&capture().events)
        .iter()
        .filter(|event| {
            event.target == "corral::stall" && event.fields.get("task.id") == Some(&id.to_string())
        })
        .cloned()
        .collect()
}

#[test]
fn a_blocking_poll_on_a_default_worker_is_reported_once_and_marked_in_dumps() {
    // Before anything reads the environment (the first dispatcher, the first worker).
    std::env::set_var("CORRAL_STALL_MS", STALL_MS.to_string());
    let _ = capture();
    corral::debug::install();
    let line = line!() + 1;
    let sleeper = GlobalScope::launch_with(
        CoroutineName::new("sleeper"),
        CoroutineStart::Default,
        |_| async {
            std::thread::sleep(BLOCK);
        },
    );
    let deadline = Instant::now() + BLOCK;
    let warning = loop {
        if let Some(warning) = stall_warnings(sleeper.id()).pop() {
            break warning;
        }
        assert!(
            Instant::now() < deadline,
            "no stall warning while the poll blocked"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let dump = corral::debug::dump();
    let info = dump.get(sleeper.id()).expect("the sleeper is live");
    assert!(
        info.stalled,
        "the dump marks the stalled coroutine:\n{dump}"
    );
    assert!(dump.to_string().contains("STALLED"), "{dump}");
    assert_eq!(warning.fields["task.name"], "sleeper");
    assert!(
        warning.fields["loc.file"].ends_with("debug_stall.rs"),
        "{warning:?}"
    );
    assert_eq!(warning.fields["loc.line"], line.to_string());
    let running_ms: u64 = warning.fields["running_ms"].parse().expect("a number");
    assert!(running_ms >= STALL_MS, "{warning:?}");

    let join = sleeper.clone();
    run_blocking(|_| async move { join.join().await }).unwrap();
    assert_eq!(
        stall_warnings(sleeper.id()).len(),
        1,
        "one warning per stalled poll"
    );
    assert!(
        corral::debug::dump().get(sleeper.id()).is_none(),
        "finished coroutines leave the dump"
    );

    // A short poll is never reported.
    let quick = GlobalScope::launch(|_| async { std::thread::sleep(Duration::from_millis(1)) });
    let join = quick.clone();
    run_blocking(|_| async move { join.join().await }).unwrap();
    std::thread::sleep(Duration::from_millis(STALL_MS * 2));
    assert!(stall_warnings(quick.id()).is_empty());
}
