//! The per-worker run queue: a bounded ring that its owner pushes to without a CAS and that
//! other workers steal half of at a time.
//!
//! # Algorithm
//!
//! The ring has [`LOCAL_QUEUE_CAPACITY`] slots, a `tail` that only the owner writes, and a
//! `head` word packing two positions, `steal` and `real`:
//!
//! * Tasks in `real..tail` are queued. The owner pops at `real` (FIFO, a CAS on `head` because
//!   thieves move it too) and pushes at `tail` (a plain store: nobody else writes `tail`).
//! * A thief claims the first half of `real..tail` by moving `real` forward while leaving
//!   `steal` where it was. While `steal != real`, the slots `steal..real` are being copied out
//!   by that thief: the owner may not reuse them, and other thieves back off. The thief then
//!   sets `steal = real` to release them.
//! * When the ring is full the owner moves its older half plus the new task to the global
//!   queue in one go, so the next `capacity / 2` pushes are plain stores again (a full ring
//!   overflowing one task per push would pay the global queue's cost on every push).
//!
//! This is the design of tokio's and Go's run queues, chosen over kotlinx's `WorkQueue`, whose
//! owner CASes a shared consumer index on every poll and whose thieves take one task per full
//! scan of all workers.
//!
//! # Invariants
//!
//! * `real - steal <= tail - steal <= capacity` (wrapping arithmetic on `u32`).
//! * A slot is written only by the owner at `tail` while it is outside `steal..tail`, and read
//!   (moved out) only by whoever advanced `real` past it: each task is taken exactly once.
//! * Only the owner handle ([`Owner`]) pushes and pops; it is `Send` but neither `Sync` nor
//!   `Clone`, so the "single owner" rule is enforced by the type system.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::Arc;

use corral_core::Runnable;

use crate::global_queue::GlobalQueue;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Slots in a worker's ring (tokio's `LOCAL_QUEUE_CAPACITY`; kotlinx uses 128). A power of two.
#[cfg(not(corral_loom))]
pub const LOCAL_QUEUE_CAPACITY: usize = 256;
/// Slots in a worker's ring: tiny under loom so the models reach the full and overflow states.
#[cfg(corral_loom)]
pub const LOCAL_QUEUE_CAPACITY: usize = 4;

const MASK: u32 = LOCAL_QUEUE_CAPACITY as u32 - 1;
const HALF: u32 = LOCAL_QUEUE_CAPACITY as u32 / 2;

struct Inner {
    /// `steal << 32 | real`.
    head: AtomicU64,
    tail: AtomicU32,
    buffer: Box<[UnsafeCell<MaybeUninit<Runnable>>]>,
}

// SAFETY: the buffer's slots are only accessed under the ownership protocol of the module docs
// (a slot belongs to exactly one thread at a time, handed over by the `head`/`tail` atomics with
// acquire/release ordering), and `Runnable` is `Send`.
unsafe impl Send for Inner {}
// SAFETY: shared access to `Inner` goes only through its atomics and through slots claimed
// under the ownership protocol of the module docs (one thread per slot at a time, handed over
// with acquire/release on `head` and `tail`).
unsafe impl Sync for Inner {}

fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

/// Creates an empty queue: the owner's handle and a handle for thieves.
pub fn new() -> (Owner, Stealer) {
    let inner = Arc::new(Inner {
        head: AtomicU64::new(0),
        tail: AtomicU32::new(0),
        buffer: (0..LOCAL_QUEUE_CAPACITY)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect(),
    });
    (
        Owner {
            inner: inner.clone(),
            not_sync: PhantomData,
        },
        Stealer { inner },
    )
}

/// The owner's end: push and pop. One per queue (not `Clone`, not `Sync`).
pub struct Owner {
    inner: Arc<Inner>,
    not_sync: PhantomData<Cell<()>>,
}

/// The thieves' end: steal half, check emptiness. Cheap to clone and share.
#[derive(Clone)]
pub struct Stealer {
    inner: Arc<Inner>,
}

