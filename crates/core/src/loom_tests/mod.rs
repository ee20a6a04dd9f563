//! Loom models of core's concurrent protocols (run with `--cfg corral_loom`, see the README of
//! the workspace or `cargo xtask verify`). Use `LOOM_MAX_PREEMPTIONS=1` for a quick run.

#[cfg(not(debug_assertions))]
compile_error!("the loom models need debug assertions: add `-C debug-assertions` to RUSTFLAGS");

mod loom_handoff;
mod loom_job_tree;
mod loom_spin_lock;
mod loom_task_state;
