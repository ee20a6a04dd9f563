//! Pin's drop guarantee (finding 1 of the soundness issue): nothing moves once pinned.
//!
//! An address-check future ([`PinCheck`]) records where it was first polled and checks, at
//! every later poll and in its destructor, that it is still there: a pinned value may be
//! neither moved nor its memory reused before its destructor ran (intrusive wait lists such as
//! tokio's semaphore rely on it). It runs through every builder, start mode, dispatcher and
//! scope function, on every ending: completion at once or after suspending, cancellation while
//! suspended or before start, a timeout, and rejection by a closed executor.
//!
//! A panic in a destructor would be caught by the runtime, so a violation is recorded in a
//! [`Report`] that each test checks at its end; the report also catches a future that was
//! never dropped.

use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use corral::prelude::*;

mod common;
use common::{dispatchers, eventually, join_all, SOON};

/// What every address-check future of one test saw.
#[derive(Default)]
struct Report {
    violations: Mutex<Vec<String>>,
    /// Futures created and not dropped yet.
    live: AtomicUsize,
}

impl Report {
    fn new() -> Arc<Report> {
        Arc::default()
    }

    fn violation(&self, line: String) {
        self.violations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    /// Panics with every violation seen, and if a future was leaked (never dropped).
    fn assert_clean(&self) {
        let violations = self
            .violations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        assert!(
            violations.is_empty(),
            "{} pinned futures moved:\n{}",
            violations.len(),
            violations.join("\n")
        );
        assert_eq!(
            self.live.load(Ordering::SeqCst),
            0,
            "address-check futures never dropped"
        );
    }
}

/// The test's side of one address-check future: the gate that completes it, and what it saw.
struct Probe {
    label: String,
    report: Arc<Report>,
    open: AtomicBool,
    waker: Mutex<Option<Waker>>,
    polled: AtomicBool,
    dropped: AtomicBool,
}

impl Probe {
    /// A probe whose future stays pending until [`open`](Probe::open) (or is ready at once
    /// if `open`).
    fn new(report: &Arc<Report>, label: String, open: bool) -> Arc<Probe> {
        Arc::new(Probe {
            label,
            report: report.clone(),
            open: AtomicBool::new(open),
            waker: Mutex::new(None),
            polled: AtomicBool::new(false),
            dropped: AtomicBool::new(false),
        })
    }

    /// The address-check future of this probe.
    fn future(self: &Arc<Self>) -> PinCheck {
        self.report.live.fetch_add(1, Ordering::SeqCst);
        PinCheck {
            probe: self.clone(),
            address: AtomicUsize::new(0),
            _pinned: PhantomPinned,
        }
    }

    /// Lets the future complete (waking it if it waits).
    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn polled(&self) -> bool {
        self.polled.load(Ordering::SeqCst)
    }

    fn dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }
}

/// See the module docs. Output `()`; pending until its probe is opened.
struct PinCheck {
    probe: Arc<Probe>,
    /// Where it was first polled (0: never polled).
    address: AtomicUsize,
    _pinned: PhantomPinned,
}