impl Inner {
    /// Moves the task out of the slot at `position`.
    ///
    /// # Safety
    ///
    /// The caller has claimed `position` (advanced `real` past it, or owns it as the thief of
    /// `steal..real`), and the slot holds a task written before that claim (ordered by the
    /// acquire load or CAS that made the claim).
    unsafe fn take(&self, position: u32) -> Runnable {
        self.buffer[(position & MASK) as usize].with(|slot| {
            // By this function's contract the slot is initialised and claimed by the caller alone,
            // who treats it as empty afterwards.
            // SAFETY: the value is moved out exactly once.
            unsafe { (*slot).assume_init_read() }
        })
    }

    /// Writes `task` into the slot at `position`.
    ///
    /// # Safety
    ///
    /// Only the owner calls this, for a `position` outside `steal..tail` (no thief is copying
    /// it and no task lives there), before publishing it with a release store of `tail`.
    #[inline]
    unsafe fn put(&self, position: u32, task: Runnable) {
        self.buffer[(position & MASK) as usize].with_mut(|slot| {
            // SAFETY: by this function's contract nobody else reads or writes this slot now.
            unsafe { (*slot).write(task) };
        });
    }

    fn len(&self) -> usize {
        let (_, real) = unpack(self.head.load(Ordering::Acquire));
        let tail = self.tail.load(Ordering::Acquire);
        tail.wrapping_sub(real) as usize
    }
}

impl Owner {
    /// Queues `task` at the back. If the ring is full, its older half and `task` move to
    /// `overflow` in one batch.
    #[inline]
    pub fn push_back(&mut self, task: Runnable, overflow: &GlobalQueue) {
        let inner = &*self.inner;
        let mut task = task;
        loop {
            let (steal, real) = unpack(inner.head.load(Ordering::Acquire));
            // Only this thread writes `tail`.
            let tail = inner.tail.load(Ordering::Relaxed);
            if tail.wrapping_sub(steal) < LOCAL_QUEUE_CAPACITY as u32 {
                // The ring has room, so slot `tail` lies outside `steal..tail`, where no thief
                // reads, and only the owner (`&mut self`) writes at `tail`.
                // SAFETY: the release store below publishes the write to thieves.
                unsafe { inner.put(tail, task) };
                inner.tail.store(tail.wrapping_add(1), Ordering::Release);
                return;
            }
            if steal != real {
                // A thief is making room right now; the ring is not ours to halve.
                overflow.push(task);
                return;
            }
            match push_overflow(inner, task, real, tail, overflow) {
                Ok(()) => return,
                // A thief claimed part of the ring meanwhile: there may be room now.
                Err(back) => task = back,
            }
        }
    }
}

/// The owner's overflow path of [`Owner::push_back`]: moves the older half of a full ring and
/// `task` to `overflow`, or gives `task` back if a thief got in first. Out of line: the ring
/// is rarely full, and `push_back` is inlined into the submit path.
#[inline(never)]
fn push_overflow(
    inner: &Inner,
    task: Runnable,
    real: u32,
    tail: u32,
    overflow: &GlobalQueue,
) -> Result<(), Runnable> {
    debug_assert_eq!(tail.wrapping_sub(real), LOCAL_QUEUE_CAPACITY as u32);
    let claimed = pack(real.wrapping_add(HALF), real.wrapping_add(HALF));
    if inner
        .head
        .compare_exchange(
            pack(real, real),
            claimed,
            Ordering::Release,
            Ordering::Relaxed,
        )
        .is_err()
    {
        return Err(task);
    }
    let batch = (0..HALF).map(|offset| {
        // The CAS above moved `real` past `real..real + HALF` while no thief was active.
        // SAFETY: those slots are ours alone and hold tasks our own earlier pushes wrote.
        unsafe { inner.take(real.wrapping_add(offset)) }
    });
    overflow.push_batch(batch.chain(std::iter::once(task)));
    Ok(())
}

