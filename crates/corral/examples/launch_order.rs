//! `launch A; launch B; print C` prints `CAB`: run_blocking's event loop queues launched
//! coroutines FIFO, and the caller keeps running until it suspends.

use corral::prelude::*;

fn main() -> Result<(), JobError> {
    run_blocking(|scope| async move {
        scope.launch(|_| async { print!("A") });
        scope.launch(|_| async { print!("B") });
        print!("C");
    })?;
    println!();
    Ok(())
}
