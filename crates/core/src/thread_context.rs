//! Thread-context elements (Kotlin's `ThreadContextElement`): context elements that set some
//! thread-local state before every poll of a coroutine and put the previous state back after
//! it, so the state follows the coroutine across threads (a logging context, a `tracing` span,
//! a request id).
//!
//! # Where they apply
//!
//! * Around every run of a task ([`around_poll`], called by the run loop around the frame).
//! * Around every poll of a scope frame whose context brings thread elements the caller's
//!   frame does not have (`with_context(ThreadElement::new(..), ..)` runs its block in place,
//!   under the caller's task, whose poll applied only the caller's elements).
//!
//! # Cost
//!
//! A context without values pays one branch on its `values` pointer (read anyway: it sits
//! beside the dispatcher the frame reads); one with values but no thread element one more load.
//!
//! # Invariants
//!
//! * Elements are updated in the context's order (by `TypeId`) and restored in the reverse
//!   order, also when the poll unwinds.
//! * A panic of `update_thread_context` or `restore_thread_context` never unwinds into the
//!   runtime: it is reported as an uncaught panic of the thread; an element whose update
//!   panicked is not restored, and the poll runs without it.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crate::context::{Context, Elements};
use crate::context_values::{Element, Entry, Values};
use crate::current;
use crate::error::report_uncaught_panic;

/// A context element that installs thread-local state for each poll of the coroutines that
/// carry it (Kotlin's `ThreadContextElement`). Put it in a context with [`ThreadElement::new`].
///
/// Before each poll of a coroutine (on whatever thread that poll runs),
/// [`update_thread_context`](Self::update_thread_context) installs the element's state and
/// returns what was there; after the poll,
/// [`restore_thread_context`](Self::restore_thread_context) puts that back. Children inherit
/// the element like any other.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use corral_core::{Context, ThreadContextElement, ThreadElement};
///
/// thread_local! {
///     static REQUEST_ID: RefCell<Option<u64>> = const { RefCell::new(None) };
/// }
///
/// struct RequestId(u64);
///
/// impl ThreadContextElement for RequestId {
///     type State = Option<u64>;
///
///     fn update_thread_context(&self) -> Option<u64> {
///         REQUEST_ID.with(|id| id.replace(Some(self.0)))
///     }
///
///     fn restore_thread_context(&self, old: Option<u64>) {
///         REQUEST_ID.with(|id| *id.borrow_mut() = old);
///     }
/// }
///
/// let context = Context::new() + ThreadElement::new(RequestId(7));
/// assert_eq!(context.value::<RequestId>().map(|id| id.0), Some(7));
/// ```
pub trait ThreadContextElement: Send + Sync + 'static {
    /// What [`update_thread_context`](Self::update_thread_context) replaced, handed back to
    /// [`restore_thread_context`](Self::restore_thread_context) on the same thread.
    type State;

    /// Installs this element's state on the current thread, before a poll; returns the state
    /// it replaced.
    fn update_thread_context(&self) -> Self::State;

    /// Puts `old` back after the poll.
    fn restore_thread_context(&self, old: Self::State);
}

/// Carries a [`ThreadContextElement`] in a [`Context`] (`Into<Context>`, composes with `+`).
/// Keyed by the element's type: [`Context::value`] gives the element back, and a context holds
/// one element per type, the right side of `+` winning.
pub struct ThreadElement<E> {
    element: E,
}

impl<E: ThreadContextElement> ThreadElement<E> {
    /// The context element for `element`.
    pub fn new(element: E) -> ThreadElement<E> {
        ThreadElement { element }
    }
}

impl<E> fmt::Debug for ThreadElement<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ThreadElement<{}>", std::any::type_name::<E>())
    }
}

impl<E: ThreadContextElement> From<ThreadElement<E>> for Context {
    fn from(element: ThreadElement<E>) -> Context {
        Context::from_values(Values::single(Entry::new(
            Arc::new(Installed(element.element)),
            true,
        )))
    }
}

