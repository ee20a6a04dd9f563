//! DISP-01 of the conformance scenarios (docs/conformance.md) (Default, IO and dedicated threads:
//! launch, join, delay, visibility), plus the behaviours the dispatcher issue requires: Default vs
//! IO under blocking work (timing), and `Dispatchers::main().immediate()` ordering. The IO thread
//! bound (2000 blocking coroutines) is in `scenario_disp_threads.rs`, alone in its process, because
//! it counts the process's threads.
//!
//! The shared scheduler and the one main loop are process-wide, and the timing test must not
//! share CPU permits with the others: every test here holds [`SERIAL`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use corral::prelude::*;
use corral::Runnable;
use corral_test_support::{Steps, MS};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn shared_dispatchers() -> [Dispatcher; 2] {
    [Dispatchers::default(), Dispatchers::io()]
}

fn on_shared_worker() -> bool {
    thread::current()
        .name()
        .is_some_and(|name| name.starts_with("DefaultDispatcher-worker-"))
}

/// DISP-01 (a): a GlobalScope launch on D runs once, on D's own threads, and its write is
/// visible to the joiner.
#[test]
fn disp_01a_launch_and_join() {
    let _serial = serial();
    for dispatcher in shared_dispatchers() {
        let s = Steps::new();
        s.expect(1);
        let x = Arc::new(AtomicUsize::new(0));
        let job = GlobalScope::launch_with(dispatcher.clone(), CoroutineStart::Default, {
            let (s, x) = (s.clone(), x.clone());
            move |_| async move {
                assert!(on_shared_worker(), "{:?}", thread::current().name());
                x.fetch_add(1, Ordering::Relaxed);
                s.expect(2);
            }
        });
        run_blocking(|_| async move { job.join().await }).unwrap();
        assert_eq!(x.load(Ordering::Relaxed), 1, "{dispatcher}");
        s.finish(3);
    }
}

/// DISP-01 (b): a value sent from a coroutine on D reaches a thread that busy-polls for it
/// without any coroutine machinery (kotlinx's channel `tryReceive`; here a std channel).
#[test]
fn disp_01b_send_from_dispatcher_busy_poll() {
    let _serial = serial();
    for dispatcher in shared_dispatchers() {
        let (sender, receiver) = mpsc::channel();
        GlobalScope::launch_with(
            dispatcher.clone(),
            CoroutineStart::Default,
            move |_| async move {
                sender.send(42).unwrap();
            },
        );
        let end = Instant::now() + Duration::from_secs(10);
        let value = loop {
            match receiver.try_recv() {
                Ok(value) => break value,
                Err(mpsc::TryRecvError::Empty) if Instant::now() < end => thread::yield_now(),
                Err(error) => panic!("{dispatcher}: nothing received: {error}"),
            }
        };
        assert_eq!(value, 42);
    }
}

/// DISP-01 (c): delay inside D: the coroutine resumes after the delay, on D's threads.
#[test]
fn disp_01c_delay_in_dispatcher() {
    let _serial = serial();
    for dispatcher in shared_dispatchers() {
        let s = Steps::new();
        s.expect(1);
        let job = GlobalScope::launch_with(dispatcher.clone(), CoroutineStart::Default, {
            let s = s.clone();
            move |_| async move {
                s.expect(2);
                let start = Instant::now();
                delay(MS(100)).await;
                assert!(start.elapsed() >= MS(100));
                assert!(on_shared_worker(), "{:?}", thread::current().name());
                s.expect(3);
            }
        });
        run_blocking(|_| async move { job.join().await }).unwrap();
        s.finish(4);
    }
}

