//! corral's coroutines in tokio-console.
//!
//! ```text
//! RUSTFLAGS="--cfg console_without_tokio_unstable" \
//!     cargo run -p corral-rt --features console --example console
//! tokio-console            # in another terminal
//! ```
//!
//! With the `console` feature every coroutine's polls run in its `runtime.spawn` span and its
//! wakes emit `runtime::waker` events, which `console-subscriber` turns into the console's task
//! list: each coroutine with its name, its `launch` call site, polls, wakes, busy and idle
//! time. The program runs for `CONSOLE_DEMO_SECS` seconds (default 60): a producer, a few
//! workers that wake each other, and one coroutine that busy-loops in long polls.

use std::time::{Duration, Instant};

use corral::prelude::*;

/// How long the demo runs when `CONSOLE_DEMO_SECS` is not set.
const DEFAULT_SECS: u64 = 60;

fn main() {
    let secs = match std::env::var("CONSOLE_DEMO_SECS") {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("CONSOLE_DEMO_SECS={value:?} is not a number of seconds")),
        Err(_) => DEFAULT_SECS,
    };
    console_subscriber::init();
    println!("running for {secs} s; connect with `tokio-console` (default port 6669)");
    let end = Instant::now() + Duration::from_secs(secs);
    run_blocking(|scope| async move {
        for i in 0..4 {
            scope.launch_with(
                Dispatchers::default() + CoroutineName::new(format!("ticker-{i}")),
                CoroutineStart::Default,
                move |_| async move {
                    while Instant::now() < end {
                        delay(Duration::from_millis(100 * (i + 1))).await;
                    }
                },
            );
        }
        scope.launch_with(
            Dispatchers::default() + CoroutineName::new("busy"),
            CoroutineStart::Default,
            move |_| async move {
                while Instant::now() < end {
                    // A long poll: the console shows its busy time grow.
                    let spin = Instant::now();
                    while spin.elapsed() < Duration::from_millis(20) {
                        std::hint::spin_loop();
                    }
                    yield_now().await;
                    delay(Duration::from_millis(200)).await;
                }
            },
        );
    })
    .expect("the demo runs");
}
