//! Regression tests of the scheduler findings of issue 11 against the facade:
//!
//! * finding 8: `run_blocking` inside every Default worker, each waiting for Default work,
//!   stalled the pool forever (kotlinx #3983);
//! * finding 9: the shared pool configured with `CORRAL_KEEP_ALIVE_SECS=u64::MAX` panicked
//!   every worker; `CORRAL_CORE_POOL_SIZE=100000` spawned every thread at once. Both run in a
//!   child process (this test binary again, filtered to one test), since the environment of
//!   the shared pool is read once per process;
//! * `CORRAL_THREAD_STACK_SIZE`: Default workers with a bigger stack run deep recursion.
//!
//! Every wait is bounded: a regression fails instead of hanging.
#![cfg(not(miri))]

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use corral::prelude::*;

const WAIT: Duration = Duration::from_secs(20);

/// Set in the child process: the name of the test that runs there.
const CHILD_ENV: &str = "CORRAL_FINDINGS_CHILD";

/// Runs `f` on a helper thread; `None` if it did not finish within `timeout`.
fn within<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(f());
    });
    receiver.recv_timeout(timeout).ok()
}

/// Twice as many Default coroutines as the pool has CPU permits each run a nested
/// `run_blocking` whose block waits for more Default work. Their event loops sleep in
/// `block_in_place`, so the workers' permits serve the Default work they wait for.
#[test]
fn finding_08_run_blocking_in_every_default_worker_waiting_on_default_work() {
    let cores = Dispatchers::shared_config().core_pool_size;
    let sum = within(WAIT, move || {
        run_blocking(move |scope| async move {
            let mut answers = Vec::new();
            for i in 0..cores * 2 {
                answers.push(scope.async_with(
                    Dispatchers::default(),
                    CoroutineStart::Default,
                    move |_| async move {
                        // Blocks this worker in a nested event loop until Default work ran.
                        run_blocking(move |_| async move {
                            with_context(Dispatchers::default(), move |_| async move {
                                delay(Duration::from_millis(5)).await;
                                i * 2
                            })
                            .await
                            .unwrap()
                        })
                        .unwrap()
                    },
                ));
            }
            let mut sum = 0;
            for answer in answers {
                sum += answer.await.unwrap();
            }
            sum
        })
    })
    .expect("the Default pool deadlocked: every worker waits in run_blocking");
    let n = cores * 2;
    assert_eq!(sum.unwrap(), n * (n - 1));
    // Every section ended: no blocking task is still counted, every permit is back.
    let settled = (0..2000).any(|_| {
        let counters = Dispatchers::shared_scheduler().counters();
        let done = counters.blocking_tasks == 0 && counters.free_cpu_permits == cores;
        if !done {
            thread::sleep(Duration::from_millis(5));
        }
        done
    });
    assert!(settled, "{:?}", Dispatchers::shared_scheduler().counters());
}

/// Runs the test `name` of this binary in a child process with `env` set; it must pass.
fn run_in_child(name: &str, env: &[(&str, &str)]) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > WAIT {
            child.kill().unwrap();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let output = child.wait_with_output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match status {
        Some(status) => assert!(status.success(), "child `{name}` failed ({status}):\n{log}"),
        None => panic!("child `{name}` hung for {WAIT:?}:\n{log}"),
    }
    assert!(
        log.contains("1 passed"),
        "child `{name}` ran no test:\n{log}"
    );
}

/// Default work that runs, then idles long enough for the workers to park, three times.
fn default_work_runs_after_workers_park() {
    for round in 0..3 {
        let answer = run_blocking(move |_| async move {
            with_context(Dispatchers::default(), move |_| async move { round + 1 })
                .await
                .unwrap()
        });
        assert_eq!(answer.unwrap(), round + 1);
        thread::sleep(Duration::from_millis(50));
    }
}

/// The largest `CORRAL_KEEP_ALIVE_SECS` is valid ("never retire"); it panicked every parked
/// worker on `Instant + Duration`, and Default work never ran again.
#[test]
fn finding_09_env_keep_alive_max_still_runs_default_work() {
    const NAME: &str = "finding_09_env_keep_alive_max_still_runs_default_work";
    if std::env::var(CHILD_ENV).as_deref() != Ok(NAME) {
        return run_in_child(NAME, &[("CORRAL_KEEP_ALIVE_SECS", "18446744073709551615")]);
    }
    assert_eq!(
        Dispatchers::shared_config().keep_alive,
        Duration::from_secs(u64::MAX)
    );
    default_work_runs_after_workers_park();
}

