//! Stress tests for [`CoroutineScheduler`]: many threads, many tasks, every guarantee the pool
//! makes checked from the outside, through its public API only.
//!
//! What each test proves (and how it fails):
//!
//! * `external_submissions_run_exactly_once`: 4 foreign threads submit 80 000 tasks (a few of
//!   them blocking) at once; every task runs, and runs once (a per-task `AtomicU8` slot must
//!   end at exactly 1). Fails on a lost task (timeout) or a duplicate (slot 2).
//! * `internal_submissions_run_exactly_once`: a binary tree of 65 535 tasks, each dispatching
//!   its children from inside a worker (run-next slot, ring, overflow to the global queue,
//!   fair and unfair, a few blocking), runs every node exactly once, always on a worker.
//! * `barrier_rounds_never_lose_a_wake_up`: 1000 rounds (for a pool of 2, then of 3) where
//!   `core` tasks must all run at the same time to pass a `std::sync::Barrier`, submitted from
//!   outside, from inside (run-next slot or ring of a worker that then blocks) or from a
//!   blocking task, with idle gaps so the workers park in between. A lost wake-up or a task
//!   stranded behind a blocked worker makes a round miss its 10 s deadline.
//! * `cpu_tasks_never_exceed_core_permits`: CPU tasks interleaved with blocking tasks (which
//!   make the pool add threads) never run more than `core` at once, and do reach `core`.
//! * `cpu_work_progresses_while_blocking_tasks_block`: 100 blocking tasks all start (the pool
//!   grows for them) and, while they are still blocked, 1000 CPU tasks complete; then the 100
//!   finish once released.
//! * `blocking_work_is_not_starved_by_cpu_flood`: while 50 000 CPU tasks (some re-dispatching
//!   themselves) keep both CPU permits busy, 10 blocking tasks submitted from outside and from
//!   inside the flood each start within 2 s and before the flood is over.
//! * `random_bursts_with_retirement_lose_no_task`: with a 10 ms keep-alive, 30 random bursts of
//!   blocking and CPU work (some spawning children) separated by random idle gaps, so extra
//!   threads are created and retire again and again; every task runs exactly once, the pool
//!   did grow, it shrank between bursts, and it ends back at `core` threads with no blocking
//!   task counted and every permit free.
//! * `shutdown_runs_every_task_queued_before_it`: tasks queued just before `shutdown` all run,
//!   the report is clean, and afterwards every way of submitting returns `Err(Rejected)` whose
//!   `into_inner()` is the very runnable that was submitted.
//! * `shutdown_timeout_reports_workers_still_running`: a shutdown whose timeout passes while
//!   workers are blocked reports them in `threads_still_running`, rejects nothing they can
//!   still reach, and a second `shutdown` waits for them to drain the queue.
//! * `submitters_racing_shutdown_lose_no_task`: threads submitting while the pool shuts down
//!   never panic, stop at their first `Err`, and every accepted task either ran on a worker or
//!   was dropped unrun (rejected); none is left in a queue, none runs after shutdown returned.
//! * `worker_threads_are_named_after_the_pool`: core and compensating workers are all named
//!   `<name>-worker-N`, with dense `N` within `max_pool_size`.
//!
//! Sizes fit a 2-core CI machine in a debug build; set `CORRAL_STRESS_LONG` (any value) to
//! multiply them by 10 for a long soak. The randomised tests print their seed; set
//! `CORRAL_STRESS_SEED` to replay the same plan (thread timing, of course, differs).
//!
//! Not run under Miri (the whole file is `cfg(not(miri))`): tens of thousands of tasks on
//! real threads with wall-clock deadlines would take hours in its interpreter. The unsafe code
//! they drive (the local ring, the run-next slot) is checked under Miri by the unit tests in
//! `src/`, and its interleavings by the loom models.
#![cfg(not(miri))]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use corral_core::{Runnable, TaskMode};
use corral_scheduler::{CoroutineScheduler, ShutdownReport};

use TaskMode::{NonBlocking, ProbablyBlocking};

/// How long any "everything eventually completes" wait may take before the test fails (the
/// default sizes need about a second; the long soak sizes ten times that).
fn wait_limit() -> Duration {
    Duration::from_secs(if long_soak() { 120 } else { 20 })
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn long_soak() -> bool {
    std::env::var_os("CORRAL_STRESS_LONG").is_some()
}

/// Size multiplier: 10 under `CORRAL_STRESS_LONG`.
fn scale() -> usize {
    if long_soak() {
        10
    } else {
        1
    }
}

/// The seed of a randomised test: `CORRAL_STRESS_SEED` or the clock, printed for replay.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("CORRAL_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x5EED, |d| d.as_nanos() as u64)
        });
    eprintln!("{test}: CORRAL_STRESS_SEED={seed}");
    seed
}

/// Marsaglia's xorshift64: enough randomness for test plans, no `rand` dependency.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // Spread the seed and never start at 0 (a fixed point).
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `0..bound` (`bound > 0`).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn pool(name: &str, core: usize) -> CoroutineScheduler {
    CoroutineScheduler::builder()
        .core_pool_size(core)
        .name(name)
        .build()
        .expect("a valid configuration")
}

/// Polls `done` every millisecond until it holds or `timeout` passes; `true` if it held.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Shuts `scheduler` down and checks every worker exited and nothing was rejected.
fn shutdown_clean(scheduler: &CoroutineScheduler) -> ShutdownReport {
    let report = scheduler.shutdown(Duration::from_secs(10));
    assert!(
        report.is_clean(),
        "shutdown of `{}` was not clean: {report:?}",
        scheduler.name()
    );
    report
}

/// Busy-waits for `duration` (CPU work that holds the thread without sleeping).
fn spin(duration: Duration) {
    let started = Instant::now();
    while started.elapsed() < duration {
        std::hint::spin_loop();
    }
}

