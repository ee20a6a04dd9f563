//! Fixtures shared by the tests of corral's crates (not published): what each crate's
//! integration tests would otherwise copy or include from another crate's folder.
//!
//! - [`steps`]: the step recorder of the ported kotlinx scenarios (`expect(n)` / `finish(n)`),
//!   a recording exception handler, a never-completing future and a drop guard;
//! - [`test_loop`]: a single-threaded event loop dispatcher and the `run_blocking` of
//!   corral-core's scenario tests, with a small [`Scope`] so tests read like the scenarios;
//! - [`forwarding`]: a *different* dispatcher that runs on the same loop (kotlinx's wrapper
//!   dispatcher);
//! - [`consts`]: durations the timing tests share;
//! - [`tracing_capture`]: a recording `tracing` subscriber for tests of the instrumentation.
//!
//! It depends on corral-core only, because corral-core's own integration tests use it.

pub mod consts;
pub mod forwarding;
pub mod steps;
pub mod test_loop;
pub mod tracing_capture;

pub use consts::{MS, SOON};
pub use forwarding::{other_dispatcher, Forwarding};
pub use steps::{forever, Finally, Recorder, Steps};
pub use test_loop::{run_blocking, run_blocking_with, Scope, TestLoop};
