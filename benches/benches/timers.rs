//! Criterion micro benches of corral-dispatchers' timers, through the public API that
//! `with_timeout` uses: schedule a callback and cancel it (the common case: the block finishes
//! first), alone and with 10 000 other timers pending (the heap is O(log n)).

use std::time::Duration;

use corral_dispatchers::schedule_timeout;
use criterion::{criterion_group, criterion_main, Criterion};

fn insert_cancel(c: &mut Criterion) {
    c.bench_function("timer/schedule+cancel (empty heap)", |b| {
        b.iter(|| schedule_timeout(Duration::from_secs(60), || {}).cancel())
    });
    let pending: Vec<_> = (0..10_000u64)
        .map(|i| schedule_timeout(Duration::from_secs(600 + i), || {}))
        .collect();
    c.bench_function("timer/schedule+cancel (10k pending)", |b| {
        b.iter(|| schedule_timeout(Duration::from_secs(300), || {}).cancel())
    });
    drop(pending);
}

criterion_group!(benches, insert_cancel);
criterion_main!(benches);
