//! Helpers shared by the integration tests that run one scenario on every dispatcher.

use std::time::{Duration, Instant};

use corral::prelude::*;

/// A generous bound for what must happen "soon": a regression fails instead of hanging CI.
pub(crate) const SOON: Duration = Duration::from_secs(10);

/// Every dispatcher a coroutine can run on, from inside `run_blocking` (whose loop is the
/// last one), with `pool` as the executor.
pub(crate) fn dispatchers(
    loop_scope: &CoroutineScope,
    pool: &ExecutorDispatcher,
) -> Vec<(String, Dispatcher)> {
    vec![
        ("Default".to_owned(), Dispatchers::default()),
        ("IO".to_owned(), Dispatchers::io()),
        (
            "Default.limited_parallelism(2)".to_owned(),
            Dispatchers::default().limited_parallelism(2),
        ),
        ("Unconfined".to_owned(), Dispatchers::unconfined()),
        ("fixed thread pool".to_owned(), pool.dispatcher().clone()),
        ("run_blocking loop".to_owned(), loop_scope.dispatcher()),
    ]
}

/// Suspends (on the caller's dispatcher) until `done()` or the deadline; `false` on timeout.
pub(crate) async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + SOON;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        delay(Duration::from_millis(1)).await;
    }
    true
}

/// Joins every job, failing the test if that takes longer than [`SOON`].
pub(crate) async fn join_all(what: &str, jobs: Vec<Job>) {
    let joined = with_timeout(SOON, move |_| async move {
        for job in jobs {
            job.join().await;
        }
    })
    .await;
    assert!(joined.is_ok(), "{what}: jobs did not complete: {joined:?}");
}
