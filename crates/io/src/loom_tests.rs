//! Loom models of the readiness handoff between the reactor and a waiting operation
//! ([`ScheduledIo`]): no event is lost to a concurrent registration or a concurrent clear.

use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use crate::scheduled_io::{Direction, ScheduledIo, READABLE};

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    (flag, waker)
}

/// An operation registering while the event arrives either sees it or is woken by it.
#[test]
fn loom_registration_racing_an_event() {
    loom::model(|| {
        let io = Arc::new(ScheduledIo::new());
        let (woken, waker) = flag();
        let reactor = {
            let io = io.clone();
            thread::spawn(move || io.set_readiness(READABLE))
        };
        let ready = io
            .poll_ready(&mut Context::from_waker(&waker), Direction::Read, &mut None)
            .is_ready();
        reactor.join().unwrap();
        assert!(
            ready || woken.0.load(Ordering::SeqCst),
            "the event was lost"
        );
    });
}

/// A `WouldBlock` clear racing a newer event keeps the newer event: the next wait sees it or
/// is woken by it.
#[test]
fn loom_clear_racing_a_newer_event() {
    loom::model(|| {
        let io = Arc::new(ScheduledIo::new());
        io.set_readiness(READABLE);
        let (woken, waker) = flag();
        let mut cx = Context::from_waker(&waker);
        let std::task::Poll::Ready(seen) = io.poll_ready(&mut cx, Direction::Read, &mut None)
        else {
            panic!("ready after the first event");
        };
        let reactor = {
            let io = io.clone();
            thread::spawn(move || io.set_readiness(READABLE))
        };
        io.clear_readiness(seen); // the attempt after `seen` got `WouldBlock`
        let ready = io
            .poll_ready(&mut cx, Direction::Read, &mut None)
            .is_ready();
        reactor.join().unwrap();
        assert!(
            ready || woken.0.load(Ordering::SeqCst),
            "the newer event was lost"
        );
    });
}
