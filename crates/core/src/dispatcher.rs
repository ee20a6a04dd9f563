//! The dispatcher abstraction: where a coroutine runs when it is started or woken.
//!
//! A dispatcher (Kotlin's `CoroutineDispatcher`) decides on which thread a runnable runs.
//! corral-core knows nothing about threads: it only calls [`Dispatch`] methods. The concrete
//! dispatchers (Default, IO, limited views, event loops, Unconfined) live in
//! `corral-dispatchers`.
//!
//! # Protocol
//!
//! 1. When a coroutine is started or woken, core asks [`Dispatch::is_dispatch_needed`]. If it
//!    is `false`, the coroutine is resumed in place through the thread-local trampoline
//!    ([`crate::trampoline`]), so nested resumes never grow the stack.
//! 2. Otherwise core calls [`Dispatch::dispatch`] (or [`Dispatch::dispatch_yield`] after
//!    `yield_now`, which must be FIFO-fair). The dispatcher must eventually call
//!    [`Runnable::run`] exactly once, or, if it cannot run it (closed executor, event loop not
//!    running), call [`Runnable::reject`] with a [`DispatchError`](crate::DispatchError)
//!    *without holding any of its locks*: rejecting a coroutine fails it and drops its future
//!    on the calling thread.
//! 3. A dispatcher never runs a runnable inside `dispatch` itself unless it is an in-place
//!    dispatcher (then `is_dispatch_needed` is `false` and core does not call `dispatch`).

use std::any::Any;
use std::fmt;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::runnable::Runnable;

/// How a runnable is expected to behave, a hint the scheduler reads to manage CPU permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TaskMode {
    /// CPU work that returns quickly to the dispatcher (Kotlin `NonBlocking`).
    #[default]
    NonBlocking,
    /// Work that may block its thread (blocking IO). The scheduler releases the CPU permit while
    /// it runs and compensates with another thread (Kotlin `ProbablyBlocking`).
    ProbablyBlocking,
}

/// The behaviour of a dispatcher. Implement this to make a new kind of dispatcher and wrap it in
/// a [`Dispatcher`] handle with [`Dispatcher::new`].
pub trait Dispatch: Send + Sync + fmt::Display + 'static {
    /// Queues `runnable` to run later on this dispatcher's threads (or rejects it, see the
    /// [module documentation](crate::dispatcher)).
    fn dispatch(&self, runnable: Runnable);

    /// Queues `runnable` after `yield_now`: it must run after the work already queued here
    /// (FIFO), so that yielding lets others run. Defaults to [`dispatch`](Dispatch::dispatch).
    /// `runnable` is the work running now re-queuing itself (a coroutine after `yield_now`, a
    /// dispatch loop after its batch), so no new work appears: a dispatcher may skip waking
    /// other threads for it.
    fn dispatch_yield(&self, runnable: Runnable) {
        self.dispatch(runnable);
    }

    /// `false` when a resume may run in place on the current thread (Unconfined, or an
    /// immediate dispatcher already on its thread). Defaults to `true`.
    fn is_dispatch_needed(&self) -> bool {
        true
    }

    /// The mode of the runnables this dispatcher submits to its scheduler.
    fn task_mode(&self) -> TaskMode {
        TaskMode::NonBlocking
    }

    /// A view of `this` (the handle wrapping `self`) that runs at most `parallelism` runnables
    /// at once. Each dispatcher decides what that means for it (an event loop returns itself).
    fn limited_parallelism(&self, this: &Dispatcher, parallelism: usize) -> Dispatcher;

    /// The clock of the coroutines this dispatcher runs, when it is not the real one (Kotlin's
    /// `Delay` capability of a dispatcher: a test dispatcher's virtual time). Opaque to core:
    /// the timer layer (`corral-dispatchers`) recognises its own clock types by downcasting and
    /// registers `delay` and timeouts there. Defaults to `None`: real time.
    fn clock(&self) -> Option<&(dyn Any + Send + Sync)> {
        None
    }

    /// The immediate form of `this`: resumes in place when already on the right thread.
    /// Only a dispatcher bound to one thread can have one; the default panics with a message
    /// naming the call and the dispatcher.
    fn immediate(&self, this: &Dispatcher) -> Dispatcher {
        let _ = this;
        panic!(
            "`Dispatcher::immediate()` is not supported by {self}: only a dispatcher bound to \
             one thread (a main dispatcher) has an immediate form"
        )
    }
}

