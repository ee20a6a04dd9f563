//! corral's project tasks, run as `cargo xtask <command>` (the [cargo-xtask] pattern).
//!
//! The `xtask` alias lives in `.cargo/config.toml`. CI runs only `cargo xtask verify` (through
//! `.ci/run`), so every CI check can be reproduced locally with the same command.
//!
//! This crate depends on nothing but `std`, so it builds in seconds on a fresh machine; keep it
//! that way. `main` is one `match` on the subcommand, and each subcommand is a module with a
//! `run` function.
//!
//! [cargo-xtask]: https://github.com/matklad/cargo-xtask

mod bench;
mod cmd;
mod demo;
mod doc;
mod msrv;
mod package;
mod tidy;
mod verify;
mod workspace;

use std::process::ExitCode;

/// The error of every task: a message for the person at the terminal.
pub(crate) type DynError = Box<dyn std::error::Error>;

/// `cargo xtask help`.
const HELP: &str = "\
usage: cargo xtask <command> [flags]

commands:
  demo      the guided tour: runs corral's examples in order, explaining each
  verify    every check CI runs, in order, stopping at the first failure:
            fmt, clippy, doc, package, msrv, test, loom, miri, asan, tsan, bench smoke
              --skip-loom, --skip-miri, --skip-asan,
              --skip-tsan, --skip-bench                skip a step (local iteration only)
              --only STEP[,STEP..]                     run only these steps (local iteration only)
              --long                                   run the test step with CORRAL_STRESS_LONG=1
  bench     runs the benchmark binary (corral-bench) and prints where its reports are
              --quick, --filter NAME, and any other flag are passed to the binary
  package   verify's package step alone: the published crates' metadata, files and packaging
  msrv      verify's msrv step alone: the published crates build with the declared rust-version
  tidy      source checks clippy cannot make: `//!` headers, no trailing spaces, no
              references to documents outside the repository, clippy's lints on loom models
  help      this text
";

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> Result<(), DynError> {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    match command.as_deref() {
        Some("verify") => verify::run(&rest),
        Some("demo") => no_flags("demo", &rest).and_then(|()| demo::run()),
        Some("bench") => bench::run(&rest),
        Some("package") => no_flags("package", &rest).and_then(|()| package::run()),
        Some("msrv") => no_flags("msrv", &rest).and_then(|()| msrv::run().map(drop)),
        Some("tidy") => no_flags("tidy", &rest).and_then(|()| tidy::run()),
        None | Some("help" | "-h" | "--help") => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{HELP}").into()),
    }
}

/// Rejects flags given to a command that takes none.
fn no_flags(command: &str, args: &[String]) -> Result<(), DynError> {
    match args.first() {
        None => Ok(()),
        Some(arg) => Err(format!("`cargo xtask {command}` takes no arguments, got `{arg}`").into()),
    }
}
