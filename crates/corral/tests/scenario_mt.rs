//! Multi-threaded [MT] conformance scenarios (docs/conformance.md) that need real dispatchers
//! (STRUCT-11, EXC-07, EXC-08a, EXC-13, ASYNC-04, CANCEL-05), and the delay-based variants of
//! STRUCT-01 (d), NC-04 (c) and CANCEL-06, against the facade.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use corral::prelude::*;
use corral_test_support::{forever, Recorder, Steps, MS};

type Lines = Arc<Mutex<Vec<String>>>;

fn lines() -> Lines {
    Arc::default()
}

fn say(lines: &Lines, line: impl Into<String>) {
    lines.lock().unwrap().push(line.into());
}

/// STRUCT-01 (d): a parent waits for children it does not join.
#[test]
fn struct_01d_parent_waits_for_unjoined_children() {
    let out = lines();
    let log = out.clone();
    run_blocking(move |scope| async move {
        let inner = log.clone();
        let request = scope.launch(move |scope| async move {
            for i in 0..3u64 {
                let l = inner.clone();
                scope.launch(move |_| async move {
                    delay(MS((i + 1) * 60)).await;
                    say(&l, format!("Coroutine {i} is done"));
                });
            }
            say(
                &inner,
                "request: I'm done and I don't explicitly join my children that are still active",
            );
        });
        request.join().await;
        say(&log, "Now processing of the request is complete");
    })
    .unwrap();
    assert_eq!(
        *out.lock().unwrap(),
        vec![
            "request: I'm done and I don't explicitly join my children that are still active",
            "Coroutine 0 is done",
            "Coroutine 1 is done",
            "Coroutine 2 is done",
            "Now processing of the request is complete",
        ]
    );
}

/// STRUCT-11: join from the parent on a crashing child on Default always ends with the
/// parent cancelled (join never returns normally); run_blocking returns the child's failure.
#[test]
fn struct_11_join_on_crashing_child() {
    let rounds = if cfg!(miri) { 2 } else { 500 };
    for _ in 0..rounds {
        let joined_normally = Arc::new(AtomicUsize::new(0));
        let flag = joined_normally.clone();
        let r = run_blocking(move |scope| async move {
            let job =
                scope.launch_with(Dispatchers::default(), CoroutineStart::Default, |_| async {
                    panic!("TE")
                });
            job.join().await;
            flag.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(r.unwrap_err().message(), "TE");
        assert_eq!(
            joined_normally.load(Ordering::SeqCst),
            0,
            "join returned normally"
        );
    }
}

/// EXC-07 (a): the handler runs only after all children terminated.
#[test]
fn exc_07a_handler_after_children() {
    let out = lines();
    let log = out.clone();
    let handler_log = out.clone();
    let handler = CoroutineExceptionHandler::new(move |_, e| {
        say(
            &handler_log,
            format!("CoroutineExceptionHandler got {}", e.message()),
        )
    });
    let job = GlobalScope::launch_with(handler, CoroutineStart::Default, move |scope| async move {
        let l1 = log.clone();
        scope.launch(move |_| async move {
            let l2 = l1.clone();
            with_cleanup(forever(), async move {
                say(&l2, "Children are cancelled, but exception is not handled until all children terminate");
                delay(MS(100)).await;
                say(&l2, "The first child finished its non cancellable block");
            })
            .await;
        });
        let l3 = log.clone();
        scope.launch(move |_| async move {
            delay(MS(10)).await;
            say(&l3, "Second child throws an exception");
            panic!("ArithmeticException");
        });
    });
    run_blocking(|_| async move { job.join().await }).unwrap();
    assert_eq!(
        *out.lock().unwrap(),
        vec![
            "Second child throws an exception",
            "Children are cancelled, but exception is not handled until all children terminate",
            "The first child finished its non cancellable block",
            "CoroutineExceptionHandler got ArithmeticException",
        ]
    );
}

/// EXC-07 (b): the first failure wins; a later one from a cleanup is suppressed.
#[test]
fn exc_07b_first_failure_wins_later_suppressed() {
    let recorder = Recorder::default();
    let job = GlobalScope::launch_with(
        recorder.handler(),
        CoroutineStart::Default,
        |scope| async move {
            scope.launch(|_| async {
                struct PanicOnDrop;
                impl Drop for PanicOnDrop {
                    fn drop(&mut self) {
                        panic!("ArithmeticException");
                    }
                }
                let _guard = PanicOnDrop;
                forever().await;
            });
            scope.launch(|_| async {
                delay(MS(100)).await;
                panic!("IOException");
            });
            forever().await;
        },
    );
    run_blocking(|_| async move { job.join().await }).unwrap();
    let errors = recorder.errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].message(), "IOException");
    let suppressed: Vec<&str> = errors[0]
        .suppressed()
        .iter()
        .map(JobError::message)
        .collect();
    assert_eq!(suppressed, vec!["ArithmeticException"]);
}

