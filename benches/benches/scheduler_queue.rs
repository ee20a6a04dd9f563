//! Criterion micro benches of corral-scheduler's per-worker local queue (the hot path of every
//! dispatch from a worker): owner push + pop, a full-ring steal of half, and overflow into
//! the global queue. Runnables are created outside the timed section where possible so the
//! numbers are the queue's, not the allocator's.

use std::hint::black_box;

use corral_core::Runnable;
use corral_scheduler::local_queue;
use corral_scheduler::{GlobalQueue, LOCAL_QUEUE_CAPACITY};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

fn runnables(count: usize) -> Vec<Runnable> {
    (0..count).map(|_| Runnable::from_fn(|| {})).collect()
}

fn push_pop(c: &mut Criterion) {
    let global = GlobalQueue::new();
    let (mut owner, _stealer) = local_queue::new();
    c.bench_function("local_queue/push+pop (one task)", |b| {
        b.iter_batched(
            || Runnable::from_fn(|| {}),
            |task| {
                owner.push_back(task, &global);
                black_box(owner.pop())
            },
            BatchSize::SmallInput,
        )
    });
}

fn steal_half(c: &mut Criterion) {
    let global = GlobalQueue::new();
    c.bench_function("local_queue/steal half of a full ring", |b| {
        b.iter_batched(
            || {
                let (mut victim, stealer) = local_queue::new();
                for task in runnables(LOCAL_QUEUE_CAPACITY) {
                    victim.push_back(task, &global);
                }
                let (thief, _) = local_queue::new();
                (victim, stealer, thief)
            },
            |(victim, stealer, mut thief)| {
                black_box(stealer.steal_into(&mut thief));
                (victim, thief)
            },
            BatchSize::SmallInput,
        )
    });
}

fn overflow(c: &mut Criterion) {
    c.bench_function("local_queue/overflow half into the global queue", |b| {
        b.iter_batched(
            || {
                let global = GlobalQueue::new();
                let (mut owner, stealer) = local_queue::new();
                for task in runnables(LOCAL_QUEUE_CAPACITY) {
                    owner.push_back(task, &global);
                }
                (global, owner, stealer, Runnable::from_fn(|| {}))
            },
            |(global, mut owner, stealer, extra)| {
                owner.push_back(extra, &global);
                (global, owner, stealer)
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, push_pop, steal_half, overflow);
criterion_main!(benches);
