//! The public API contract of the facade (every item `corral::prelude` and `corral::…` promise),
//! exercised item by item exactly as a user writes it: `use corral::prelude::*;` and std only.
//!
//! Every test asserts behaviour (values, ordering, threads, states, messages), not only that
//! the calls compile. Tests touching the process-wide main loop hold `MAIN_LOCK`.
//!
//! One test binary; each section of the contract is a module (`tests/api/<section>.rs`), and
//! [`helpers`] holds what they share.

mod builders;
mod compile_contract;
mod context;
mod deferred;
mod dispatchers;
mod entry_points;
mod environment;
mod errors;
mod helpers;
mod jobs;
mod scope_functions;
mod start_modes;
mod suspension;
mod thread_safety;