/// Problems seen inside tasks. A panic inside a task is caught by the worker and only printed,
/// so tasks record what went wrong here and the test thread asserts there is nothing.
#[derive(Clone, Default)]
struct Failures(Arc<Mutex<Vec<String>>>);

impl Failures {
    fn record(&self, message: impl Into<String>) {
        let mut failures = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() < 20 {
            failures.push(message.into());
        }
    }

    fn assert_none(&self) {
        let failures = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(failures.is_empty(), "failures inside tasks: {failures:#?}");
    }
}

/// One `AtomicU8` per task: each run adds one, so after the test every slot must be 1.
fn run_slots(tasks: usize) -> Arc<[AtomicU8]> {
    (0..tasks).map(|_| AtomicU8::new(0)).collect()
}

/// Asserts the first `tasks` slots hold exactly 1 (each task ran exactly once).
fn assert_each_ran_once(slots: &[AtomicU8], tasks: usize, what: &str) {
    let mut never = 0usize;
    let mut twice = 0usize;
    let mut examples = String::new();
    for (id, slot) in slots[..tasks].iter().enumerate() {
        let runs = slot.load(Ordering::SeqCst);
        if runs != 1 {
            if runs == 0 {
                never += 1;
            } else {
                twice += 1;
            }
            if examples.len() < 200 {
                let _ = write!(examples, " task {id} ran {runs}x;");
            }
        }
    }
    assert!(
        never == 0 && twice == 0,
        "{what}: {never} of {tasks} tasks never ran, {twice} ran more than once:{examples}"
    );
}

/// A gate blocking tasks wait on (a blocking call the test controls). Waiters give up after
/// [`wait_limit`] so a failing test does not leave threads blocked forever.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    /// Waits until opened; `false` if it timed out.
    fn wait(&self) -> bool {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (open, _) = self
            .opened
            .wait_timeout_while(open, wait_limit(), |open| !*open)
            .unwrap_or_else(PoisonError::into_inner);
        *open
    }

    fn open(&self) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.opened.notify_all();
    }
}

// ---------------------------------------------------------------------------------------------
// 1. External submission: exactly once
// ---------------------------------------------------------------------------------------------

#[test]
fn external_submissions_run_exactly_once() {
    let wait = wait_limit();
    const SUBMITTERS: usize = 4;
    let per_submitter = 20_000 * scale();
    let total = SUBMITTERS * per_submitter;
    let scheduler = pool("stress-external", 2);
    let slots = run_slots(total);
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Failures::default();

    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|submitter| {
            let (scheduler, slots, done, failures) = (
                scheduler.clone(),
                slots.clone(),
                done.clone(),
                failures.clone(),
            );
            thread::spawn(move || {
                for k in 0..per_submitter {
                    let id = submitter * per_submitter + k;
                    let (slots, done) = (slots.clone(), done.clone());
                    let task = Runnable::from_fn(move || {
                        slots[id].fetch_add(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    });
                    // Mostly CPU work, 1% blocking (its own queue and thread compensation).
                    let mode = if id % 100 == 7 {
                        ProbablyBlocking
                    } else {
                        NonBlocking
                    };
                    if scheduler.dispatch(task, mode, id % 3 == 0).is_err() {
                        failures.record(format!("dispatch of task {id} was rejected"));
                    }
                }
            })
        })
        .collect();
    for submitter in submitters {
        submitter.join().expect("a submitter thread panicked");
    }

    let all_ran = wait_until(wait, || done.load(Ordering::SeqCst) >= total);
    assert!(
        all_ran,
        "only {} of {total} externally submitted tasks ran within {wait:?} (lost tasks?); {:?}",
        done.load(Ordering::SeqCst),
        scheduler.counters()
    );
    shutdown_clean(&scheduler);
    failures.assert_none();
    assert_eq!(done.load(Ordering::SeqCst), total);
    assert_each_ran_once(&slots, total, "external submission");
}

// ---------------------------------------------------------------------------------------------
// 2. Internal submission: exactly once
// ---------------------------------------------------------------------------------------------

/// A complete binary tree of tasks: node `i` dispatches nodes `2i + 1` and `2i + 2`.
struct Tree {
    scheduler: CoroutineScheduler,
    nodes: usize,
    slots: Arc<[AtomicU8]>,
    done: AtomicUsize,
    failures: Failures,
}

impl Tree {
    fn run_node(self: Arc<Self>, node: usize) {
        if !self.scheduler.is_current_worker() {
            self.failures
                .record(format!("node {node} ran outside the pool's workers"));
        }
        self.slots[node].fetch_add(1, Ordering::SeqCst);
        for child in [2 * node + 1, 2 * node + 2] {
            if child < self.nodes {
                self.spawn(child);
            }
        }
        self.done.fetch_add(1, Ordering::SeqCst);
    }

    fn spawn(self: &Arc<Self>, node: usize) {
        // A cheap hash mixes fair and unfair siblings; every 61st node is a blocking task (it
        // goes to the blocking queue, and its own children are dispatched without a permit).
        let fair = (node.wrapping_mul(0x9E37_79B9) >> 11) & 1 == 1;
        let mode = if node % 61 == 0 {
            ProbablyBlocking
        } else {
            NonBlocking
        };
        let tree = self.clone();
        let task = Runnable::from_fn(move || tree.run_node(node));
        if self.scheduler.dispatch(task, mode, fair).is_err() {
            self.failures
                .record(format!("dispatch of node {node} was rejected"));
        }
    }
}

