//! `cargo xtask bench [--quick] [--filter NAME] [...]`: runs the benchmark binary.
//!
//! The binary is [`BIN`] in the [`PACKAGE`] package (`benches/`); every argument is passed to
//! it. It compares corral with tokio and async-executor and writes its report to
//! `target/bench-report.{md,svg,json}`, whose paths are printed at the end. `verify` runs it
//! with `--quick` as a smoke test, which checks that it runs, not how fast.

use crate::cmd::Cmd;
use crate::workspace::{project_root, target_dir};
use crate::DynError;

/// The package holding the benchmark binary.
const PACKAGE: &str = "corral-benches";

/// The benchmark binary.
const BIN: &str = "corral-bench";

/// The report files the binary writes into the target directory.
const REPORTS: [&str; 3] = ["bench-report.md", "bench-report.svg", "bench-report.json"];

/// Runs the benchmark binary with `args` and prints the report paths.
pub(crate) fn run(args: &[String]) -> Result<(), DynError> {
    check_bin_exists()?;
    Cmd::cargo()
        .args(["run", "--release", "-p", PACKAGE, "--bin", BIN, "--"])
        .args(args)
        .run()?;
    println!();
    println!("bench reports:");
    for report in REPORTS {
        let path = target_dir().join(report);
        let note = if path.is_file() { "" } else { "  (missing!)" };
        println!("  {}{note}", path.display());
    }
    Ok(())
}

/// Fails with a clear message unless `benches/` declares the binary, as a `[[bin]]` named
/// [`BIN`] or as `src/bin/corral-bench.rs`.
fn check_bin_exists() -> Result<(), DynError> {
    let benches = project_root().join("benches");
    let manifest = std::fs::read_to_string(benches.join("Cargo.toml")).unwrap_or_default();
    let declared = manifest.split("[[bin]]").skip(1).any(|table| {
        let table = table.split("\n[").next().unwrap_or("");
        table.lines().any(|line| {
            let line = line.replace(' ', "");
            line == format!("name=\"{BIN}\"")
        })
    });
    let file = benches.join("src/bin").join(format!("{BIN}.rs"));
    if declared || file.is_file() {
        Ok(())
    } else {
        Err(format!(
            "the benchmark binary `{BIN}` does not exist yet: benches/Cargo.toml declares no \
             `[[bin]] name = \"{BIN}\"` and there is no benches/src/bin/{BIN}.rs"
        )
        .into())
    }
}