/// EXC-08 (a): a deeply nested failure reaches the handler unwrapped, even if an intermediate
/// level observes the cancellation.
#[test]
fn exc_08a_nested_failure_unwrapped() {
    let out = lines();
    let recorder = Recorder::default();
    let log = out.clone();
    let job = GlobalScope::launch_with(
        recorder.handler(),
        CoroutineStart::Default,
        move |scope| async move {
            let inner = scope.launch(|scope| async move {
                scope.launch(|scope| async move {
                    scope.launch(|_| async { panic!("IOException") });
                });
            });
            let l = log.clone();
            with_cleanup(inner.join(), async move {
                say(&l, "Rethrowing CancellationException with original cause")
            })
            .await;
        },
    );
    run_blocking(|_| async move { job.join().await }).unwrap();
    assert_eq!(
        *out.lock().unwrap(),
        vec!["Rethrowing CancellationException with original cause"]
    );
    assert_eq!(recorder.messages(), vec!["IOException"]);
    assert!(recorder.errors.lock().unwrap()[0].suppressed().is_empty());
}

/// EXC-13 (a): concurrent failures on four threads are aggregated exactly once each.
#[test]
fn exc_13a_concurrent_failures_aggregated_once() {
    let workers: Vec<ExecutorDispatcher> = (0..4)
        .map(|i| new_single_thread_context(&format!("exc13-{i}")))
        .collect();
    let rounds = 200;
    for _ in 0..rounds {
        let dispatchers: Vec<Dispatcher> = workers.iter().map(|w| (**w).clone()).collect();
        let r = run_blocking(move |scope| async move {
            let d = scope.async_with(
                NonCancellable,
                CoroutineStart::Default,
                move |scope| async move {
                    for (i, dispatcher) in dispatchers.into_iter().enumerate() {
                        scope.launch_with(
                            dispatcher,
                            CoroutineStart::Atomic,
                            move |_| async move {
                                std::thread::yield_now();
                                panic!("StressE({i})");
                            },
                        );
                    }
                },
            );
            d.join().await;
            assert!(d.is_cancelled());
            d.completion_error().unwrap()
        })
        .unwrap();
        let mut seen: Vec<String> = std::iter::once(r.message().to_owned())
            .chain(r.suppressed().iter().map(|s| s.message().to_owned()))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec!["StressE(0)", "StressE(1)", "StressE(2)", "StressE(3)"]
        );
    }
    for worker in &workers {
        worker.close();
    }
}

/// EXC-13 (b): a concurrent cancel() never masks a body's failure for an awaiter.
#[test]
fn exc_13b_concurrent_cancel_never_masks_failure() {
    let pool = new_fixed_thread_pool_context(2, "exc13b");
    for _ in 0..300 {
        let dispatcher: Dispatcher = (*pool).clone();
        let barrier = Arc::new(Barrier::new(3));
        let r = run_blocking(move |scope| async move {
            let b1 = barrier.clone();
            let failing = scope.async_with(
                dispatcher.clone() + NonCancellable,
                CoroutineStart::Default,
                move |_| async move {
                    b1.wait();
                    panic!("TE");
                },
            );
            let failing_job = failing.job().clone();
            let b2 = barrier.clone();
            let awaiter =
                scope.async_with(dispatcher, CoroutineStart::Default, move |_| async move {
                    b2.wait();
                    failing.await
                });
            barrier.wait();
            failing_job.cancel();
            awaiter.await.unwrap()
        })
        .unwrap();
        assert_eq!(r.unwrap_err().message(), "TE");
    }
    pool.close();
}

