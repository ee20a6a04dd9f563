//! User values in a [`Context`] (Kotlin's open `CoroutineContext.Element` map): [`ContextValue`]
//! and the storage every context shares for them.
//!
//! # Layout and cost
//!
//! A context holds its values as `Option<Arc<Values>>`: one thin pointer, `None` when the
//! context has no value, so a context without values is no larger than before by more than that
//! pointer, cloning it touches no reference count for them, and a spawn under it does nothing
//! more. With values, a clone is one reference-count increment (the list is shared, never
//! copied). The list is immutable and sorted by [`TypeId`]: adding contexts with `+` builds a
//! new list only when both sides have values (the right side winning per type), and a lookup is
//! a binary search.
//!
//! # Invariants
//!
//! * At most one entry per type, sorted by `TypeId`; never an empty list (no values is `None`).
//! * `thread_elements` is `true` exactly when an entry is a thread-context element, so a poll
//!   under a context with plain values only skips the thread-context machinery after one load.

use std::any::{Any, TypeId};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use crate::context::Context;
use crate::thread_context::ErasedThreadElement;

/// A value of the user's own type carried in a [`Context`] (Kotlin's custom
/// `CoroutineContext.Element`): children inherit it, `with_context(ContextValue::new(..), ..)`
/// scopes it, and [`Context::value`] reads it back by type.
///
/// A context holds one value per type: adding two of the same type with `+` keeps the right
/// one, as for every element.
///
/// # Examples
///
/// ```
/// use corral_core::{Context, ContextValue, CoroutineName};
///
/// #[derive(Debug, PartialEq)]
/// struct RequestId(u64);
///
/// let context = ContextValue::new(RequestId(1)) + CoroutineName::new("handler");
/// assert_eq!(context.value::<RequestId>(), Some(&RequestId(1)));
/// let replaced = context + ContextValue::new(RequestId(2));
/// assert_eq!(replaced.value::<RequestId>(), Some(&RequestId(2)));
/// assert_eq!(Context::new().value::<RequestId>(), None);
/// ```
pub struct ContextValue<T> {
    value: T,
}

impl<T: Send + Sync + 'static> ContextValue<T> {
    /// A context element carrying `value`, keyed by its type `T`.
    pub fn new(value: T) -> ContextValue<T> {
        ContextValue { value }
    }
}

impl<T: fmt::Debug> fmt::Debug for ContextValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ContextValue").field(&self.value).finish()
    }
}

impl<T: Send + Sync + 'static> From<ContextValue<T>> for Context {
    fn from(element: ContextValue<T>) -> Context {
        Context::from_values(Values::single(Entry::new(
            Arc::new(PlainValue(element.value)),
            false,
        )))
    }
}

impl<T: Send + Sync + 'static, R: Into<Context>> std::ops::Add<R> for ContextValue<T> {
    type Output = Context;

    fn add(self, right: R) -> Context {
        Context::from(self) + right
    }
}

/// What an entry holds: the value, seen as `Any` for lookups, and, for a thread-context
/// element, the element itself.
pub(crate) trait Element: Send + Sync + 'static {
    /// The user's value (for a thread-context element: the element).
    fn value(&self) -> &(dyn Any + Send + Sync);
    /// The value's type name, for `Debug`.
    fn type_name(&self) -> &'static str;
    /// The thread-context element, if this is one.
    fn thread_element(&self) -> Option<&dyn ErasedThreadElement> {
        None
    }
}

/// A plain [`ContextValue`]'s entry.
struct PlainValue<T>(T);

