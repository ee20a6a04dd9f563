//! A `tracing` subscriber that records spans and events, for tests of corral's
//! instrumentation. It is installed process-wide ([`capture`]), because coroutines run on
//! worker threads a thread-local default would not reach; use it from test binaries whose every
//! test expects it.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span as the subscriber saw it.
#[derive(Clone, Debug, Default)]
pub struct SpanRecord {
    /// The span's name.
    pub name: String,
    /// Its target.
    pub target: String,
    /// Its fields, as `Display` (strings) or `Debug` text.
    pub fields: HashMap<String, String>,
    /// How many times it was entered.
    pub enters: usize,
    /// Live handles to it; 0 once closed.
    pub references: usize,
}

/// An event as the subscriber saw it.
#[derive(Clone, Debug)]
pub struct EventRecord {
    /// Its target.
    pub target: String,
    /// Its fields (the message under `message`).
    pub fields: HashMap<String, String>,
    /// The innermost span entered on its thread when it was emitted.
    pub span: Option<u64>,
}

/// Records spans and events of every target (at every level).
#[derive(Debug, Default)]
pub struct Capture {
    next_id: AtomicU64,
    /// The spans by id.
    pub spans: Mutex<HashMap<u64, SpanRecord>>,
    /// The events in the order they were emitted.
    pub events: Mutex<Vec<EventRecord>>,
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
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
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

/// Locks `mutex`, ignoring poison (a failed assertion elsewhere must not hide the records).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process-wide capture, installed as the global default subscriber at the first call
/// (make it before any callsite of the binary is used).
pub fn capture() -> Arc<Capture> {
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
