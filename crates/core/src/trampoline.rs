//! The thread-local trampoline that runs in-place resumes (Kotlin's unconfined event loop).
//!
//! When a coroutine is resumed on a dispatcher that needs no dispatch (Unconfined, an immediate
//! dispatcher already on its thread, a context without a dispatcher), it runs on the calling
//! thread. If nothing runs in place on this thread yet, it runs at once and the trampoline then
//! drains whatever was queued meanwhile; if something already runs in place, the resume is
//! queued behind it (FIFO). So nested in-place resumes never grow the stack, and nested
//! Unconfined launches run in the order `1 3 2` of the conformance scenarios.
//!
//! # Invariants
//!
//! * At most one drain loop per thread (the outermost in-place frame); everything queued on a
//!   thread is run by that loop before it returns.
//! * The queue's memory is kept for the thread's life: no allocation per in-place resume once
//!   it has grown.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};

use crate::error::drop_panic_payload;
use crate::runnable::Runnable;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static QUEUE: RefCell<VecDeque<Runnable>> = const { RefCell::new(VecDeque::new()) };
}

/// Runs `runnable` on this thread: at once if no in-place work is running here, otherwise after
/// the work queued before it (see the [module docs](crate::trampoline)).
///
/// # Examples
///
/// ```
/// use corral_core::{trampoline, Runnable};
/// use std::sync::{Arc, Mutex};
///
/// let order = Arc::new(Mutex::new(Vec::new()));
/// let (o1, o2) = (order.clone(), order.clone());
/// trampoline::run_in_place(Runnable::from_fn(move || {
///     o1.lock().unwrap().push(1);
///     let o3 = o1.clone();
///     trampoline::run_in_place(Runnable::from_fn(move || o3.lock().unwrap().push(2)));
///     o1.lock().unwrap().push(3);
/// }));
/// o2.lock().unwrap().push(4);
/// assert_eq!(*order.lock().unwrap(), vec![1, 3, 2, 4]);
/// ```
pub fn run_in_place(runnable: Runnable) {
    if ACTIVE.with(Cell::get) {
        QUEUE.with(|queue| queue.borrow_mut().push_back(runnable));
        return;
    }
    ACTIVE.with(|active| active.set(true));
    // Coroutine runnables never unwind; a closure's panic is held until the queue is drained,
    // so the work queued behind it is not lost, and then re-raised to the caller.
    let mut first_panic = None;
    let mut next = Some(runnable);
    while let Some(runnable) = next {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| runnable.run())) {
            match first_panic {
                None => first_panic = Some(payload),
                // Only the first is re-raised; a later payload's own drop may panic too.
                Some(_) => drop_panic_payload(payload),
            }
        }
        next = QUEUE.with(|queue| queue.borrow_mut().pop_front());
    }
    ACTIVE.with(|active| active.set(false));
    if let Some(payload) = first_panic {
        panic::resume_unwind(payload);
    }
}

/// `true` while in-place work runs on this thread.
pub fn is_active() -> bool {
    ACTIVE.with(Cell::get)
}

/// `true` if in-place work is queued on this thread (an Unconfined `yield_now` only yields
/// when this is true).
pub fn has_queued() -> bool {
    QUEUE.with(|queue| !queue.borrow().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Evil;

    impl Drop for Evil {
        fn drop(&mut self) {
            panic!("the payload's drop");
        }
    }

    /// Two queued closures panic, the second with a payload whose drop panics: the first is
    /// re-raised, the second dropped safely, and the trampoline is usable again afterwards.
    #[test]
    fn finding_05_second_payload_dropped_safely_and_trampoline_reset() {
        let raised = panic::catch_unwind(|| {
            run_in_place(Runnable::from_fn(|| {
                run_in_place(Runnable::from_fn(|| panic::panic_any(Evil)));
                panic!("first");
            }));
        });
        let raised = raised.unwrap_err();
        assert_eq!(raised.downcast_ref::<&str>(), Some(&"first"));
        assert!(!is_active() && !has_queued());
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r = ran.clone();
        run_in_place(Runnable::from_fn(move || {
            r.store(true, std::sync::atomic::Ordering::SeqCst)
        }));
        assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
    }
}