impl<T: Send + Sync + 'static> Element for PlainValue<T> {
    fn value(&self) -> &(dyn Any + Send + Sync) {
        &self.0
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// One value of a context, keyed by the `TypeId` of the user's type.
#[derive(Clone)]
pub(crate) struct Entry {
    type_id: TypeId,
    element: Arc<dyn Element>,
}

impl Entry {
    /// An entry for `element`; `thread` says whether it is a thread-context element (checked in
    /// debug builds).
    pub(crate) fn new(element: Arc<dyn Element>, thread: bool) -> Entry {
        debug_assert_eq!(element.thread_element().is_some(), thread);
        Entry {
            type_id: element.value().type_id(),
            element,
        }
    }

    /// The thread-context element, if this entry is one.
    pub(crate) fn thread_element(&self) -> Option<&dyn ErasedThreadElement> {
        self.element.thread_element()
    }
}

/// The values of a context (see the module docs).
pub(crate) struct Values {
    entries: Box<[Entry]>,
    thread_elements: bool,
}

impl Values {
    pub(crate) fn single(entry: Entry) -> Arc<Values> {
        let thread_elements = entry.element.thread_element().is_some();
        Arc::new(Values {
            entries: Box::new([entry]),
            thread_elements,
        })
    }

    /// `left + right`, the right side winning per type. Shares a side when the other is empty.
    pub(crate) fn merge(
        left: Option<Arc<Values>>,
        right: Option<Arc<Values>>,
    ) -> Option<Arc<Values>> {
        let (left, right) = match (left, right) {
            (None, side) | (side, None) => return side,
            (Some(left), Some(right)) => (left, right),
        };
        let mut merged = Vec::with_capacity(left.entries.len() + right.entries.len());
        let (mut l, mut r) = (
            left.entries.iter().peekable(),
            right.entries.iter().peekable(),
        );
        loop {
            let next = match (l.peek(), r.peek()) {
                (None, None) => break,
                (Some(_), None) => l.next(),
                (None, Some(_)) => r.next(),
                (Some(a), Some(b)) => match a.type_id.cmp(&b.type_id) {
                    Ordering::Less => l.next(),
                    Ordering::Greater => r.next(),
                    Ordering::Equal => {
                        l.next();
                        r.next()
                    }
                },
            };
            merged.extend(next.cloned());
        }
        let thread_elements = merged
            .iter()
            .any(|entry| entry.element.thread_element().is_some());
        Some(Arc::new(Values {
            entries: merged.into_boxed_slice(),
            thread_elements,
        }))
    }

    /// The value of type `T`, if any.
    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        let wanted = TypeId::of::<T>();
        let index = self
            .entries
            .binary_search_by(|entry| entry.type_id.cmp(&wanted))
            .ok()?;
        self.entries[index].element.value().downcast_ref::<T>()
    }

    /// `true` if an entry is a thread-context element.
    pub(crate) fn has_thread_elements(&self) -> bool {
        self.thread_elements
    }

    /// The entries, in `TypeId` order.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The values' type names, for `Debug`.
    pub(crate) fn type_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|entry| entry.element.type_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CoroutineName;

    #[test]
    fn an_empty_value_set_costs_one_pointer() {
        assert_eq!(
            std::mem::size_of::<Option<Arc<Values>>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn one_value_per_type_right_side_wins() {
        let context = ContextValue::new(1_u32)
            + ContextValue::new("a")
            + ContextValue::new(2_u32)
            + CoroutineName::new("n");
        assert_eq!(context.value::<u32>(), Some(&2));
        assert_eq!(context.value::<&str>(), Some(&"a"));
        assert_eq!(context.value::<u64>(), None);
        assert_eq!(context.name(), Some("n"));
        let values = context.elements().values().expect("values");
        assert_eq!(values.entries.len(), 2);
        assert!(values
            .entries
            .windows(2)
            .all(|pair| pair[0].type_id < pair[1].type_id));
    }

    #[test]
    fn adding_an_empty_side_shares_the_list() {
        let context = Context::from(ContextValue::new(7_i8));
        let with_name = context.clone() + CoroutineName::new("x");
        assert!(Arc::ptr_eq(
            context.elements().values().expect("values"),
            with_name.elements().values().expect("values")
        ));
        let on_the_left = Context::new() + context.clone();
        assert!(Arc::ptr_eq(
            context.elements().values().expect("values"),
            on_the_left.elements().values().expect("values")
        ));
    }
}
