//! The workloads: one module each, with one function per runtime that has an equivalent.
//!
//! A workload function runs one *sample* and returns its measurements ([`Sample`]); the
//! runner calls it once per round for each runtime, alternating runtimes. Sizes are constants
//! at the top of each module, with a `QUICK_` variant used by `--quick`. Time is always
//! reported per *iteration* (one execution of the workload as described, e.g. 10 000 spawns);
//! fast workloads run several iterations per sample to be measurable.

use std::borrow::Cow;
use std::fmt;

use crate::alloc::Reading;
use crate::clock::Elapsed;

use crate::runtimes::{Runtime, Runtimes};

mod cancel_100k;
mod chained_spawn;
mod delay_100k;
mod io_fanout;
mod limited_view;
mod net;
mod ping_pong;
mod scope_1000_async;
mod spawn_many_local;
mod spawn_many_remote;
mod spawn_pending;
mod with_context_round_trip;
mod yield_many;

/// Every workload, in report order.
pub(crate) fn all() -> Vec<Workload> {
    vec![
        spawn_many_local::workload(),
        spawn_many_remote::workload(),
        yield_many::workload(),
        ping_pong::workload(),
        chained_spawn::workload(),
        spawn_pending::workload(),
        delay_100k::workload(),
        io_fanout::workload(),
        limited_view::workload(),
        scope_1000_async::workload(),
        cancel_100k::workload(),
        with_context_round_trip::workload(),
        net::echo::workload(),
        net::http_hello::workload(),
        net::tokio_compat::workload(),
        // Last: it installs corral::debug for the rest of the process.
        spawn_many_local::workload_debug(),
    ]
}

/// What a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Metric {
    /// Wall time of one iteration, in seconds.
    Time,
    /// CPU time of the whole process during one iteration, in seconds.
    CpuTime,
    /// Live heap bytes per suspended coroutine, as `Layout` sizes (what the runtime asked
    /// for), at the workload's full size.
    BytesPerCoroutine,
    /// Live heap bytes per suspended coroutine as the allocator handed them out (its size
    /// classes), at the workload's full size.
    UsableBytesPerCoroutine,
    /// Resident-set growth per suspended coroutine, at the workload's full size.
    ResidentBytesPerCoroutine,
    /// [`UsableBytesPerCoroutine`](Metric::UsableBytesPerCoroutine) when only this many
    /// coroutines were suspended.
    UsableBytesAt(usize),
    /// [`ResidentBytesPerCoroutine`](Metric::ResidentBytesPerCoroutine) when only this many
    /// coroutines were suspended.
    ResidentBytesAt(usize),
    /// Heap allocations per coroutine (shown in the tables, not in the JSON).
    AllocationsPerCoroutine,
    /// The runtime's peak thread count during the sample.
    PeakThreads,
    /// The most tasks inside the limited section at once.
    MaxConcurrency,
    /// Requests completed per second of wall time (network rows).
    RequestsPerSec,
    /// The 99th percentile of the request latencies, in seconds (network rows).
    P99Latency,
}

impl Metric {
    /// The stable name used in reports; the rows at a smaller size end in `_n<size>`.
    pub(crate) fn name(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Metric::Time => "time",
            Metric::CpuTime => "cpu_time",
            Metric::BytesPerCoroutine => "bytes_per_coroutine",
            Metric::UsableBytesPerCoroutine => "usable_bytes_per_coroutine",
            Metric::ResidentBytesPerCoroutine => "resident_bytes_per_coroutine",
            Metric::UsableBytesAt(n) => {
                return Cow::Owned(format!("usable_bytes_per_coroutine_n{n}"))
            }
            Metric::ResidentBytesAt(n) => {
                return Cow::Owned(format!("resident_bytes_per_coroutine_n{n}"))
            }
            Metric::AllocationsPerCoroutine => "allocations_per_coroutine",
            Metric::PeakThreads => "peak_threads",
            Metric::MaxConcurrency => "max_concurrency",
            Metric::RequestsPerSec => "requests_per_sec",
            Metric::P99Latency => "p99_latency",
        })
    }

    /// The unit of the metric's values.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Metric::Time | Metric::CpuTime | Metric::P99Latency => "s",
            Metric::BytesPerCoroutine
            | Metric::UsableBytesPerCoroutine
            | Metric::ResidentBytesPerCoroutine
            | Metric::UsableBytesAt(_)
            | Metric::ResidentBytesAt(_) => "B",
            Metric::AllocationsPerCoroutine => "allocations",
            Metric::PeakThreads => "threads",
            Metric::MaxConcurrency => "tasks",
            Metric::RequestsPerSec => "requests/s",
        }
    }

    /// Whether the metric belongs in `bench-report.json`.
    pub(crate) fn in_json(self) -> bool {
        self != Metric::AllocationsPerCoroutine
    }

    /// Whether a smaller value is better (so that corral/peer < 1 means corral wins).
    pub(crate) fn lower_is_better(self) -> bool {
        !matches!(self, Metric::MaxConcurrency | Metric::RequestsPerSec)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.name())
    }
}

/// The measurements of one sample.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sample(pub(crate) Vec<(Metric, f64)>);

