//! The `doc` step of `cargo xtask verify`: the API documentation of every workspace crate builds
//! without a warning.
//!
//! `cargo doc --workspace --no-deps` with `RUSTDOCFLAGS="-D warnings"`, so a broken or private
//! intra-doc link, an unclosed HTML tag or an invalid code block attribute fails the step
//! instead of scrolling past. Doc examples are compiled and run by the test step
//! (`cargo test --workspace` runs doc tests), not here.

use crate::cmd::Cmd;
use crate::DynError;

/// `RUSTDOCFLAGS` of the step: every rustdoc warning is an error.
const RUSTDOCFLAGS: &str = "-D warnings";

/// The `doc` step.
pub(crate) fn run() -> Result<(), DynError> {
    Cmd::cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", RUSTDOCFLAGS)
        .run()
        .map_err(|e| {
            format!("{e}\nrustdoc warned; the warning above names the item and the link").into()
        })
}
