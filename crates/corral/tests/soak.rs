//! A bounded soak of the whole runtime: rounds that mix launches in every start mode,
//! cancellations, `with_timeout`s, short delays with more than 64 timers live at once, panics
//! in completion, cancelling and exception handlers and in destructors (of futures, outputs
//! and panic payloads), and deep and wide trees, on every dispatcher: Default, IO, a limited
//! view of each, Unconfined, and the event loop of `run_blocking`.
//!
//! Each ingredient is one `async fn` below and one test (`soak_<ingredient>`), so a failure
//! names the part of the runtime it hit; `soak_mixed` then runs every ingredient on every
//! dispatcher at once. Every round checks:
//!
//! * **exactly once**: every coroutine and plain job made is tracked by a [`Probe`]. Its
//!   completion handler must run exactly once, its body must start at most once, and a body
//!   that started must have ended (returned, or been dropped) exactly once by the time the
//!   job is complete. A lost completion, a duplicate, or a future never dropped fails the round
//!   with a count per kind of job.
//! * **no hang**: a round runs on its own thread under a watchdog; one still running after
//!   [`ROUND_LIMIT`] fails the test, naming the ingredient and the dispatcher.
//! * **the runtime still works**: at the end of each test a delay, a child, an awaited value and
//!   a `with_timeout` that must fire complete on every dispatcher (a dead timer thread or worker
//!   shows here).
//!
//! The panics the soak causes on purpose carry a message starting with [`INTENDED`] (or are a
//! [`PanicPayloadDropPanics`]); a panic hook keeps them off stderr and passes every other
//! panic on to the default hook.
//!
//! Budget: `CORRAL_SOAK_SECS` seconds in all (default [`DEFAULT_SOAK_SECS`]), shared by the
//! tests, every test running at least one full round; `CORRAL_STRESS_LONG` (set by
//! `cargo xtask verify --long`) multiplies it and the tree sizes. The rounds are randomised:
//! each test prints its seed, and `CORRAL_STRESS_SEED` replays the same plan (thread timing, of
//! course, differs).

use std::any::Any;
use std::fmt::Write as _;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, Once, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use corral::prelude::*;
use corral::CoroutineStart;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// The whole soak's default budget in seconds, which fits CI's 20-40 s slot for it.
const DEFAULT_SOAK_SECS: u64 = 20;

/// How much longer everything runs under `CORRAL_STRESS_LONG`.
const LONG_FACTOR: u32 = 15;

/// How many tests share the budget (the seven ingredients and `soak_mixed`).
const SOAK_TESTS: u32 = 8;

/// How many tests libtest runs at once on CI's 2-core machine (its default is the number of
/// cores), so each test may use `budget × PARALLEL_TESTS / SOAK_TESTS` of wall time.
const PARALLEL_TESTS: u32 = 2;

/// How long one round may run before the watchdog fails it. A round takes well under a second
/// in a debug build and a few seconds under ThreadSanitizer.
const ROUND_LIMIT: Duration = Duration::from_secs(60);

/// How long, after a round's `run_blocking` returned, the completion handlers of its jobs may
/// still be running on other threads (a handler may run after the parent saw the child end).
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// The number of slots `TimerHeap::shrink_if_sparse` keeps: the delay ingredient must have
/// more timers than this live at once, so that the heap grows past it and shrinks again.
const TIMER_HEAP_KEPT_SLOTS: usize = 64;

/// How many 1 ms delays or timeouts each loop of the delay ingredient waits for in a row: the
/// timer heap empties between rounds of them, with the handles of the last ones still held.
const SHORT_DELAY_LOOPS: usize = 20;

/// The prefix of every panic message the soak causes on purpose.
const INTENDED: &str = "soak: intended:";

// ---------------------------------------------------------------------------------------------
// The ingredients
// ---------------------------------------------------------------------------------------------

/// One ingredient: an async fn run inside a round, in the scope of the dispatcher it soaks.
type Ingredient = fn(CoroutineScope, Round) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every ingredient, by name, in the order `soak_mixed` launches them.
const INGREDIENTS: [(&str, Ingredient); 7] = [
    ("launches_and_cancellations", |s, r| {
        Box::pin(launches_and_cancellations(s, r))
    }),
    ("timeouts", |s, r| Box::pin(timeouts(s, r))),
    ("short_delays", |s, r| Box::pin(short_delays(s, r))),
    ("handler_panics", |s, r| Box::pin(handler_panics(s, r))),
    ("destructor_panics", |s, r| {
        Box::pin(destructor_panics(s, r))
    }),
    ("deep_trees", |s, r| Box::pin(deep_trees(s, r))),
    ("wide_trees", |s, r| Box::pin(wide_trees(s, r))),
];