impl Sample {
    /// A sample of `elapsed` wall and CPU time over `iterations` iterations.
    pub(crate) fn time(elapsed: Elapsed, iterations: usize) -> Sample {
        let per_iteration = |d: std::time::Duration| d.as_secs_f64() / iterations as f64;
        let sample = Sample::default().with(Metric::Time, per_iteration(elapsed.wall));
        match elapsed.cpu {
            Some(cpu) => sample.with(Metric::CpuTime, per_iteration(cpu)),
            None => sample,
        }
    }

    /// Adds a measurement.
    pub(crate) fn with(mut self, metric: Metric, value: f64) -> Sample {
        self.0.push((metric, value));
        self
    }

    /// Adds the memory measurements of `coroutines` suspended coroutines that took what
    /// `reading` saw, as the workload's full-size rows.
    pub(crate) fn with_memory(self, reading: Reading, coroutines: usize) -> Sample {
        let per = |bytes: isize| bytes as f64 / coroutines as f64;
        let sample = self
            .with(Metric::BytesPerCoroutine, per(reading.layout_bytes))
            .with(Metric::UsableBytesPerCoroutine, per(reading.usable_bytes))
            .with(
                Metric::AllocationsPerCoroutine,
                reading.allocations as f64 / coroutines as f64,
            );
        match reading.resident_bytes {
            Some(rss) => sample.with(Metric::ResidentBytesPerCoroutine, per(rss)),
            None => sample,
        }
    }

    /// Adds the memory measurements of `coroutines` suspended coroutines as the rows at that
    /// smaller size.
    pub(crate) fn with_memory_at(self, reading: Reading, coroutines: usize) -> Sample {
        let per = |bytes: isize| bytes as f64 / coroutines as f64;
        let sample = self.with(Metric::UsableBytesAt(coroutines), per(reading.usable_bytes));
        match reading.resident_bytes {
            Some(rss) => sample.with(Metric::ResidentBytesAt(coroutines), per(rss)),
            None => sample,
        }
    }
}

/// What a workload function gets: the runtimes and the run's mode.
#[derive(Debug)]
pub(crate) struct Env<'a> {
    /// The peers (corral needs no handle).
    pub(crate) rts: &'a Runtimes,
    /// `--quick`: reduced sizes.
    pub(crate) quick: bool,
}

impl Env<'_> {
    /// `full`, or `quick` in `--quick` mode.
    pub(crate) fn size<T>(&self, full: T, quick: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// One runtime's side of a workload.
pub(crate) type RunFn = fn(&Env<'_>) -> Sample;

/// A workload, with a function for each runtime that has an equivalent.
#[derive(Debug)]
pub(crate) struct Workload {
    /// Stable name (the `workload` of the JSON rows).
    pub(crate) name: &'static str,
    /// One line saying what is measured, with the sizes of the mode (`quick`).
    pub(crate) describe: fn(bool) -> String,
    /// Notes printed under the table (ideals, mechanism differences), for the mode.
    pub(crate) notes: fn(bool) -> Vec<String>,
    /// Rounds when neither `--rounds` nor `--quick` is given; `None` for the default.
    pub(crate) rounds: Option<usize>,
    /// The sides, in the order the runtimes run in a round.
    pub(crate) sides: Vec<(Runtime, RunFn)>,
}

impl Workload {
    /// Describes a workload: `name`, its description and notes, and each side (`None`: that
    /// runtime has no equivalent, or corral is not built in).
    pub(crate) fn new(
        name: &'static str,
        describe: fn(bool) -> String,
        notes: fn(bool) -> Vec<String>,
        rounds: Option<usize>,
        sides: &[(Runtime, Option<RunFn>)],
    ) -> Workload {
        Workload {
            name,
            describe,
            notes,
            rounds,
            sides: sides.iter().filter_map(|&(rt, f)| Some((rt, f?))).collect(),
        }
    }
}

/// `Some(f)`, the corral side of a workload, or `None` when built without the `corral`
/// feature (then `f` need not exist).
macro_rules! corral_side {
    ($f:ident) => {{
        #[cfg(feature = "corral")]
        let side: Option<$crate::workloads::RunFn> = Some($f);
        #[cfg(not(feature = "corral"))]
        let side: Option<$crate::workloads::RunFn> = None;
        side
    }};
}
pub(crate) use corral_side;

/// A root scope per sample for corral's top-level coroutines: `CoroutineScope::new(Job::new())`.
#[cfg(feature = "corral")]
pub(crate) struct CorralRoot {
    job: corral::Job,
    /// The scope to launch top-level coroutines from.
    pub(crate) scope: corral::CoroutineScope,
}

#[cfg(feature = "corral")]
impl CorralRoot {
    /// A new root job and its scope (on `Dispatchers::default()`).
    pub(crate) fn new() -> CorralRoot {
        let job = corral::Job::new();
        CorralRoot {
            scope: corral::CoroutineScope::new(job.clone()),
            job,
        }
    }

    /// Completes the root job and blocks until all its children are complete (untimed
    /// quiescence between samples).
    pub(crate) fn finish(self) {
        self.job.complete();
        block_on_corral(async move { self.job.join().await });
    }

    /// Cancels the root job and blocks until all its children are complete.
    pub(crate) fn cancel(self) {
        self.job.cancel();
        block_on_corral(async move { self.job.join().await });
    }
}

/// Runs `future` to completion on the calling thread with `run_blocking`.
#[cfg(feature = "corral")]
pub(crate) fn block_on_corral<T>(future: impl std::future::Future<Output = T>) -> T {
    corral::run_blocking(|_| future).expect("run_blocking failed")
}