/// A handle to a dispatcher: cheap to clone, compared by identity.
///
/// Its `Display` is the dispatcher's name.
///
/// Process-wide dispatchers are best held as `&'static`
/// references ([`Dispatcher::from_static`]), so cloning and dropping their handles touches no
/// reference count: every coroutine's context holds its dispatcher, and a count shared by all
/// coroutines of all threads would be one contended cache line on every spawn and completion.
///
/// # Examples
///
/// A dispatcher of one's own: a queue the caller drains by hand.
///
/// ```
/// use std::collections::VecDeque;
/// use std::fmt;
/// use std::sync::{Arc, Mutex};
///
/// use corral_core::{launch, Context, CoroutineStart, Dispatch, Dispatcher, Runnable};
///
/// #[derive(Default)]
/// struct Queue(Mutex<VecDeque<Runnable>>);
///
/// impl fmt::Display for Queue {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         f.write_str("Queue")
///     }
/// }
///
/// impl Dispatch for Queue {
///     fn dispatch(&self, runnable: Runnable) {
///         self.0.lock().unwrap().push_back(runnable);
///     }
///
///     fn limited_parallelism(&self, this: &Dispatcher, _parallelism: usize) -> Dispatcher {
///         this.clone() // it runs one runnable at a time anyway
///     }
/// }
///
/// let queue = Arc::new(Queue::default());
/// let dispatcher = Dispatcher::from_arc(queue.clone());
/// assert_eq!(dispatcher.to_string(), "Queue");
///
/// let job = launch(Context::new() + dispatcher, CoroutineStart::Default, |_| async {});
/// assert!(!job.is_completed()); // dispatched: waiting in the queue
/// loop {
///     let next = queue.0.lock().unwrap().pop_front();
///     let Some(runnable) = next else { break };
///     runnable.run();
/// }
/// assert!(job.is_completed());
/// ```
pub struct Dispatcher {
    /// The implementation's address and vtable: two words, where an enum of a `&'static dyn`
    /// and an `Arc<dyn>` takes three in every coroutine's context. The address's low bits say
    /// which it is (invariant):
    /// * bit 0 clear: a `&'static dyn Dispatch`;
    /// * bits `..01` ([`SHARED`]): the data pointer of an `Arc<dyn Dispatch>`, of which this
    ///   handle owns one strong count;
    /// * bits `..11` ([`FORWARDED`]): the data pointer of an `Arc<StaticForward>` (a
    ///   `'static` implementation at an odd address), of which this handle owns one count.
    ///
    /// An `Arc`'s data pointer has its low three bits clear: the allocation starts with two
    /// `usize` counters, so the data sits at a multiple of their alignment (checked when a
    /// handle is made). A `'static` may sit at an odd address only if its type has alignment 1;
    /// such an implementation goes behind a forwarder.
    tagged: NonNull<dyn Dispatch>,
}

/// The tag bits of [`Dispatcher::tagged`].
const TAG_MASK: usize = 0b11;
/// Tag of a handle owning a count of an `Arc<dyn Dispatch>`.
const SHARED: usize = 0b01;
/// Tag of a handle owning a count of an `Arc<StaticForward>`.
const FORWARDED: usize = 0b11;

// SAFETY: a `Dispatcher` is a `&'static dyn Dispatch` or owns a count of an `Arc` of a
// `dyn Dispatch` (the invariant of `tagged`); both are `Send` because `Dispatch: Send + Sync`.
unsafe impl Send for Dispatcher {}
// SAFETY: as for `Send`: both forms are `Sync` because `Dispatch: Send + Sync`.
unsafe impl Sync for Dispatcher {}

