//! `cargo xtask verify`: every check CI runs, in order, stopping at the first failure.
//!
//! The steps, each announced by a heading and timed:
//!
//! 1. **fmt**: `cargo fmt --all -- --check`.
//! 2. **clippy**: `cargo clippy --workspace --all-targets -- -D warnings`.
//!    Then **doc**: `cargo doc --workspace --no-deps`, warnings denied ([`doc`](crate::doc)).
//! 3. **package**: every published crate has its metadata, README and license files, and
//!    `cargo package` accepts it ([`crate::package`]).
//! 4. **msrv**: the published crates' libraries build with the declared `rust-version`
//!    ([`crate::msrv`]; skipped when that toolchain is not installed).
//! 5. **test**: `cargo test --workspace` (unit, integration and doc tests of every member,
//!    including xtask's own tests, which run [tidy](crate::tidy), and the facade's soak, about
//!    20 s). `--long` sets `CORRAL_STRESS_LONG=1`: longer stress tests and soak.
//! 6. **loom**: the loom models of each crate in [`LOOM_CRATES`] that has any (its sources
//!    mention `corral_loom`), in release with debug assertions, `LOOM_MAX_PREEMPTIONS=2`, built
//!    in `target/loom` so the changed `RUSTFLAGS` don't invalidate the normal build.
//! 7. **miri**: `cargo +nightly miri test` (`--lib` and integration tests) of every crate whose
//!    `src/` contains `unsafe`, and of the crates in [`MIRI_ALSO`], then the facade's
//!    scope-function scenarios in [`MIRI_FACADE_TESTS`]; built in `target/miri`.
//! 8. **asan**: the unit and integration tests (`--lib --tests`, no doc tests) of every crate
//!    under `crates/`, built by nightly with `-Zsanitizer=address` for the host triple, given
//!    as `--target` so build scripts and proc macros stay uninstrumented; in `target/asan`,
//!    with [`ASAN_OPTIONS`] (leak checking on).
//! 9. **tsan**: the multi-threaded tests in [`TSAN_RUNS`] (the scheduler stress tests, the
//!    dispatcher scenarios that race real threads, the soak), built by nightly with
//!    `-Zsanitizer=thread` and `-Zbuild-std` (an uninstrumented std hides the synchronization
//!    of its own `Arc`, `Mutex` and channels from TSan, which then reports races that are
//!    not there); in `target/tsan`, with [`TSAN_OPTIONS`].
//! 10. **bench**: the benchmark binary in `--quick` mode, a smoke test that asserts no speed.
//!
//! Miri, asan and tsan need the nightly toolchain (Miri its `miri` component, tsan its
//! `rust-src`); each is skipped, with a line saying what is missing, when it is not installed
//! or when the host target does not support the sanitizer. Under the sanitizers the soak test
//! runs for [`SANITIZER_SOAK_SECS`] instead of its usual budget, because every access is
//! several times slower there.
//!
//! A summary table of step, result and seconds ends the run, whether it passed or not.
//! `--skip-loom`, `--skip-miri`, `--skip-asan`, `--skip-tsan` and `--skip-bench`, and
//! `--only STEP[,STEP..]` (run just those steps) are for local iteration; CI passes none.

use std::path::PathBuf;
use std::time::Instant;

use crate::cmd::Cmd;
use crate::workspace::{packages, target_dir, Package};
use crate::{bench, DynError};

/// The crates whose loom models the loom step runs (those without any are skipped).
const LOOM_CRATES: &[&str] = &[
    "corral-core",
    "corral-scheduler",
    "corral-dispatchers",
    "corral-io",
];

/// `RUSTFLAGS` of the loom build: the loom cfg, and debug assertions, which the models require.
const LOOM_RUSTFLAGS: &str = "--cfg corral_loom -C debug-assertions";

/// `LOOM_MAX_PREEMPTIONS` for CI; 1 gives a quick local run, 3 a much longer one.
const LOOM_MAX_PREEMPTIONS: &str = "2";