/// DISP-01 (d): run_blocking with a single-thread context: the context's dispatcher is the
/// scope's, coroutines started from it run on the named thread, and yield works.
///
/// Not portable literally: kotlinx runs the runBlocking *block itself* on the other thread.
/// corral's root block is polled on the calling thread (it may borrow and need not be `Send`,
/// see `run_blocking_with`), so the thread check is made in a child and in a `with_context`
/// to another dispatcher and back.
#[test]
fn disp_01d_run_blocking_on_single_thread_context() {
    let _serial = serial();
    let name = "disp-01d-thread";
    let single = new_single_thread_context(name);
    let s = Steps::new();
    s.expect(1);
    run_blocking_with(single.dispatcher().clone(), {
        let (s, single) = (s.clone(), single.dispatcher().clone());
        move |scope| async move {
            s.expect(2);
            assert!(scope.dispatcher().same_as(&single));
            let child = scope.async_(|_| async { thread::current().name().map(str::to_owned) });
            assert_eq!(child.await.unwrap().as_deref(), Some(name));
            let from_io = with_context(Dispatchers::io(), move |_| async move {
                with_context(single, |_| async {
                    thread::current().name().map(str::to_owned)
                })
                .await
            })
            .await
            .unwrap()
            .unwrap();
            assert_eq!(from_io.as_deref(), Some(name));
            yield_now().await; // should work
            s.expect(3);
        }
    })
    .unwrap();
    s.finish(4);
    single.close();
}

/// DISP-01 (d), the closest sound reading of "the block runs on `name`": code in the root of
/// `run_blocking_with(single)` that asks for `with_context(single)` should get that thread.
/// The root's context names `single` (so children inherit it) but the root runs on the
/// calling thread's loop, so `with_context` must not take its no-dispatch shortcut (WCTX-02)
/// there: it compares with the dispatcher the caller runs on (`host_dispatcher`).
#[test]
fn disp_01d_with_context_same_dispatcher_from_root_runs_on_its_thread() {
    let _serial = serial();
    let name = "disp-01d-same";
    let single = new_single_thread_context(name);
    let thread_name = run_blocking_with(single.dispatcher().clone(), {
        let single = single.dispatcher().clone();
        move |_| async move {
            with_context(single, |_| async {
                thread::current().name().map(str::to_owned)
            })
            .await
            .unwrap()
        }
    })
    .unwrap();
    single.close();
    assert_eq!(thread_name.as_deref(), Some(name));
}

/// DISP-01 (e): runnables dispatched to a fixed pool before `close()` all still run.
#[test]
fn disp_01e_close_does_not_drop_queued_tasks() {
    let _serial = serial();
    for threads in [1, 4] {
        let pool = new_fixed_thread_pool_context(threads, &format!("disp-01e-{threads}"));
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..1000 {
            let ran = ran.clone();
            pool.dispatch(Runnable::from_fn(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            }));
        }
        assert!(
            pool.close_and_wait(Duration::from_secs(10)),
            "pool did not drain"
        );
        assert!(pool.is_closed());
        assert_eq!(ran.load(Ordering::SeqCst), 1000, "{threads} threads");
    }
}

/// DISP-01 (f): on a single-worker pool, with_context(pool) { async { delay } .await }.
#[test]
fn disp_01f_single_worker_async_delay() {
    let _serial = serial();
    let pool = new_single_thread_context("disp-01f-worker");
    let s = Steps::new();
    run_blocking({
        let (s, pool) = (s.clone(), pool.dispatcher().clone());
        move |_| async move {
            s.expect(1);
            let s2 = s.clone();
            with_context(pool, move |scope| async move {
                s2.expect(2);
                let s3 = s2.clone();
                let d = scope.async_(move |_| async move {
                    s3.expect(3);
                    delay(MS(10)).await;
                    assert_eq!(thread::current().name(), Some("disp-01f-worker"));
                    s3.expect(4);
                });
                d.await.unwrap();
                s2.expect(5);
            })
            .await
            .unwrap();
            s.finish(6);
        }
    })
    .unwrap();
    s.assert_finished(6);
    pool.close();
}

