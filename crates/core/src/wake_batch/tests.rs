//! Batched cancellation wake-ups with hand-driven dispatchers (no threads, so Miri runs them
//! too): how many dispatches a mass cancellation makes, that a chunk holds one dispatcher's
//! coroutines only, that every child is dropped exactly once, and that a refused chunk fails
//! each of its coroutines.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::CHUNK;
use crate::builder::{launch, CoroutineStart};
use crate::context::{Context, CoroutineExceptionHandler};
use crate::dispatcher::{Dispatch, Dispatcher};
use crate::error::DispatchError;
use crate::job::Job;
use crate::runnable::Runnable;

/// Children per test: two full chunks and a partial one (Miri: one full chunk and a bit).
const CHILDREN: usize = if cfg!(miri) {
    CHUNK + 3
} else {
    2 * CHUNK + 76
};

/// A dispatcher whose queue the test drains by hand; counts the runnables it was given, and
/// refuses them once closed.
#[derive(Default)]
struct Queue {
    name: &'static str,
    runnables: Mutex<VecDeque<Runnable>>,
    dispatched: AtomicUsize,
    closed: std::sync::atomic::AtomicBool,
}

impl fmt::Display for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl Dispatch for Queue {
    fn dispatch(&self, runnable: Runnable) {
        self.dispatched.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            runnable.reject(DispatchError::Closed {
                dispatcher: self.name.to_owned(),
            });
        } else {
            self.lock().push_back(runnable);
        }
    }

    fn limited_parallelism(&self, this: &Dispatcher, _parallelism: usize) -> Dispatcher {
        this.clone()
    }
}

/// Which dispatcher's thread is running now: the one whose queue is being drained.
static RUNNING_ON: Mutex<&str> = Mutex::new("");

impl Queue {
    fn new(name: &'static str) -> Arc<Queue> {
        Arc::new(Queue {
            name,
            ..Queue::default()
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Runnable>> {
        self.runnables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs what is queued (and what that queues) "on this dispatcher's thread".
    fn drain(&self) {
        loop {
            let next = self.lock().pop_front();
            let Some(runnable) = next else { return };
            *RUNNING_ON.lock().unwrap_or_else(PoisonError::into_inner) = self.name;
            runnable.run();
            *RUNNING_ON.lock().unwrap_or_else(PoisonError::into_inner) = "";
        }
    }

    fn take_dispatched(&self) -> usize {
        self.dispatched.swap(0, Ordering::SeqCst)
    }
}

/// Counts the drops of each child's future and those that happened off its dispatcher.
struct Drops {
    per_child: Vec<AtomicUsize>,
    misplaced: AtomicUsize,
}

/// Lives in a child's future: its drop is the future's drop.
struct Guard {
    drops: Arc<Drops>,
    index: usize,
    home: &'static str,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.drops.per_child[self.index].fetch_add(1, Ordering::SeqCst);
        if *RUNNING_ON.lock().unwrap_or_else(PoisonError::into_inner) != self.home {
            self.drops.misplaced.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `CHILDREN` suspended children of a plain job, child `i` on `queues[i % queues.len()]`,
/// each run once (to its suspension) by draining the queues.
fn suspended_children(queues: &[Arc<Queue>]) -> (Job, Vec<Job>, Arc<Drops>) {
    let parent = Job::new();
    let drops = Arc::new(Drops {
        per_child: (0..CHILDREN).map(|_| AtomicUsize::new(0)).collect(),
        misplaced: AtomicUsize::new(0),
    });
    let quiet = CoroutineExceptionHandler::new(|_, _| {});
    let children = (0..CHILDREN)
        .map(|index| {
            let queue = &queues[index % queues.len()];
            let dispatcher = Dispatcher::from_arc(queue.clone());
            let guard = Guard {
                drops: drops.clone(),
                index,
                home: queue.name,
            };
            let context = Context::new() + parent.clone() + dispatcher + quiet.clone();
            launch(context, CoroutineStart::Default, move |_| async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            })
        })
        .collect();
    for queue in queues {
        queue.drain();
        queue.take_dispatched();
    }
    (parent, children, drops)
}

fn assert_each_dropped_once(drops: &Drops) {
    for (index, count) in drops.per_child.iter().enumerate() {
        assert_eq!(count.load(Ordering::SeqCst), 1, "child {index}");
    }
}

#[test]
fn a_mass_cancellation_dispatches_one_runnable_per_chunk() {
    let queue = Queue::new("one");
    let (parent, children, drops) = suspended_children(std::slice::from_ref(&queue));
    parent.cancel();
    assert_eq!(queue.take_dispatched(), CHILDREN.div_ceil(CHUNK));
    assert!(
        !parent.is_completed(),
        "the children are still to be dropped"
    );
    queue.drain();
    assert_each_dropped_once(&drops);
    assert_eq!(drops.misplaced.load(Ordering::SeqCst), 0);
    assert!(children
        .iter()
        .all(|child| child.is_cancelled() && child.is_completed()));
    assert!(parent.is_completed());
}

/// Siblings alternate between dispatchers, fewer than the chunks open at once and then more:
/// each chunk still carries one dispatcher's children to that dispatcher.
#[test]
fn chunks_never_mix_dispatchers() {
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for count in [5, names.len()] {
        let queues: Vec<Arc<Queue>> = names[..count].iter().map(|name| Queue::new(name)).collect();
        let (parent, _children, drops) = suspended_children(&queues);
        parent.cancel();
        let dispatched: usize = queues.iter().map(|queue| queue.take_dispatched()).sum();
        if count <= super::MAX_OPEN {
            assert_eq!(dispatched, count * (CHILDREN / count).div_ceil(CHUNK));
        }
        for queue in &queues {
            queue.drain();
        }
        assert_each_dropped_once(&drops);
        assert_eq!(
            drops.misplaced.load(Ordering::SeqCst),
            0,
            "{count} dispatchers: dropped off its dispatcher"
        );
        assert!(parent.is_completed());
    }
}

/// A closed dispatcher refuses the chunk: each of its coroutines fails with the refusal and
/// is dropped on the cancelling thread, as a refused single dispatch would be.
#[test]
fn a_refused_chunk_fails_each_of_its_coroutines() {
    let queue = Queue::new("closed");
    let (parent, children, drops) = suspended_children(std::slice::from_ref(&queue));
    queue.closed.store(true, Ordering::SeqCst);
    // Dropped while no queue is being drained: the guard counts them as off their dispatcher.
    parent.cancel();
    assert_eq!(queue.take_dispatched(), CHILDREN.div_ceil(CHUNK));
    assert_each_dropped_once(&drops);
    assert_eq!(drops.misplaced.load(Ordering::SeqCst), CHILDREN);
    for child in &children {
        let error = child.completion_error().expect("complete");
        assert!(
            error.is_failure() && error.to_string().contains("closed"),
            "{error}"
        );
    }
    assert!(parent.is_completed());
}
