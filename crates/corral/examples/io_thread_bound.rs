//! The S3-upload thread blow-up and its fix: thousands of coroutines doing blocking uploads.
//! On `Dispatchers::io()` they are bounded by IO's parallelism; a
//! `limited_parallelism(8)` view bounds them further without creating a pool.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corral::prelude::*;

const UPLOADS: usize = 2000;

fn upload_all(dispatcher: Dispatcher) -> Result<(usize, BTreeSet<String>, Duration), JobError> {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(BTreeSet::new()));
    let start = Instant::now();
    {
        let (running, peak, threads) = (running.clone(), peak.clone(), threads.clone());
        run_blocking(move |scope| async move {
            for _ in 0..UPLOADS {
                let (running, peak, threads) = (running.clone(), peak.clone(), threads.clone());
                scope.launch_with(
                    dispatcher.clone(),
                    CoroutineStart::Default,
                    move |_| async move {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        let name = std::thread::current().name().unwrap_or("?").to_owned();
                        threads.lock().unwrap().insert(name);
                        std::thread::sleep(Duration::from_millis(2)); // the blocking upload
                        running.fetch_sub(1, Ordering::SeqCst);
                    },
                );
            }
        })?;
    }
    let threads = Arc::try_unwrap(threads).unwrap().into_inner().unwrap();
    Ok((peak.load(Ordering::SeqCst), threads, start.elapsed()))
}

fn report(label: &str, (peak, threads, elapsed): (usize, BTreeSet<String>, Duration)) {
    println!(
        "{label}: {UPLOADS} uploads in {} ms, at most {peak} at once, on {} threads",
        elapsed.as_millis(),
        threads.len()
    );
    let shown: Vec<_> = threads.iter().take(4).cloned().collect();
    println!("   threads: {} ...", shown.join(", "));
}

fn main() -> Result<(), JobError> {
    report("Dispatchers.IO", upload_all(Dispatchers::io())?);
    report(
        "Dispatchers.IO.limited_parallelism(8)",
        upload_all(Dispatchers::io().limited_parallelism(8))?,
    );
    Ok(())
}