/// The facade's package (its library is `corral`).
const FACADE: &str = "corral-rt";

/// `MIRIFLAGS` of the Miri step.
const MIRIFLAGS: &str = "-Zmiri-strict-provenance -Zmiri-symbolic-alignment-check";

/// Crates Miri checks although their `src/` has no `unsafe`: their tests drive the unsafe task
/// and queue code of the crates below them through real timers and dispatchers.
const MIRI_ALSO: &[&str] = &["corral-dispatchers", "corral-scopes"];

/// The facade's integration tests Miri runs: the scope functions (frames, `with_context`,
/// `with_timeout`, supervisors, `run_blocking`, `with_cleanup`) on the real dispatchers, whose
/// pinned frames and shields are where the unsafe code of corral-core meets user futures.
/// About 5 s each under Miri; the others are left to the asan and tsan steps.
const MIRI_FACADE_TESTS: &[&str] = &[
    "scenario_scope",
    "scenario_wctx",
    "scenario_timeout",
    "scenario_sup",
    "scenario_rb",
    "cleanup_on_cancel",
];

/// `MIRIFLAGS` added for [`MIRI_FACADE_TESTS`]: the shared runtime's worker and timer threads
/// live as long as the process, and Miri rejects a program whose main thread returns while
/// other threads still run unless leaks are ignored (which also turns its leak check off, so
/// only these runs get it).
const MIRIFLAGS_RUNTIME: &str = "-Zmiri-ignore-leaks";

/// `RUSTFLAGS` of the asan build.
const ASAN_RUSTFLAGS: &str = "-Zsanitizer=address";

/// `ASAN_OPTIONS` of the asan run. LeakSanitizer stays on: the suites leak nothing (the shared
/// scheduler and timer thread are reachable from statics, which it does not report).
const ASAN_OPTIONS: &str = "detect_leaks=1";

/// `RUSTFLAGS` of the tsan build.
const TSAN_RUSTFLAGS: &str = "-Zsanitizer=thread";

/// `TSAN_OPTIONS` of the tsan run: stop at the first report, so the failure is that report.
///
/// No suppressions: TSan does not model standalone fences, which only matters where a fence
/// orders plain memory (a release or acquire fence publishing data); then TSan reports races
/// that are not there. The fences of this workspace (`idle.rs`, `pool.rs`, `event_loop.rs`) are
/// `SeqCst` fences of store-buffer (Dekker) patterns between atomics, which publish no plain
/// data: TSan cannot see the wake-up they guarantee, but has no race to report there either,
/// and the runs report none. std's own fences (`Arc`) are the reason for `-Zbuild-std`: std
/// built with `-Zsanitizer=thread` uses acquire loads in their place.
const TSAN_OPTIONS: &str = "halt_on_error=1";

/// The stack of test threads (`RUST_MIN_STACK`) and of the runtime's workers
/// (`CORRAL_THREAD_STACK_SIZE`) under the sanitizers: 16 MiB. Their instrumentation makes
/// every frame several times larger (Clang's AddressSanitizer documentation gives about 3x
/// stack use), and the deep-nesting tests size their depth for the default 2 MiB of an
/// uninstrumented build.
const SANITIZER_STACK_SIZE: &str = "16777216";

/// What the tsan step runs: a package and the test targets of it to run. The job-tree
/// scenarios of `scenario_mt` are left out for CI time (75 s under TSan on 2 cores, against
/// 2 s without it); the soak drives the same paths from more threads.
const TSAN_RUNS: &[(&str, &[&str])] = &[
    ("corral-scheduler", &["--test", "stress"]),
    ("corral-dispatchers", &["--lib"]),
    (
        FACADE,
        &[
            "--test",
            "scenario_lp",
            "--test",
            "scenario_disp_threads",
            "--test",
            "soak",
        ],
    ),
];