impl Future for PinCheck {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let here: *const PinCheck = &*self;
        let here = here as usize;
        if let Err(first) =
            self.address
                .compare_exchange(0, here, Ordering::Relaxed, Ordering::Relaxed)
        {
            if first != here {
                self.probe.report.violation(format!(
                    "{}: polled at {first:#x}, later at {here:#x}",
                    self.probe.label
                ));
            }
        }
        self.probe.polled.store(true, Ordering::SeqCst);
        if self.probe.open.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        *self
            .probe
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        if self.probe.open.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for PinCheck {
    fn drop(&mut self) {
        let here: *const PinCheck = self;
        let here = here as usize;
        let first = *self.address.get_mut();
        if first != 0 && first != here {
            self.probe.report.violation(format!(
                "{}: polled at {first:#x}, dropped at {here:#x}",
                self.probe.label
            ));
        }
        self.probe.dropped.store(true, Ordering::SeqCst);
        self.probe.report.live.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Builder {
    Launch,
    TryLaunch,
    Async,
    GlobalLaunch,
    GlobalAsync,
}

const BUILDERS: [Builder; 5] = [
    Builder::Launch,
    Builder::TryLaunch,
    Builder::Async,
    Builder::GlobalLaunch,
    Builder::GlobalAsync,
];

const STARTS: [CoroutineStart; 4] = [
    CoroutineStart::Default,
    CoroutineStart::Lazy,
    CoroutineStart::Atomic,
    CoroutineStart::Undispatched,
];

/// Starts a coroutine whose body is `probe`'s future (behind an `async` block for
/// `try_launch`, whose body must return a `Result`).
fn build(
    builder: Builder,
    scope: &CoroutineScope,
    context: Context,
    start: CoroutineStart,
    probe: Arc<Probe>,
) -> Job {
    match builder {
        Builder::Launch => scope.launch_with(context, start, move |_| probe.future()),
        Builder::TryLaunch => scope.try_launch_with(context, start, move |_| async move {
            probe.future().await;
            Ok::<(), std::io::Error>(())
        }),
        Builder::Async => scope
            .async_with(context, start, move |_| probe.future())
            .job()
            .clone(),
        Builder::GlobalLaunch => GlobalScope::launch_with(context, start, move |_| probe.future()),
        Builder::GlobalAsync => GlobalScope::async_with(context, start, move |_| probe.future())
            .job()
            .clone(),
    }
}

/// How a case ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Ready on its first poll.
    ReadyAtOnce,
    /// Pending, then woken and ready.
    ReadyAfterSuspending,
    /// Pending, then its coroutine is cancelled.
    CancelledSuspended,
    /// A lazy coroutine cancelled before it started: its body never runs.
    CancelledBeforeStart,
}

fn endings(start: CoroutineStart) -> Vec<Ending> {
    let mut endings = vec![
        Ending::ReadyAtOnce,
        Ending::ReadyAfterSuspending,
        Ending::CancelledSuspended,
    ];
    if start == CoroutineStart::Lazy {
        endings.push(Ending::CancelledBeforeStart);
    }
    endings
}

struct Case {
    probe: Arc<Probe>,
    job: Job,
    ending: Ending,
}

/// Waits until every case that runs has polled its future, applies the endings, waits for
/// every job, and checks that each polled future was dropped.
async fn finish_cases(cases: Vec<Case>) {
    let all_polled = eventually(|| {
        cases
            .iter()
            .all(|case| case.ending == Ending::CancelledBeforeStart || case.probe.polled())
    })
    .await;
    let unpolled: Vec<&str> = cases
        .iter()
        .filter(|case| case.ending != Ending::CancelledBeforeStart && !case.probe.polled())
        .map(|case| case.probe.label())
        .collect();
    assert!(all_polled, "never polled: {unpolled:?}");
    for case in &cases {
        match case.ending {
            Ending::ReadyAtOnce => {}
            Ending::ReadyAfterSuspending => case.probe.open(),
            Ending::CancelledSuspended | Ending::CancelledBeforeStart => case.job.cancel(),
        }
    }
    join_all("cases", cases.iter().map(|case| case.job.clone()).collect()).await;
    for case in &cases {
        if case.ending == Ending::CancelledBeforeStart {
            assert!(!case.probe.polled(), "{}: ran", case.probe.label());
        } else {
            assert!(
                case.probe.dropped(),
                "{}: never dropped",
                case.probe.label()
            );
        }
    }
}

#[test]
fn finding_01_every_builder_start_mode_and_dispatcher_drops_the_future_in_place() {
    let report = Report::new();
    let pool = new_fixed_thread_pool_context(2, "pin-pool");
    let reporter = report.clone();
    let pool_ref = &pool;
    run_blocking(|scope| async move {
        let pool = pool_ref;
        let mut cases = Vec::new();
        for (name, dispatcher) in dispatchers(&scope, pool) {
            for builder in BUILDERS {
                for start in STARTS {
                    for ending in endings(start) {
                        let label = format!("{builder:?} / {start:?} / {name} / {ending:?}");
                        let probe = Probe::new(&reporter, label, ending == Ending::ReadyAtOnce);
                        let context = Context::from(dispatcher.clone());
                        let job = build(builder, &scope, context, start, probe.clone());
                        if start == CoroutineStart::Lazy && ending != Ending::CancelledBeforeStart {
                            job.start();
                        }
                        cases.push(Case { probe, job, ending });
                    }
                }
            }
        }
        finish_cases(cases).await;
    })
    .unwrap();
    // The builders without a context or start mode.
    let plain = |scope: &CoroutineScope, probe: &Arc<Probe>, which: usize| -> Job {
        let probe = probe.clone();
        match which {
            0 => scope.launch(move |_| probe.future()),
            1 => scope.try_launch(move |_| async move {
                probe.future().await;
                Ok::<(), std::io::Error>(())
            }),
            2 => scope.async_(move |_| probe.future()).job().clone(),
            3 => GlobalScope::launch(move |_| probe.future()),
            4 => GlobalScope::try_launch(move |_| async move {
                probe.future().await;
                Ok::<(), std::io::Error>(())
            }),
            _ => GlobalScope::async_(move |_| probe.future()).job().clone(),
        }
    };
    let reporter = report.clone();
    run_blocking(|scope| async move {
        let mut cases = Vec::new();
        for which in 0..6 {
            for ending in endings(CoroutineStart::Default) {
                let label = format!("plain builder #{which} / {ending:?}");
                let probe = Probe::new(&reporter, label, ending == Ending::ReadyAtOnce);
                let job = plain(&scope, &probe, which);
                cases.push(Case { probe, job, ending });
            }
        }
        finish_cases(cases).await;
    })
    .unwrap();
    pool.close();
    report.assert_clean();
}

/// The scope functions, each run by an outer coroutine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScopeFn {
    CoroutineScope,
    SupervisorScope,
    WithContextSame,
    WithContextOther,
    WithContextNonCancellable,
    WithTimeoutNotFiring,
    WithTimeoutFiring,
    WithCleanupBody,
    WithCleanupCleanup,
}

const SCOPE_FNS: [ScopeFn; 9] = [
    ScopeFn::CoroutineScope,
    ScopeFn::SupervisorScope,
    ScopeFn::WithContextSame,
    ScopeFn::WithContextOther,
    ScopeFn::WithContextNonCancellable,
    ScopeFn::WithTimeoutNotFiring,
    ScopeFn::WithTimeoutFiring,
    ScopeFn::WithCleanupBody,
    ScopeFn::WithCleanupCleanup,
];

impl ScopeFn {
    /// Cancelling the outer coroutine does not end the probe's future: it must complete.
    fn shielded(self) -> bool {
        matches!(
            self,
            ScopeFn::WithContextNonCancellable | ScopeFn::WithCleanupCleanup
        )
    }
}

/// Runs `probe`'s future inside `function` (`other`: a dispatcher not the caller's).
async fn through(function: ScopeFn, probe: Arc<Probe>, other: Dispatcher) {
    const FIRES_AFTER: Duration = Duration::from_millis(20);
    let outcome = match function {
        ScopeFn::CoroutineScope => coroutine_scope(|_| probe.future()).await,
        ScopeFn::SupervisorScope => supervisor_scope(|_| probe.future()).await,
        ScopeFn::WithContextSame => {
            with_context(CoroutineName::new("same"), move |_| probe.future()).await
        }
        ScopeFn::WithContextOther => with_context(other, move |_| probe.future()).await,
        ScopeFn::WithContextNonCancellable => {
            with_context(NonCancellable, move |_| probe.future()).await
        }
        ScopeFn::WithTimeoutNotFiring => with_timeout(SOON, move |_| probe.future()).await,
        ScopeFn::WithTimeoutFiring => with_timeout(FIRES_AFTER, move |_| probe.future()).await,
        ScopeFn::WithCleanupBody => {
            with_cleanup(probe.future(), async {}).await;
            Ok(())
        }
        ScopeFn::WithCleanupCleanup => {
            with_cleanup(async {}, probe.future()).await;
            Ok(())
        }
    };
    drop(outcome);
}

#[test]
fn finding_01_every_scope_function_drops_its_block_in_place() {
    let report = Report::new();
    let pool = new_fixed_thread_pool_context(2, "pin-scope-pool");
    let reporter = report.clone();
    let pool_ref = &pool;
    run_blocking(|scope| async move {
        let pool = pool_ref;
        let mut cases = Vec::new();
        let mut shielded_cancelled = Vec::new();
        for (name, dispatcher) in dispatchers(&scope, pool) {
            let other = if dispatcher.same_as(pool.dispatcher()) {
                Dispatchers::default()
            } else {
                pool.dispatcher().clone()
            };
            for function in SCOPE_FNS {
                let endings = match function {
                    ScopeFn::WithTimeoutFiring => vec![None],
                    _ => vec![
                        Some(Ending::ReadyAtOnce),
                        Some(Ending::ReadyAfterSuspending),
                        Some(Ending::CancelledSuspended),
                    ],
                };
                for ending in endings {
                    let label = format!("{function:?} / {name} / {ending:?}");
                    let open = ending == Some(Ending::ReadyAtOnce);
                    let probe = Probe::new(&reporter, label, open);
                    let (inner, other) = (probe.clone(), other.clone());
                    let job =
                        scope.launch_with(dispatcher.clone(), CoroutineStart::Default, move |_| {
                            through(function, inner, other)
                        });
                    if function.shielded() && ending == Some(Ending::CancelledSuspended) {
                        shielded_cancelled.push(probe.clone());
                    }
                    // A firing timeout ends the block itself: nothing to do but wait.
                    let ending = ending.unwrap_or(Ending::ReadyAtOnce);
                    cases.push(Case { probe, job, ending });
                }
            }
        }
        let all_polled = eventually(|| cases.iter().all(|case| case.probe.polled())).await;
        assert!(all_polled, "some blocks never ran");
        for case in &cases {
            match case.ending {
                Ending::ReadyAfterSuspending => case.probe.open(),
                Ending::CancelledSuspended => case.job.cancel(),
                _ => {}
            }
        }
        // Shielded blocks outlive the cancellation; they end when they may complete.
        for probe in &shielded_cancelled {
            probe.open();
        }
        join_all(
            "scope functions",
            cases.iter().map(|case| case.job.clone()).collect(),
        )
        .await;
        for case in &cases {
            assert!(
                case.probe.dropped(),
                "{}: never dropped",
                case.probe.label()
            );
        }
    })
    .unwrap();
    pool.close();
    report.assert_clean();
}

#[test]
fn finding_01_coroutines_rejected_by_a_closed_executor_are_dropped_in_place() {
    let report = Report::new();
    let executor = new_single_thread_context("pin-closed");
    let reporter = report.clone();
    let outcome = run_blocking(|_| async move {
        // A supervisor: the rejections fail the coroutines, which must not cancel each other.
        let quiet = CoroutineExceptionHandler::new(|_, _| {});
        let scope = CoroutineScope::new(SupervisorJob::new() + quiet.clone());
        let context = || Context::from(executor.dispatcher().clone()) + quiet.clone();
        let mut cases = Vec::new();
        for builder in BUILDERS {
            for start in STARTS {
                // Woken after the close (the probe opens), or cancelled after it: either way
                // the dispatch is refused and the task drops its future where it is.
                for cancel in [false, true] {
                    let label = format!("{builder:?} / {start:?} / cancelled: {cancel}");
                    let probe = Probe::new(&reporter, label, false);
                    let job = build(builder, &scope, context(), start, probe.clone());
                    job.start();
                    cases.push((probe, job, cancel));
                }
            }
        }
        // A block sent to the executor with `with_context`.
        for cancel in [false, true] {
            let probe = Probe::new(
                &reporter,
                format!("with_context / cancelled: {cancel}"),
                false,
            );
            let (inner, target) = (probe.clone(), executor.dispatcher().clone());
            let job = scope.launch_with(
                Dispatchers::default(),
                CoroutineStart::Default,
                |_| async move {
                    let _ = with_context(target, move |_| inner.future()).await;
                },
            );
            cases.push((probe, job, cancel));
        }
        let all_polled = eventually(|| cases.iter().all(|(probe, _, _)| probe.polled())).await;
        assert!(all_polled, "some bodies never ran");
        executor.close();
        for (probe, job, cancel) in &cases {
            if *cancel {
                job.cancel();
            } else {
                probe.open();
            }
        }
        join_all(
            "rejected",
            cases.iter().map(|case| case.1.clone()).collect(),
        )
        .await;
        for (probe, job, cancel) in &cases {
            assert!(probe.dropped(), "{}: never dropped", probe.label());
            if !*cancel && !probe.label().starts_with("with_context") {
                let error = job.completion_error();
                assert!(
                    error
                        .as_ref()
                        .is_some_and(|e| e.to_string().contains("closed")),
                    "{}: {error:?}",
                    probe.label()
                );
            }
        }
    });
    outcome.unwrap();
    report.assert_clean();
}

#[test]
fn run_blocking_root_block_is_dropped_in_place() {
    let report = Report::new();
    // Completed: opened from another thread while the root waits.
    let probe = Probe::new(&report, "run_blocking root / completed".to_owned(), false);
    let opener = probe.clone();
    let thread = std::thread::spawn(move || {
        while !opener.polled() {
            std::thread::sleep(Duration::from_millis(1));
        }
        opener.open();
    });
    run_blocking(|_| probe.future()).unwrap();
    thread.join().unwrap();
    assert!(probe.dropped());
    // Cancelled through the parent job named in its context.
    let parent = Job::new();
    let probe = Probe::new(&report, "run_blocking root / cancelled".to_owned(), false);
    let (watcher, canceller) = (probe.clone(), parent.clone());
    let thread = std::thread::spawn(move || {
        while !watcher.polled() {
            std::thread::sleep(Duration::from_millis(1));
        }
        canceller.cancel();
    });
    let outcome = run_blocking_with(parent, |_| probe.future());
    thread.join().unwrap();
    assert!(outcome.is_err(), "{outcome:?}");
    assert!(probe.dropped());
    report.assert_clean();
}
