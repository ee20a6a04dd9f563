//! [`Context`]: the elements a coroutine runs with (Kotlin `CoroutineContext`).

use std::fmt;
use std::ops::Add;
use std::sync::Arc;

use crate::context_values::Values;
use crate::dispatcher::Dispatcher;
use crate::error::JobError;
use crate::job::Job;

/// The elements a coroutine runs with (Kotlin `CoroutineContext`).
///
/// A context holds at most one element per key: a [`Dispatcher`], a job element (a [`Job`] or
/// [`NonCancellable`]), a [`CoroutineName`], a [`CoroutineExceptionHandler`], and one value per
/// type of the user's own ([`ContextValue`](crate::ContextValue),
/// [`ThreadElement`](crate::ThreadElement)). Elements and contexts add with `+`, the right side
/// winning per key, as in Kotlin.
///
/// # Examples
///
/// ```
/// use corral_core::{Context, CoroutineName, Job};
///
/// let job = Job::new();
/// let context = Context::new() + job.clone() + CoroutineName::new("upload");
/// assert_eq!(context.name(), Some("upload"));
/// assert!(context.job() == Some(&job));
/// let renamed = context.clone() + CoroutineName::new("download");
/// assert_eq!(renamed.name(), Some("download"));
/// ```
#[derive(Clone, Default)]
pub struct Context {
    elements: Elements,
    job: Option<JobElement>,
}

/// The elements of a [`Context`] other than its job element: what a coroutine keeps of the
/// context it was created with, since its job is the coroutine itself (24 bytes fewer per
/// coroutine than a whole `Context` with an always-empty job slot). Frames of running code
/// point at one of these; [`current_context`](crate::current_context) adds the frame's job
/// back.
#[derive(Clone, Default)]
pub(crate) struct Elements {
    dispatcher: Option<Dispatcher>,
    name: Option<CoroutineName>,
    handler: Option<CoroutineExceptionHandler>,
    /// The user's values; `None` (one pointer, no reference count) when there are none.
    values: Option<Arc<Values>>,
}

impl Elements {
    /// The dispatcher, if the context names one.
    pub(crate) fn dispatcher(&self) -> Option<&Dispatcher> {
        self.dispatcher.as_ref()
    }

    /// The coroutine name, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_ref().map(CoroutineName::as_str)
    }

    /// The user's values, if any.
    pub(crate) fn values(&self) -> Option<&Arc<Values>> {
        self.values.as_ref()
    }

    /// A context of these elements and `job`.
    pub(crate) fn to_context(&self, job: Option<JobElement>) -> Context {
        Context {
            elements: self.clone(),
            job,
        }
    }
}

/// The job element of a context: a parent job, or `NonCancellable` (no parent, never
/// cancelled from outside).
#[derive(Clone, Debug, PartialEq)]
pub enum JobElement {
    /// Coroutines created with this context are children of this job.
    Job(Job),
    /// Coroutines created with this context are roots; `with_context(NonCancellable, ..)` runs
    /// its block without being cancelled by the caller.
    NonCancellable,
}

impl Context {
    /// An empty context.
    pub fn new() -> Context {
        Context::default()
    }

    /// The dispatcher, if the context names one.
    pub fn dispatcher(&self) -> Option<&Dispatcher> {
        self.elements.dispatcher()
    }

    /// The job, if the context names one (not `NonCancellable`).
    pub fn job(&self) -> Option<&Job> {
        match &self.job {
            Some(JobElement::Job(job)) => Some(job),
            _ => None,
        }
    }

    /// The job element, `NonCancellable` included.
    pub fn job_element(&self) -> Option<&JobElement> {
        self.job.as_ref()
    }

    /// `true` if the job element is `NonCancellable`.
    pub fn is_non_cancellable(&self) -> bool {
        matches!(self.job, Some(JobElement::NonCancellable))
    }

    /// The coroutine name, if any.
    pub fn name(&self) -> Option<&str> {
        self.elements.name()
    }

