//! The `msrv` step of `cargo xtask verify`: the published crates build with the Rust version
//! the workspace declares (`rust-version` in `[workspace.package]`), so the declaration stays
//! true.
//!
//! What the minimum applies to is what a user compiles: the library of each published crate
//! (the workspace members without `publish = false`, as the [package](crate::package) step
//! finds them). Tests, examples and benchmarks are not covered: their dev-dependencies
//! (proptest, criterion, tokio) follow their own, newer minimums, and they build with the
//! pinned toolchain of `rust-toolchain.toml` anyway. The check is
//! `cargo +<rust-version> check --locked --lib -p <each published crate>`, built in
//! `target/msrv` so the other toolchain's artifacts stay apart; `--locked` checks the
//! versions in `Cargo.lock`, the ones the other steps test.
//!
//! The toolchain is not installed here: `.ci/run` installs it (best effort, as it does
//! nightly for Miri), and the step is skipped, saying so, when it is missing.

use std::fs;
use std::time::Instant;

use crate::cmd::Cmd;
use crate::package::{published, table};
use crate::workspace::{project_root, target_dir};
use crate::DynError;

/// The step: `Ok(None)` when the crates built, `Ok(Some(..))` when the toolchain is missing.
pub(crate) fn run() -> Result<Option<&'static str>, DynError> {
    let root = project_root();
    let workspace = fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("cannot read the root Cargo.toml: {e}"))?;
    let version = rust_version(&workspace)
        .ok_or("the root Cargo.toml declares no `rust-version` in [workspace.package]")?;
    let toolchain = format!("+{version}");
    // `+<version>` needs the rustup proxy, so this is `cargo` from PATH, not `$CARGO`. Don't let
    // a recent rustup install a missing toolchain just to answer the question.
    let installed = Cmd::new("cargo")
        .env("RUSTUP_AUTO_INSTALL", "0")
        .args([toolchain.as_str(), "--version"])
        .probe();
    if !installed {
        println!(
            "msrv: SKIPPED (Rust {version}, the declared rust-version, is not installed; \
             `rustup toolchain install {version} --profile minimal` installs it)"
        );
        return Ok(Some("toolchain missing"));
    }
    let crates = published(&root, &workspace)?;
    let start = Instant::now();
    let mut cmd = Cmd::new("cargo")
        .env("CARGO_TARGET_DIR", target_dir().join("msrv"))
        .args([toolchain.as_str(), "check", "--locked", "--lib"]);
    for krate in &crates {
        cmd = cmd.args(["-p", krate.name.as_str()]);
    }
    cmd.run().map_err(|e| {
        format!(
            "{e}\nthe published crates do not build with Rust {version}, the declared \
             rust-version: make the code build with it, or raise `rust-version` in the root \
             Cargo.toml to the oldest Rust that builds it"
        )
    })?;
    println!(
        "msrv: the published crates build with Rust {version} ({:.1} s)",
        start.elapsed().as_secs_f64()
    );
    Ok(None)
}

/// The `rust-version` of `[workspace.package]`, without its quotes.
fn rust_version(workspace: &str) -> Option<String> {
    table(workspace, "workspace.package")
        .get("rust-version")
        .map(|v| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_declared_version() {
        let manifest = "[workspace]\n\n[workspace.package]\nrust-version = \"1.85\"\n";
        assert_eq!(rust_version(manifest).as_deref(), Some("1.85"));
        assert_eq!(rust_version("[package]\nrust-version = \"1.85\"\n"), None);
        let root = fs::read_to_string(project_root().join("Cargo.toml")).unwrap();
        assert!(rust_version(&root).is_some());
    }
}