/// Coroutines in every start mode, some with a child, some cancelled before they start (lazy
/// ones never started), while suspended or after they ended, some cancelled and joined.
async fn launches_and_cancellations(scope: CoroutineScope, round: Round) {
    const STARTS: [CoroutineStart; 4] = [
        CoroutineStart::Default,
        CoroutineStart::Lazy,
        CoroutineStart::Atomic,
        CoroutineStart::Undispatched,
    ];
    let mut rng = round.rng(1);
    let mut jobs = Vec::with_capacity(round.sizes.launches);
    for _ in 0..round.sizes.launches {
        let start = STARTS[rng.below(STARTS.len())];
        let work = rng.below(4);
        let ledger = round.ledger.clone();
        jobs.push(launch_tracked(
            &scope,
            &round.ledger,
            "launch",
            (),
            start,
            move |s| async move {
                match work {
                    0 => {}
                    1 => yield_now().await,
                    2 => delay(MS(1)).await,
                    _ => {
                        launch_tracked(
                            &s,
                            &ledger,
                            "launch/child",
                            (),
                            CoroutineStart::Default,
                            |_| async {
                                yield_now().await;
                                delay(MS(2)).await;
                            },
                        );
                        yield_now().await;
                    }
                }
            },
        ));
        if rng.below(8) == 0 {
            yield_now().await;
        }
    }
    for job in &jobs {
        match rng.below(3) {
            0 => job.cancel(),
            1 => {
                job.start();
            }
            _ => {}
        }
        if rng.below(16) == 0 {
            yield_now().await;
        }
    }
    // The scope waits for every child, so the lazy ones left must start (a no-op when done).
    for job in &jobs {
        job.start();
    }
    for job in jobs.iter().step_by(7) {
        job.cancel_and_join().await;
    }
}

/// `with_timeout`s that complete in time, that fire on a body that never ends, that fire
/// while children sleep past them, and that race a body as long as the timeout.
async fn timeouts(scope: CoroutineScope, round: Round) {
    for i in 0..round.sizes.timeouts {
        let ledger = round.ledger.clone();
        let limit = MS(1 + (i % 5) as u64);
        launch_tracked(
            &scope,
            &round.ledger,
            "timeout",
            (),
            CoroutineStart::Default,
            move |_| async move {
                match i % 4 {
                    0 => {
                        let r = with_timeout(MS(500), |_| async { 7 }).await;
                        assert_eq!(
                            r.ok(),
                            Some(7),
                            "a body that never suspends beat its timeout"
                        );
                    }
                    1 => {
                        let r = with_timeout(limit, |_| std::future::pending::<()>()).await;
                        assert!(r.is_err_and(|e| e.is_timeout()), "a pending body timed out");
                    }
                    2 => {
                        let r = with_timeout(limit, move |s| async move {
                            for _ in 0..3 {
                                launch_tracked(
                                    &s,
                                    &ledger,
                                    "timeout/child",
                                    (),
                                    CoroutineStart::Default,
                                    |_| async {
                                        delay(MS(1000)).await;
                                    },
                                );
                            }
                            delay(MS(1000)).await;
                        })
                        .await;
                        assert!(
                            r.is_err_and(|e| e.is_timeout()),
                            "sleeping children timed out"
                        );
                    }
                    _ => {
                        let r =
                            with_timeout_or_none(limit, move |_| async move { delay(limit).await })
                                .await;
                        assert!(
                            r.is_ok(),
                            "a race between a body and its timeout failed: {r:?}"
                        );
                    }
                }
            },
        );
    }
}

