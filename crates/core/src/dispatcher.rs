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
#[derive(Clone)]
pub struct Dispatcher {
    inner: Handle,
}

#[derive(Clone)]
enum Handle {
    Static(&'static dyn Dispatch),
    Shared(Arc<dyn Dispatch>),
}

impl Dispatcher {
    /// Wraps a dispatcher implementation in a handle.
    pub fn new(dispatch: impl Dispatch) -> Dispatcher {
        Dispatcher::from_arc(Arc::new(dispatch))
    }

    /// Wraps an already shared dispatcher implementation.
    pub fn from_arc(inner: Arc<dyn Dispatch>) -> Dispatcher {
        Dispatcher {
            inner: Handle::Shared(inner),
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
        Dispatcher {
            inner: Handle::Static(inner),
        }
    }

    /// The implementation, if this handle was made by [`Dispatcher::from_static`]: it can
    /// never be freed, so a caller may keep using it after giving away whatever kept the handle
    /// alive (the task moving its own reference into the runnable it dispatches).
    pub(crate) fn as_static(&self) -> Option<&'static dyn Dispatch> {
        match &self.inner {
            Handle::Static(dispatch) => Some(*dispatch),
            Handle::Shared(_) => None,
        }
    }

    /// The implementation behind this handle.
    pub fn as_dispatch(&self) -> &dyn Dispatch {
        match &self.inner {
            Handle::Static(dispatch) => *dispatch,
            Handle::Shared(dispatch) => &**dispatch,
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
        std::ptr::addr_eq(
            self.as_dispatch() as *const dyn Dispatch,
            other.as_dispatch() as *const dyn Dispatch,
        )
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
