//! corral-core: the coroutine core of corral.
//!
//! (Crate documentation is completed with the task and job modules.)

pub mod dispatcher;
pub mod error;
mod runnable;

pub use dispatcher::{Dispatch, Dispatcher, TaskMode};
pub use error::{DispatchError, JobError};
pub use runnable::Runnable;