/// The variable the soak test reads its time budget from, in seconds.
const SOAK_SECS_VAR: &str = "CORRAL_SOAK_SECS";

/// The soak's budget under a sanitizer, under a third of its default: ASan makes code about 2x
/// and TSan 5-15x slower (the typical slowdowns in Clang's AddressSanitizer and
/// ThreadSanitizer documentation), and every soak test runs at least one full round anyway.
const SANITIZER_SOAK_SECS: &str = "6";

/// The flags of `cargo xtask verify`.
#[derive(Debug, Default)]
struct Flags {
    skip_loom: bool,
    skip_miri: bool,
    skip_asan: bool,
    skip_tsan: bool,
    skip_bench: bool,
    long: bool,
    /// `--only`: the steps to run; `None` runs them all.
    only: Option<Vec<Step>>,
}

/// The flags, for error messages and `cargo xtask help`.
const FLAGS_HELP: &str = "--skip-loom, --skip-miri, --skip-asan, --skip-tsan, --skip-bench, \
                          --only STEP[,STEP..], --long";

impl Flags {
    fn parse(args: &[String]) -> Result<Flags, DynError> {
        let mut flags = Flags::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--skip-loom" => flags.skip_loom = true,
                "--skip-miri" => flags.skip_miri = true,
                "--skip-asan" => flags.skip_asan = true,
                "--skip-tsan" => flags.skip_tsan = true,
                "--skip-bench" => flags.skip_bench = true,
                "--long" => flags.long = true,
                "--only" => {
                    let list = args.next().ok_or("`--only` needs a list of steps")?;
                    let steps = list
                        .split(',')
                        .map(Step::named)
                        .collect::<Result<Vec<_>, _>>()?;
                    flags.only.get_or_insert_with(Vec::new).extend(steps);
                }
                other => {
                    return Err(format!(
                        "unknown flag `{other}` for `cargo xtask verify` (expected {FLAGS_HELP})"
                    )
                    .into())
                }
            }
        }
        Ok(flags)
    }

    /// Whether `--only` leaves `step` out.
    fn leaves_out(&self, step: Step) -> bool {
        self.only
            .as_ref()
            .is_some_and(|only| !only.iter().any(|s| s.name() == step.name()))
    }
}

/// One step of `verify`, in run order.
#[derive(Debug, Clone, Copy)]
enum Step {
    Fmt,
    Clippy,
    Doc,
    Package,
    Msrv,
    Test,
    Loom,
    Miri,
    Asan,
    Tsan,
    Bench,
}

const STEPS: [Step; 11] = [
    Step::Fmt,
    Step::Clippy,
    Step::Doc,
    Step::Package,
    Step::Msrv,
    Step::Test,
    Step::Loom,
    Step::Miri,
    Step::Asan,
    Step::Tsan,
    Step::Bench,
];

