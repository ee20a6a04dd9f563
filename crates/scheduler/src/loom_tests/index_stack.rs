//! Loom models of the parked-worker stack: concurrent push/pop and the ABA case.

use loom::sync::Arc;

use crate::index_stack::IndexStack;

/// Two owners push their index while a third thread pops: every index ends up popped exactly
/// once (either by the racing popper or by the final drain), and `contains` agrees.
#[test]
fn concurrent_push_and_pop_lose_nothing() {
    loom::model(|| {
        let stack = Arc::new(IndexStack::new(3));
        let pushers: Vec<_> = (0..2)
            .map(|index| {
                let stack = stack.clone();
                loom::thread::spawn(move || stack.push(index))
            })
            .collect();
        let popper = {
            let stack = stack.clone();
            loom::thread::spawn(move || stack.pop())
        };
        for pusher in pushers {
            pusher.join().unwrap();
        }
        let mut popped: Vec<usize> = popper.join().unwrap().into_iter().collect();
        while let Some(index) = stack.pop() {
            popped.push(index);
        }
        popped.sort_unstable();
        assert_eq!(popped, vec![0, 1]);
        assert!(!stack.contains(0) && !stack.contains(1));
    });
}

/// A slot popped and pushed again while another pop is in flight (the ABA case).
#[test]
fn pop_push_pop_is_not_confused_by_reuse() {
    loom::model(|| {
        let stack = Arc::new(IndexStack::new(2));
        stack.push(0);
        stack.push(1);
        let reuser = {
            let stack = stack.clone();
            loom::thread::spawn(move || {
                if let Some(index) = stack.pop() {
                    stack.push(index);
                }
            })
        };
        let popper = {
            let stack = stack.clone();
            loom::thread::spawn(move || stack.pop())
        };
        reuser.join().unwrap();
        let mut popped: Vec<usize> = popper.join().unwrap().into_iter().collect();
        while let Some(index) = stack.pop() {
            popped.push(index);
        }
        popped.sort_unstable();
        assert_eq!(popped, vec![0, 1]);
    });
}