/// Coroutines looping on `delay(1 ms)` and on `with_timeout(1 ms)` of a body that never
/// ends, far more of them at once than the timer heap keeps slots for after it shrinks, so the
/// heap grows, empties and shrinks again and again while handles of fired timers are still
/// around; and sleepers cancelled in the middle of a delay.
async fn short_delays(scope: CoroutineScope, round: Round) {
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    for i in 0..round.sizes.timers {
        let (live, peak) = (live.clone(), peak.clone());
        launch_tracked(
            &scope,
            &round.ledger,
            "delay loop",
            (),
            CoroutineStart::Default,
            move |_| async move {
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Long enough for every loop of the round to have its first timer armed.
                delay(MS(30)).await;
                live.fetch_sub(1, Ordering::SeqCst);
                for _ in 0..SHORT_DELAY_LOOPS {
                    if i % 2 == 0 {
                        delay(MS(1)).await;
                    } else {
                        let r = with_timeout(MS(1), |_| std::future::pending::<()>()).await;
                        assert!(r.is_err_and(|e| e.is_timeout()), "a pending body timed out");
                    }
                }
            },
        );
    }
    let sleepers: Vec<Job> = (0..round.sizes.timers / 2)
        .map(|_| {
            launch_tracked(
                &scope,
                &round.ledger,
                "sleeper",
                (),
                CoroutineStart::Default,
                |_| async {
                    delay(MS(50)).await;
                },
            )
        })
        .collect();
    delay(MS(2)).await;
    for sleeper in sleepers.iter().step_by(2) {
        sleeper.cancel();
    }
    for sleeper in &sleepers {
        sleeper.join().await;
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!(
        peak > TIMER_HEAP_KEPT_SLOTS,
        "only {peak} delays were live at once; the soak needs more than {TIMER_HEAP_KEPT_SLOTS}"
    );
}

/// Completion and cancelling handlers that panic (on workers, on the thread that cancels, and
/// on the timer thread, through a plain job cancelled by a timeout), and exception handlers
/// that panic; the handlers registered after a panicking one must still run.
async fn handler_panics(_scope: CoroutineScope, round: Round) {
    let ledger = round.ledger.clone();
    let r = supervisor_scope(move |s| async move {
        for i in 0..round.sizes.handlers {
            let job = launch_tracked(
                &s,
                &ledger,
                "handler",
                quiet(),
                // Lazy, started once its handlers are in: registered on a job that already
                // completed (a loaded machine), a handler runs at once in the caller, and its
                // panic would unwind into this block, as kotlinx's `invokeOnCompletion` throws.
                CoroutineStart::Lazy,
                |_| async {
                    delay(MS(1)).await;
                },
            );
            let _ = job.invoke_on_cancelling(|_| panic!("{INTENDED} cancelling handler"));
            let _ = job.invoke_on_completion(|_| panic!("{INTENDED} completion handler"));
            ledger.track_handler("handler/after a panicking one", &job);
            if i % 3 == 0 {
                job.cancel();
            } else {
                job.start();
            }
        }
        // A plain child of the timed-out frame: the timer thread cancels the frame, so the plain
        // job completes there, and its handler panics there.
        let l = ledger.clone();
        let r = with_timeout(MS(1), move |s| async move {
            let plain = Job::new_child(&s.job());
            let _ = plain.invoke_on_completion(|_| panic!("{INTENDED} plain job handler"));
            l.track_handler("plain job on the timer thread", &plain);
            std::future::pending::<()>().await
        })
        .await;
        // Under load the timer may fire before the block registered the handler: the plain
        // job is then already complete, so `invoke_on_completion` runs the handler at once in
        // the block, whose panic fails the frame instead (kotlinx's `invokeOnCompletion` on a
        // completed job throws the same way).
        assert!(
            r.as_ref()
                .is_err_and(|e| e.is_timeout() || e.to_string().contains(INTENDED)),
            "the frame timed out: {r:?}"
        );
        // A plain job completed here, its handler panicking here. As in kotlinx (a plain
        // `Job`'s `complete()` throws the handler's exception), the panic may come back to this
        // caller, or be reported; either way the job completes once.
        let plain = Job::new_child(&s.job());
        let _ = plain.invoke_on_completion(|_| panic!("{INTENDED} plain job handler"));
        ledger.track_handler("plain job completed in place", &plain);
        let _ = panic::catch_unwind(AssertUnwindSafe(|| plain.complete()));
        // Failures whose exception handler panics.
        let panicking =
            CoroutineExceptionHandler::new(|_, _| panic!("{INTENDED} exception handler"));
        for _ in 0..round.sizes.handlers / 4 {
            launch_tracked(
                &s,
                &ledger,
                "failure to a panicking handler",
                panicking.clone(),
                CoroutineStart::Default,
                |_| async {
                    yield_now().await;
                    panic!("{INTENDED} body");
                },
            );
        }
        // The timer thread must have survived.
        delay(MS(1)).await;
    })
    .await;
    assert!(
        r.is_ok(),
        "handler_panics: the supervisor frame failed: {r:?}"
    );
}

/// Values whose `Drop` panics: held by futures that are cancelled while suspended, dropped at
/// the end of a body, returned as an output nobody awaits, returned by a coroutine after it
/// was cancelled; and a panic whose payload's `Drop` panics.
async fn destructor_panics(_scope: CoroutineScope, round: Round) {
    let ledger = round.ledger.clone();
    let r = supervisor_scope(move |s| async move {
        let mut cancel_later = Vec::new();
        for _ in 0..round.sizes.destructors {
            cancel_later.push(launch_tracked(
                &s,
                &ledger,
                "future drop panics",
                quiet(),
                CoroutineStart::Default,
                |_| async {
                    let _guard = PanicOnDrop("future dropped on cancel");
                    delay(MS(1000)).await;
                },
            ));
            launch_tracked(
                &s,
                &ledger,
                "local drop panics at the end",
                quiet(),
                CoroutineStart::Default,
                |_| async {
                    let _guard = PanicOnDrop("local at the end of a body");
                    yield_now().await;
                },
            );
            let unawaited = s.async_with(quiet(), CoroutineStart::Default, |_| async {
                yield_now().await;
                PanicOnDrop("output nobody awaits")
            });
            ledger.track_handler("output drop panics", unawaited.job());
            drop(unawaited);
            let late = s.async_with(quiet(), CoroutineStart::Default, |_| async {
                let _ = with_context(NonCancellable, |_| async { delay(MS(2)).await }).await;
                PanicOnDrop("output returned after cancel")
            });
            ledger.track_handler("output returned after cancel", late.job());
            cancel_later.push(late.job().clone());
            launch_tracked(
                &s,
                &ledger,
                "payload drop panics",
                quiet(),
                CoroutineStart::Default,
                |_| async {
                    yield_now().await;
                    panic::panic_any(PanicPayloadDropPanics);
                },
            );
        }
        yield_now().await;
        delay(MS(1)).await;
        for job in &cancel_later {
            job.cancel();
        }
    })
    .await;
    assert!(
        r.is_ok(),
        "destructor_panics: the supervisor frame failed: {r:?}"
    );
}

/// Chains of nested coroutines and of plain jobs, [`Sizes::depth`] levels deep, that complete
/// from the bottom up and that are cancelled from the top; and nested `coroutine_scope` frames.
async fn deep_trees(scope: CoroutineScope, round: Round) {
    let depth = round.sizes.depth;
    for hold in [false, true] {
        let built = Arc::new(AtomicUsize::new(0));
        let top = chain(&scope, &round.ledger, depth, built.clone(), hold);
        if hold {
            let deadline = Instant::now() + ROUND_LIMIT / 2;
            while built.load(Ordering::SeqCst) < depth {
                assert!(
                    Instant::now() < deadline,
                    "a chain of {depth} coroutines was never built"
                );
                delay(MS(1)).await;
            }
            top.cancel();
        }
        top.join().await;
        assert!(top.is_completed());
    }
    for cancel in [false, true] {
        let mut jobs = vec![Job::new_child(&scope.job())];
        for _ in 1..depth {
            let child = Job::new_child(jobs.last().expect("the chain has a top"));
            jobs.push(child);
        }
        for job in &jobs {
            round.ledger.track_handler("plain job chain", job);
        }
        if cancel {
            jobs[0].cancel();
        } else {
            // Top first: each waits for its child, so the bottom's completion ends them all.
            for job in &jobs {
                job.complete();
            }
        }
        jobs[0].join().await;
    }
    let levels = round.sizes.nested_scopes;
    assert_eq!(nested_scopes(levels).await, levels);
}

/// A chain of `remaining` coroutines, each the child of the one before; the bottom one ends
/// after a delay, or waits forever when `hold` (until the chain is cancelled).
fn chain(
    scope: &CoroutineScope,
    ledger: &Arc<Ledger>,
    remaining: usize,
    built: Arc<AtomicUsize>,
    hold: bool,
) -> Job {
    let l = ledger.clone();
    launch_tracked(
        scope,
        ledger,
        "chain",
        (),
        CoroutineStart::Default,
        move |s| async move {
            built.fetch_add(1, Ordering::SeqCst);
            if remaining > 1 {
                chain(&s, &l, remaining - 1, built, hold);
            } else if hold {
                std::future::pending::<()>().await;
            } else {
                delay(MS(1)).await;
            }
        },
    )
}

/// `levels` `coroutine_scope` frames, one inside the other; returns `levels`.
fn nested_scopes(levels: usize) -> Pin<Box<dyn Future<Output = usize> + Send>> {
    Box::pin(async move {
        if levels == 0 {
            yield_now().await;
            return 0;
        }
        let inner = coroutine_scope(move |_| nested_scopes(levels - 1)).await;
        inner.expect("a nested frame failed") + 1
    })
}

/// A parent with [`Sizes::width`] children that all end, and one whose children all sleep
/// and which is cancelled while they do.
async fn wide_trees(scope: CoroutineScope, round: Round) {
    let width = round.sizes.width;
    let l = round.ledger.clone();
    launch_tracked(
        &scope,
        &round.ledger,
        "wide parent",
        (),
        CoroutineStart::Default,
        move |s| async move {
            for i in 0..width {
                launch_tracked(
                    &s,
                    &l,
                    "wide child",
                    (),
                    CoroutineStart::Default,
                    move |_| async move {
                        if i % 2 == 0 {
                            yield_now().await;
                        } else {
                            delay(MS(5)).await;
                        }
                    },
                );
            }
        },
    );
    let l = round.ledger.clone();
    let cancelled = launch_tracked(
        &scope,
        &round.ledger,
        "wide parent, cancelled",
        (),
        CoroutineStart::Default,
        move |s| async move {
            for _ in 0..width {
                launch_tracked(
                    &s,
                    &l,
                    "wide child, cancelled",
                    (),
                    CoroutineStart::Default,
                    |_| async {
                        delay(MS(1000)).await;
                    },
                );
            }
            std::future::pending::<()>().await
        },
    );
    yield_now().await;
    delay(MS(2)).await;
    cancelled.cancel();
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[test]
fn soak_launches_and_cancellations() {
    soak_one("launches_and_cancellations");
}

#[test]
fn soak_timeouts() {
    soak_one("timeouts");
}

#[test]
fn soak_short_delays() {
    soak_one("short_delays");
}

#[test]
fn soak_handler_panics() {
    soak_one("handler_panics");
}

#[test]
fn soak_destructor_panics() {
    soak_one("destructor_panics");
}

#[test]
fn soak_deep_trees() {
    soak_one("deep_trees");
}

#[test]
fn soak_wide_trees() {
    soak_one("wide_trees");
}

/// Every ingredient on every dispatcher at once, round after round.
#[test]
fn soak_mixed() {
    silence_intended_panics();
    let test = "soak_mixed";
    let seed = seed(test);
    let deadline = Instant::now() + share();
    let mut rounds = 0;
    loop {
        let ledger = Arc::new(Ledger::default());
        let round = Round::new(ledger.clone(), seed.wrapping_add(rounds), Sizes::mixed());
        let label = format!("{test}, round {rounds}");
        run_round(&label, &ledger, move || {
            let r = run_blocking(move |scope| async move {
                for place in PLACES {
                    for (name, ingredient) in INGREDIENTS {
                        let round = round.clone();
                        scope.launch(move |_| async move {
                            let r = at(place, move |s| ingredient(s, round)).await;
                            assert!(r.is_ok(), "{name} on {place:?} failed: {r:?}");
                        });
                    }
                }
            });
            assert!(r.is_ok(), "the mixed round failed: {r:?}");
        });
        rounds += 1;
        if Instant::now() >= deadline {
            break;
        }
    }
    eprintln!("{test}: {rounds} rounds");
    runtime_still_works(test);
}

/// Runs the ingredient `name` on every dispatcher in turn, round after round, for the test's
/// share of the budget.
fn soak_one(name: &'static str) {
    silence_intended_panics();
    let test = format!("soak_{name}");
    let (_, ingredient) = INGREDIENTS
        .into_iter()
        .find(|(n, _)| *n == name)
        .expect("an ingredient of that name");
    let seed = seed(&test);
    let deadline = Instant::now() + share();
    let mut rounds = 0;
    loop {
        for place in PLACES {
            let ledger = Arc::new(Ledger::default());
            let round = Round::new(ledger.clone(), seed.wrapping_add(rounds), Sizes::one());
            let label = format!("{test} on {place:?}, round {rounds}");
            run_round(&label, &ledger, move || {
                let r =
                    run_blocking(
                        move |_| async move { at(place, move |s| ingredient(s, round)).await },
                    );
                assert!(matches!(r, Ok(Ok(()))), "{name} on {place:?} failed: {r:?}");
            });
        }
        rounds += 1;
        if Instant::now() >= deadline {
            break;
        }
    }
    eprintln!("{test}: {rounds} rounds on each dispatcher");
    runtime_still_works(&test);
}

/// After the soak, on every dispatcher: a delay, a child, an awaited value, and a timeout
/// that must fire.
fn runtime_still_works(test: &str) {
    let ledger = Arc::new(Ledger::default());
    let l = ledger.clone();
    run_round(
        &format!("{test}: the runtime after the soak"),
        &ledger,
        move || {
            let r = run_blocking(move |_| async move {
                for place in PLACES {
                    let l = l.clone();
                    let r = at(place, move |s| async move {
                        delay(MS(1)).await;
                        launch_tracked(
                            &s,
                            &l,
                            "after the soak",
                            (),
                            CoroutineStart::Default,
                            |_| async {
                                delay(MS(1)).await;
                            },
                        )
                        .join()
                        .await;
                        let value = s.async_(|_| async { 6 * 7 }).await;
                        assert_eq!(value.ok(), Some(42));
                        let r = with_timeout(MS(5), |_| std::future::pending::<()>()).await;
                        assert!(r.is_err_and(|e| e.is_timeout()), "a timeout fired");
                    })
                    .await;
                    assert!(r.is_ok(), "the runtime is broken on {place:?}: {r:?}");
                }
            });
            assert!(r.is_ok(), "the runtime is broken: {r:?}");
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Rounds, places, sizes
// ---------------------------------------------------------------------------------------------

/// Where an ingredient runs.
#[derive(Clone, Copy, Debug)]
enum Place {
    Default,
    Io,
    /// `Dispatchers::default().limited_parallelism(1)`.
    DefaultView,
    /// `Dispatchers::io().limited_parallelism(4)`.
    IoView,
    Unconfined,
    /// The event loop of the round's `run_blocking`.
    RunBlocking,
}

const PLACES: [Place; 6] = [
    Place::Default,
    Place::Io,
    Place::DefaultView,
    Place::IoView,
    Place::Unconfined,
    Place::RunBlocking,
];

impl Place {
    /// The dispatcher, or `None` for the loop of `run_blocking`.
    fn dispatcher(self) -> Option<Dispatcher> {
        static DEFAULT_VIEW: OnceLock<Dispatcher> = OnceLock::new();
        static IO_VIEW: OnceLock<Dispatcher> = OnceLock::new();
        match self {
            Place::Default => Some(Dispatchers::default()),
            Place::Io => Some(Dispatchers::io()),
            Place::DefaultView => Some(
                DEFAULT_VIEW
                    .get_or_init(|| Dispatchers::default().limited_parallelism(1))
                    .clone(),
            ),
            Place::IoView => Some(
                IO_VIEW
                    .get_or_init(|| Dispatchers::io().limited_parallelism(4))
                    .clone(),
            ),
            Place::Unconfined => Some(Dispatchers::unconfined()),
            Place::RunBlocking => None,
        }
    }
}

/// Runs `block` on `place`: `with_context` to its dispatcher, or a `coroutine_scope` frame
/// where the caller already runs for [`Place::RunBlocking`].
async fn at<F, Fut>(place: Place, block: F) -> Result<(), JobError>
where
    F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    match place.dispatcher() {
        Some(dispatcher) => with_context(dispatcher, block).await,
        None => coroutine_scope(block).await,
    }
}

/// How big the parts of an ingredient are.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    launches: usize,
    timeouts: usize,
    timers: usize,
    handlers: usize,
    destructors: usize,
    /// Levels of the deep chains: a few thousand, far past where recursion per level would
    /// show on a 2 MiB worker stack under a sanitizer.
    depth: usize,
    nested_scopes: usize,
    width: usize,
}

impl Sizes {
    /// The sizes of a round that runs one ingredient.
    fn one() -> Sizes {
        let long = if long_soak() { 10 } else { 1 };
        Sizes {
            launches: 300,
            timeouts: 100,
            timers: 200,
            handlers: 40,
            destructors: 30,
            depth: 3_000 * long,
            nested_scopes: 200 * long.min(4),
            width: 2_000 * long,
        }
    }

    /// The sizes of a round that runs every ingredient on every dispatcher at once: smaller,
    /// except the timers, which must still outnumber the kept heap slots in each.
    fn mixed() -> Sizes {
        let one = Sizes::one();
        Sizes {
            launches: one.launches / 4,
            timeouts: one.timeouts / 4,
            timers: one.timers,
            handlers: one.handlers / 4,
            destructors: one.destructors / 4,
            depth: one.depth / 4,
            nested_scopes: one.nested_scopes / 4,
            width: one.width / 4,
        }
    }
}

/// What an ingredient gets: its ledger, its sizes and a seed.
#[derive(Clone)]
struct Round {
    ledger: Arc<Ledger>,
    seed: u64,
    sizes: Sizes,
}

impl Round {
    fn new(ledger: Arc<Ledger>, seed: u64, sizes: Sizes) -> Round {
        Round {
            ledger,
            seed,
            sizes,
        }
    }

    /// A generator for one ingredient of the round (`salt` tells them apart).
    fn rng(&self, salt: u64) -> Rng {
        Rng(self.seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
}

/// Runs `body` on a thread of its own under the watchdog, then checks the round's ledger.
fn run_round(label: &str, ledger: &Arc<Ledger>, body: impl FnOnce() + Send + 'static) {
    let (done, result) = mpsc::channel();
    thread::Builder::new()
        .name("soak-round".into())
        .spawn(move || {
            let _ = done.send(panic::catch_unwind(AssertUnwindSafe(body)));
        })
        .expect("the round's thread starts");
    match result.recv_timeout(ROUND_LIMIT) {
        Ok(Ok(())) => {}
        Ok(Err(payload)) => {
            eprintln!("{label}: failed ({})", ledger.summary());
            panic::resume_unwind(payload)
        }
        Err(_) => panic!(
            "{label}: hung, not finished after {ROUND_LIMIT:?} ({})",
            ledger.summary()
        ),
    }
    if let Err(report) = ledger.settle() {
        panic!("{label}: {report}");
    }
}

// ---------------------------------------------------------------------------------------------
// Tracking
// ---------------------------------------------------------------------------------------------

/// What happened to one job.
#[derive(Default)]
struct Probe {
    /// Its body started (0 or 1).
    started: AtomicU8,
    /// Its body returned or was dropped (must equal `started`).
    ended: AtomicU8,
    /// Its completion handler ran (must end at 1).
    completed: AtomicU8,
}

/// What a probe saw: the kind of job, and its `started`, `ended` and `completed` counts.
type Seen = (&'static str, u8, u8, u8);

/// Every probe of a round, with the kind of job it tracks.
#[derive(Default)]
struct Ledger {
    probes: Mutex<Vec<(&'static str, Arc<Probe>)>>,
}

impl Ledger {
    fn probe(&self, what: &'static str) -> Arc<Probe> {
        let probe = Arc::new(Probe::default());
        self.probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((what, probe.clone()));
        probe
    }

    /// Tracks a job whose body the soak does not see: only its completion is counted.
    fn track_handler(&self, what: &'static str, job: &Job) -> Arc<Probe> {
        let probe = self.probe(what);
        let p = probe.clone();
        let _ = job.invoke_on_completion(move |_| {
            p.completed.fetch_add(1, Ordering::SeqCst);
        });
        probe
    }

    /// The probes that are wrong: a completion not (yet) seen or seen twice, a body started
    /// twice or not ended exactly once.
    fn wrong(&self) -> Vec<Seen> {
        let probes = self.probes.lock().unwrap_or_else(PoisonError::into_inner);
        probes
            .iter()
            .map(|(what, p)| {
                let started = p.started.load(Ordering::SeqCst);
                let ended = p.ended.load(Ordering::SeqCst);
                (*what, started, ended, p.completed.load(Ordering::SeqCst))
            })
            .filter(|&(_, started, ended, completed)| {
                completed != 1 || started > 1 || ended != started
            })
            .collect()
    }

    /// Waits up to [`SETTLE_LIMIT`] for every probe to be right; otherwise says what is wrong.
    fn settle(&self) -> Result<(), String> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        while !self.wrong().is_empty() {
            if Instant::now() >= deadline {
                return Err(format!(
                    "jobs not completed exactly once: {}",
                    self.summary()
                ));
            }
            thread::sleep(MS(10));
        }
        Ok(())
    }

    /// For a failure message: how many of the tracked jobs are not right, counted per kind
    /// of job and what their probe saw.
    fn summary(&self) -> String {
        let total = self
            .probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let wrong = self.wrong();
        let mut summary = format!("{} of {total} tracked jobs not done", wrong.len());
        let mut counts: Vec<(Seen, usize)> = Vec::new();
        for probe in wrong {
            match counts.iter_mut().find(|(p, _)| *p == probe) {
                Some((_, n)) => *n += 1,
                None => counts.push((probe, 1)),
            }
        }
        for ((what, started, ended, completed), n) in counts {
            let _ = write!(
                summary,
                "\n  {n} x {what}: body started {started}, ended {ended}, \
                 completion handler ran {completed} times"
            );
        }
        summary
    }
}

/// Marks a body as started for as long as it lives; dropping it (the body returned or its
/// future was dropped) marks it ended.
struct Body(Arc<Probe>);

impl Body {
    fn enter(probe: Arc<Probe>) -> Body {
        probe.started.fetch_add(1, Ordering::SeqCst);
        Body(probe)
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, Ordering::SeqCst);
    }
}

/// Launches a coroutine whose body, start, end and completion the ledger tracks.
fn launch_tracked<F, Fut>(
    scope: &CoroutineScope,
    ledger: &Arc<Ledger>,
    what: &'static str,
    context: impl Into<Context>,
    start: CoroutineStart,
    body: F,
) -> Job
where
    F: FnOnce(CoroutineScope) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let probe = ledger.probe(what);
    let p = probe.clone();
    let job = scope.launch_with(context, start, move |s| async move {
        let _body = Body::enter(p);
        body(s).await;
    });
    let _ = job.invoke_on_completion(move |_| {
        probe.completed.fetch_add(1, Ordering::SeqCst);
    });
    job
}

// ---------------------------------------------------------------------------------------------
// Panics on purpose
// ---------------------------------------------------------------------------------------------

/// A value whose `Drop` panics (unless the thread is already unwinding, which would abort).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("{INTENDED} drop of {}", self.0);
        }
    }
}

/// A panic payload whose own `Drop` panics.
struct PanicPayloadDropPanics;

impl Drop for PanicPayloadDropPanics {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("{INTENDED} drop of a panic payload");
        }
    }
}