    /// The exception handler, if any.
    pub fn exception_handler(&self) -> Option<&CoroutineExceptionHandler> {
        self.elements.handler.as_ref()
    }

    /// The value of type `T` put in the context with [`ContextValue`](crate::ContextValue) (or
    /// the element of a [`ThreadElement`](crate::ThreadElement)), if any.
    pub fn value<T: 'static>(&self) -> Option<&T> {
        self.elements.values.as_deref().and_then(Values::get::<T>)
    }

    /// The elements other than the job element.
    pub(crate) fn elements(&self) -> &Elements {
        &self.elements
    }

    /// The elements other than the job element, which is dropped.
    pub(crate) fn into_elements(self) -> Elements {
        self.elements
    }

    /// A context holding only `values`.
    pub(crate) fn from_values(values: Arc<Values>) -> Context {
        Context {
            elements: Elements {
                values: Some(values),
                ..Elements::default()
            },
            job: None,
        }
    }

    /// `true` if the context's job is active, or it has no job (Kotlin `CoroutineContext.isActive`).
    pub fn is_active(&self) -> bool {
        self.job().is_none_or(Job::is_active)
    }

    /// `Ok` if [`is_active`](Context::is_active), else the job's cancellation cause.
    pub fn ensure_active(&self) -> Result<(), JobError> {
        match self.job() {
            Some(job) => job.ensure_active(),
            None => Ok(()),
        }
    }

    /// Replaces the dispatcher.
    pub fn with_dispatcher(mut self, dispatcher: Dispatcher) -> Context {
        self.elements.dispatcher = Some(dispatcher);
        self
    }

    /// Replaces the job element with `job`.
    pub fn with_job(mut self, job: Job) -> Context {
        self.job = Some(JobElement::Job(job));
        self
    }

    /// Removes the job element and returns the parent job it named, if any (`None` for no job
    /// element and for `NonCancellable`).
    pub(crate) fn take_parent(&mut self) -> Option<Job> {
        match self.job.take() {
            Some(JobElement::Job(job)) => Some(job),
            Some(JobElement::NonCancellable) | None => None,
        }
    }

    /// Removes the job element.
    pub fn without_job(mut self) -> Context {
        self.job = None;
        self
    }

    /// Adds a dispatcher only if the context has none (kotlinx `newCoroutineContext` adds its
    /// default dispatcher this way).
    pub fn or_dispatcher(mut self, dispatcher: impl FnOnce() -> Dispatcher) -> Context {
        if self.elements.dispatcher.is_none() {
            self.elements.dispatcher = Some(dispatcher());
        }
        self
    }

    fn merge(mut self, right: Context) -> Context {
        if right.job.is_some() {
            self.job = right.job;
        }
        let (left, right) = (&mut self.elements, right.elements);
        if right.dispatcher.is_some() {
            left.dispatcher = right.dispatcher;
        }
        if right.name.is_some() {
            left.name = right.name;
        }
        if right.handler.is_some() {
            left.handler = right.handler;
        }
        if right.values.is_some() {
            left.values = Values::merge(left.values.take(), right.values);
        }
        self
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        if let Some(d) = &self.elements.dispatcher {
            list.entry(&format_args!("{d}"));
        }
        match &self.job {
            Some(JobElement::Job(job)) => {
                list.entry(job);
            }
            Some(JobElement::NonCancellable) => {
                list.entry(&format_args!("NonCancellable"));
            }
            None => {}
        }
        if let Some(name) = &self.elements.name {
            list.entry(name);
        }
        if self.elements.handler.is_some() {
            list.entry(&format_args!("CoroutineExceptionHandler"));
        }
        for name in self
            .elements
            .values
            .iter()
            .flat_map(|values| values.type_names())
        {
            list.entry(&format_args!("ContextValue<{name}>"));
        }
        list.finish()
    }
}

impl<T: Into<Context>> Add<T> for Context {
    type Output = Context;