/// A `'static` implementation whose address is odd (its type has alignment 1), so a handle
/// cannot keep it untagged: it is reached through this forwarder in an `Arc`. Rare: every
/// dispatcher with a field of pointer size is aligned.
struct StaticForward(&'static dyn Dispatch);

impl fmt::Display for StaticForward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

impl Dispatch for StaticForward {
    fn dispatch(&self, runnable: Runnable) {
        self.0.dispatch(runnable);
    }

    fn dispatch_yield(&self, runnable: Runnable) {
        self.0.dispatch_yield(runnable);
    }

    fn is_dispatch_needed(&self) -> bool {
        self.0.is_dispatch_needed()
    }

    fn task_mode(&self) -> TaskMode {
        self.0.task_mode()
    }

    fn limited_parallelism(&self, this: &Dispatcher, parallelism: usize) -> Dispatcher {
        self.0.limited_parallelism(this, parallelism)
    }

    fn clock(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.0.clock()
    }

    fn immediate(&self, this: &Dispatcher) -> Dispatcher {
        self.0.immediate(this)
    }
}

impl Dispatcher {
    /// Wraps a dispatcher implementation in a handle.
    pub fn new(dispatch: impl Dispatch) -> Dispatcher {
        Dispatcher::from_arc(Arc::new(dispatch))
    }

    /// Wraps an already shared dispatcher implementation.
    pub fn from_arc(inner: Arc<dyn Dispatch>) -> Dispatcher {
        Dispatcher::owning(inner, SHARED)
    }

    /// A handle owning `inner`'s strong count, tagged `tag`.
    fn owning(inner: Arc<dyn Dispatch>, tag: usize) -> Dispatcher {
        let raw =
            NonNull::new(Arc::into_raw(inner).cast_mut()).expect("`Arc::into_raw` is never null");
        assert_eq!(
            raw.addr().get() & TAG_MASK,
            0,
            "an `Arc`'s data pointer is aligned to its reference counts"
        );
        Dispatcher {
            tagged: raw.map_addr(|addr| addr | tag),
        }
    }

    /// Wraps a dispatcher that lives for the whole process (a `static`, or a leaked box):
    /// clones of this handle are plain copies.
    ///
    /// ```
    /// use std::sync::OnceLock;
    /// use corral_core::{Dispatch, Dispatcher, Runnable};
    ///
    /// struct Inline;
    /// impl std::fmt::Display for Inline {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str("Inline")
    ///     }
    /// }
    /// impl Dispatch for Inline {
    ///     fn dispatch(&self, runnable: Runnable) {
    ///         runnable.run();
    ///     }
    ///     fn limited_parallelism(&self, this: &Dispatcher, _parallelism: usize) -> Dispatcher {
    ///         this.clone()
    ///     }
    /// }
    ///
    /// static INLINE: Inline = Inline;
    /// let a = Dispatcher::from_static(&INLINE);
    /// assert!(a.same_as(&a.clone()));
    /// assert_eq!(a.to_string(), "Inline");
    /// ```
    pub fn from_static(inner: &'static dyn Dispatch) -> Dispatcher {
        let raw = NonNull::from(inner);
        if raw.addr().get() & SHARED == 0 {
            Dispatcher { tagged: raw }
        } else {
            Dispatcher::owning(Arc::new(StaticForward(inner)), FORWARDED)
        }
    }

    /// The tag of `tagged` (see its invariant): `0` and `0b10` are static.
    fn tag(&self) -> usize {
        if self.tagged.addr().get() & SHARED == 0 {
            0
        } else {
            self.tagged.addr().get() & TAG_MASK
        }
    }

    /// The pointer without its tag: the implementation, or the `Arc`'s data.
    fn untagged(&self) -> NonNull<dyn Dispatch> {
        let tag = self.tag();
        // Clearing a set tag leaves the `Arc`'s data pointer, which is not null; a static's
        // address has no tag to clear.
        self.tagged
            .map_addr(|addr| NonZeroUsize::new(addr.get() & !tag).unwrap_or(addr))
    }

    /// The implementation, if this handle was made by [`Dispatcher::from_static`]: it can
    /// never be freed, so a caller may keep using it after giving away whatever kept the handle
    /// alive (the task moving its own reference into the runnable it dispatches).
    pub(crate) fn as_static(&self) -> Option<&'static dyn Dispatch> {
        match self.tag() {
            0 => {
                // An untagged handle was made from a `&'static dyn Dispatch`.
                // SAFETY: the invariant of `tagged`: the reference lives for the whole process.
                Some(unsafe { self.tagged.as_ref() })
            }
            FORWARDED => Some(self.forward().0),
            _ => None,
        }
    }

    /// The forwarder of a handle tagged [`FORWARDED`].
    fn forward(&self) -> &StaticForward {
        debug_assert_eq!(self.tag(), FORWARDED);
        // A handle tagged `FORWARDED` owns a count of an `Arc<StaticForward>` whose data the
        // untagged pointer is.
        // SAFETY: the invariant of `tagged`: that data is live while `self` is.
        unsafe { self.untagged().cast::<StaticForward>().as_ref() }
    }

    /// The implementation behind this handle.
    pub fn as_dispatch(&self) -> &dyn Dispatch {
        // The untagged pointer is a `'static` implementation or the data of an `Arc` of which
        // `self` owns a count.
        // SAFETY: the invariant of `tagged`: either outlives the borrow of `self`.
        unsafe { self.untagged().as_ref() }
    }

    /// The address that names the implementation: a forwarded static's own address, so two
    /// handles of one static are the same dispatcher whichever way they were made.
    fn identity(&self) -> *const dyn Dispatch {
        match self.as_static() {
            Some(dispatch) => dispatch,
            None => self.as_dispatch(),
        }
    }

    /// See [`Dispatch::dispatch`].
    pub fn dispatch(&self, runnable: Runnable) {
        self.as_dispatch().dispatch(runnable);
    }

    /// See [`Dispatch::dispatch_yield`].
    pub fn dispatch_yield(&self, runnable: Runnable) {
        self.as_dispatch().dispatch_yield(runnable);
    }

    /// See [`Dispatch::is_dispatch_needed`].
    pub fn is_dispatch_needed(&self) -> bool {
        self.as_dispatch().is_dispatch_needed()
    }

    /// See [`Dispatch::task_mode`].
    pub fn task_mode(&self) -> TaskMode {
        self.as_dispatch().task_mode()
    }

    /// A view running at most `parallelism` coroutines at once on this dispatcher
    /// (see [`Dispatch::limited_parallelism`]).
    pub fn limited_parallelism(&self, parallelism: usize) -> Dispatcher {
        self.as_dispatch().limited_parallelism(self, parallelism)
    }

    /// The immediate form of this dispatcher (see [`Dispatch::immediate`]).
    pub fn immediate(&self) -> Dispatcher {
        self.as_dispatch().immediate(self)
    }

    /// `true` if both handles name the same dispatcher.
    pub fn same_as(&self, other: &Dispatcher) -> bool {
        // Data pointers only: the same implementation may be reached through different vtables.
        std::ptr::addr_eq(self.identity(), other.identity())
    }
}