/// ASYNC-04 (b), (c): a root launch failure goes to the handler, a root async failure only to
/// its awaiter.
#[test]
fn async_04bc_root_launch_reported_root_async_not() {
    let recorder = Recorder::default();
    let job = GlobalScope::launch_with(recorder.handler(), CoroutineStart::Default, |_| async {
        panic!("AssertionError")
    });
    let d = GlobalScope::async_with(recorder.handler(), CoroutineStart::Default, |_| async {
        if true {
            panic!("ArithmeticException");
        }
    });
    let caught = run_blocking(|_| async move {
        job.join().await;
        d.await
    })
    .unwrap();
    assert_eq!(caught.unwrap_err().message(), "ArithmeticException");
    assert_eq!(recorder.messages(), vec!["AssertionError"]);
}

/// CANCEL-05: cancellation is cooperative: a CPU loop without suspension points ignores
/// cancel(). The kotlinx test paces the loop with a clock; here the loop waits for explicit
/// go-aheads (plain atomics, no suspension), so the order holds on a loaded machine too.
#[test]
fn cancel_05_cpu_loop_ignores_cancel() {
    let out = lines();
    let log = out.clone();
    // Steps the job may print: 3 at first, 5 once main has asked it to stop.
    let allowed = Arc::new(AtomicUsize::new(3));
    let printed = Arc::new(AtomicUsize::new(0));
    run_blocking(move |scope| async move {
        let l = log.clone();
        let (job_allowed, job_printed) = (allowed.clone(), printed.clone());
        let job = scope.launch_with(
            Dispatchers::default(),
            CoroutineStart::Default,
            move |_| async move {
                let mut i = 0;
                while i < 5 {
                    if i < job_allowed.load(Ordering::SeqCst) {
                        say(&l, format!("job: I'm sleeping {i} ..."));
                        i += 1;
                        job_printed.store(i, Ordering::SeqCst);
                    }
                    std::hint::spin_loop();
                }
            },
        );
        while printed.load(Ordering::SeqCst) < 3 {
            delay(MS(5)).await;
        }
        say(&log, "main: I'm tired of waiting!");
        job.cancel();
        allowed.store(5, Ordering::SeqCst);
        job.join().await;
        say(&log, "main: Now I can quit.");
    })
    .unwrap();
    assert_eq!(
        *out.lock().unwrap(),
        vec![
            "job: I'm sleeping 0 ...",
            "job: I'm sleeping 1 ...",
            "job: I'm sleeping 2 ...",
            "main: I'm tired of waiting!",
            "job: I'm sleeping 3 ...",
            "job: I'm sleeping 4 ...",
            "main: Now I can quit.",
        ]
    );
}

/// CANCEL-06: run_blocking that cancels itself: the next delay drops it, cleanup runs, and it
/// returns a cancellation.
#[test]
fn cancel_06_run_blocking_cancels_itself() {
    let s = Steps::new();
    let r = run_blocking({
        let s = s.clone();
        move |scope| async move {
            s.expect(1);
            scope.job().cancel();
            s.expect(2);
            let s3 = s.clone();
            with_cleanup(delay(MS(1)), async move { s3.expect(3) }).await;
            s.unreached();
        }
    });
    assert!(r.unwrap_err().is_cancelled());
    s.finish(4);
}

/// NC-04 (c): a coroutine in its own Job survives the cancellation of the request that
/// launched it; a real child does not.
#[test]
fn nc_04c_foreign_job_survives_request_cancellation() {
    let out = lines();
    let log = out.clone();
    run_blocking(move |scope| async move {
        let l = log.clone();
        let request = scope.launch(move |scope| async move {
            let l1 = l.clone();
            scope.launch_with(Job::new(), CoroutineStart::Default, move |_| async move {
                say(&l1, "job1: I run in my own Job and execute independently!");
                delay(MS(200)).await;
                say(
                    &l1,
                    "job1: I am not affected by cancellation of the request",
                );
            });
            let l2 = l.clone();
            scope.launch(move |_| async move {
                delay(MS(20)).await;
                say(&l2, "job2: I am a child of the request coroutine");
                delay(MS(200)).await;
                say(
                    &l2,
                    "job2: I will not execute this line if my parent request is cancelled",
                );
            });
        });
        delay(MS(100)).await;
        request.cancel();
        say(&log, "main: Who has survived request cancellation?");
        delay(MS(250)).await;
    })
    .unwrap();
    assert_eq!(
        *out.lock().unwrap(),
        vec![
            "job1: I run in my own Job and execute independently!",
            "job2: I am a child of the request coroutine",
            "main: Who has survived request cancellation?",
            "job1: I am not affected by cancellation of the request",
        ]
    );
}
