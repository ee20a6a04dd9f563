//! `Dispatchers::main()` and `Dispatchers::main().immediate()`: route to the event loop that
//! [`EventLoop::make_main`] registered (`run_main_loop` does it). With no main loop running,
//! a dispatch fails its coroutine with [`DispatchError::NotRunning`](corral_core::DispatchError)
//! ("Dispatchers.Main is not running: start it with run_main_loop before dispatching to it"),
//! a clear error instead of a hang.

use std::fmt;

use corral_core::{Dispatch, DispatchError, Dispatcher, Runnable};

use crate::dispatchers::Dispatchers;
use crate::event_loop::EventLoop;
use crate::limited::check_parallelism;

/// See the module docs; `immediate` resumes in place when already on the main loop's thread.
#[derive(Debug)]
pub(crate) struct MainDispatch {
    pub(crate) immediate: bool,
}

impl Dispatch for MainDispatch {
    fn dispatch(&self, runnable: Runnable) {
        // The lock inside `EventLoop::main` is released before either call below.
        match EventLoop::main() {
            Some(main) => main.dispatcher().dispatch(runnable),
            None => runnable.reject(DispatchError::NotRunning {
                dispatcher: "Dispatchers.Main".to_owned(),
                hint: "start it with run_main_loop before dispatching to it".to_owned(),
            }),
        }
    }

    fn is_dispatch_needed(&self) -> bool {
        !(self.immediate && EventLoop::main().is_some_and(|main| main.is_current_thread()))
    }

    fn limited_parallelism(&self, this: &Dispatcher, parallelism: usize) -> Dispatcher {
        check_parallelism(self, parallelism);
        this.clone()
    }

    fn immediate(&self, _this: &Dispatcher) -> Dispatcher {
        Dispatchers::main_immediate()
    }
}

impl fmt::Display for MainDispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.immediate {
            "Dispatchers.Main.immediate"
        } else {
            "Dispatchers.Main"
        })
    }
}