impl Clone for Dispatcher {
    fn clone(&self) -> Dispatcher {
        if self.tag() != 0 {
            // `self` owns a count of the `Arc` whose data the untagged pointer is, so it is
            // live; the clone owns the count added here.
            // SAFETY: the invariant of `tagged`: the pointer came from `Arc::into_raw`.
            unsafe { Arc::increment_strong_count(self.untagged().as_ptr().cast_const()) };
        }
        Dispatcher {
            tagged: self.tagged,
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        if self.tag() != 0 {
            // `self` owns one count of the `Arc` whose data the untagged pointer is, and gives
            // it back here, once.
            // SAFETY: the invariant of `tagged`: the pointer came from `Arc::into_raw`.
            let shared = unsafe { Arc::from_raw(self.untagged().as_ptr().cast_const()) };
            drop(shared);
        }
    }
}

impl PartialEq for Dispatcher {
    fn eq(&self, other: &Dispatcher) -> bool {
        self.same_as(other)
    }
}

impl Eq for Dispatcher {}

impl fmt::Display for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_dispatch(), f)
    }
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dispatcher({})", self.as_dispatch())
    }
}

#[cfg(test)]
mod handle_tests {
    use std::fmt;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::Arc;

    use super::{Dispatch, Dispatcher};
    use crate::runnable::Runnable;

