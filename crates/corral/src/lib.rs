//! corral: Kotlin-style structured concurrency for Rust.
