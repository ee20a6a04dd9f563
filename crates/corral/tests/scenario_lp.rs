//! LP scenarios (`limited_parallelism` views: LP-01, LP-03, LP-04, LP-06, LP-08), ported from
//! kotlinx.coroutines' own tests (index in docs/conformance.md), against the facade.
//!
//! The [MT] ones assert invariants only (never more than N at once, all tasks complete), plus
//! that a view *reaches* its N (rule R11 of docs/conformance.md), with tasks that wait for each
//! other under a deadline, so a too-small limit fails instead of hanging.

use std::collections::HashSet;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::thread;
use std::time::{Duration, Instant};

use corral::prelude::*;
use corral::{CoroutineScheduler, Dispatch, DispatchError, Runnable, TaskMode};
use corral_dispatchers::LimitedDispatcher;

/// How long a test waits for a concurrency level it expects to reach.
const REACH_DEADLINE: Duration = Duration::from_secs(20);

/// LP-08 blocks every IO slot and many threads: those tests run one at a time.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts the tasks running at once and the peak.
#[derive(Default)]
struct Concurrency {
    active: AtomicUsize,
    peak: AtomicUsize,
    done: AtomicUsize,
}

impl Concurrency {
    fn enter(&self) -> usize {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        now
    }

    fn leave(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
        self.done.fetch_add(1, Ordering::SeqCst);
    }

    fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }
}

