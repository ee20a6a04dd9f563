//! The `runtime.spawn` span around every poll (target `corral::task`) and, with the `console`
//! feature, the `runtime::waker` events, driven through a capturing subscriber.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use corral::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Clone, Debug, Default)]
struct SpanRecord {
    name: String,
    target: String,
    fields: HashMap<String, String>,
    enters: usize,
    references: usize,
}

#[derive(Clone, Debug)]
struct EventRecord {
    target: String,
    fields: HashMap<String, String>,
    span: Option<u64>,
}

/// Records spans and events of corral's targets, this test's and tokio-console's.
#[derive(Default)]
struct Capture {
    next_id: AtomicU64,
    spans: Mutex<HashMap<u64, SpanRecord>>,
    events: Mutex<Vec<EventRecord>>,
}

thread_local! {
    static ENTERED: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let target = metadata.target();
        target.starts_with("corral::task") || target == "runtime::waker" || target == module_path!()
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut record = SpanRecord {
            name: attributes.metadata().name().to_owned(),
            target: attributes.metadata().target().to_owned(),
            references: 1,
            ..SpanRecord::default()
        };
        attributes.record(&mut Fields(&mut record.fields));
        lock(&self.spans).insert(id, record);
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let span = ENTERED.with_borrow(|entered| entered.last().copied());
        lock(&self.events).push(EventRecord {
            target: event.metadata().target().to_owned(),
            fields,
            span,
        });
    }

    fn enter(&self, id: &Id) {
        if let Some(span) = lock(&self.spans).get_mut(&id.into_u64()) {
            span.enters += 1;
        }
        ENTERED.with_borrow_mut(|entered| entered.push(id.into_u64()));
    }

    fn exit(&self, id: &Id) {
        ENTERED.with_borrow_mut(|entered| {
            assert_eq!(
                entered.pop(),
                Some(id.into_u64()),
                "spans exit in LIFO order"
            );
        });
    }

    fn clone_span(&self, id: &Id) -> Id {
        if let Some(span) = lock(&self.spans).get_mut(&id.into_u64()) {
            span.references += 1;
        }
        id.clone()
    }

    fn try_close(&self, id: Id) -> bool {
        let mut spans = lock(&self.spans);
        let span = spans.get_mut(&id.into_u64()).expect("a known span");
        span.references -= 1;
        span.references == 0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process-wide capture (set once, before any callsite of this binary is used).
fn capture() -> Arc<Capture> {
    static CAPTURE: OnceLock<Arc<Capture>> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Arc::new(Capture::default());
            tracing::subscriber::set_global_default(Arc::clone(&capture))
                .expect("no other global subscriber");
            capture
        })
        .clone()
}

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
            .unwrap_or_else(|| panic!("no event of step {step}"));
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