#[test]
fn internal_submissions_run_exactly_once() {
    let wait = wait_limit();
    // 2^16 - 1 nodes: a tree 16 levels deep whose lower levels overflow every local ring.
    let nodes = 65_535 * scale();
    let scheduler = pool("stress-internal", 2);
    let tree = Arc::new(Tree {
        scheduler: scheduler.clone(),
        nodes,
        slots: run_slots(nodes),
        done: AtomicUsize::new(0),
        failures: Failures::default(),
    });
    let root = tree.clone();
    scheduler
        .dispatch(
            Runnable::from_fn(move || root.run_node(0)),
            NonBlocking,
            false,
        )
        .expect("the root is accepted");

    let all_ran = wait_until(wait, || tree.done.load(Ordering::SeqCst) >= nodes);
    assert!(
        all_ran,
        "only {} of {nodes} tree tasks ran within {wait:?} (lost tasks?); {:?}",
        tree.done.load(Ordering::SeqCst),
        scheduler.counters()
    );
    shutdown_clean(&scheduler);
    tree.failures.assert_none();
    assert_eq!(tree.done.load(Ordering::SeqCst), nodes);
    assert_each_ran_once(&tree.slots, nodes, "internal submission");
}

// ---------------------------------------------------------------------------------------------
// 3. Barrier liveness: no lost wake-ups
// ---------------------------------------------------------------------------------------------

#[test]
fn barrier_rounds_never_lose_a_wake_up() {
    let rounds = 1000 * scale();
    let mut rng = XorShift::new(seed("barrier_rounds_never_lose_a_wake_up"));
    // `core` tasks meet at each barrier: with 2 the pool is exactly full, with 3 one more
    // worker must be woken per round (and searchers throttle each other differently).
    for core in [2, 3] {
        barrier_rounds(core, rounds, &mut rng);
    }
}

fn barrier_rounds(core: usize, rounds: usize, rng: &mut XorShift) {
    const ROUND_TIMEOUT: Duration = Duration::from_secs(10);
    let scheduler = pool(&format!("stress-barrier-{core}"), core);
    let (sender, receiver) = mpsc::channel::<usize>();

    let meet = |barrier: &Arc<Barrier>, round: usize| {
        let (barrier, sender) = (barrier.clone(), sender.clone());
        move || {
            barrier.wait();
            let _ = sender.send(round);
        }
    };

    for round in 0..rounds {
        // All `core` tasks must run at the same time to pass: every one needs a worker woken.
        let barrier = Arc::new(Barrier::new(core));
        let variant = round % 4;
        match variant {
            // All submitted from outside (global queue).
            0 => {
                for _ in 0..core {
                    scheduler
                        .execute(meet(&barrier, round))
                        .expect("the pool is running");
                }
            }
            // The first task submits the others from inside, then blocks at the barrier:
            // they sit in its run-next slot (1) or its ring (2) and must be stolen.
            1 | 2 => {
                let fair = variant == 2;
                let others: Vec<Runnable> = (1..core)
                    .map(|_| Runnable::from_fn(meet(&barrier, round)))
                    .collect();
                let inner = scheduler.clone();
                let (first, sender) = (meet(&barrier, round), sender.clone());
                scheduler
                    .execute(move || {
                        for other in others {
                            if inner.dispatch(other, NonBlocking, fair).is_err() {
                                let _ = sender.send(usize::MAX);
                            }
                        }
                        first();
                    })
                    .expect("the pool is running");
            }
            // A blocking task (no permit) submits the CPU tasks, then blocks at the barrier.
            _ => {
                let others: Vec<Runnable> = (1..core)
                    .map(|_| Runnable::from_fn(meet(&barrier, round)))
                    .collect();
                let inner = scheduler.clone();
                let (first, sender) = (meet(&barrier, round), sender.clone());
                let task = Runnable::from_fn(move || {
                    for other in others {
                        if inner.dispatch(other, NonBlocking, false).is_err() {
                            let _ = sender.send(usize::MAX);
                        }
                    }
                    first();
                });
                scheduler
                    .dispatch(task, ProbablyBlocking, false)
                    .expect("the pool is running");
            }
        }

        let deadline = Instant::now() + ROUND_TIMEOUT;
        for _ in 0..core {
            match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(done) => assert_eq!(
                    done, round,
                    "core {core}, round {round} (variant {variant}): a dispatch from inside was rejected"
                ),
                Err(_) => panic!(
                    "core {core}, round {round} (variant {variant}) of {rounds}: the {core} barrier tasks \
                     did not all run within {ROUND_TIMEOUT:?} (lost wake-up or stranded task); \
                     {:?}",
                    scheduler.counters()
                ),
            }
        }
        // Now and then let the pool go idle so the workers park before the next round.
        if rng.below(4) == 0 {
            thread::sleep(Duration::from_millis(1 + rng.below(4)));
        }
    }
    shutdown_clean(&scheduler);
}

// ---------------------------------------------------------------------------------------------
// 4. At most `core` CPU tasks at once
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Concurrency {
    running: AtomicUsize,
    max_running: AtomicUsize,
    cpu_done: AtomicUsize,
    blocking_done: AtomicUsize,
}

