//! [`with_cleanup`]: awaitable cleanup after a body, also when the coroutine is cancelled
//! (Kotlin `try { body } finally { withContext(NonCancellable) { cleanup } }`).
//!
//! While the body runs, a *watch* shield keeps the enclosing frame from dropping this future
//! at a suspension; instead, after each `Pending` of the body, `with_cleanup` checks whether
//! the frame is cancelled (and nothing inside the body shields it) and then drops the body
//! itself. The cleanup then runs under a *hard* shield, so nothing can drop it; when it is
//! done the shields are gone and, if the body was dropped, the future stays pending: the frame
//! drops it at that suspension and the coroutine ends cancelled. See [`crate::current`].
//!
//! The shields belong to the coroutine polling the `with_cleanup` now: a future moved to
//! another coroutine between polls moves its shield there at its next poll, and its body is
//! then dropped (and its cleanup run) when *that* coroutine is cancelled ("Who owns a shield"
//! in [`crate::current`]).
//!
//! A panic of the body (while polled or while dropped) is Kotlin's exception thrown through a
//! `finally`: the cleanup still runs to completion, then the panic resumes from this future.

use std::any::Any;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::current::{self, ShieldGuard, ShieldKind};
use crate::error::drop_panic_payload;

/// Runs `body`, then `cleanup` to completion, also when the coroutine is cancelled while
/// `body` is suspended (then `body` is dropped first and the coroutine stays cancelled
/// afterwards). `cleanup` may suspend; it is not cancelled. If `body` panics (or its
/// destructor does), `cleanup` still runs to completion and the panic resumes after it.
///
/// Outside a coroutine there is no cancellation: it is `body` then `cleanup`.
///
/// # Examples
///
/// ```
/// # async fn example() {
/// use corral_core::with_cleanup;
///
/// let value = with_cleanup(async { 42 }, async { println!("cleaned up") }).await;
/// assert_eq!(value, 42);
/// # }
/// ```
pub fn with_cleanup<B, C>(body: B, cleanup: C) -> WithCleanup<B, C>
where
    B: Future,
    C: Future<Output = ()>,
{
    WithCleanup {
        body: Some(body),
        cleanup: Some(cleanup),
        output: None,
        panic: BodyPanic(None),
        watch: None,
        hard: None,
        cleaning: false,
    }
}

pin_project! {
    /// Future of [`with_cleanup`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct WithCleanup<B: Future, C> {
        #[pin]
        body: Option<B>,
        #[pin]
        cleanup: Option<C>,
        output: Option<B::Output>,
        panic: BodyPanic,
        watch: Option<ShieldGuard>,
        hard: Option<ShieldGuard>,
        cleaning: bool,
    }
}

impl<B, C> Future for WithCleanup<B, C>
where
    B: Future,
    C: Future<Output = ()>,
{
    type Output = B::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<B::Output> {
        let mut this = self.project();
        if !*this.cleaning {
            current::keep_shield(this.watch, ShieldKind::Watch);
            let body = this
                .body
                .as_mut()
                .as_pin_mut()
                .expect("body present until cleanup");
            match panic::catch_unwind(AssertUnwindSafe(|| body.poll(cx))) {
                Ok(Poll::Ready(output)) => *this.output = Some(output),
                Err(payload) => this.panic.keep(payload),
                Ok(Poll::Pending) => {
                    let cancelled = this
                        .watch
                        .as_ref()
                        .is_some_and(ShieldGuard::watched_frame_cancelled);
                    if !cancelled {
                        return Poll::Pending;
                    }
                }
            }
            // The body ended, or must be dropped: switch to the cleanup, shielded.
            *this.hard = current::raise_shield(ShieldKind::Hard);
            *this.watch = None;
            let mut body = this.body.as_mut();
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| body.set(None))) {
                this.panic.keep(payload);
            }
            *this.cleaning = true;
        }
        if let Some(cleanup) = this.cleanup.as_mut().as_pin_mut() {
            current::keep_shield(this.hard, ShieldKind::Hard);
            if cleanup.poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.cleanup.set(None);
            *this.hard = None;
        }
        if let Some(payload) = this.panic.0.take() {
            panic::resume_unwind(payload);
        }
        match this.output.take() {
            Some(output) => Poll::Ready(output),
            // The body was dropped by cancellation: stay pending so the frame drops us now that
            // the shields are down.
            None => Poll::Pending,
        }
    }
}

/// The body's panic, held while the cleanup runs. The first one is kept; a later one (the
/// destructor of a body that panicked) and a payload never resumed are dropped with
/// [`drop_panic_payload`], whose own destructor may panic too.
struct BodyPanic(Option<Box<dyn Any + Send>>);

impl BodyPanic {
    fn keep(&mut self, payload: Box<dyn Any + Send>) {
        match self.0 {
            None => self.0 = Some(payload),
            Some(_) => drop_panic_payload(payload),
        }
    }
}

impl Drop for BodyPanic {
    fn drop(&mut self) {
        if let Some(payload) = self.0.take() {
            drop_panic_payload(payload);
        }
    }
}
