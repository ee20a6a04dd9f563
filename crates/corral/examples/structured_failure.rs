//! A failing child cancels its siblings and its parent. `with_context(SupervisorJob::new(), ..)`
//! does not catch that (as in Kotlin), while `supervisor_scope` does.

use std::time::Duration;

use corral::prelude::*;

fn main() -> Result<(), JobError> {
    // The panics below are deliberate, and corral reports each one itself (as an `Err` or to
    // the handler), so the standard hook's message and backtrace would only be noise here.
    std::panic::set_hook(Box::new(|_| {}));
    // The default handler would print panics of supervised children; show them ourselves.
    let handler = CoroutineExceptionHandler::new(|ctx, error| {
        println!(
            "   handler: {} failed with {error}",
            ctx.name().unwrap_or("a coroutine")
        );
    });
    run_blocking_with(handler, |_| async move {
        println!("-- coroutine_scope: one child fails");
        let result = coroutine_scope(|scope| async move {
            scope.launch(|_| async {
                with_cleanup(delay(Duration::from_secs(10)), async {
                    println!("   sibling cancelled, cleanup runs")
                })
                .await;
            });
            scope.launch_with(
                CoroutineName::new("failing child"),
                CoroutineStart::Default,
                |_| async {
                    delay(Duration::from_millis(10)).await;
                    panic!("boom");
                },
            );
        })
        .await;
        println!("   coroutine_scope returned {result:?}");

        println!("-- with_context(SupervisorJob::new(), ..): the failure still cancels the block");
        let result = with_context(SupervisorJob::new(), |scope| async move {
            scope.launch(|_| async { panic!("boom in with_context") });
            delay(Duration::from_millis(100)).await;
            "block finished"
        })
        .await;
        println!("   with_context returned {result:?}");

        println!("-- supervisor_scope: the failure stays with the child");
        let result = supervisor_scope(|scope| async move {
            scope.launch_with(
                CoroutineName::new("supervised child"),
                CoroutineStart::Default,
                |_| async { panic!("boom in supervisor_scope") },
            );
            let sibling = scope.async_(|_| async {
                delay(Duration::from_millis(50)).await;
                "sibling finished"
            });
            sibling.await
        })
        .await;
        println!("   supervisor_scope returned {result:?}");
    })
}