impl Concurrency {
    fn cpu_body(&self) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        spin(Duration::from_micros(50));
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.cpu_done.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn cpu_tasks_never_exceed_core_permits() {
    let wait = wait_limit();
    const CORE: usize = 2;
    let rounds = 1000 * scale();
    let scheduler = pool("stress-permits", CORE);
    let state = Arc::new(Concurrency::default());
    let failures = Failures::default();
    let mut expected_cpu = 0;
    let mut expected_blocking = 0;

    let cpu_task = |state: &Arc<Concurrency>| {
        let state = state.clone();
        move || state.cpu_body()
    };
    for i in 0..rounds {
        match i % 10 {
            // A blocking task that sleeps 1 ms, submitting a CPU task from its thread (no
            // permit there): its worker switches to blocking mode and the pool compensates.
            0 | 5 => {
                let (state, inner, failures) = (state.clone(), scheduler.clone(), failures.clone());
                let cpu = cpu_task(&state);
                let task = Runnable::from_fn(move || {
                    if inner.execute(cpu).is_err() {
                        failures.record("a CPU task from a blocking task was rejected");
                    }
                    thread::sleep(Duration::from_millis(1));
                    state.blocking_done.fetch_add(1, Ordering::SeqCst);
                });
                scheduler
                    .dispatch(task, ProbablyBlocking, false)
                    .expect("the pool is running");
                expected_blocking += 1;
                expected_cpu += 1;
            }
            // A CPU task submitting another from inside (run-next slot or ring).
            3 | 7 => {
                let (state2, inner, failures) =
                    (state.clone(), scheduler.clone(), failures.clone());
                let child = Runnable::from_fn(cpu_task(&state));
                let fair = i % 10 == 7;
                scheduler
                    .execute(move || {
                        state2.cpu_body();
                        if inner.dispatch(child, NonBlocking, fair).is_err() {
                            failures.record("a CPU task from a CPU task was rejected");
                        }
                    })
                    .expect("the pool is running");
                expected_cpu += 2;
            }
            _ => {
                scheduler
                    .execute(cpu_task(&state))
                    .expect("the pool is running");
                expected_cpu += 1;
            }
        }
    }

    let all_ran = wait_until(wait, || {
        state.cpu_done.load(Ordering::SeqCst) >= expected_cpu
            && state.blocking_done.load(Ordering::SeqCst) >= expected_blocking
    });
    assert!(
        all_ran,
        "{} of {expected_cpu} CPU and {} of {expected_blocking} blocking tasks ran within \
         {wait:?}; {:?}",
        state.cpu_done.load(Ordering::SeqCst),
        state.blocking_done.load(Ordering::SeqCst),
        scheduler.counters()
    );
    let counters = scheduler.counters();
    shutdown_clean(&scheduler);
    failures.assert_none();
    let max = state.max_running.load(Ordering::SeqCst);
    assert!(
        max <= CORE,
        "{max} CPU tasks ran at once in a pool with {CORE} CPU permits"
    );
    assert_eq!(
        max, CORE,
        "CPU tasks never ran {CORE} at once: the test did not exercise the limit"
    );
    // The blocking tasks made the pool add threads: more threads than permits existed while
    // the limit held (the default keep-alive of 60 s keeps them until shutdown).
    assert!(
        counters.threads > CORE,
        "blocking tasks did not make the pool compensate: {counters:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. CPU work progresses while blocking tasks are blocked
// ---------------------------------------------------------------------------------------------

#[test]
fn cpu_work_progresses_while_blocking_tasks_block() {
    let wait = wait_limit();
    const CORE: usize = 2;
    const BLOCKING: usize = 100;
    let cpu_tasks = 1000 * scale();
    let scheduler = pool("stress-progress", CORE);
    let gate = Arc::new(Gate::default());
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let cpu_done = Arc::new(AtomicUsize::new(0));
    let failures = Failures::default();

    for i in 0..BLOCKING {
        let (gate, started, finished, failures) = (
            gate.clone(),
            started.clone(),
            finished.clone(),
            failures.clone(),
        );
        let task = Runnable::from_fn(move || {
            started.fetch_add(1, Ordering::SeqCst);
            if !gate.wait() {
                failures.record(format!("blocking task {i} was never released"));
            }
            finished.fetch_add(1, Ordering::SeqCst);
        });
        scheduler
            .dispatch(task, ProbablyBlocking, false)
            .expect("the pool is running");
    }
    // Within the default max pool size every blocking task gets a thread of its own.
    let all_started = wait_until(wait, || started.load(Ordering::SeqCst) == BLOCKING);
    assert!(
        all_started,
        "only {} of {BLOCKING} blocking tasks started within {wait:?}; {:?}",
        started.load(Ordering::SeqCst),
        scheduler.counters()
    );
    let counters = scheduler.counters();
    assert_eq!(counters.blocking_tasks, BLOCKING, "{counters:?}");
    assert!(
        counters.threads >= BLOCKING + CORE,
        "the pool did not keep {CORE} threads for CPU work beside {BLOCKING} blocked ones: \
         {counters:?}"
    );

    let cpu_started = Instant::now();
    for i in 0..cpu_tasks {
        let (cpu_done, inner, failures) = (cpu_done.clone(), scheduler.clone(), failures.clone());
        if i % 4 == 0 {
            // Half of these submit a second CPU task from inside.
            let child_done = cpu_done.clone();
            scheduler
                .execute(move || {
                    let child = move || {
                        child_done.fetch_add(1, Ordering::SeqCst);
                    };
                    if inner.execute(child).is_err() {
                        failures.record("a CPU task from a CPU task was rejected");
                    }
                    cpu_done.fetch_add(1, Ordering::SeqCst);
                })
                .expect("the pool is running");
        } else {
            scheduler
                .execute(move || {
                    cpu_done.fetch_add(1, Ordering::SeqCst);
                })
                .expect("the pool is running");
        }
    }
    let expected_cpu = cpu_tasks + cpu_tasks.div_ceil(4);
    let cpu_finished = wait_until(Duration::from_secs(10), || {
        cpu_done.load(Ordering::SeqCst) >= expected_cpu
    });
    assert!(
        cpu_finished,
        "only {} of {expected_cpu} CPU tasks ran within 10 s while {BLOCKING} blocking tasks \
         were blocked; {:?}",
        cpu_done.load(Ordering::SeqCst),
        scheduler.counters()
    );
    eprintln!(
        "cpu_work_progresses_while_blocking_tasks_block: {expected_cpu} CPU tasks in {:?}",
        cpu_started.elapsed()
    );
    // ... and they did so while every blocking task was still blocked.
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    assert_eq!(scheduler.counters().blocking_tasks, BLOCKING);

    gate.open();
    let all_finished = wait_until(wait, || finished.load(Ordering::SeqCst) == BLOCKING);
    assert!(
        all_finished,
        "only {} of {BLOCKING} released blocking tasks finished within {wait:?}",
        finished.load(Ordering::SeqCst)
    );
    let uncounted = wait_until(wait, || scheduler.counters().blocking_tasks == 0);
    assert!(uncounted, "{:?}", scheduler.counters());
    shutdown_clean(&scheduler);
    failures.assert_none();
    assert_eq!(cpu_done.load(Ordering::SeqCst), expected_cpu);
}

// ---------------------------------------------------------------------------------------------
// 6. Blocking work is not starved by a CPU flood
// ---------------------------------------------------------------------------------------------

struct Flood {
    scheduler: CoroutineScheduler,
    /// CPU task runs so far.
    cpu_done: AtomicUsize,
    /// Per blocking task: (latency from its dispatch to its start, CPU runs done when it
    /// started).
    blocking: Mutex<Vec<(usize, Duration, usize)>>,
    failures: Failures,
}

impl Flood {
    /// A flood task: ~20 µs of CPU work; task `id % 9 == 0` re-dispatches itself once, and a
    /// few early ones submit a blocking task from inside the flood.
    fn cpu(self: Arc<Self>, id: usize, again: bool) {
        spin(Duration::from_micros(20));
        if again {
            let flood = self.clone();
            let task = Runnable::from_fn(move || flood.cpu(id, false));
            if self
                .scheduler
                .dispatch(task, NonBlocking, id % 2 == 0)
                .is_err()
            {
                self.failures
                    .record(format!("flood task {id} could not re-dispatch itself"));
            }
        }
        if again && INNER_BLOCKING_AT.contains(&id) {
            self.submit_blocking(id);
        }
        self.cpu_done.fetch_add(1, Ordering::SeqCst);
    }

    fn submit_blocking(self: &Arc<Self>, tag: usize) {
        let flood = self.clone();
        let dispatched = Instant::now();
        let task = Runnable::from_fn(move || {
            let latency = dispatched.elapsed();
            let cpu_done = flood.cpu_done.load(Ordering::SeqCst);
            flood
                .blocking
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((tag, latency, cpu_done));
            thread::sleep(Duration::from_millis(1));
        });
        if self
            .scheduler
            .dispatch(task, ProbablyBlocking, false)
            .is_err()
        {
            self.failures
                .record(format!("blocking task {tag} was rejected"));
        }
    }
}

/// Flood tasks that submit a blocking task from inside (all re-dispatching, `id % 9 == 0`).
const INNER_BLOCKING_AT: [usize; 5] = [900, 1800, 2700, 3600, 4500];

#[test]
fn blocking_work_is_not_starved_by_cpu_flood() {
    let wait = wait_limit();
    const CORE: usize = 2;
    const MAX_LATENCY: Duration = Duration::from_secs(2);
    // 45 000 roots, one in nine runs twice: 50 000 CPU runs of ~20 µs, about half a second of
    // work for 2 permits even in a release build.
    let roots = 45_000 * scale();
    let total_cpu = roots + roots.div_ceil(9);
    let scheduler = pool("stress-flood", CORE);
    let flood = Arc::new(Flood {
        scheduler: scheduler.clone(),
        cpu_done: AtomicUsize::new(0),
        blocking: Mutex::new(Vec::new()),
        failures: Failures::default(),
    });

    let flood_started = Instant::now();
    for id in 0..roots {
        let task = flood.clone();
        scheduler
            .execute(move || task.cpu(id, id % 9 == 0))
            .expect("the pool is running");
    }
    // Five blocking tasks from outside, behind the whole queued flood.
    for tag in 0..5 {
        flood.submit_blocking(tag);
    }

    let all_ran = wait_until(wait, || {
        flood.cpu_done.load(Ordering::SeqCst) >= total_cpu
            && flood
                .blocking
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len()
                >= 10
    });
    let flood_time = flood_started.elapsed();
    let blocking = flood
        .blocking
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(
        all_ran,
        "{} of {total_cpu} CPU tasks and {} of 10 blocking tasks ran within {wait:?}; {:?}",
        flood.cpu_done.load(Ordering::SeqCst),
        blocking.len(),
        scheduler.counters()
    );
    shutdown_clean(&scheduler);
    flood.failures.assert_none();
    eprintln!(
        "blocking_work_is_not_starved_by_cpu_flood: flood of {total_cpu} took {flood_time:?}; \
         blocking (tag, latency, CPU runs before it) {blocking:?}"
    );
    assert_eq!(flood.cpu_done.load(Ordering::SeqCst), total_cpu);
    assert_eq!(blocking.len(), 10);
    for &(tag, latency, cpu_done) in &blocking {
        assert!(
            latency <= MAX_LATENCY,
            "blocking task {tag} waited {latency:?} behind the CPU flood (bound {MAX_LATENCY:?})"
        );
        assert!(
            cpu_done < total_cpu,
            "blocking task {tag} only started after the whole CPU flood ({total_cpu} runs, \
             {flood_time:?}) was over"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Retirement under random bursts
// ---------------------------------------------------------------------------------------------

struct Bursts {
    scheduler: CoroutineScheduler,
    /// Task ids handed out (every accepted dispatch has one).
    dispatched: AtomicUsize,
    ran: AtomicUsize,
    slots: Arc<[AtomicU8]>,
    failures: Failures,
}

impl Bursts {
    /// Dispatches a task; `sleep_ms` makes it blocking, `child` makes it submit one more task
    /// (of the other kind) from inside.
    fn submit(self: &Arc<Self>, sleep_ms: Option<u64>, child: bool) {
        let id = self.dispatched.fetch_add(1, Ordering::SeqCst);
        if id >= self.slots.len() {
            self.failures.record("more tasks than slots");
            return;
        }
        let bursts = self.clone();
        let task = Runnable::from_fn(move || {
            bursts.slots[id].fetch_add(1, Ordering::SeqCst);
            match sleep_ms {
                Some(ms) => thread::sleep(Duration::from_millis(ms)),
                None => spin(Duration::from_micros(5)),
            }
            if child {
                let child_sleep = if sleep_ms.is_some() { None } else { Some(1) };
                bursts.submit(child_sleep, false);
            }
            bursts.ran.fetch_add(1, Ordering::SeqCst);
        });
        let mode = if sleep_ms.is_some() {
            ProbablyBlocking
        } else {
            NonBlocking
        };
        if self.scheduler.dispatch(task, mode, id % 2 == 0).is_err() {
            self.failures.record(format!("task {id} was rejected"));
        }
    }
}

#[test]
fn random_bursts_with_retirement_lose_no_task() {
    let wait = wait_limit();
    const CORE: usize = 2;
    const KEEP_ALIVE: Duration = Duration::from_millis(10);
    const MAX_BLOCKING: u64 = 20;
    const MAX_CPU: u64 = 200;
    let bursts_count = 30 * scale();
    let scheduler = CoroutineScheduler::builder()
        .core_pool_size(CORE)
        .keep_alive(KEEP_ALIVE)
        .name("stress-retire")
        .build()
        .expect("a valid configuration");
    // Each task submits at most one child.
    let capacity = bursts_count * 2 * (MAX_BLOCKING + MAX_CPU) as usize;
    let bursts = Arc::new(Bursts {
        scheduler: scheduler.clone(),
        dispatched: AtomicUsize::new(0),
        ran: AtomicUsize::new(0),
        slots: run_slots(capacity),
        failures: Failures::default(),
    });
    let mut rng = XorShift::new(seed("random_bursts_with_retirement_lose_no_task"));
    let mut peak_threads = 0;
    let mut shrank_between_bursts = 0;

    for burst in 0..bursts_count {
        // The first burst surely blocks enough to grow the pool, the first gap surely
        // outlasts the keep-alive.
        let blocking = if burst == 0 {
            MAX_BLOCKING
        } else {
            rng.below(MAX_BLOCKING + 1)
        };
        let cpu = rng.below(MAX_CPU + 1);
        let mut plan: Vec<bool> = (0..blocking).map(|_| true).collect();
        plan.extend((0..cpu).map(|_| false));
        // Shuffle (Fisher-Yates) so blocking and CPU tasks interleave.
        for i in (1..plan.len()).rev() {
            plan.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for is_blocking in plan {
            let sleep_ms = is_blocking.then(|| rng.below(3));
            bursts.submit(sleep_ms, rng.below(8) == 0);
        }
        let before_gap = scheduler.counters().threads;
        peak_threads = peak_threads.max(before_gap);
        let gap = if burst == 0 { 30 } else { rng.below(31) };
        thread::sleep(Duration::from_millis(gap));
        let after_gap = scheduler.counters();
        peak_threads = peak_threads.max(after_gap.threads);
        if after_gap.threads < before_gap {
            shrank_between_bursts += 1;
        }
    }

    let all_ran = wait_until(wait, || {
        bursts.ran.load(Ordering::SeqCst) == bursts.dispatched.load(Ordering::SeqCst)
    });
    let dispatched = bursts.dispatched.load(Ordering::SeqCst);
    assert!(
        all_ran,
        "only {} of {dispatched} tasks ran within {wait:?} (lost across a retirement?); {:?}",
        bursts.ran.load(Ordering::SeqCst),
        scheduler.counters()
    );
    // Idle for longer than the keep-alive: every extra thread retires, nothing stays counted.
    let settled = wait_until(Duration::from_secs(10), || {
        let counters = scheduler.counters();
        counters.threads == CORE
            && counters.blocking_tasks == 0
            && counters.free_cpu_permits == CORE
    });
    let counters = scheduler.counters();
    eprintln!(
        "random_bursts_with_retirement_lose_no_task: {dispatched} tasks, peak {peak_threads} \
         threads, shrank in {shrank_between_bursts} of {bursts_count} gaps, final {counters:?}"
    );
    assert!(
        settled,
        "the idle pool did not go back to {CORE} threads, 0 blocking tasks and {CORE} free \
         permits: {counters:?}"
    );
    shutdown_clean(&scheduler);
    bursts.failures.assert_none();
    assert_eq!(bursts.ran.load(Ordering::SeqCst), dispatched);
    assert_each_ran_once(&bursts.slots, dispatched, "bursts with retirement");
    assert!(
        peak_threads > CORE,
        "blocking bursts never made the pool grow beyond {CORE} threads"
    );
    assert!(
        shrank_between_bursts > 0,
        "no extra thread retired during any idle gap (keep-alive {KEEP_ALIVE:?})"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Shutdown
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Outcomes {
    ran_on_worker: AtomicUsize,
    ran_elsewhere: AtomicUsize,
    dropped_unrun: AtomicUsize,
}

/// Held by a task's closure: records whether the task ran (and where) or was dropped unrun.
struct Ticket {
    outcomes: Arc<Outcomes>,
    scheduler: CoroutineScheduler,
    ran: bool,
}

impl Ticket {
    fn new(outcomes: &Arc<Outcomes>, scheduler: &CoroutineScheduler) -> Ticket {
        Ticket {
            outcomes: outcomes.clone(),
            scheduler: scheduler.clone(),
            ran: false,
        }
    }

    fn run(mut self) {
        self.ran = true;
        let counter = if self.scheduler.is_current_worker() {
            &self.outcomes.ran_on_worker
        } else {
            &self.outcomes.ran_elsewhere
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }

    fn into_runnable(self) -> Runnable {
        Runnable::from_fn(move || self.run())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.ran {
            self.outcomes.dropped_unrun.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn shutdown_runs_every_task_queued_before_it() {
    const NAME: &str = "stress-shutdown";
    let tasks = 10_000 * scale();
    let scheduler = pool(NAME, 2);
    let outcomes = Arc::new(Outcomes::default());
    for i in 0..tasks {
        let task = Ticket::new(&outcomes, &scheduler).into_runnable();
        let mode = if i % 50 == 0 {
            ProbablyBlocking
        } else {
            NonBlocking
        };
        scheduler
            .dispatch(task, mode, i % 2 == 0)
            .expect("the pool is running");
    }
    let report = scheduler.shutdown(Duration::from_secs(10));
    eprintln!("shutdown_runs_every_task_queued_before_it: {report:?}");
    assert!(scheduler.is_shut_down());
    assert_eq!(report.threads_still_running, 0, "{report:?}");
    let ran = outcomes.ran_on_worker.load(Ordering::SeqCst);
    let dropped = outcomes.dropped_unrun.load(Ordering::SeqCst);
    // Every task ran or was reported: nothing is left behind in a queue.
    assert_eq!(ran + dropped, tasks, "{report:?}");
    assert_eq!(dropped, report.rejected_tasks, "{report:?}");
    // And with a generous timeout the workers drained everything: nothing was rejected.
    assert!(
        report.is_clean(),
        "{dropped} of {tasks} queued tasks were rejected: {report:?}"
    );
    assert_eq!(ran, tasks);

    // After shutdown every submission fails and hands the very runnable back.
    let rejected = scheduler
        .dispatch(
            Ticket::new(&outcomes, &scheduler).into_runnable(),
            NonBlocking,
            false,
        )
        .expect_err("a CPU dispatch after shutdown is rejected");
    assert_eq!(rejected.scheduler(), NAME);
    assert!(rejected.to_string().contains(NAME), "{rejected}");
    rejected.into_inner().run();
    assert_eq!(outcomes.ran_elsewhere.load(Ordering::SeqCst), 1);

    let rejected = scheduler
        .dispatch(
            Ticket::new(&outcomes, &scheduler).into_runnable(),
            ProbablyBlocking,
            true,
        )
        .expect_err("a blocking dispatch after shutdown is rejected");
    rejected.into_inner().run();
    assert_eq!(outcomes.ran_elsewhere.load(Ordering::SeqCst), 2);

    let ticket = Ticket::new(&outcomes, &scheduler);
    let rejected = scheduler
        .execute(move || ticket.run())
        .expect_err("execute after shutdown is rejected");
    rejected.into_inner().run();
    assert_eq!(outcomes.ran_elsewhere.load(Ordering::SeqCst), 3);

    // Shutting down again only waits again.
    let again = scheduler.shutdown(Duration::from_secs(1));
    assert!(again.is_clean(), "{again:?}");
    assert_eq!(outcomes.ran_on_worker.load(Ordering::SeqCst), tasks);
    assert_eq!(outcomes.dropped_unrun.load(Ordering::SeqCst), 0);
}

#[test]
fn shutdown_timeout_reports_workers_still_running() {
    let wait = wait_limit();
    const CORE: usize = 2;
    const QUEUED: usize = 100;
    let scheduler = pool("stress-shutdown-timeout", CORE);
    let gate = Arc::new(Gate::default());
    let blocked = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Outcomes::default());
    let failures = Failures::default();
    // Both CPU permits held by tasks blocked on the gate: nothing else can run.
    for _ in 0..CORE {
        let (gate, blocked, failures) = (gate.clone(), blocked.clone(), failures.clone());
        scheduler
            .execute(move || {
                blocked.fetch_add(1, Ordering::SeqCst);
                if !gate.wait() {
                    failures.record("a gated task was never released");
                }
            })
            .expect("the pool is running");
    }
    assert!(
        wait_until(wait, || blocked.load(Ordering::SeqCst) == CORE),
        "the {CORE} gated tasks did not both start; {:?}",
        scheduler.counters()
    );
    for _ in 0..QUEUED {
        scheduler
            .dispatch(
                Ticket::new(&outcomes, &scheduler).into_runnable(),
                NonBlocking,
                false,
            )
            .expect("the pool is running");
    }

    let report = scheduler.shutdown(Duration::from_millis(200));
    assert_eq!(
        report.threads_still_running, CORE,
        "the blocked workers are still running: {report:?}"
    );
    assert_eq!(
        report.rejected_tasks, 0,
        "live workers keep draining, nothing may be rejected yet: {report:?}"
    );
    assert!(!report.is_clean());
    assert!(report.elapsed >= Duration::from_millis(200), "{report:?}");
    assert_eq!(outcomes.ran_on_worker.load(Ordering::SeqCst), 0);
    assert!(scheduler.execute(|| {}).is_err());

    gate.open();
    let report = scheduler.shutdown(Duration::from_secs(10));
    assert!(report.is_clean(), "{report:?}");
    failures.assert_none();
    assert_eq!(outcomes.ran_on_worker.load(Ordering::SeqCst), QUEUED);
    assert_eq!(outcomes.dropped_unrun.load(Ordering::SeqCst), 0);
}

#[test]
fn submitters_racing_shutdown_lose_no_task() {
    const SUBMITTERS: usize = 4;
    let scheduler = pool("stress-shutdown-race", 2);
    let outcomes = Arc::new(Outcomes::default());
    let go = Arc::new(AtomicBool::new(false));

    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|submitter| {
            let (scheduler, outcomes, go) = (scheduler.clone(), outcomes.clone(), go.clone());
            thread::spawn(move || {
                while !go.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
                let mut accepted = 0usize;
                loop {
                    let mode = if (submitter + accepted) % 16 == 0 {
                        ProbablyBlocking
                    } else {
                        NonBlocking
                    };
                    let task = Ticket::new(&outcomes, &scheduler).into_runnable();
                    match scheduler.dispatch(task, mode, accepted % 2 == 0) {
                        Ok(()) => accepted += 1,
                        Err(rejected) => {
                            // The submitter gets its runnable back and runs it itself.
                            rejected.into_inner().run();
                            return accepted;
                        }
                    }
                }
            })
        })
        .collect();

    go.store(true, Ordering::SeqCst);
    thread::sleep(Duration::from_millis(20 * scale() as u64));
    let report = scheduler.shutdown(Duration::from_secs(10));
    let accepted: usize = submitters
        .into_iter()
        .map(|submitter| submitter.join().expect("a submitter panicked"))
        .sum();
    assert_eq!(report.threads_still_running, 0, "{report:?}");
    let ran = outcomes.ran_on_worker.load(Ordering::SeqCst);
    let dropped = outcomes.dropped_unrun.load(Ordering::SeqCst);
    eprintln!(
        "submitters_racing_shutdown_lose_no_task: {accepted} accepted, {ran} ran, {dropped} \
         rejected ({} in the report); {report:?}",
        report.rejected_tasks
    );
    assert!(accepted > 0, "no submission got in before the shutdown");
    // Each submitter stopped at its first rejection and ran that runnable itself.
    assert_eq!(outcomes.ran_elsewhere.load(Ordering::SeqCst), SUBMITTERS);
    // Every accepted task ran on a worker or was rejected (dropped unrun): none was lost or
    // left in a queue.
    assert_eq!(
        ran + dropped,
        accepted,
        "{ran} ran + {dropped} rejected != {accepted} accepted: tasks lost in the shutdown race"
    );
    assert!(dropped >= report.rejected_tasks, "{report:?}");
    // Nothing runs once shutdown reported every worker gone.
    thread::sleep(Duration::from_millis(50));
    assert_eq!(outcomes.ran_on_worker.load(Ordering::SeqCst), ran);
}

// ---------------------------------------------------------------------------------------------
// 9. Thread names
// ---------------------------------------------------------------------------------------------

#[test]
fn worker_threads_are_named_after_the_pool() {
    let wait = wait_limit();
    const NAME: &str = "stress-names";
    const CORE: usize = 2;
    const MAX: usize = 5;
    const BLOCKING: usize = 6;
    let scheduler = CoroutineScheduler::builder()
        .core_pool_size(CORE)
        .max_pool_size(MAX)
        .name(NAME)
        .build()
        .expect("a valid configuration");
    assert!(!scheduler.is_current_worker());
    let names = Arc::new(Mutex::new(Vec::<Option<String>>::new()));
    let failures = Failures::default();
    let record = |names: &Arc<Mutex<Vec<Option<String>>>>, scheduler: &CoroutineScheduler| {
        let (names, scheduler, failures) = (names.clone(), scheduler.clone(), failures.clone());
        move || {
            if !scheduler.is_current_worker() {
                failures.record("a task ran outside the pool's workers");
            }
            names
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(thread::current().name().map(str::to_owned));
        }
    };

    // CORE tasks meeting at a barrier run on CORE different workers at once.
    let barrier = Arc::new(Barrier::new(CORE + 1));
    for _ in 0..CORE {
        let (barrier, record) = (barrier.clone(), record(&names, &scheduler));
        scheduler
            .execute(move || {
                record();
                barrier.wait();
            })
            .expect("the pool is running");
    }
    barrier.wait();

    // More blocking tasks than the pool may have threads, all blocked at once: the pool grows
    // to its maximum (compensating workers) and no further.
    let gate = Arc::new(Gate::default());
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    for _ in 0..BLOCKING {
        let (gate, started, finished, failures) = (
            gate.clone(),
            started.clone(),
            finished.clone(),
            failures.clone(),
        );
        let record = record(&names, &scheduler);
        let task = Runnable::from_fn(move || {
            record();
            started.fetch_add(1, Ordering::SeqCst);
            if !gate.wait() {
                failures.record("a blocking task was never released");
            }
            finished.fetch_add(1, Ordering::SeqCst);
        });
        scheduler
            .dispatch(task, ProbablyBlocking, false)
            .expect("the pool is running");
    }
    assert!(
        wait_until(wait, || started.load(Ordering::SeqCst) == MAX),
        "{} blocking tasks started, expected {MAX} (one per thread); {:?}",
        started.load(Ordering::SeqCst),
        scheduler.counters()
    );
    thread::sleep(Duration::from_millis(20));
    assert_eq!(started.load(Ordering::SeqCst), MAX, "more threads than max");
    assert_eq!(scheduler.counters().threads, MAX);
    gate.open();
    assert!(
        wait_until(wait, || finished.load(Ordering::SeqCst) == BLOCKING),
        "the released blocking tasks did not all finish"
    );
    shutdown_clean(&scheduler);
    failures.assert_none();

    let names = names.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut seen = std::collections::BTreeSet::new();
    for name in &names {
        let name = name.as_deref().expect("worker threads are named");
        let number = name
            .strip_prefix(NAME)
            .and_then(|rest| rest.strip_prefix("-worker-"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("`{name}` is not `{NAME}-worker-N`"));
        assert!(
            (1..=MAX).contains(&number),
            "`{name}`: worker numbers run from 1 to max_pool_size ({MAX})"
        );
        seen.insert(number);
    }
    // The CORE barrier tasks ran on CORE distinct workers, and the blocked tasks on MAX distinct
    // threads: with dense numbering that is exactly workers 1..=MAX.
    let expected: std::collections::BTreeSet<usize> = (1..=MAX).collect();
    assert_eq!(seen, expected, "worker numbers seen: {names:?}");
}
