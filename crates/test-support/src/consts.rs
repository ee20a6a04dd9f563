//! Durations the timing tests share, so "a few milliseconds" and "soon" read the same in every
//! test file.

use std::time::Duration;

/// Milliseconds, written `MS(100)` so delays in the scenarios read like kotlinx's `delay(100)`.
pub const MS: fn(u64) -> Duration = Duration::from_millis;

/// A generous bound for things that must happen "soon": a deadline a passing test never nears
/// and a hanging one reaches instead of hanging CI.
pub const SOON: Duration = Duration::from_secs(10);