/// How a step ended, for the summary.
#[derive(Debug)]
enum Outcome {
    Passed,
    Skipped(&'static str),
    Failed,
    NotRun,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Fmt => "fmt",
            Step::Clippy => "clippy",
            Step::Doc => "doc",
            Step::Package => "package",
            Step::Msrv => "msrv",
            Step::Test => "test",
            Step::Loom => "loom",
            Step::Miri => "miri",
            Step::Asan => "asan",
            Step::Tsan => "tsan",
            Step::Bench => "bench",
        }
    }

    /// The step called `name`, for `--only`.
    fn named(name: &str) -> Result<Step, DynError> {
        STEPS
            .into_iter()
            .find(|step| step.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = STEPS.iter().map(|s| s.name()).collect();
                format!("unknown step `{name}` (the steps: {})", names.join(", ")).into()
            })
    }

    /// Runs the step: `Ok(None)` when it passed, `Ok(Some(reason))` when it was skipped (the
    /// step has said so in its output).
    fn exec(self, flags: &Flags) -> Result<Option<&'static str>, DynError> {
        if flags.leaves_out(self) {
            return Ok(Some(skipped(self.name(), "--only")));
        }
        match self {
            Step::Fmt => Cmd::cargo()
                .args(["fmt", "--all", "--", "--check"])
                .run()
                .map_err(|e| format!("{e}\nrun `cargo fmt --all` to fix the formatting").into())
                .map(|()| None),
            Step::Clippy => Cmd::cargo()
                .args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
                .run()
                .map(|()| None),
            Step::Doc => crate::doc::run().map(|()| None),
            Step::Package => crate::package::run().map(|()| None),
            Step::Msrv => crate::msrv::run(),
            Step::Test => {
                let mut cmd = Cmd::cargo().args(["test", "--workspace"]);
                if flags.long {
                    cmd = cmd.env("CORRAL_STRESS_LONG", "1");
                }
                cmd.run().map(|()| None)
            }
            Step::Loom if flags.skip_loom => Ok(Some(skipped("loom", "--skip-loom"))),
            Step::Loom => loom().map(|()| None),
            Step::Miri if flags.skip_miri => Ok(Some(skipped("miri", "--skip-miri"))),
            Step::Miri => miri(),
            Step::Asan if flags.skip_asan => Ok(Some(skipped("asan", "--skip-asan"))),
            Step::Asan => asan(),
            Step::Tsan if flags.skip_tsan => Ok(Some(skipped("tsan", "--skip-tsan"))),
            Step::Tsan => tsan(),
            Step::Bench if flags.skip_bench => Ok(Some(skipped("bench", "--skip-bench"))),
            Step::Bench => bench::run(&["--quick".to_owned()]).map(|()| None),
        }
    }
}

