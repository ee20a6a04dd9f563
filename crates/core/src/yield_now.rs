//! [`yield_now`]: give other coroutines of the same dispatcher a turn (Kotlin `yield()`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::current;

/// Checks for cancellation (a cancelled coroutine is dropped here), then re-dispatches the
/// coroutine FIFO behind the work already queued on its dispatcher. On an in-place dispatcher
/// (Unconfined) it only yields to in-place work queued on this thread, and returns at once when
/// there is none.
///
/// # Examples
///
/// ```
/// # async fn example() {
/// for _ in 0..3 {
///     corral_core::yield_now().await;
/// }
/// # }
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// Future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        current::poll_yield(&mut self.yielded, cx.waker())
    }
}
