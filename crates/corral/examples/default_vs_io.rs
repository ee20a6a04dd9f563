//! cores+1 coroutines that each block their thread for 200 ms: on Default (as many runners as
//! cores) that takes two rounds, about 400 ms; on IO (threads added while they block) one
//! round, about 200 ms.

use std::time::{Duration, Instant};

use corral::prelude::*;

fn blocking_round(dispatcher: Dispatcher, tasks: usize) -> Result<Duration, JobError> {
    run_blocking(move |scope| async move {
        let start = Instant::now();
        let jobs: Vec<Job> = (0..tasks)
            .map(|_| {
                scope.launch_with(dispatcher.clone(), CoroutineStart::Default, |_| async {
                    std::thread::sleep(Duration::from_millis(200));
                })
            })
            .collect();
        for job in jobs {
            job.join().await;
        }
        start.elapsed()
    })
}

fn main() -> Result<(), JobError> {
    let cores = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let tasks = cores + 1;
    println!("{tasks} coroutines, each blocking its thread for 200 ms");
    let default = blocking_round(Dispatchers::default(), tasks)?;
    println!("Dispatchers.Default: {:>4} ms", default.as_millis());
    let io = blocking_round(Dispatchers::io(), tasks)?;
    println!("Dispatchers.IO:      {:>4} ms", io.as_millis());
    Ok(())
}
