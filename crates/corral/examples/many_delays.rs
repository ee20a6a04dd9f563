//! 100 000 coroutines each `delay(1 s)` finish in about a second, on a handful of threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral::prelude::*;

const COROUTINES: usize = 100_000;

fn main() -> Result<(), JobError> {
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    {
        let done = done.clone();
        run_blocking(move |scope| async move {
            for _ in 0..COROUTINES {
                let done = done.clone();
                scope.launch_with(
                    Dispatchers::default(),
                    CoroutineStart::Default,
                    move |_| async move {
                        delay(Duration::from_secs(1)).await;
                        done.fetch_add(1, Ordering::Relaxed);
                    },
                );
            }
        })?;
    }
    println!(
        "{} coroutines each delayed 1 s: all done after {} ms",
        done.load(Ordering::Relaxed),
        start.elapsed().as_millis()
    );
    Ok(())
}