    fn add(self, right: T) -> Context {
        self.merge(right.into())
    }
}

/// Implements `Into<Context>` and `element + other` for a context element.
macro_rules! context_element {
    ($ty:ty, |$value:ident| $into:expr) => {
        impl From<$ty> for Context {
            fn from($value: $ty) -> Context {
                $into
            }
        }

        impl<T: Into<Context>> Add<T> for $ty {
            type Output = Context;

            fn add(self, right: T) -> Context {
                Context::from(self) + right
            }
        }
    };
}

context_element!(Dispatcher, |dispatcher| Context {
    elements: Elements {
        dispatcher: Some(dispatcher),
        ..Elements::default()
    },
    job: None,
});
context_element!(Job, |job| Context {
    job: Some(JobElement::Job(job)),
    ..Context::default()
});
context_element!(NonCancellable, |_nc| Context {
    job: Some(JobElement::NonCancellable),
    ..Context::default()
});
context_element!(CoroutineName, |name| Context {
    elements: Elements {
        name: Some(name),
        ..Elements::default()
    },
    job: None,
});
context_element!(CoroutineExceptionHandler, |handler| Context {
    elements: Elements {
        handler: Some(handler),
        ..Elements::default()
    },
    job: None,
});

impl From<&Context> for Context {
    fn from(context: &Context) -> Context {
        context.clone()
    }
}

impl From<()> for Context {
    fn from((): ()) -> Context {
        Context::default()
    }
}

/// The name of a coroutine, shown in diagnostics and in the default exception handler's line.
#[derive(Clone, PartialEq, Eq, Hash)]
// `Arc<String>`, not `Arc<str>`: a thin pointer keeps every coroutine's context 8 bytes smaller.
pub struct CoroutineName(Arc<String>);

impl CoroutineName {
    /// A name.
    pub fn new(name: impl Into<String>) -> CoroutineName {
        CoroutineName(Arc::new(name.into()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for CoroutineName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CoroutineName({:?})", self.0.as_str())
    }
}

impl fmt::Display for CoroutineName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The context element that makes a block or a coroutine immune to cancellation from outside
/// (Kotlin `NonCancellable`): `with_context(NonCancellable, ..)` runs to its end even if the
/// caller is cancelled, and `launch_with(NonCancellable, ..)` creates a root coroutine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NonCancellable;

type HandlerFn = dyn Fn(&Context, &JobError) + Send + Sync;

/// Receives the failures of root `launch` coroutines that no parent handles
/// (Kotlin `CoroutineExceptionHandler`).
///
/// Without one, the default handler writes one line to stderr naming the coroutine.
#[derive(Clone)]
// A boxed closure behind the `Arc`: a thin pointer keeps every coroutine's context 8 bytes
// smaller, for one more allocation when a handler is made (rare) and one more indirection when
// it runs (rarer).
pub struct CoroutineExceptionHandler(Arc<Box<HandlerFn>>);

impl CoroutineExceptionHandler {
    /// A handler calling `f` with the failed coroutine's context and its error.
    pub fn new(
        f: impl Fn(&Context, &JobError) + Send + Sync + 'static,
    ) -> CoroutineExceptionHandler {
        CoroutineExceptionHandler(Arc::new(Box::new(f)))
    }

    /// Calls the handler.
    pub fn handle(&self, context: &Context, error: &JobError) {
        (self.0)(context, error);
    }
}

impl fmt::Debug for CoroutineExceptionHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("CoroutineExceptionHandler { .. }")
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod layout_tests {
    use std::mem::size_of;

    /// What a coroutine keeps of its context: no job slot (`docs/architecture.md`, "What a
    /// coroutine costs").
    #[test]
    fn a_coroutine_keeps_40_bytes_of_its_context() {
        assert_eq!(size_of::<super::Elements>(), 40);
        assert_eq!(size_of::<super::Context>(), 64);
    }
}