impl Owner {
    /// Takes the task at the front, if any.
    pub fn pop(&mut self) -> Option<Runnable> {
        let inner = &*self.inner;
        let mut head = inner.head.load(Ordering::Acquire);
        let position = loop {
            let (steal, real) = unpack(head);
            // Only this thread writes `tail`.
            if real == inner.tail.load(Ordering::Relaxed) {
                return None;
            }
            let next_real = real.wrapping_add(1);
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                debug_assert_ne!(steal, next_real);
                pack(steal, next_real)
            };
            match inner
                .head
                .compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break real,
                Err(actual) => head = actual,
            }
        };
        // The CAS moved `real` past `position`, which lies in `real..tail`.
        // SAFETY: the slot is claimed by us alone and holds a task we pushed earlier.
        Some(unsafe { inner.take(position) })
    }

    /// Tasks queued (exact for the owner, modulo a thief in progress).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// `true` if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves every queued task to `global` (a retiring or stopping worker hands its work on).
    pub fn drain_into(&mut self, global: &GlobalQueue) {
        while let Some(task) = self.pop() {
            global.push(task);
        }
    }

    /// A thieves' handle to this queue (the pool keeps the one `new` returns; the benches make
    /// more).
    #[cfg(feature = "bench-internals")]
    pub fn stealer(&self) -> Stealer {
        Stealer {
            inner: self.inner.clone(),
        }
    }
}

impl Stealer {
    /// Steals half of the queued tasks (rounded up) into `destination`, returning one of them
    /// to run at once. `None` if there was nothing to steal, another thief was busy here, or
    /// `destination` is more than half full.
    pub fn steal_into(&self, destination: &mut Owner) -> Option<Runnable> {
        let dst = &*destination.inner;
        // Only the destination's owner (our caller) writes its `tail`.
        let dst_tail = dst.tail.load(Ordering::Relaxed);
        let (dst_steal, _) = unpack(dst.head.load(Ordering::Acquire));
        if dst_tail.wrapping_sub(dst_steal) > HALF {
            return None;
        }
        let count = self.steal_half(dst, dst_tail);
        if count == 0 {
            return None;
        }
        let last = dst_tail.wrapping_add(count - 1);
        // `steal_half` wrote `count` tasks at `dst_tail..dst_tail + count` of the destination,
        // which its owner (us) has not published yet.
        // SAFETY: the last of them is initialised and no other thread reads it.
        let task = unsafe { dst.take(last) };
        if count > 1 {
            dst.tail.store(last, Ordering::Release);
        }
        Some(task)
    }

    /// Claims half of `real..tail`, moves it to `dst` starting at `dst_tail`, releases the
    /// claim; returns how many tasks moved.
    fn steal_half(&self, dst: &Inner, dst_tail: u32) -> u32 {
        let src = &*self.inner;
        let mut head = src.head.load(Ordering::Acquire);
        let (first, count, mut claimed) = loop {
            let (steal, real) = unpack(head);
            if steal != real {
                return 0;
            }
            let tail = src.tail.load(Ordering::Acquire);
            let available = tail.wrapping_sub(real);
            let count = available - available / 2;
            if count == 0 {
                return 0;
            }
            let next = pack(steal, real.wrapping_add(count));
            match src
                .head
                .compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break (real, count, next),
                Err(actual) => head = actual,
            }
        };
        for offset in 0..count {
            // Our CAS claimed `first..first + count` (now `steal..real`, which the owner does not
            // overwrite and other thieves do not touch), and the acquire load of `tail` ordered the
            // owner's writes of these slots before our reads.
            // SAFETY: this slot is initialised and ours alone.
            let task = unsafe { src.take(first.wrapping_add(offset)) };
            // `dst_tail + offset` is past the destination's published tail, in room our caller (its
            // owner) checked is free, so no other thread reads or writes that slot.
            // SAFETY: the owner publishes the slot with its tail store later.
            unsafe { dst.put(dst_tail.wrapping_add(offset), task) };
        }
        // Release the claim: `steal` catches up with `real` (which the owner may have moved).
        loop {
            let (_, real) = unpack(claimed);
            match src.head.compare_exchange(
                claimed,
                pack(real, real),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return count,
                Err(actual) => {
                    debug_assert_ne!(unpack(actual).0, unpack(actual).1);
                    claimed = actual;
                }
            }
        }
    }

    /// `true` if nothing is queued (a racy hint for searchers).
    pub fn is_empty(&self) -> bool {
        self.inner.len() == 0
    }

    /// Tasks queued (a racy hint).
    pub fn len(&self) -> usize {
        self.inner.len()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // `&mut self` excludes every other access; `Relaxed` loads because loom's atomics
        // have no `get_mut`.
        let (steal, real) = unpack(self.head.load(Ordering::Relaxed));
        debug_assert_eq!(steal, real, "a thief outlived its claim");
        let tail = self.tail.load(Ordering::Relaxed);
        let mut position = real;
        while position != tail {
            // `&mut self` excludes every other access, and each slot of `real..tail` holds a
            // queued task.
            // SAFETY: this slot is initialised and is moved out (and dropped) once, here.
            drop(unsafe { self.take(position) });
            position = position.wrapping_add(1);
        }
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local_queue::Owner")
            .field("len", &self.len())
            .finish()
    }
}

