//! API contract: Deferred.

use std::panic;
use std::sync::atomic::Ordering;
use std::time::Duration;

use corral::prelude::*;

use crate::helpers::*;

#[test]
fn deferred_is_a_job_and_a_future_and_awaiting_starts_a_lazy_one() {
    fn job_of(job: &Job) -> Job {
        job.clone()
    }

    run_blocking(|scope| async move {
        let ran = flag();
        let r = ran.clone();
        let deferred =
            scope.async_with(Context::new(), CoroutineStart::Lazy, move |_| async move {
                r.store(true, Ordering::SeqCst);
                (current_job(), 11)
            });
        // Deref<Target = Job>.
        let as_job: &Job = &deferred;
        let job = job_of(&deferred);
        assert!(*as_job == job);
        assert!(!deferred.is_active() && !deferred.is_completed(), "New");
        yield_now().await;
        assert!(!ran.load(Ordering::SeqCst));
        // Future<Output = Result<T, JobError>>; awaiting starts it.
        let output: Result<(Option<Job>, i32), JobError> = deferred.await;
        let (inner_job, value) = output.unwrap();
        assert!(ran.load(Ordering::SeqCst));
        assert_eq!(value, 11);
        assert_eq!(inner_job, Some(job.clone()));
        assert!(job.is_completed() && !job.is_cancelled());

        // A failed async_ gives Err through its Deferred.
        let err = supervisor_scope(|scope| async move {
            scope
                .async_(|_| async { panic::panic_any(String::from("deferred failure")) })
                .await
        })
        .await
        .unwrap()
        .unwrap_err();
        assert!(err.is_failure() && err.to_string().contains("deferred failure"));

        // A cancelled one gives a cancellation.
        let d = scope.async_(|_| async {
            delay(Duration::MAX).await;
        });
        d.cancel();
        assert!(d.await.unwrap_err().is_cancelled());
    })
    .unwrap();
}
