//! The `runtime.spawn` span around every poll (target `corral::task`) and, with the `console`
//! feature, the `runtime::waker` events, driven through a capturing subscriber.

use std::time::{Duration, Instant};

use corral::prelude::*;
use corral_test_support::tracing_capture::{capture, lock, Capture, SpanRecord};

/// The `runtime.spawn` span of coroutine `id`.
fn span_of(capture: &Capture, id: u64) -> (u64, SpanRecord) {
    lock(&capture.spans)
        .iter()
        .find(|(_, span)| {
            span.name == "runtime.spawn" && span.fields.get("task.id") == Some(&id.to_string())
        })
        .map(|(&span_id, span)| (span_id, span.clone()))
        .unwrap_or_else(|| panic!("no runtime.spawn span for coroutine {id}"))
}

#[test]
fn every_poll_of_a_coroutine_runs_in_its_runtime_spawn_span() {
    let capture = capture();
    let (job, line) = run_blocking(|scope| async move {
        let line = line!() + 1;
        let job = scope.launch_with(
            CoroutineName::new("traced"),
            CoroutineStart::Default,
            |_| async {
                tracing::info!(step = 1, "first poll");
                yield_now().await;
                tracing::info!(step = 2, "second poll");
            },
        );
        job.join().await;
        (job, line)
    })
    .expect("the test coroutine");

    let (span_id, span) = span_of(&capture, job.id());
    assert_eq!(span.target, "corral::task");
    assert_eq!(span.fields["task.name"], "traced");
    assert_eq!(span.fields["kind"], "launch");
    assert!(
        span.fields["loc.file"].ends_with("debug_tracing.rs"),
        "{span:?}"
    );
    assert_eq!(span.fields["loc.line"], line.to_string());
    assert!(span.fields.contains_key("loc.col"), "{span:?}");
    assert!(span.enters >= 2, "entered once per poll: {span:?}");

    let events = lock(&capture.events).clone();
    for step in ["1", "2"] {
        let event = events
            .iter()
            .find(|event| event.fields.get("step").map(String::as_str) == Some(step))
            .unwrap_or_else(|| panic!("no event of step {step}: {events:?}"));
        assert_eq!(
            event.span,
            Some(span_id),
            "the event is tied to its coroutine"
        );
    }

    // The span closes when the coroutine ends (the job is complete: its body ended).
    let deadline = Instant::now() + Duration::from_secs(5);
    while lock(&capture.spans)[&span_id].references != 0 {
        assert!(
            Instant::now() < deadline,
            "the span of a finished coroutine stays open"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(feature = "console")]
#[test]
fn wakes_emit_the_runtime_waker_events_of_tokio_console() {
    let capture = capture();
    let gate = Job::new();
    let waiter_gate = gate.clone();
    let waiter = GlobalScope::launch(move |_| async move { waiter_gate.join().await });
    let deadline = Instant::now() + Duration::from_secs(5);
    let (span_id, _) = loop {
        let found = lock(&capture.spans).values().any(|span| {
            span.fields.get("task.id") == Some(&waiter.id().to_string()) && span.enters >= 1
        });
        if found {
            break span_of(&capture, waiter.id());
        }
        assert!(Instant::now() < deadline, "the waiter never ran");
        std::thread::sleep(Duration::from_millis(2));
    };
    gate.complete();
    let join = waiter.clone();
    run_blocking(|_| async move { join.join().await }).unwrap();
    let events = lock(&capture.events).clone();
    let wake = events.iter().find(|event| {
        event.target == "runtime::waker"
            && event.fields.get("task.id") == Some(&span_id.to_string())
    });
    let wake = wake.unwrap_or_else(|| panic!("no waker event for span {span_id}: {events:?}"));
    assert!(wake.fields["op"].starts_with("waker.wake"), "{wake:?}");
}
