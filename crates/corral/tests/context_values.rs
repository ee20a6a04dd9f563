//! Values in the context (`ContextValue`) and thread-context elements (`ThreadElement`):
//! inheritance through every builder, scope function and dispatcher, and the thread-local
//! state a thread element installs around every poll, on whichever thread it runs.

#[allow(dead_code)] // shared helpers; this file uses the dispatcher list only
mod common;

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::prelude::*;
use corral::{current_context, ThreadContextElement, ThreadElement};

#[derive(Debug, Clone, PartialEq)]
struct RequestId(u64);

#[derive(Debug, PartialEq)]
struct User(&'static str);

fn request_id() -> Option<u64> {
    current_context().and_then(|context| context.value::<RequestId>().map(|id| id.0))
}

#[test]
fn values_compose_one_per_type_right_side_wins() {
    let context = ContextValue::new(RequestId(1))
        + CoroutineName::new("n")
        + ContextValue::new(User("ann"))
        + ContextValue::new(RequestId(2));
    assert_eq!(context.value::<RequestId>(), Some(&RequestId(2)));
    assert_eq!(context.value::<User>(), Some(&User("ann")));
    assert_eq!(context.name(), Some("n"));
    assert_eq!(Context::new().value::<User>(), None);
    let debug = format!("{context:?}");
    assert!(debug.contains("RequestId"), "{debug}");
}

#[test]
fn values_reach_launch_async_scopes_and_with_context() {
    let seen = run_blocking_with(ContextValue::new(RequestId(7)), |scope| async move {
        let mut seen = vec![request_id()];
        let launched = Arc::new(Mutex::new(None));
        let slot = launched.clone();
        scope
            .launch(move |_| async move {
                *slot.lock().unwrap() = request_id();
            })
            .join()
            .await;
        seen.push(*launched.lock().unwrap());
        seen.push(scope.async_(|_| async { request_id() }).await.unwrap());
        seen.push(coroutine_scope(|_| async { request_id() }).await.unwrap());
        seen.push(supervisor_scope(|_| async { request_id() }).await.unwrap());
        seen.push(
            with_timeout(Duration::from_secs(10), |_| async { request_id() })
                .await
                .unwrap(),
        );
        // Scoped: inside the block only, the caller keeps its own value.
        seen.push(
            with_context(ContextValue::new(RequestId(8)), |scope| async move {
                scope.async_(|_| async { request_id() }).await.unwrap()
            })
            .await
            .unwrap(),
        );
        seen.push(request_id());
        // An element of another type leaves the value alone.
        seen.push(
            with_context(ContextValue::new(User("bob")), |_| async { request_id() })
                .await
                .unwrap(),
        );
        seen
    })
    .unwrap();
    let expected: Vec<Option<u64>> = [7, 7, 7, 7, 7, 7, 8, 7, 7].into_iter().map(Some).collect();
    assert_eq!(seen, expected);
}

#[test]
fn values_reach_every_dispatcher() {
    let pool = new_fixed_thread_pool_context(2, "values-pool");
    let report = run_blocking_with(ContextValue::new(RequestId(3)), |scope| {
        let pool = &pool;
        async move {
            let mut report = Vec::new();
            for (name, dispatcher) in common::dispatchers(&scope, pool) {
                let launched = scope
                    .async_with(dispatcher.clone(), CoroutineStart::Default, |_| async {
                        request_id()
                    })
                    .await
                    .unwrap();
                let switched = with_context(dispatcher, |_| async { request_id() })
                    .await
                    .unwrap();
                report.push((name, launched, switched));
            }
            report
        }
    })
    .unwrap();
    pool.close();
    for (name, launched, switched) in report {
        assert_eq!(launched, Some(3), "launched on {name}");
        assert_eq!(switched, Some(3), "with_context on {name}");
    }
}

#[test]
fn current_context_outside_coroutines_is_none() {
    assert!(current_context().is_none());
}

thread_local! {
    static LOG_ID: RefCell<Option<u64>> = const { RefCell::new(None) };
}

fn log_id() -> Option<u64> {
    LOG_ID.with(|id| *id.borrow())
}

/// Installs a request id in `LOG_ID` around every poll and counts its updates and restores.
struct LogId {
    id: u64,
    updates: Arc<AtomicUsize>,
    restores: Arc<AtomicUsize>,
}

impl LogId {
    fn new(id: u64) -> (LogId, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (updates, restores) = (Arc::default(), Arc::<AtomicUsize>::default());
        let element = LogId {
            id,
            updates: Arc::clone(&updates),
            restores: Arc::clone(&restores),
        };
        (element, updates, restores)
    }
}

impl ThreadContextElement for LogId {
    type State = Option<u64>;

    fn update_thread_context(&self) -> Option<u64> {
        self.updates.fetch_add(1, Ordering::SeqCst);
        LOG_ID.with(|id| id.replace(Some(self.id)))
    }

    fn restore_thread_context(&self, old: Option<u64>) {
        self.restores.fetch_add(1, Ordering::SeqCst);
        LOG_ID.with(|id| *id.borrow_mut() = old);
    }
}

#[test]
fn thread_element_follows_a_coroutine_across_threads_and_is_restored_after_every_poll() {
    let (element, updates, restores) = LogId::new(42);
    let pool = new_fixed_thread_pool_context(3, "log-pool");
    let dispatcher = pool.dispatcher().clone();
    let polled_on = run_blocking(|scope| {
        let dispatcher = dispatcher.clone();
        async move {
            scope
                .async_with(
                    ThreadElement::new(element) + dispatcher,
                    CoroutineStart::Default,
                    |scope| async move {
                        let mut threads = Vec::new();
                        for _ in 0..20 {
                            assert_eq!(log_id(), Some(42));
                            threads.push(format!("{:?}", std::thread::current().id()));
                            yield_now().await;
                            delay(Duration::from_millis(1)).await;
                        }
                        // A child inherits the element, also on another dispatcher.
                        let child = scope
                            .async_with(Dispatchers::io(), CoroutineStart::Default, |_| async {
                                log_id()
                            })
                            .await
                            .unwrap();
                        assert_eq!(child, Some(42));
                        let switched = with_context(Dispatchers::default(), |_| async { log_id() })
                            .await
                            .unwrap();
                        assert_eq!(switched, Some(42));
                        assert_eq!(scope.context().value::<LogId>().map(|e| e.id), Some(42));
                        threads.sort();
                        threads.dedup();
                        threads
                    },
                )
                .await
        }
    })
    .unwrap()
    .expect("the coroutine saw its element at every poll");
    assert!(!polled_on.is_empty());
    // The run_blocking thread never ran it, and is clean.
    assert_eq!(log_id(), None);
    // Each poll of this coroutine and of its children installs and restores once.
    let (updates, restores) = (
        updates.load(Ordering::SeqCst),
        restores.load(Ordering::SeqCst),
    );
    assert!(updates >= 40, "{updates} updates");
    assert_eq!(updates, restores);
    // The pool's threads are clean again after the polls.
    let leaked = run_blocking(|scope| async move {
        let mut leaked = Vec::new();
        for _ in 0..6 {
            leaked.push(
                scope
                    .async_with(dispatcher.clone(), CoroutineStart::Default, |_| async {
                        log_id()
                    })
                    .await
                    .unwrap(),
            );
        }
        leaked
    })
    .unwrap();
    pool.close();
    assert!(leaked.iter().all(Option::is_none), "{leaked:?}");
    assert_eq!(log_id(), None);
}

#[test]
fn with_context_installs_a_thread_element_for_a_block_run_in_place() {
    let (element, updates, restores) = LogId::new(9);
    let seen = run_blocking(|_| async move {
        let before = log_id();
        let inside = with_context(ThreadElement::new(element), |scope| async move {
            let first = log_id();
            yield_now().await;
            let nested = coroutine_scope(|_| async { log_id() }).await.unwrap();
            let child = scope.async_(|_| async { log_id() }).await.unwrap();
            (first, log_id(), nested, child)
        })
        .await
        .unwrap();
        (before, inside, log_id())
    })
    .unwrap();
    assert_eq!(seen, (None, (Some(9), Some(9), Some(9), Some(9)), None));
    assert_eq!(
        updates.load(Ordering::SeqCst),
        restores.load(Ordering::SeqCst)
    );
    assert_eq!(log_id(), None);
}

/// An element whose update panics: the panic is reported, the coroutine still runs.
struct Faulty;

impl ThreadContextElement for Faulty {
    type State = ();

    fn update_thread_context(&self) {
        panic!("faulty element");
    }

    fn restore_thread_context(&self, (): ()) {}
}

#[test]
fn a_panicking_thread_element_does_not_unwind_into_the_runtime() {
    let out = run_blocking(|scope| async move {
        scope
            .async_with(
                ThreadElement::new(Faulty),
                CoroutineStart::Default,
                |_| async {
                    yield_now().await;
                    5
                },
            )
            .await
    })
    .unwrap();
    assert_eq!(out.unwrap(), 5);
}

#[test]
fn a_thread_element_is_restored_after_every_poll() {
    // Two coroutines interleave on one thread, only one of them carrying the element: the other
    // must never see its id, at any of its polls.
    let (element, updates, restores) = LogId::new(5);
    let single = new_single_thread_context("one-thread");
    let dispatcher = single.dispatcher().clone();
    let (with, without) = run_blocking(|scope| async move {
        let with = scope.async_with(
            ThreadElement::new(element) + dispatcher.clone(),
            CoroutineStart::Default,
            |_| async {
                let mut seen = Vec::new();
                for _ in 0..50 {
                    seen.push(log_id());
                    yield_now().await;
                }
                seen
            },
        );
        let without = scope.async_with(dispatcher, CoroutineStart::Default, |_| async {
            let mut seen = Vec::new();
            for _ in 0..50 {
                seen.push(log_id());
                yield_now().await;
            }
            seen
        });
        (with.await.unwrap(), without.await.unwrap())
    })
    .unwrap();
    single.close();
    assert!(with.iter().all(|id| *id == Some(5)), "{with:?}");
    assert!(without.iter().all(Option::is_none), "{without:?}");
    let updates = updates.load(Ordering::SeqCst);
    assert!(updates >= 50, "one update per poll: {updates}");
    assert_eq!(updates, restores.load(Ordering::SeqCst));
}
