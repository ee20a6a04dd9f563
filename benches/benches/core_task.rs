//! Criterion micro benches of corral-core's task: regression benchmarks of internals, not a
//! comparison with other runtimes (that is `corral-bench`).
//!
//! * `create_run_complete`: `corral_core::launch` of an empty coroutine with a context that
//!   names no dispatcher, so it runs in place (through the trampoline) and completes inside the
//!   call: one task allocation, one poll, completion, and the drop of the returned `Job`.
//! * `create_run_complete_async`: the same with `async_` and reading the finished `Deferred`.
//! * `wake_suspended`: one wake of a suspended in-place coroutine: the waker's `wake_by_ref`
//!   resumes it in place, it re-registers its waker and suspends again.

use std::cell::RefCell;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};

use corral_core::{async_, launch, Context, CoroutineStart};
use criterion::{criterion_group, criterion_main, Criterion};

thread_local! {
    /// The waker of the coroutine suspended in `wake_suspended`.
    static PARKED: RefCell<Option<Waker>> = const { RefCell::new(None) };
}

/// Suspends once, leaving its waker in [`PARKED`].
struct Park {
    parked: bool,
}

impl Future for Park {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.parked {
            return Poll::Ready(());
        }
        self.parked = true;
        PARKED.with(|slot| *slot.borrow_mut() = Some(cx.waker().clone()));
        Poll::Pending
    }
}

fn create_run_complete(c: &mut Criterion) {
    c.bench_function("core_task/create_run_complete", |b| {
        b.iter(|| black_box(launch(Context::new(), CoroutineStart::Default, |_| async {})));
    });
    c.bench_function("core_task/create_run_complete_async", |b| {
        b.iter(|| {
            let deferred = async_(Context::new(), CoroutineStart::Default, |_| async { 7u64 });
            black_box(futures_lite::future::block_on(deferred).ok())
        });
    });
}

fn wake_suspended(c: &mut Criterion) {
    // A coroutine that parks forever, one `Park` per resume; it runs in place.
    let job = launch(Context::new(), CoroutineStart::Default, |_| async {
        loop {
            Park { parked: false }.await;
        }
    });
    c.bench_function("core_task/wake_suspended", |b| {
        b.iter(|| {
            let waker = PARKED
                .with(|slot| slot.borrow_mut().take())
                .expect("the coroutine is parked");
            waker.wake();
        });
    });
    job.cancel();
    if let Some(waker) = PARKED.with(|slot| slot.borrow_mut().take()) {
        waker.wake();
    }
}

criterion_group!(benches, create_run_complete, wake_suspended);
criterion_main!(benches);
