//! `launch A; launch B; print C` prints `CAB`: run_blocking's event loop queues launched
//! coroutines FIFO, and the caller keeps running until it suspends.
//! (`#[corral::main]` runs `async fn main` with `run_blocking`.)

use corral::prelude::*;

#[corral::main]
async fn main() {
    coroutine_scope(|scope| async move {
        scope.launch(|_| async { print!("A") });
        scope.launch(|_| async { print!("B") });
        print!("C");
    })
    .await
    .expect("no coroutine fails");
    println!();
}
