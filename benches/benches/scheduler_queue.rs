//! Criterion micro benches of corral-scheduler's per-worker local queue: push, pop and steal.
//! (Placeholder until the scheduler's queue type is public.)

use criterion::{criterion_group, criterion_main, Criterion};

fn placeholder(_c: &mut Criterion) {}

criterion_group!(benches, placeholder);
criterion_main!(benches);