/// Announces that `step` is skipped because of `flag`, returning the reason for the summary.
fn skipped(step: &str, flag: &'static str) -> &'static str {
    println!("{step}: SKIPPED ({flag})");
    flag
}

/// `cargo xtask verify [--skip-STEP].. [--only STEP[,STEP..]] [--long]`.
pub(crate) fn run(args: &[String]) -> Result<(), DynError> {
    let flags = Flags::parse(args)?;
    let mut rows: Vec<(Step, Outcome, Option<f64>)> = Vec::new();
    let mut failure = None;
    for (i, step) in STEPS.into_iter().enumerate() {
        if failure.is_some() {
            rows.push((step, Outcome::NotRun, None));
            continue;
        }
        println!();
        println!("==> verify [{}/{}]: {}", i + 1, STEPS.len(), step.name());
        let start = Instant::now();
        let outcome = match step.exec(&flags) {
            Ok(None) => Outcome::Passed,
            Ok(Some(reason)) => Outcome::Skipped(reason),
            Err(error) => {
                failure = Some(format!("step `{}` failed: {error}", step.name()));
                Outcome::Failed
            }
        };
        rows.push((step, outcome, Some(start.elapsed().as_secs_f64())));
    }
    print_summary(&rows);
    match failure {
        Some(message) => Err(message.into()),
        None => Ok(()),
    }
}

fn print_summary(rows: &[(Step, Outcome, Option<f64>)]) {
    println!();
    println!("==> verify summary");
    println!("  {:<8} {:<30} {:>8}", "step", "result", "seconds");
    for (step, outcome, seconds) in rows {
        let result = match outcome {
            Outcome::Passed => "ok".to_owned(),
            Outcome::Skipped(reason) => format!("skipped ({reason})"),
            Outcome::Failed => "FAILED".to_owned(),
            Outcome::NotRun => "not run".to_owned(),
        };
        let seconds = seconds.map_or_else(|| "-".to_owned(), |s| format!("{s:.1}"));
        println!("  {:<8} {result:<30} {seconds:>8}", step.name());
    }
    let total: f64 = rows.iter().filter_map(|row| row.2).sum();
    println!("  {:<8} {:<30} {total:>8.1}", "total", "");
}

/// The loom step: for each crate with models, `--lib loom_` and, if present, `--test loom`.
fn loom() -> Result<(), DynError> {
    let loom_target = target_dir().join("loom");
    for &name in LOOM_CRATES {
        let package = Package::find(name)?;
        if !package.mentions("corral_loom") {
            println!("loom: {name} has no loom models (its sources never mention `corral_loom`), skipping");
            continue;
        }
        let mut runs = vec![vec!["--lib", "loom_"]];
        if package.dir.join("tests/loom.rs").is_file() {
            runs.push(vec!["--test", "loom"]);
        }
        for run in runs {
            let start = Instant::now();
            Cmd::cargo()
                .env("RUSTFLAGS", LOOM_RUSTFLAGS)
                .env("LOOM_MAX_PREEMPTIONS", LOOM_MAX_PREEMPTIONS)
                .env("CARGO_TARGET_DIR", &loom_target)
                .args(["test", "--release", "-p", name])
                .args(run.iter().copied())
                .run()?;
            let secs = start.elapsed().as_secs_f64();
            println!("loom: {name} {} took {secs:.1} s", run.join(" "));
        }
    }
    Ok(())
}

/// The nightly toolchain, as the sanitizer steps need it.
struct Nightly {
    /// Its host triple, passed as `--target`.
    host: String,
    /// Its `--print sysroot`.
    sysroot: PathBuf,
    /// The sanitizers its target spec for `host` lists as supported.
    sanitizers: Vec<String>,
}

impl Nightly {
    /// The installed nightly toolchain, or `None` when there is none. rustup is told not to
    /// install a missing nightly just to answer.
    fn find() -> Option<Nightly> {
        let rustc = |args: &[&str]| {
            Cmd::new("rustc")
                .env("RUSTUP_AUTO_INSTALL", "0")
                .arg("+nightly")
                .args(args.iter().copied())
                .query()
        };
        let version = rustc(&["-vV"])?;
        let host = version
            .lines()
            .find_map(|line| line.strip_prefix("host: "))?
            .trim()
            .to_owned();
        let sysroot = PathBuf::from(rustc(&["--print", "sysroot"])?.trim());
        let spec = rustc(&["-Z", "unstable-options", "--print", "target-spec-json"])?;
        Some(Nightly {
            host,
            sysroot,
            sanitizers: supported_sanitizers(&spec),
        })
    }

    /// Whether the nightly's `rust-src` component (the std sources `-Zbuild-std` builds) is
    /// installed.
    fn has_rust_src(&self) -> bool {
        self.sysroot
            .join("lib/rustlib/src/rust/library/Cargo.lock")
            .is_file()
    }
}

/// Why `sanitizer` cannot run here, printed by `step`, or `None` when it can.
fn sanitizer_missing(
    nightly: Option<&Nightly>,
    step: &str,
    sanitizer: &str,
) -> Option<&'static str> {
    let Some(nightly) = nightly else {
        println!("{step}: SKIPPED (no nightly toolchain installed; see README)");
        return Some("nightly not installed");
    };
    if !nightly.sanitizers.iter().any(|s| s == sanitizer) {
        println!(
            "{step}: SKIPPED (nightly's host target {} does not support the {sanitizer} \
             sanitizer)",
            nightly.host
        );
        return Some("unsupported host");
    }
    None
}