/// `CORRAL_CORE_POOL_SIZE=100000` spawned all 100000 threads at the first use of Default (and
/// the process aborted when the OS refused); threads are created as work arrives.
#[test]
fn finding_09_env_huge_core_pool_size_creates_threads_on_demand() {
    const NAME: &str = "finding_09_env_huge_core_pool_size_creates_threads_on_demand";
    if std::env::var(CHILD_ENV).as_deref() != Ok(NAME) {
        return run_in_child(NAME, &[("CORRAL_CORE_POOL_SIZE", "100000")]);
    }
    default_work_runs_after_workers_park();
    let threads = Dispatchers::shared_scheduler().counters().threads;
    assert!(
        (1..=8).contains(&threads),
        "sequential Default work made {threads} threads"
    );
}

/// Recurses `depth` levels of about 1 KiB each.
fn deep(depth: usize) -> usize {
    let frame = std::hint::black_box([depth as u8; 1024]);
    if depth == 0 {
        return 0;
    }
    deep(depth - 1) + usize::from(frame[depth % 1024] == depth as u8)
}

/// `CORRAL_THREAD_STACK_SIZE` gives Default workers room for recursion far deeper than the
/// default 2 MiB stack allows.
#[test]
fn thread_stack_size_env_allows_deep_recursion_on_default() {
    const NAME: &str = "thread_stack_size_env_allows_deep_recursion_on_default";
    const DEPTH: usize = 6 * 1024; // more than 6 MiB of frames
    if std::env::var(CHILD_ENV).as_deref() != Ok(NAME) {
        return run_in_child(NAME, &[("CORRAL_THREAD_STACK_SIZE", "67108864")]);
    }
    let depth = run_blocking(|_| async {
        with_context(Dispatchers::default(), |_| async { deep(DEPTH) })
            .await
            .unwrap()
    });
    assert_eq!(depth.unwrap(), DEPTH);
    let pool = new_fixed_thread_pool_context(1, "deep");
    let depth = run_blocking(|_| async {
        with_context(pool.clone(), |_| async { deep(DEPTH) })
            .await
            .unwrap()
    });
    assert_eq!(depth.unwrap(), DEPTH);
    pool.close();
}

type Lines = std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>;

fn say(lines: &Lines, line: &'static str) {
    lines.lock().unwrap().push(line);
}

/// Finding 10: the order of overdue delays and newly queued tasks in the `run_blocking` loop,
/// as current kotlinx's `runBlocking` has it: a delay that became due is moved into the queue
/// before the loop takes its next task *and* before any task is queued (`enqueue` moves the
/// due delayed tasks first), so it runs before every task queued after its deadline, even one
/// queued while the loop was busy, and after those queued before it. (kotlinx 1.0.1 only moved
/// them when taking the next task, so in (a) it ran "new" and "root" first.)
#[test]
fn finding_10_overdue_delays_and_new_tasks_in_kotlinx_order() {
    const DUE: Duration = Duration::from_millis(10);
    const BUSY: Duration = Duration::from_millis(50);
    let lines = Lines::default();
    // (a) The loop is busy past the deadline; the delay runs before a task launched after
    // the deadline and before the root's own yield.
    let l = lines.clone();
    run_blocking(move |scope| async move {
        let d = l.clone();
        scope.launch(move |_| async move {
            delay(DUE).await;
            say(&d, "a: delayed");
        });
        yield_now().await; // the child starts its delay
        thread::sleep(BUSY);
        let n = l.clone();
        scope.launch(move |_| async move { say(&n, "a: new") });
        yield_now().await;
        say(&l, "a: root");
    })
    .unwrap();
    // (b) A task queued by a task that ran after the delay was moved runs after it.
    let l = lines.clone();
    run_blocking(move |scope| async move {
        let d = l.clone();
        scope.launch(move |_| async move {
            delay(DUE).await;
            say(&d, "b: delayed");
        });
        yield_now().await;
        let busy = l.clone();
        scope.launch(move |_| async move {
            thread::sleep(BUSY);
            say(&busy, "b: busy");
        });
        let later = l.clone();
        scope.launch(move |s| async move {
            let n = later.clone();
            s.launch(move |_| async move { say(&n, "b: new") });
            say(&later, "b: launcher");
        });
    })
    .unwrap();
    assert_eq!(
        *lines.lock().unwrap(),
        [
            "a: delayed",
            "a: new",
            "a: root",
            "b: busy",
            "b: launcher",
            "b: delayed",
            "b: new"
        ]
    );
}