/// Runs `tasks` coroutines on `dispatcher` that each block their thread for 200 ms; the time
/// until all finished.
fn blocking_round(dispatcher: Dispatcher, tasks: usize) -> Duration {
    run_blocking(move |scope| async move {
        let start = Instant::now();
        let jobs: Vec<Job> = (0..tasks)
            .map(|_| {
                scope.launch_with(dispatcher.clone(), CoroutineStart::Default, |_| async {
                    thread::sleep(MS(200));
                })
            })
            .collect();
        for job in jobs {
            job.join().await;
        }
        start.elapsed()
    })
    .unwrap()
}

/// Dispatcher issue (1): core+1 coroutines that each block 200 ms take two rounds on Default
/// (it runs at most `core` at once: about 400 ms) and one round on IO (threads are added
/// while they block: about 200 ms).
#[test]
fn disp_issue_1_default_vs_io_under_blocking() {
    let _serial = serial();
    let core = Dispatchers::shared_scheduler().core_pool_size();
    assert_eq!(core, Dispatchers::shared_config().core_pool_size);
    let tasks = core + 1;
    let default = blocking_round(Dispatchers::default(), tasks);
    let io = blocking_round(Dispatchers::io(), tasks);
    assert!(
        default >= MS(380),
        "Default ran {tasks} blocking coroutines in {default:?}: more than {core} at once"
    );
    assert!(
        io < MS(350),
        "IO ran {tasks} blocking coroutines in {io:?}: it did not add threads"
    );
}

/// Dispatcher issue (3), the `main_immediate` example: inside run_main_loop, a coroutine
/// launched with `main().immediate()` runs at once (already on the main loop), before the
/// launching coroutine goes on, and before one launched earlier with `main()`, which is
/// dispatched and runs when the loop gets to it.
#[test]
fn disp_issue_3_main_immediate_runs_before_main() {
    let _serial = serial();
    let order = Arc::new(Mutex::new(Vec::new()));
    run_main_loop({
        let order = order.clone();
        move |scope| async move {
            let main = Dispatchers::main();
            let main_thread = thread::current().id();
            let o = order.clone();
            let dispatched =
                scope.launch_with(main.clone(), CoroutineStart::Default, move |_| async move {
                    assert_eq!(thread::current().id(), main_thread);
                    o.lock().unwrap().push("main");
                });
            let o = order.clone();
            let immediate = scope.launch_with(
                main.immediate(),
                CoroutineStart::Default,
                move |_| async move {
                    assert_eq!(thread::current().id(), main_thread);
                    o.lock().unwrap().push("main.immediate");
                },
            );
            order.lock().unwrap().push("launcher continues");
            dispatched.join().await;
            immediate.join().await;
        }
    })
    .unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        vec!["main.immediate", "launcher continues", "main"]
    );
    assert_eq!(
        Dispatchers::main().immediate().to_string(),
        "Dispatchers.Main.immediate"
    );
}

/// Dispatcher issue (3), the other side: outside run_main_loop, `main()` (and its immediate
/// form) fails the coroutine with a clear error instead of hanging; and a second concurrent
/// run_main_loop is refused.
#[test]
fn disp_issue_3_main_without_loop_fails_clearly() {
    let _serial = serial();
    for main in [Dispatchers::main(), Dispatchers::main().immediate()] {
        let job = GlobalScope::launch_with(main.clone(), CoroutineStart::Default, |_| async {
            unreachable!("ran without a main loop")
        });
        let error = Arc::new(Mutex::new(None));
        let _handle = job.invoke_on_completion({
            let error = error.clone();
            move |cause| *error.lock().unwrap() = cause.cloned()
        });
        run_blocking(|_| async move { job.join().await }).unwrap();
        let error = error
            .lock()
            .unwrap()
            .clone()
            .expect("the coroutine must fail");
        assert!(
            error
                .to_string()
                .contains("Dispatchers.Main is not running"),
            "{main}: {error}"
        );
    }
    run_main_loop(|_| async {
        let second = thread::spawn(|| run_main_loop(|_| async {}).map_err(|e| e.to_string()));
        let message = second.join().unwrap().unwrap_err();
        assert!(message.contains("already running"), "{message}");
    })
    .unwrap();
}