/// The `"supported-sanitizers"` list of a target spec printed as JSON (a scan for that one
/// array of strings, not a JSON parser).
fn supported_sanitizers(spec: &str) -> Vec<String> {
    let Some(at) = spec.find("\"supported-sanitizers\"") else {
        return Vec::new();
    };
    let rest = &spec[at..];
    let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else {
        return Vec::new();
    };
    if close < open {
        return Vec::new();
    }
    rest[open + 1..close]
        .split(',')
        .map(|item| item.trim().trim_matches('"').to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

/// `-p NAME` for every package under `crates/`.
fn every_package() -> Result<Vec<String>, DynError> {
    Ok(packages()?
        .into_iter()
        .flat_map(|package| ["-p".to_owned(), package.name])
        .collect())
}

/// The asan step; `Ok(Some(..))` when nightly or ASan support is missing.
fn asan() -> Result<Option<&'static str>, DynError> {
    let nightly = Nightly::find();
    if let Some(reason) = sanitizer_missing(nightly.as_ref(), "asan", "address") {
        return Ok(Some(reason));
    }
    let nightly = nightly.expect("sanitizer_missing checked it");
    let start = Instant::now();
    Cmd::new("cargo")
        .env("RUSTFLAGS", ASAN_RUSTFLAGS)
        .env("ASAN_OPTIONS", ASAN_OPTIONS)
        .env(SOAK_SECS_VAR, SANITIZER_SOAK_SECS)
        .env("RUST_MIN_STACK", SANITIZER_STACK_SIZE)
        .env("CORRAL_THREAD_STACK_SIZE", SANITIZER_STACK_SIZE)
        .env("CARGO_TARGET_DIR", target_dir().join("asan"))
        .args(["+nightly", "test", "--target", &nightly.host])
        .args(every_package()?)
        .args(["--lib", "--tests"])
        .run()?;
    println!("asan: took {:.1} s", start.elapsed().as_secs_f64());
    Ok(None)
}

/// The tsan step; `Ok(Some(..))` when nightly, its `rust-src` or TSan support is missing.
fn tsan() -> Result<Option<&'static str>, DynError> {
    let nightly = Nightly::find();
    if let Some(reason) = sanitizer_missing(nightly.as_ref(), "tsan", "thread") {
        return Ok(Some(reason));
    }
    let nightly = nightly.expect("sanitizer_missing checked it");
    if !nightly.has_rust_src() {
        println!(
            "tsan: SKIPPED (the nightly toolchain has no rust-src component, which -Zbuild-std \
             needs; see README)"
        );
        return Ok(Some("rust-src not installed"));
    }
    let tsan_target = target_dir().join("tsan");
    for &(name, targets) in TSAN_RUNS {
        Package::find(name)?;
        let start = Instant::now();
        Cmd::new("cargo")
            .env("RUSTFLAGS", TSAN_RUSTFLAGS)
            .env("TSAN_OPTIONS", TSAN_OPTIONS)
            .env(SOAK_SECS_VAR, SANITIZER_SOAK_SECS)
            .env("RUST_MIN_STACK", SANITIZER_STACK_SIZE)
            .env("CORRAL_THREAD_STACK_SIZE", SANITIZER_STACK_SIZE)
            .env("CARGO_TARGET_DIR", &tsan_target)
            .args(["+nightly", "test", "-Zbuild-std", "--target", &nightly.host])
            .args(["-p", name])
            .args(targets.iter().copied())
            .run()?;
        let secs = start.elapsed().as_secs_f64();
        println!("tsan: {name} {} took {secs:.1} s", targets.join(" "));
    }
    Ok(None)
}