    /// A dispatcher of alignment 1, so a `static` of it may sit at an odd address. Runs its
    /// runnables in place and counts them.
    struct ByteDispatch(AtomicU8);

    impl fmt::Display for ByteDispatch {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("ByteDispatch")
        }
    }

    impl Dispatch for ByteDispatch {
        fn dispatch(&self, runnable: Runnable) {
            self.0.fetch_add(1, Ordering::Relaxed);
            runnable.run();
        }

        fn limited_parallelism(&self, this: &Dispatcher, _parallelism: usize) -> Dispatcher {
            this.clone()
        }
    }

    /// Two adjacent one-byte dispatchers: one of them is at an odd address.
    static PAIR: [ByteDispatch; 2] = [
        ByteDispatch(AtomicU8::new(0)),
        ByteDispatch(AtomicU8::new(0)),
    ];

    fn at_parity(odd: bool) -> &'static ByteDispatch {
        PAIR.iter()
            .find(|d| (std::ptr::from_ref(*d).addr() & 1 == 1) == odd)
            .expect("two adjacent bytes have both parities")
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_handle_is_two_words_and_an_option_of_it_too() {
        assert_eq!(std::mem::size_of::<Dispatcher>(), 16);
        assert_eq!(std::mem::size_of::<Option<Dispatcher>>(), 16);
    }

    #[test]
    fn a_static_at_an_odd_address_is_the_same_dispatcher_however_it_is_reached() {
        let odd = at_parity(true);
        let (a, b) = (Dispatcher::from_static(odd), Dispatcher::from_static(odd));
        assert!(a.same_as(&b) && a == b);
        let static_ref = a.as_static().expect("a static is static");
        assert!(std::ptr::addr_eq(static_ref, odd));
        let clone = a.clone();
        drop(a);
        assert!(clone.same_as(&b));
        assert_eq!(clone.to_string(), "ByteDispatch");
        let limited = clone.limited_parallelism(1);
        assert!(limited.same_as(&b));

        let even = Dispatcher::from_static(at_parity(false));
        assert!(!even.same_as(&b));
        assert!(std::ptr::addr_eq(
            even.as_static().expect("static"),
            at_parity(false)
        ));
    }

    #[test]
    fn a_dispatch_through_a_forwarded_static_reaches_it() {
        let odd = at_parity(true);
        let before = odd.0.load(Ordering::Relaxed);
        let dispatcher = Dispatcher::from_static(odd);
        let job = crate::launch(
            crate::Context::new() + dispatcher,
            crate::CoroutineStart::Default,
            |_| async {},
        );
        assert!(job.is_completed());
        assert!(odd.0.load(Ordering::Relaxed) > before);
    }

    #[test]
    fn shared_handles_own_one_count_each() {
        let inner = Arc::new(ByteDispatch(AtomicU8::new(0)));
        let a = Dispatcher::from_arc(inner.clone());
        assert_eq!(Arc::strong_count(&inner), 2);
        let b = a.clone();
        assert_eq!(Arc::strong_count(&inner), 3);
        assert!(a.same_as(&b) && a.as_static().is_none());
        drop(a);
        drop(b);
        assert_eq!(Arc::strong_count(&inner), 1);
    }
}
