//! `cargo xtask verify`: every check CI runs, in order, stopping at the first failure.
//!
//! The steps, each announced by a heading and timed:
//!
//! 1. **fmt**: `cargo fmt --all -- --check`.
//! 2. **clippy**: `cargo clippy --workspace --all-targets -- -D warnings`.
//!    Then **doc**: `cargo doc --workspace --no-deps`, warnings denied ([`doc`](crate::doc)).
//! 3. **test**: `cargo test --workspace` (unit, integration and doc tests of every member,
//!    including xtask's own tests, which run [tidy](crate::tidy)). `--long` sets
//!    `CORRAL_STRESS_LONG=1`.
//! 4. **loom**: the loom models of each crate in [`LOOM_CRATES`] that has any (its sources
//!    mention `corral_loom`), in release with debug assertions, `LOOM_MAX_PREEMPTIONS=2`, built
//!    in `target/loom` so the changed `RUSTFLAGS` don't invalidate the normal build.
//! 5. **miri**: `cargo +nightly miri test` (`--lib` and integration tests) of every crate whose
//!    `src/` contains `unsafe`, built in `target/miri`. Skipped, with a line saying so, when the
//!    nightly toolchain with Miri is not installed.
//! 6. **bench**: the benchmark binary in `--quick` mode, a smoke test that asserts no speed.
//!
//! A summary table of step, result and seconds ends the run, whether it passed or not.
//! `--skip-loom`, `--skip-miri` and `--skip-bench` are for local iteration; CI passes none.

use std::time::Instant;

use crate::cmd::Cmd;
use crate::workspace::{packages, target_dir, Package};
use crate::{bench, DynError};

/// The crates whose loom models the loom step runs (those without any are skipped).
const LOOM_CRATES: &[&str] = &["corral-core", "corral-scheduler", "corral-dispatchers"];

/// `RUSTFLAGS` of the loom build: the loom cfg, and debug assertions, which the models require.
const LOOM_RUSTFLAGS: &str = "--cfg corral_loom -C debug-assertions";

/// `LOOM_MAX_PREEMPTIONS` for CI; 1 gives a quick local run, 3 a much longer one.
const LOOM_MAX_PREEMPTIONS: &str = "2";

/// `MIRIFLAGS` of the Miri step.
const MIRIFLAGS: &str = "-Zmiri-strict-provenance -Zmiri-symbolic-alignment-check";

/// The flags of `cargo xtask verify`.
#[derive(Debug, Default)]
struct Flags {
    skip_loom: bool,
    skip_miri: bool,
    skip_bench: bool,
    long: bool,
}

impl Flags {
    fn parse(args: &[String]) -> Result<Flags, DynError> {
        let mut flags = Flags::default();
        for arg in args {
            match arg.as_str() {
                "--skip-loom" => flags.skip_loom = true,
                "--skip-miri" => flags.skip_miri = true,
                "--skip-bench" => flags.skip_bench = true,
                "--long" => flags.long = true,
                other => {
                    return Err(format!(
                        "unknown flag `{other}` for `cargo xtask verify` \
                         (expected --skip-loom, --skip-miri, --skip-bench, --long)"
                    )
                    .into())
                }
            }
        }
        Ok(flags)
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
    Bench,
}

const STEPS: [Step; 9] = [
    Step::Fmt,
    Step::Clippy,
    Step::Doc,
    Step::Package,
    Step::Msrv,
    Step::Test,
    Step::Loom,
    Step::Miri,
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
            Step::Bench => "bench",
        }
    }

    /// Runs the step: `Ok(None)` when it passed, `Ok(Some(reason))` when it was skipped (the
    /// step has said so in its output).
    fn exec(self, flags: &Flags) -> Result<Option<&'static str>, DynError> {
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

/// `cargo xtask verify [--skip-loom] [--skip-miri] [--skip-bench] [--long]`.
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
        .filter(Package::has_unsafe)
        .collect();
    if crates.is_empty() {
        println!("miri: no crate under crates/ contains `unsafe`; nothing to check");
    }
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
    fn loom_crates_exist() {
        for name in LOOM_CRATES {
            Package::find(name).unwrap();
        }
    }
}