/// The Miri step; `Ok(Some(..))` when Miri is not installed.
fn miri() -> Result<Option<&'static str>, DynError> {
    // `+nightly` needs the rustup proxy, so this is `cargo` from PATH, not `$CARGO`. Don't let a
    // recent rustup install a missing nightly just to answer the question.
    let installed = Cmd::new("cargo")
        .env("RUSTUP_AUTO_INSTALL", "0")
        .args(["+nightly", "miri", "--version"])
        .probe();
    if !installed {
        println!(
            "miri: SKIPPED (nightly toolchain with the miri component not installed; see README)"
        );
        return Ok(Some("miri not installed"));
    }
    let crates: Vec<Package> = packages()?
        .into_iter()
        .filter(|package| package.has_unsafe() || MIRI_ALSO.contains(&package.name.as_str()))
        .collect();
    let miri_target = target_dir().join("miri");
    for package in crates {
        let start = Instant::now();
        Cmd::new("cargo")
            .env("MIRIFLAGS", MIRIFLAGS)
            .env("CARGO_TARGET_DIR", &miri_target)
            .args([
                "+nightly",
                "miri",
                "test",
                "-p",
                &package.name,
                "--lib",
                "--tests",
            ])
            .run()?;
        let secs = start.elapsed().as_secs_f64();
        println!("miri: {} took {secs:.1} s", package.name);
    }
    let start = Instant::now();
    Cmd::new("cargo")
        .env("MIRIFLAGS", format!("{MIRIFLAGS} {MIRIFLAGS_RUNTIME}"))
        .env("CARGO_TARGET_DIR", &miri_target)
        .args(["+nightly", "miri", "test", "-p", FACADE])
        .args(MIRI_FACADE_TESTS.iter().flat_map(|test| ["--test", test]))
        .run()?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "miri: corral {} took {secs:.1} s",
        MIRI_FACADE_TESTS.join(" ")
    );
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        let args = ["--skip-miri".to_owned(), "--long".to_owned()];
        let flags = Flags::parse(&args).unwrap();
        assert!(flags.skip_miri && flags.long && !flags.skip_loom && !flags.skip_bench);
        assert!(Flags::parse(&["--skip-tests".to_owned()]).is_err());
    }

    #[test]
    fn parses_only() {
        let args = ["--only".to_owned(), "asan,tsan".to_owned()];
        let flags = Flags::parse(&args).unwrap();
        assert!(flags.leaves_out(Step::Test) && flags.leaves_out(Step::Miri));
        assert!(!flags.leaves_out(Step::Asan) && !flags.leaves_out(Step::Tsan));
        assert!(!Flags::default().leaves_out(Step::Fmt));
        assert!(Flags::parse(&["--only".to_owned(), "asan,lint".to_owned()]).is_err());
        assert!(Flags::parse(&["--only".to_owned()]).is_err());
    }

    #[test]
    fn sanitizer_steps_skip_without_support() {
        assert_eq!(
            sanitizer_missing(None, "asan", "address"),
            Some("nightly not installed")
        );
        let nightly = Nightly {
            host: "wasm32-unknown-unknown".to_owned(),
            sysroot: PathBuf::new(),
            sanitizers: vec!["address".to_owned()],
        };
        assert_eq!(
            sanitizer_missing(Some(&nightly), "tsan", "thread"),
            Some("unsupported host")
        );
        assert_eq!(sanitizer_missing(Some(&nightly), "asan", "address"), None);
        assert!(!nightly.has_rust_src());
    }

    #[test]
    fn reads_supported_sanitizers() {
        let spec =
            "{\n  \"arch\": \"x86_64\",\n  \"supported-sanitizers\": [\n    \"address\",\n    \
                    \"thread\"\n  ],\n  \"x\": [\"y\"]\n}";
        assert_eq!(supported_sanitizers(spec), ["address", "thread"]);
        assert!(supported_sanitizers("{\"arch\": \"wasm32\"}").is_empty());
    }

    #[test]
    fn named_test_targets_exist() {
        let facade = Package::find(FACADE).unwrap();
        for test in MIRI_FACADE_TESTS {
            assert!(
                facade.dir.join(format!("tests/{test}.rs")).is_file(),
                "{test}"
            );
        }
        for (name, targets) in TSAN_RUNS {
            let package = Package::find(name).unwrap();
            for pair in targets.windows(2).filter(|pair| pair[0] == "--test") {
                let file = package.dir.join(format!("tests/{}.rs", pair[1]));
                assert!(file.is_file(), "{}", file.display());
            }
        }
    }

    #[test]
    fn named_crates_exist() {
        let tsan = TSAN_RUNS.iter().map(|run| run.0);
        for name in LOOM_CRATES.iter().chain(MIRI_ALSO).copied().chain(tsan) {
            Package::find(name).unwrap();
        }
    }
}