/// Blocks the calling thread until `condition` holds or the deadline passes; `true` if it held.
fn wait_until(deadline: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while !condition() {
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Launches `tasks` coroutines on `view` inside a coroutine_scope; each runs `body` once.
fn run_on(view: &Dispatcher, tasks: usize, body: impl Fn() + Send + Sync + 'static) {
    let view = view.clone();
    let body = Arc::new(body);
    run_blocking(move |_| async move {
        coroutine_scope(|scope| async move {
            for _ in 0..tasks {
                let body = body.clone();
                scope.launch_with(view.clone(), CoroutineStart::Default, move |_| async move {
                    body()
                });
            }
        })
        .await
    })
    .unwrap()
    .unwrap();
}

/// LP-01's body: count, let another thread run, check, uncount.
fn stress(view: &Dispatcher, n: usize, tasks: usize) {
    let counts = Arc::new(Concurrency::default());
    let over = Arc::new(AtomicUsize::new(0));
    {
        let (counts, over) = (counts.clone(), over.clone());
        run_on(view, tasks, move || {
            if counts.enter() > n {
                over.fetch_add(1, Ordering::SeqCst);
            }
            thread::yield_now();
            counts.leave();
        });
    }
    assert_eq!(
        over.load(Ordering::SeqCst),
        0,
        "{view}: more than {n} at once"
    );
    assert!(counts.peak() <= n, "{view}: peak {} > {n}", counts.peak());
    assert_eq!(counts.done(), tasks, "{view}: not every task ran");
}

/// `n` tasks on `view` that each wait until all `n` run at once: the view reaches `n`.
/// Returns the peak (checked by the caller against `n`). The tasks wait on the *peak*, a latch:
/// once all `n` ran together, a task that already left must not strand the others.
fn reach(view: &Dispatcher, n: usize) -> usize {
    let counts = Arc::new(Concurrency::default());
    {
        let counts = counts.clone();
        run_on(view, n, move || {
            counts.enter();
            wait_until(REACH_DEADLINE, || counts.peak() >= n);
            counts.leave();
        });
    }
    counts.peak()
}

const LP01_TASKS: usize = 20_000;

/// LP-01: a view of an executor with 2N threads never runs more than N tasks at once, for
/// N in 1..=4 (kotlinx runs 100 000 tasks per N; 20 000 keep the debug build quick).
#[test]
fn lp_01_executor_view_never_exceeds_n() {
    for n in 1..=4 {
        let executor = new_fixed_thread_pool_context(2 * n, &format!("lp01-exec-{n}"));
        let view = executor.limited_parallelism(n);
        stress(&view, n, LP01_TASKS);
        assert_eq!(reach(&view, n), n, "{view} never ran {n} at once");
        executor.close();
    }
}

/// LP-01: the same on `Dispatchers::io().limited_parallelism(N)`.
#[test]
fn lp_01_io_view_never_exceeds_n() {
    for n in 1..=4 {
        let view = Dispatchers::io().limited_parallelism(n);
        stress(&view, n, LP01_TASKS);
        assert_eq!(reach(&view, n), n, "{view} never ran {n} at once");
    }
}

/// LP-03: `io().limited_parallelism(1)` is a serial executor also across yields: no two of
/// its coroutines ever overlap, before or after a yield.
#[test]
fn lp_03_serial_view_across_yields() {
    let view = Dispatchers::io().limited_parallelism(1);
    let counts = Arc::new(Concurrency::default());
    let over = Arc::new(AtomicUsize::new(0));
    let tasks = 2_000;
    {
        let (view, counts, over) = (view.clone(), counts.clone(), over.clone());
        run_blocking(move |_| async move {
            coroutine_scope(|scope| async move {
                for _ in 0..tasks {
                    let (counts, over) = (counts.clone(), over.clone());
                    scope.launch_with(view.clone(), CoroutineStart::Default, move |_| async move {
                        for _ in 0..3 {
                            if counts.enter() > 1 {
                                over.fetch_add(1, Ordering::SeqCst);
                            }
                            thread::yield_now();
                            counts.active.fetch_sub(1, Ordering::SeqCst);
                            yield_now().await;
                        }
                        counts.done.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
            .await
        })
        .unwrap()
        .unwrap();
    }
    assert_eq!(
        over.load(Ordering::SeqCst),
        0,
        "two coroutines of the view overlapped"
    );
    assert_eq!(counts.peak(), 1);
    assert_eq!(counts.done(), tasks);
}

/// LP-03: a yield re-queues into the view, FIFO, behind the view's other work; it does not
/// escape the limit. Both coroutines are queued in the view before either runs (the
/// launching coroutine holds the view's only place), so the order is exact.
#[test]
fn lp_03_yield_requeues_fifo_inside_view() {
    let view = Dispatchers::io().limited_parallelism(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    {
        let order = order.clone();
        run_blocking(move |scope| async move {
            scope
                .launch_with(view, CoroutineStart::Default, move |scope| async move {
                    for name in ["A", "B"] {
                        let order = order.clone();
                        scope.launch(move |_| async move {
                            order.lock().unwrap().push(format!("{name}1"));
                            yield_now().await;
                            order.lock().unwrap().push(format!("{name}2"));
                        });
                    }
                })
                .join()
                .await;
        })
        .unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec!["A1", "B1", "A2", "B2"]);
}

fn panic_message(f: impl FnOnce() -> Dispatcher) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// LP-04 (a): `limited_parallelism(0)` is rejected with a clear message on every kind of
/// dispatcher. (Negative and `Int.MIN` arguments are not representable: the parameter is a
/// `usize`.)
#[test]
fn lp_04a_zero_parallelism_rejected() {
    let executor = new_single_thread_context("lp04-exec");
    let mut dispatchers = vec![
        Dispatchers::default(),
        Dispatchers::io(),
        Dispatchers::io().limited_parallelism(4),
        Dispatchers::default().limited_parallelism(1),
        executor.dispatcher().clone(),
        Dispatchers::main(),
    ];
    run_blocking(|scope| async move {
        dispatchers.push(scope.dispatcher());
        for dispatcher in dispatchers {
            let message = panic_message(|| dispatcher.limited_parallelism(0));
            assert!(
                message.contains("parallelism must be at least 1")
                    && message.contains(&dispatcher.to_string()),
                "{dispatcher}: {message}"
            );
        }
    })
    .unwrap();
    executor.close();
}

/// LP-04 (b): `limited_parallelism(usize::MAX)` (kotlinx `Int.MAX_VALUE`) is accepted, and the
/// views work; on Default it is Default itself (at or above its parallelism).
#[test]
fn lp_04b_max_parallelism_accepted() {
    assert_eq!(
        Dispatchers::default().limited_parallelism(usize::MAX),
        Dispatchers::default()
    );
    let executor = new_fixed_thread_pool_context(2, "lp04b-exec");
    for view in [
        Dispatchers::io().limited_parallelism(usize::MAX),
        Dispatchers::io().limited_parallelism(usize::MAX / 2),
        executor.limited_parallelism(usize::MAX),
        Dispatchers::default().limited_parallelism(usize::MAX),
    ] {
        let value = run_blocking(|_| async move { with_context(view, |_| async { 42 }).await })
            .unwrap()
            .unwrap();
        assert_eq!(value, 42);
    }
    executor.close();
}

/// LP-04 (c): `Dispatchers::unconfined().limited_parallelism(n)` is unsupported (a clear panic).
#[test]
fn lp_04c_unconfined_limited_parallelism_unsupported() {
    for n in [1, 2, usize::MAX] {
        let message = panic_message(|| Dispatchers::unconfined().limited_parallelism(n));
        assert!(
            message.contains("Unconfined") && message.contains("cannot limit"),
            "{message}"
        );
    }
}

/// LP-04 (d): run_blocking's loop `.limited_parallelism(2)` is the loop itself (still displayed
/// `BlockingEventLoop`); the same for the single-threaded main dispatcher. (kotlinx's named
/// overload `limitedParallelism(n, name)` has no counterpart in the API: not applicable.)
#[test]
fn lp_04d_event_loop_view_is_the_loop_itself() {
    run_blocking(|scope| async move {
        let event_loop = scope.dispatcher();
        let view = event_loop.limited_parallelism(2);
        assert!(view.same_as(&event_loop));
        assert_eq!(view.to_string(), "BlockingEventLoop");
        assert!(event_loop
            .limited_parallelism(usize::MAX)
            .same_as(&event_loop));
    })
    .unwrap();
    let main = Dispatchers::main();
    assert!(main.limited_parallelism(2).same_as(&main));
    assert_eq!(main.limited_parallelism(2).to_string(), "Dispatchers.Main");
}

/// LP-04 (e) (DispatchersToStringTest::testLimitedParallelism): the names of views.
#[test]
fn lp_04e_view_names() {
    assert_eq!(
        Dispatchers::io().limited_parallelism(1).to_string(),
        "Dispatchers.IO.limitedParallelism(1)"
    );
    assert_eq!(
        Dispatchers::default().limited_parallelism(1).to_string(),
        "Dispatchers.Default.limitedParallelism(1)"
    );
}

/// Panics seen by the panic hook on threads whose name starts with `lp06-` (the "uncaught
/// exception handler" of LP-06's executor threads).
fn lp06_panics() -> &'static Mutex<Vec<(String, String)>> {
    static PANICS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let thread = thread::current().name().unwrap_or("").to_owned();
            if thread.starts_with("lp06-") {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                PANICS
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push((thread, message));
            }
            previous(info);
        }));
    });
    &PANICS
}

/// LP-06: a raw runnable that panics in a view goes to the executor thread's uncaught path
/// (the scheduler reports it; the thread survives), and the view keeps working: its single
/// place is not lost, so a later `with_context(view)` completes. Checked on kotlinx's
/// `singleThreadExecutor.limitedParallelism(1)` (which corral short-cuts to the executor
/// itself) and on a real view of a two-thread executor.
#[test]
fn lp_06_raw_task_panic_goes_to_uncaught_path_view_keeps_working() {
    let panics = lp06_panics();
    for (threads, name) in [(1, "lp06-single"), (2, "lp06-pair")] {
        let executor = new_fixed_thread_pool_context(threads, name);
        let view = executor.limited_parallelism(1);
        let raw_panics = 3;
        for i in 0..raw_panics {
            view.dispatch(Runnable::from_fn(move || panic!("TE {i}")));
        }
        let thread = run_blocking({
            let view = view.clone();
            move |_| async move {
                with_timeout(Duration::from_secs(10), move |_| async move {
                    with_context(view, |_| async {
                        thread::current().name().unwrap_or("").to_owned()
                    })
                    .await
                })
                .await
            }
        })
        .unwrap()
        .expect("the view stopped working after a raw task panicked")
        .unwrap();
        assert!(thread.starts_with(name), "ran on {thread}");
        assert!(wait_until(Duration::from_secs(10), || {
            panics
                .lock()
                .unwrap()
                .iter()
                .filter(|(t, _)| t.starts_with(name))
                .count()
                >= raw_panics
        }));
        let mine: Vec<String> = panics
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.starts_with(name))
            .map(|(_, m)| m.clone())
            .collect();
        assert_eq!(mine, vec!["TE 0", "TE 1", "TE 2"], "{name}");
        // The view still runs more work afterwards, more than a batch of it.
        let counts = Arc::new(Concurrency::default());
        {
            let counts = counts.clone();
            run_on(&view, 40, move || {
                counts.enter();
                counts.leave();
            });
        }
        assert_eq!(counts.done(), 40);
        executor.close();
    }
}

/// A dispatcher over a test-owned `CoroutineScheduler` in one task mode: LP-08 needs a CPU
/// pool with exactly 3 permits (kotlinx's `corePoolSize = 3`) whatever the machine's cores.
struct SchedulerSide {
    scheduler: CoroutineScheduler,
    mode: TaskMode,
    name: &'static str,
}

impl Dispatch for SchedulerSide {
    fn dispatch(&self, runnable: Runnable) {
        self.submit(runnable, false);
    }

    fn dispatch_yield(&self, runnable: Runnable) {
        self.submit(runnable, true);
    }

    fn task_mode(&self) -> TaskMode {
        self.mode
    }

    fn limited_parallelism(&self, this: &Dispatcher, parallelism: usize) -> Dispatcher {
        Dispatcher::new(LimitedDispatcher::new(this.clone(), parallelism, None))
    }
}

impl SchedulerSide {
    fn submit(&self, runnable: Runnable, fair: bool) {
        if let Err(rejected) = self.scheduler.dispatch(runnable, self.mode, fair) {
            rejected.into_inner().reject(DispatchError::Closed {
                dispatcher: self.name.to_owned(),
            });
        }
    }
}

impl fmt::Display for SchedulerSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A scheduler with 3 CPU permits and room for more threads, and its CPU and blocking sides.
fn three_permit_pool(name: &str) -> (CoroutineScheduler, Dispatcher, Dispatcher) {
    let scheduler = CoroutineScheduler::builder()
        .core_pool_size(3)
        .max_pool_size(16)
        .name(name)
        .build()
        .unwrap();
    let cpu = Dispatcher::new(SchedulerSide {
        scheduler: scheduler.clone(),
        mode: TaskMode::NonBlocking,
        name: "lp08-cpu",
    });
    let blocking = Dispatcher::new(SchedulerSide {
        scheduler: scheduler.clone(),
        mode: TaskMode::ProbablyBlocking,
        name: "lp08-blocking",
    });
    (scheduler, cpu, blocking)
}

/// Launches `tasks` coroutines on each of `views`; each counts itself in `total` and in its
/// view's own counter, holds its thread for `hold`, and uncounts.
fn load_views(views: &[Dispatcher], tasks: usize, hold: Duration) -> (usize, Vec<usize>) {
    let total = Arc::new(Concurrency::default());
    let per_view: Vec<Arc<Concurrency>> = views.iter().map(|_| Arc::default()).collect();
    {
        let views = views.to_vec();
        let (total, per_view) = (total.clone(), per_view.clone());
        run_blocking(move |_| async move {
            coroutine_scope(|scope| async move {
                for _ in 0..tasks {
                    for (view, own) in views.iter().zip(&per_view) {
                        let (total, own) = (total.clone(), own.clone());
                        scope.launch_with(
                            view.clone(),
                            CoroutineStart::Default,
                            move |_| async move {
                                total.enter();
                                own.enter();
                                thread::sleep(hold);
                                own.leave();
                                total.leave();
                            },
                        );
                    }
                }
            })
            .await
        })
        .unwrap()
        .unwrap();
    }
    assert_eq!(total.done(), tasks * views.len());
    (total.peak(), per_view.iter().map(|c| c.peak()).collect())
}

/// LP-08 (a) (testCpuLimitNotExtended): on a CPU pool with 3 permits, two CPU views of 2 each
/// never run more than 3 at once in total: views share the pool, they do not extend it.
#[test]
fn lp_08a_cpu_views_never_extend_the_pool() {
    let _heavy = heavy();
    let (scheduler, cpu, _) = three_permit_pool("lp08a");
    let views = [cpu.limited_parallelism(2), cpu.limited_parallelism(2)];
    let (total, per_view) = load_views(&views, 200, Duration::from_millis(1));
    assert!(total <= 3, "two CPU views ran {total} at once on 3 permits");
    assert!(per_view.iter().all(|&peak| peak <= 2), "{per_view:?}");
    scheduler.shutdown(Duration::from_secs(5));
}

/// LP-08 (b) (testCpuLimitWithBlocking): a CPU view of 2 and a blocking view of 2 on the same
/// 3-permit pool: at most 4 at once in total, each view at most 2, and all 4 at once is
/// reached (blocking tasks do not hold CPU permits).
#[test]
fn lp_08b_cpu_view_plus_blocking_view() {
    let _heavy = heavy();
    let (scheduler, cpu, blocking) = three_permit_pool("lp08b");
    let views = [cpu.limited_parallelism(2), blocking.limited_parallelism(2)];
    let (total, per_view) = load_views(&views, 200, Duration::from_millis(1));
    assert!(total <= 4, "ran {total} at once");
    assert!(per_view.iter().all(|&peak| peak <= 2), "{per_view:?}");

    // Reaching 4: two CPU and two blocking tasks that wait until all four run.
    let active = Arc::new(Concurrency::default());
    {
        let active = active.clone();
        run_blocking(move |_| async move {
            coroutine_scope(|scope| async move {
                for view in views.iter().flat_map(|v| [v.clone(), v.clone()]) {
                    let active = active.clone();
                    scope.launch_with(view, CoroutineStart::Default, move |_| async move {
                        active.enter();
                        wait_until(REACH_DEADLINE, || active.peak() >= 4);
                        active.leave();
                    });
                }
            })
            .await
        })
        .unwrap()
        .unwrap();
    }
    assert_eq!(active.peak(), 4, "blocking tasks took CPU permits");
    scheduler.shutdown(Duration::from_secs(5));
}

/// LP-08 (c) (testHardCapOnParallelism): `Dispatchers::io()` never runs more than its parallelism
/// (64 by default) at once, however many coroutines are launched on it.
#[test]
fn lp_08c_io_hard_cap() {
    let _heavy = heavy();
    let cap = Dispatchers::shared_config().io_parallelism;
    let counts = Arc::new(Concurrency::default());
    let tasks = 20_000;
    {
        let counts = counts.clone();
        run_on(&Dispatchers::io(), tasks, move || {
            counts.enter();
            thread::sleep(Duration::from_micros(200));
            counts.leave();
        });
    }
    assert!(
        counts.peak() <= cap,
        "IO ran {} at once, cap {cap}",
        counts.peak()
    );
    assert_eq!(counts.done(), tasks);
}

/// Occupies every slot of `Dispatchers::io()` with a coroutine blocked until `release` is
/// set; returns once they all run, with their jobs.
fn block_all_io(release: &Arc<AtomicBool>) -> (Arc<Concurrency>, Vec<Job>) {
    let cap = Dispatchers::shared_config().io_parallelism;
    let blocked = Arc::new(Concurrency::default());
    let jobs: Vec<Job> = (0..cap)
        .map(|_| {
            let (blocked, release) = (blocked.clone(), release.clone());
            GlobalScope::launch_with(
                Dispatchers::io(),
                CoroutineStart::Default,
                move |_| async move {
                    blocked.enter();
                    wait_until(REACH_DEADLINE * 2, || release.load(Ordering::SeqCst));
                    blocked.leave();
                },
            )
        })
        .collect();
    assert!(
        wait_until(REACH_DEADLINE, || blocked.active() == cap),
        "only {} of {cap} IO coroutines ran at once",
        blocked.active()
    );
    (blocked, jobs)
}

fn release_and_join(release: &AtomicBool, jobs: Vec<Job>) {
    release.store(true, Ordering::SeqCst);
    run_blocking(move |_| async move {
        for job in jobs {
            job.join().await;
        }
    })
    .unwrap();
}

/// LP-08 (d) (testLimitedParallelismIsSeparatedFromDefaultIo): with all of IO's slots blocked,
/// `io().limited_parallelism(64)` still runs 64 more at once (views are elastic siblings).
#[test]
fn lp_08d_io_view_is_separate_from_io_cap() {
    let _heavy = heavy();
    let release = Arc::new(AtomicBool::new(false));
    let (blocked, jobs) = block_all_io(&release);
    let peak = reach(&Dispatchers::io().limited_parallelism(64), 64);
    let still_blocked = blocked.active();
    release_and_join(&release, jobs);
    assert_eq!(peak, 64, "the IO view did not get its own 64");
    assert_eq!(still_blocked, Dispatchers::shared_config().io_parallelism);
}

/// LP-08 (e) (testDefaultDispatcherIsSeparateFromIO): with all of IO's slots blocked, Default
/// still runs its core pool size of tasks at once, on threads other than the blocked ones.
#[test]
fn lp_08e_default_is_separate_from_io() {
    let _heavy = heavy();
    let core = Dispatchers::shared_config().core_pool_size;
    let release = Arc::new(AtomicBool::new(false));
    let (blocked, jobs) = block_all_io(&release);
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let peak = {
        let counts = Arc::new(Concurrency::default());
        let (c, t) = (counts.clone(), threads.clone());
        run_on(&Dispatchers::default(), core, move || {
            t.lock().unwrap().insert(thread::current().id());
            c.enter();
            wait_until(REACH_DEADLINE, || c.peak() >= core);
            c.leave();
        });
        counts.peak()
    };
    let still_blocked = blocked.active();
    release_and_join(&release, jobs);
    assert_eq!(
        peak, core,
        "Default could not run {core} at once beside a full IO"
    );
    assert_eq!(threads.lock().unwrap().len(), core);
    assert_eq!(still_blocked, Dispatchers::shared_config().io_parallelism);
}
