//! API contract: Context and its elements.

use std::panic;
use std::sync::atomic::Ordering;

use corral::prelude::*;

use crate::helpers::*;

#[test]
fn context_elements_compose_right_side_wins() {
    let empty = Context::new();
    assert!(empty.dispatcher().is_none() && empty.job().is_none() && empty.name().is_none());
    let default: Context = Context::default();
    assert!(default.dispatcher().is_none() && default.job().is_none());

    // Every element converts into a Context.
    let _: Context = Dispatchers::io().into();
    let _: Context = Job::new().into();
    let _: Context = CoroutineName::new("n").into();
    let _: Context = CoroutineExceptionHandler::new(|_ctx: &Context, _err: &JobError| {}).into();
    let _: Context = NonCancellable.into();

    let upload = Dispatchers::io() + CoroutineName::new("upload");
    assert_eq!(upload.dispatcher(), Some(&Dispatchers::io()));
    assert_eq!(upload.name(), Some("upload"));

    let (j1, j2) = (Job::new(), Job::new());
    let ctx = Context::new() + j1 + CoroutineName::new("a") + Dispatchers::io();
    let ctx2 = ctx.clone() + j2.clone() + CoroutineName::new(String::from("b"));
    assert_eq!(ctx2.job(), Some(&j2));
    assert_eq!(ctx2.name(), Some("b"));
    assert_eq!(
        ctx2.dispatcher(),
        Some(&Dispatchers::io()),
        "kept from the left"
    );
    assert_eq!(ctx.name(), Some("a"), "the clone is unchanged");

    let nc = j2.clone() + NonCancellable;
    assert!(
        nc.job().is_none(),
        "NonCancellable replaces the job element"
    );
    let back = NonCancellable + j2.clone();
    assert_eq!(back.job(), Some(&j2));

    let handler_ctx = CoroutineName::new("h") + CoroutineExceptionHandler::new(|_, _| {});
    assert!(handler_ctx.exception_handler().is_some());
}

#[test]
fn context_right_side_wins_at_runtime() {
    let pool = new_single_thread_context("api-right-wins");
    let seen =
        run_blocking(|scope| async move {
            scope
            .async_with(
                Dispatchers::io() + CoroutineName::new("left") + (*pool).clone()
                    + CoroutineName::new("right"),
                CoroutineStart::Default,
                |inner| async move { (thread_name(), inner.context().name().map(str::to_owned)) },
            )
            .await
            .unwrap()
        })
        .unwrap();
    assert_eq!(
        seen,
        ("api-right-wins".to_owned(), Some("right".to_owned()))
    );
}

#[test]
fn coroutine_exception_handler_receives_root_failures_with_context() {
    let recorder = Recorder::default();
    let scope = CoroutineScope::new(Job::new() + recorder.handler() + CoroutineName::new("svc"));
    let job = scope.launch(|_| async { panic::panic_any("root launch failed") });
    run_blocking(|_| async move { job.join().await }).unwrap();
    let errors = recorder.wait_for(1);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0.as_deref(), Some("svc"));
    assert!(errors[0].1.is_failure());
    assert!(errors[0].1.to_string().contains("root launch failed"));
    assert!(!scope.is_active(), "a failing child cancels a plain Job");
}

#[test]
fn non_cancellable_launch_is_a_root_not_cancelled_with_the_scope() {
    run_blocking(|_| async {
        let scope = CoroutineScope::new(Job::new());
        let done = flag();
        let d = done.clone();
        let job = scope.launch_with(
            NonCancellable,
            CoroutineStart::Default,
            move |_| async move {
                delay(ms(20)).await;
                d.store(true, Ordering::SeqCst);
            },
        );
        assert_eq!(job.parent(), None);
        scope.cancel();
        job.join().await;
        assert!(done.load(Ordering::SeqCst));
        assert!(!job.is_cancelled());
    })
    .unwrap();
}
