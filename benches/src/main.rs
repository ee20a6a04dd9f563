//! `corral-bench`: how fast and how lean corral is next to tokio and async-executor, measured
//! in one run (`cargo xtask bench`).
//!
//! Every workload (see `benches/README.md` and [`workloads`]) runs for each runtime that has
//! an equivalent: one warm-up round, then rounds in which the runtimes alternate (corral,
//! tokio, async-executor, corral, ...). A table per workload is printed as it finishes, a
//! summary at the end, and the report is written to `<target>/bench-report.{md,svg,json}`.
//!
//! ```text
//! corral-bench [--quick] [--filter NAME]... [--rounds N] [--out DIR] [--list]
//! ```

mod alloc;
mod clock;
mod report;
mod runtimes;
mod stats;
mod sync;
mod threads;
mod workloads;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use report::{format_value, Report, Row, WorkloadResult};
use runtimes::{core_pool_size, Runtimes};
use stats::Stats;
use workloads::{Env, Metric, Workload};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// Measured rounds per workload by default (after one warm-up round).
const DEFAULT_ROUNDS: usize = 9;
/// Measured rounds per workload with `--quick`.
const QUICK_ROUNDS: usize = 2;

const USAGE: &str = "\
usage: corral-bench [--quick] [--filter NAME]... [--rounds N] [--out DIR] [--list]

  --quick        reduced sizes and 2 rounds: a smoke run of every workload (under a minute)
  --filter NAME  run only the workloads whose name contains NAME (repeatable)
  --rounds N     measured rounds per workload (default: 9, fewer for the slow ones)
  --out DIR      where to write bench-report.{md,svg,json} (default: the cargo target dir)
  --list         list the workloads and exit";

/// The command line.
#[derive(Debug, Default)]
struct Options {
    quick: bool,
    filters: Vec<String>,
    rounds: Option<usize>,
    out: Option<PathBuf>,
    list: bool,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options::default();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--filter" => options.filters.push(value("--filter")?),
                "--rounds" => {
                    let n = value("--rounds")?;
                    let n: usize = n
                        .parse()
                        .map_err(|_| format!("--rounds: `{n}` is not a number"))?;
                    if n == 0 {
                        return Err("--rounds must be at least 1".to_owned());
                    }
                    options.rounds = Some(n);
                }
                "--out" => options.out = Some(PathBuf::from(value("--out")?)),
                "--list" => options.list = true,
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(options)
    }

    fn selects(&self, workload: &Workload) -> bool {
        self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|f| workload.name.contains(f.as_str()))
    }

    fn rounds(&self, workload: &Workload) -> usize {
        match (self.rounds, self.quick) {
            (Some(n), _) => n,
            (None, true) => QUICK_ROUNDS,
            (None, false) => workload.rounds.unwrap_or(DEFAULT_ROUNDS),
        }
    }
}

/// cargo's target directory, as `cargo xtask` computes it: `$CARGO_TARGET_DIR` (relative to
/// the workspace root) or `<root>/target`.
fn target_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ lives in the workspace root")
        .to_path_buf();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("corral-bench: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if message.is_empty() { 0 } else { 2 });
        }
    };
    let selected: Vec<Workload> = workloads::all()
        .into_iter()
        .filter(|w| options.selects(w))
        .collect();
    if options.list {
        for w in &selected {
            println!("{:<26} {}", w.name, (w.describe)(options.quick));
        }
        return ExitCode::SUCCESS;
    }
    if selected.is_empty() {
        eprintln!(
            "corral-bench: no workload matches {:?} (see --list)",
            options.filters
        );
        return ExitCode::from(2);
    }
    let report = run(&options, &selected);
    println!("{}", report::terminal::summary(&report));
    match write_reports(&report, options.out.unwrap_or_else(target_dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("corral-bench: writing the reports failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the workloads and summarises them.
fn run(options: &Options, selected: &[Workload]) -> Report {
    let workers = core_pool_size();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let corral_built = cfg!(feature = "corral");
    println!(
        "corral-bench: {cores} cores; corral core pool size {workers} \
         (CORRAL_CORE_POOL_SIZE, else available_parallelism().max(2)); tokio and async-executor \
         get {workers} worker threads{}",
        if options.quick {
            "; --quick: reduced sizes, 2 rounds"
        } else {
            ""
        }
    );
    if !corral_built {
        println!("corral-bench: built without the `corral` feature: peers only");
    }
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let started = Instant::now();
    let rts = Runtimes::new(workers);
    let env = Env {
        rts: &rts,
        quick: options.quick,
    };
    let mut results = Vec::new();
    for workload in selected {
        let result = run_workload(&env, workload, options.rounds(workload));
        println!("{}", report::terminal::workload_table(&result));
        results.push(result);
    }
    drop(rts);
    Report {
        quick: options.quick,
        workers,
        cores,
        corral_built,
        started_unix,
        total_secs: started.elapsed().as_secs_f64(),
        workloads: results,
    }
}

/// Runs one workload: a warm-up round, then `rounds` rounds alternating the runtimes.
fn run_workload(env: &Env<'_>, workload: &Workload, rounds: usize) -> WorkloadResult {
    println!("== {}: {}", workload.name, (workload.describe)(env.quick));
    let mut samples: Vec<(runtimes::Runtime, Metric, Vec<f64>)> = Vec::new();
    for round in 0..=rounds {
        let mut line = if round == 0 {
            "   warm-up:".to_owned()
        } else {
            format!("   round {round}/{rounds}:")
        };
        for &(runtime, side) in &workload.sides {
            let sample = side(env);
            let shown = sample
                .0
                .iter()
                .map(|&(metric, value)| format_value(metric, value))
                .collect::<Vec<_>>()
                .join(", ");
            line.push_str(&format!(" {runtime} {shown};"));
            if round == 0 {
                continue;
            }
            for (metric, value) in sample.0 {
                match samples
                    .iter_mut()
                    .find(|(rt, m, _)| *rt == runtime && *m == metric)
                {
                    Some((_, _, values)) => values.push(value),
                    None => samples.push((runtime, metric, vec![value])),
                }
            }
        }
        println!("{}", line.trim_end_matches(';'));
    }
    let mut rows: Vec<Row> = samples
        .into_iter()
        .filter_map(|(runtime, metric, values)| {
            Some(Row {
                runtime,
                metric,
                stats: Stats::of(&values)?,
            })
        })
        .collect();
    rows.sort_by_key(|r| (r.metric, r.runtime));
    WorkloadResult {
        name: workload.name,
        description: (workload.describe)(env.quick),
        notes: (workload.notes)(env.quick),
        rounds,
        rows,
    }
}

/// Writes the three report files into `dir` and prints their paths.
fn write_reports(report: &Report, dir: PathBuf) -> std::io::Result<()> {
    fs::create_dir_all(&dir)?;
    let files = [
        ("bench-report.md", report::markdown::render(report)),
        ("bench-report.svg", report::svg::render(report)),
        ("bench-report.json", report::json::render(report)),
    ];
    for (name, contents) in files {
        let path = dir.join(name);
        fs::write(&path, contents)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
