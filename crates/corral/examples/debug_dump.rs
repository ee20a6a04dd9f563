//! `corral::debug`: a dump of a small coroutine tree, then a coroutine that blocks a Default
//! worker and the stall warning it gets.
//!
//! Run with `cargo run --example debug_dump`. Setting `CORRAL_DEBUG=1` instead of calling
//! `install()` also lets `kill -QUIT <pid>` print the same dump from a running process.

use std::time::Duration;

use corral::prelude::*;

fn main() {
    // Prints corral's warnings (the stall warning below) to stdout.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_target(true)
        .init();
    corral::debug::install();
    run_blocking(|scope| async move {
        let shutdown = Job::new();
        let server_shutdown = shutdown.clone();
        scope.launch_with(
            CoroutineName::new("server"),
            CoroutineStart::Default,
            move |scope| async move {
                for i in 0..2 {
                    let connection_shutdown = server_shutdown.clone();
                    scope.launch_with(
                        CoroutineName::new(format!("connection-{i}")),
                        CoroutineStart::Default,
                        move |_| async move { connection_shutdown.join().await },
                    );
                }
                server_shutdown.join().await;
            },
        );
        let loader_shutdown = shutdown.clone();
        scope.launch_with(
            Dispatchers::io() + CoroutineName::new("loader"),
            CoroutineStart::Default,
            move |_| async move { loader_shutdown.join().await },
        );
        delay(Duration::from_millis(50)).await;
        println!("{}", corral::debug::dump());

        println!("A coroutine now blocks a Default worker for 300 ms (threshold: CORRAL_STALL_MS, 100 ms):");
        scope
            .launch_with(
                Dispatchers::default() + CoroutineName::new("blocker"),
                CoroutineStart::Default,
                |_| async { std::thread::sleep(Duration::from_millis(300)) },
            )
            .join()
            .await;
        shutdown.complete();
    })
    .expect("the demo runs");
}