impl fmt::Debug for Stealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local_queue::Stealer")
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counting(hits: &Arc<AtomicUsize>, value: usize) -> Runnable {
        let hits = hits.clone();
        Runnable::from_fn(move || {
            hits.fetch_add(value, std::sync::atomic::Ordering::Relaxed);
        })
    }

    #[test]
    fn a_thief_takes_half() {
        let (mut owner, stealer) = new();
        let (mut thief, _) = new();
        let global = GlobalQueue::new();
        for _ in 0..4 {
            owner.push_back(Runnable::from_fn(|| {}), &global);
        }
        let first = stealer
            .steal_into(&mut thief)
            .expect("half of 4 is 2 tasks");
        first.run();
        assert_eq!((owner.len(), thief.len()), (2, 1));
    }

    #[test]
    fn fifo_for_the_owner() {
        let (mut owner, _) = new();
        let global = GlobalQueue::new();
        let hits = Arc::new(AtomicUsize::new(0));
        for value in [1, 10, 100] {
            owner.push_back(counting(&hits, value), &global);
        }
        owner.pop().unwrap().run();
        assert_eq!(hits.load(std::sync::atomic::Ordering::Relaxed), 1);
        owner.pop().unwrap().run();
        owner.pop().unwrap().run();
        assert!(owner.pop().is_none());
        assert_eq!(hits.load(std::sync::atomic::Ordering::Relaxed), 111);
    }

    #[test]
    fn overflow_moves_half_and_the_new_task() {
        let (mut owner, _) = new();
        let global = GlobalQueue::new();
        let hits = Arc::new(AtomicUsize::new(0));
        for _ in 0..=LOCAL_QUEUE_CAPACITY {
            owner.push_back(counting(&hits, 1), &global);
        }
        assert_eq!(owner.len(), LOCAL_QUEUE_CAPACITY / 2);
        assert_eq!(global.len(), LOCAL_QUEUE_CAPACITY / 2 + 1);
        while let Some(task) = owner.pop().or_else(|| global.pop()) {
            task.run();
        }
        assert_eq!(
            hits.load(std::sync::atomic::Ordering::Relaxed),
            LOCAL_QUEUE_CAPACITY + 1
        );
    }

    #[test]
    fn dropping_a_queue_drops_its_tasks() {
        let marker = Arc::new(());
        let (mut owner, stealer) = new();
        let global = GlobalQueue::new();
        for _ in 0..3 {
            let marker = marker.clone();
            owner.push_back(Runnable::from_fn(move || drop(marker)), &global);
        }
        drop((owner, stealer));
        assert_eq!(Arc::strong_count(&marker), 1);
    }
}