impl<E: ThreadContextElement, R: Into<Context>> std::ops::Add<R> for ThreadElement<E> {
    type Output = Context;

    fn add(self, right: R) -> Context {
        Context::from(self) + right
    }
}

/// A thread element as stored in a context.
struct Installed<E>(E);

impl<E: ThreadContextElement> Element for Installed<E> {
    fn value(&self) -> &(dyn Any + Send + Sync) {
        &self.0
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<E>()
    }

    fn thread_element(&self) -> Option<&dyn ErasedThreadElement> {
        Some(self)
    }
}

/// A thread element with its state type erased: runs `inner` with the element installed.
pub(crate) trait ErasedThreadElement {
    fn around(&self, inner: &mut dyn FnMut());
}

impl<E: ThreadContextElement> ErasedThreadElement for Installed<E> {
    fn around(&self, inner: &mut dyn FnMut()) {
        let element = &self.0;
        let state = match panic::catch_unwind(AssertUnwindSafe(|| element.update_thread_context()))
        {
            Ok(state) => state,
            Err(payload) => {
                report_uncaught_panic(payload);
                return inner();
            }
        };
        let _restore = Restore {
            element,
            state: Some(state),
        };
        inner();
    }
}

/// Restores an element's previous state when dropped: after the poll, or while it unwinds.
struct Restore<'a, E: ThreadContextElement> {
    element: &'a E,
    state: Option<E::State>,
}

impl<E: ThreadContextElement> Drop for Restore<'_, E> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            let element = self.element;
            if let Err(payload) =
                panic::catch_unwind(AssertUnwindSafe(|| element.restore_thread_context(state)))
            {
                report_uncaught_panic(payload);
            }
        }
    }
}

/// Runs `poll` with the thread elements of `context` installed (the run loop calls this
/// around every run of a task). One branch when the context has no values.
#[inline(always)]
pub(crate) fn around_poll<R>(context: &Elements, poll: impl FnOnce() -> R) -> R {
    match context.values() {
        Some(values) if values.has_thread_elements() => install(values, poll),
        _ => poll(),
    }
}

/// [`around_poll`] for a scope frame polled inside its caller's frame: installs the elements
/// only when the scope's values are not the caller's (the caller's poll installed those).
#[inline(always)]
pub(crate) fn around_scope_poll<R>(context: &Elements, poll: impl FnOnce() -> R) -> R {
    match context.values() {
        Some(values) if values.has_thread_elements() && !callers_values(values) => {
            install(values, poll)
        }
        _ => poll(),
    }
}

/// `true` if the innermost frame's context holds exactly `values`.
fn callers_values(values: &Arc<Values>) -> bool {
    current::with_frame(|outer| {
        outer.is_some_and(|outer| {
            outer
                .context()
                .values()
                .is_some_and(|outer| Arc::ptr_eq(outer, values))
        })
    })
}

#[cold]
#[inline(never)]
fn install<R>(values: &Values, poll: impl FnOnce() -> R) -> R {
    let mut poll = Some(poll);
    let mut output = None;
    nest(values.entries(), &mut || {
        if let Some(poll) = poll.take() {
            output = Some(poll());
        }
    });
    output.expect("the poll ran inside the thread elements")
}

/// Installs the first thread element of `entries`, then the rest inside it, then runs `inner`.
/// Recursion depth is the number of thread elements of one context (one per type), not
/// anything the coroutine tree controls; no allocation.
fn nest(entries: &[Entry], inner: &mut dyn FnMut()) {
    let found = entries
        .iter()
        .enumerate()
        .find_map(|(index, entry)| entry.thread_element().map(|element| (index, element)));
    match found {
        Some((index, element)) => element.around(&mut || nest(&entries[index + 1..], inner)),
        None => inner(),
    }
}