/// An exception handler that swallows the failures the soak causes on purpose.
fn quiet() -> CoroutineExceptionHandler {
    CoroutineExceptionHandler::new(|_, _| {})
}

/// Installs (once) a panic hook that keeps the soak's intended panics off stderr and passes
/// every other panic to the hook that was there before.
fn silence_intended_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !is_intended(info.payload()) {
                previous(info);
            }
        }));
    });
}

fn is_intended(payload: &(dyn Any + Send)) -> bool {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied());
    message.is_some_and(|m| m.starts_with(INTENDED)) || payload.is::<PanicPayloadDropPanics>()
}

// ---------------------------------------------------------------------------------------------
// Budget and randomness
// ---------------------------------------------------------------------------------------------

fn long_soak() -> bool {
    std::env::var_os("CORRAL_STRESS_LONG").is_some()
}

/// The whole soak's budget: `CORRAL_SOAK_SECS` or [`DEFAULT_SOAK_SECS`], times
/// [`LONG_FACTOR`] under `CORRAL_STRESS_LONG`.
fn budget() -> Duration {
    let secs = std::env::var("CORRAL_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SOAK_SECS);
    let budget = Duration::from_secs(secs);
    if long_soak() {
        budget * LONG_FACTOR
    } else {
        budget
    }
}

/// One test's share of the budget: after it, the test finishes its round and stops.
fn share() -> Duration {
    budget() * PARALLEL_TESTS / SOAK_TESTS
}

/// The seed of a test: `CORRAL_STRESS_SEED` or the clock, printed for replay.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("CORRAL_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            now.as_nanos() as u64
        });
    eprintln!("{test}: CORRAL_STRESS_SEED={seed}");
    seed
}

/// xorshift64*: enough randomness for a test plan, and no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
