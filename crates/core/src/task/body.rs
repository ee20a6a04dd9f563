//! [`Body`]: what a coroutine runs, and how its future's output becomes the job's result.
//!
//! The closure passed to `launch`/`async_` is called on the first run (not at creation), so a
//! coroutine cancelled before it first runs never executes any of its code (CoroutineStart
//! Default), and the task stores either the closure or the future, never both.

use std::error::Error as StdError;
use std::future::Future;
use std::marker::PhantomData;

use crate::context::Context;
use crate::error::JobError;

/// A coroutine body; see the module docs.
pub(crate) trait Body: Send + 'static {
    /// The future the closure returns.
    type Fut: Future + Send + 'static;
    /// The coroutine's result value (`()` for `launch`).
    type Output: Send + 'static;
    /// Calls the closure with the coroutine's context.
    fn call(self, context: Context) -> Self::Fut;
    /// Turns the future's output into the result: `Err` fails the job.
    fn finish(output: <Self::Fut as Future>::Output) -> Result<Self::Output, JobError>;
}

/// `launch` bodies: `Output = ()` exactly.
pub(crate) struct LaunchBody<F>(pub(crate) F);

impl<F, Fut> Body for LaunchBody<F>
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    type Fut = Fut;
    type Output = ();

    fn call(self, context: Context) -> Fut {
        (self.0)(context)
    }

    fn finish((): ()) -> Result<(), JobError> {
        Ok(())
    }
}

/// `try_launch` bodies: an `Err` fails the job like a panic (a [`JobError`] that is a
/// cancellation cancels it instead).
pub(crate) struct TryLaunchBody<F, E>(pub(crate) F, pub(crate) PhantomData<fn() -> E>);

impl<F, Fut, E> Body for TryLaunchBody<F, E>
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
{
    type Fut = Fut;
    type Output = ();

    fn call(self, context: Context) -> Fut {
        (self.0)(context)
    }

    fn finish(output: Result<(), E>) -> Result<(), JobError> {
        output.map_err(|e| JobError::from_error(e.into()))
    }
}

/// `async_` bodies: the value is kept for the `Deferred`.
pub(crate) struct AsyncBody<F>(pub(crate) F);

impl<F, Fut, T> Body for AsyncBody<F>
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    type Fut = Fut;
    type Output = T;

    fn call(self, context: Context) -> Fut {
        (self.0)(context)
    }

    fn finish(output: T) -> Result<T, JobError> {
        Ok(output)
    }
}
