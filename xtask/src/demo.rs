//! `cargo xtask demo`: the guided tour of corral, running the facade's examples in order.
//!
//! [`TOUR`] is the whole tour: for each stop, the example in `crates/corral/examples/`, a
//! heading, and what to notice in its output. All examples are built first with one
//! `cargo build`, so the tour doesn't pause between stops; a missing or failing example fails
//! the demo, naming it.

use std::time::Instant;

use crate::cmd::Cmd;
use crate::workspace::project_root;
use crate::DynError;

/// One stop of the tour.
#[derive(Debug)]
pub(crate) struct Stop {
    /// The example's name, as in `cargo run --example <name>`.
    pub(crate) example: &'static str,
    /// A one-line title.
    pub(crate) heading: &'static str,
    /// What to look for in the output, printed before the example runs.
    pub(crate) notice: &'static str,
}

/// The tour, in order.
pub(crate) const TOUR: &[Stop] = &[
    Stop {
        example: "launch_order",
        heading: "launch A; launch B; print C prints CAB",
        notice: "\
run_blocking turns the calling thread into an event loop. `launch` only queues the new
coroutine (FIFO) and returns; the caller keeps running until it suspends or finishes, so C is
printed first, then A and B in launch order. Kotlin's runBlocking prints the same.",
    },
    Stop {
        example: "start_modes",
        heading: "the four start modes side by side",
        notice: "\
Each coroutine is launched and then cancelled at once. Default and Lazy are cancelled before
their bodies start, so they never run. Atomic ignores the cancellation until its first
suspension: the body runs (with is_active = false) and stops at its yield. Undispatched runs
its body inside launch, up to the first suspension, before launch returns. Last, a Lazy
coroutine that is not cancelled runs only once start() is called.",
    },
    Stop {
        example: "structured_failure",
        heading: "a failing child cancels its siblings and its parent",
        notice: "\
Inside coroutine_scope the failing child cancels its sibling (whose cleanup runs) and the
scope itself, which returns the error. `with_context(SupervisorJob::new(), ..)` does NOT
contain the failure: the block's own job is a regular child of the supervisor, as in Kotlin.
supervisor_scope does: the failure goes to the exception handler and the other children
carry on.",
    },
    Stop {
        example: "main_immediate",
        heading: "Dispatchers::main().immediate() skips the queue",
        notice: "\
Both coroutines target the main loop. The plain Main one is dispatched and waits its turn;
the immediate one is already on the main thread, so it runs at once, inside launch, although
it was launched second.",
    },
    Stop {
        example: "default_vs_io",
        heading: "blocking work: Dispatchers::default() vs Dispatchers::io()",
        notice: "\
cores+1 coroutines each block their thread for 200 ms. Default has one runner per core, so
the last coroutine waits for a second round: about 400 ms. IO adds threads while coroutines
block, so all run in one round: about 200 ms. Both share one pool of threads.",
    },
    Stop {
        example: "io_thread_bound",
        heading: "thousands of blocking uploads, a bounded number of threads",
        notice: "\
The S3-upload thread blow-up: thousands of IO coroutines each doing a blocking call. Note the
peak concurrency and the thread names: IO is bounded by its parallelism limit, and
`limited_parallelism(8)` bounds a view further without creating a new pool.",
    },
    Stop {
        example: "many_delays",
        heading: "100 000 coroutines each delay(1 s)",
        notice: "\
delay suspends without holding a thread, so all 100 000 coroutines finish in about a second
on a handful of threads. Note the live heap bytes per sleeping coroutine.",
    },
    Stop {
        example: "tcp_server",
        heading: "a TCP server: a coroutine per connection, timeouts, graceful shutdown",
        notice: "\
corral::net sockets wait on a reactor that idle workers drive. Each connection is a child
coroutine under supervisor_scope, so the client that sends garbage fails only its own
connection; the client that stalls mid-request is hung up on by with_timeout. Cancelling the
server's job ends every connection coroutine, which closes its socket: the open clients see
the server hang up, and the count of open file descriptors is back where it started.",
    },
];

/// Where the tour's examples live, relative to the project root.
const EXAMPLES_DIR: &str = "crates/corral/examples";

/// The package holding them: the facade, published as `corral-rt` (its library is `corral`).
const PACKAGE: &str = "corral-rt";

/// Runs the tour.
pub(crate) fn run() -> Result<(), DynError> {
    let missing = missing_examples();
    if !missing.is_empty() {
        return Err(format!(
            "the tour needs examples that {EXAMPLES_DIR}/ does not have: {}",
            missing.join(", ")
        )
        .into());
    }
    println!("==> building the examples");
    Cmd::cargo()
        .args(["build", "--release", "-p", PACKAGE, "--examples"])
        .run()
        .map_err(|e| format!("building the examples failed: {e}"))?;
    for (i, stop) in TOUR.iter().enumerate() {
        println!();
        println!("━━━ {}/{}  {}", i + 1, TOUR.len(), stop.heading);
        println!();
        println!("{}", stop.notice);
        println!();
        let start = Instant::now();
        Cmd::cargo()
            .args(["run", "--release", "--quiet", "-p", PACKAGE, "--example"])
            .arg(stop.example)
            .run()
            .map_err(|e| format!("the tour stopped at example `{}`: {e}", stop.example))?;
        println!(
            "({} finished in {:.1} s)",
            stop.example,
            start.elapsed().as_secs_f64()
        );
    }
    println!();
    println!(
        "tour finished: {} examples. Read them in {EXAMPLES_DIR}/.",
        TOUR.len()
    );
    Ok(())
}

/// The tour's examples that are neither `<name>.rs` nor `<name>/main.rs` in [`EXAMPLES_DIR`].
fn missing_examples() -> Vec<&'static str> {
    let dir = project_root().join(EXAMPLES_DIR);
    TOUR.iter()
        .map(|stop| stop.example)
        .filter(|name| {
            !dir.join(format!("{name}.rs")).is_file() && !dir.join(name).join("main.rs").is_file()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stop_has_an_example() {
        assert_eq!(missing_examples(), Vec::<&str>::new());
    }

    #[test]
    fn stops_are_unique_and_explained() {
        for (i, stop) in TOUR.iter().enumerate() {
            assert!(!stop.heading.is_empty() && !stop.notice.is_empty());
            assert!(TOUR[..i].iter().all(|s| s.example != stop.example));
        }
    }
}
