//! Loom models of the scheduler's lock-free protocols (run with `--cfg corral_loom`, as
//! `cargo xtask verify` does). Use `LOOM_MAX_PREEMPTIONS=2` for a quick run.
//!
//! * `local_queue`: owner push/pop racing a thief, and overflow into the global queue: every
//!   task is taken exactly once.
//! * `index_stack`: concurrent pushes and pops never lose or duplicate an index.
//! * `park_wake`: a task published while the last worker parks is always found (the rule in
//!   `idle.rs`).
//! * `control`: the compensation rule, reading the blocking count beside the control word,
//!   never leaves blocking tasks uncompensated (`control.rs`).
//! * `permit_gate`: a worker waiting for a permit after a blocking section is woken by the
//!   release (`permit_gate.rs`).
//! * `run_next`: the owner's fills of the "run next" slot (plain stores into an empty slot)
//!   racing a thief's take: each task runs once (`run_next.rs`).

#[cfg(not(debug_assertions))]
compile_error!("the loom models need debug assertions: add `-C debug-assertions` to RUSTFLAGS");

mod control;
mod index_stack;
mod local_queue;
mod park_wake;
mod permit_gate;
mod run_next;

use corral_core::Runnable;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;

/// A runnable that counts its runs in `runs`.
fn counting_task(runs: &Arc<AtomicUsize>) -> Runnable {
    let runs = runs.clone();
    Runnable::from_fn(move || {
        runs.fetch_add(1, Ordering::SeqCst);
    })
}
