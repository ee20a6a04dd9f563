//! Model test of the Job state machine: random trees of plain jobs (`Job::new`,
//! `Job::new_child`, `SupervisorJob`) under random complete / cancel / fail operations, checked
//! after every step against a plain reference model of kotlinx's rules (docs/semantics.md):
//! states, final errors, parent links, children, and completion-handler calls.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use corral_core::{Job, JobError, JobState, SupervisorJob};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Plain,
    Supervisor,
}

#[derive(Clone, Debug)]
enum Op {
    NewRoot(Kind),
    NewChild(usize, Kind),
    Complete(usize),
    Cancel(usize),
    Fail(usize),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![3 => Just(Kind::Plain), 1 => Just(Kind::Supervisor)];
    prop_oneof![
        1 => kind.clone().prop_map(Op::NewRoot),
        4 => (any::<usize>(), kind).prop_map(|(p, k)| Op::NewChild(p, k)),
        3 => any::<usize>().prop_map(Op::Complete),
        2 => any::<usize>().prop_map(Op::Cancel),
        2 => any::<usize>().prop_map(Op::Fail),
    ]
}

/// How a job ended, as far as the model distinguishes it.
#[derive(Clone, Debug, PartialEq)]
enum End {
    Completed,
    Cancelled,
    Failed(String),
}

#[derive(Debug)]
struct Node {
    kind: Kind,
    parent: Option<usize>,
    children: Vec<usize>,
    state: JobState,
    body_done: bool,
    first_failure: Option<String>,
    cancelled: bool,
    end: Option<End>,
    handler_calls: usize,
}

#[derive(Default, Debug)]
struct Model {
    nodes: Vec<Node>,
}

impl Model {
    fn add(&mut self, kind: Kind, parent: Option<usize>) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node {
            kind,
            parent: None,
            children: Vec::new(),
            state: JobState::Active,
            body_done: false,
            first_failure: None,
            cancelled: false,
            end: None,
            handler_calls: 0,
        });
        if let Some(p) = parent {
            match self.nodes[p].state {
                JobState::Completed | JobState::Cancelled => self.cancel(id, None),
                JobState::Cancelling => {
                    self.nodes[id].parent = Some(p);
                    self.nodes[p].children.push(id);
                    self.cancel(id, None);
                }
                _ => {
                    self.nodes[id].parent = Some(p);
                    self.nodes[p].children.push(id);
                }
            }
        }
        id
    }

    fn complete(&mut self, id: usize) -> bool {
        let node = &mut self.nodes[id];
        if node.state != JobState::Active || node.body_done {
            return false;
        }
        node.body_done = true;
        node.state = JobState::Completing;
        self.try_finalize(id);
        true
    }

    /// `failure`: Some(message) for a failure, None for a cancellation.
    fn cancel(&mut self, id: usize, failure: Option<String>) {
        let state = self.nodes[id].state;
        if matches!(state, JobState::Completed | JobState::Cancelled) {
            return;
        }
        let mut first_failure = false;
        if let Some(message) = &failure {
            if self.nodes[id].first_failure.is_none() {
                self.nodes[id].first_failure = Some(message.clone());
                first_failure = true;
            }
        }
        if state != JobState::Cancelling {
            self.nodes[id].state = JobState::Cancelling;
            self.nodes[id].cancelled = true;
            for child in self.nodes[id].children.clone() {
                self.cancel(child, None);
            }
        }
        if first_failure {
            if let Some(parent) = self.nodes[id].parent {
                self.child_failed(parent, failure.clone().unwrap());
            }
        }
        if state != JobState::Cancelling {
            self.nodes[id].body_done = true;
        }
        self.try_finalize(id);
    }

    fn child_failed(&mut self, id: usize, message: String) {
        if self.nodes[id].kind == Kind::Supervisor {
            return;
        }
        self.cancel(id, Some(message));
    }

    fn fail(&mut self, id: usize, message: String) -> bool {
        let node = &self.nodes[id];
        if !matches!(node.state, JobState::Active | JobState::Completing) || node.body_done {
            return false;
        }
        self.cancel(id, Some(message));
        true
    }

    fn try_finalize(&mut self, id: usize) {
        let node = &mut self.nodes[id];
        if !node.body_done || !node.children.is_empty() || node.end.is_some() {
            return;
        }
        let end = if node.state == JobState::Cancelling {
            node.state = JobState::Cancelled;
            match &node.first_failure {
                Some(message) => End::Failed(message.clone()),
                None => End::Cancelled,
            }
        } else {
            node.state = JobState::Completed;
            End::Completed
        };
        node.end = Some(end);
        node.handler_calls += 1;
        if let Some(parent) = node.parent.take() {
            self.nodes[parent].children.retain(|&c| c != id);
            self.try_finalize(parent);
        }
    }
}

struct Real {
    jobs: Vec<Job>,
    handler_log: Vec<Arc<Mutex<Vec<End>>>>,
}

impl Real {
    fn add(&mut self, kind: Kind, parent: Option<usize>) {
        let job = match (kind, parent) {
            (Kind::Plain, None) => Job::new(),
            (Kind::Plain, Some(p)) => Job::new_child(&self.jobs[p]),
            (Kind::Supervisor, None) => SupervisorJob::new(),
            (Kind::Supervisor, Some(p)) => SupervisorJob::child_of(&self.jobs[p]),
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let _handle = job.invoke_on_completion(move |error| {
            sink.lock().unwrap().push(end_of(error));
        });
        self.jobs.push(job);
        self.handler_log.push(log);
    }
}

fn end_of(error: Option<&JobError>) -> End {
    match error {
        None => End::Completed,
        Some(e) if e.is_failure() => End::Failed(e.message().to_owned()),
        Some(_) => End::Cancelled,
    }
}

fn check(model: &Model, real: &Real) -> Result<(), TestCaseError> {
    for (i, (node, job)) in model.nodes.iter().zip(&real.jobs).enumerate() {
        prop_assert_eq!(job.state(), node.state, "job {} state", i);
        prop_assert_eq!(job.is_cancelled(), node.cancelled, "job {} is_cancelled", i);
        let real_end = job
            .is_completed()
            .then(|| end_of(job.completion_error().as_ref()));
        prop_assert_eq!(&real_end, &node.end, "job {} end", i);
        let calls = real.handler_log[i].lock().unwrap().clone();
        prop_assert_eq!(calls.len(), node.handler_calls, "job {} handler calls", i);
        if let Some(end) = &node.end {
            prop_assert_eq!(&calls[0], end, "job {} handler argument", i);
        }
        let real_parent = job
            .parent()
            .map(|p| real.jobs.iter().position(|j| *j == p).unwrap());
        prop_assert_eq!(real_parent, node.parent, "job {} parent", i);
        let mut real_children: Vec<usize> = job
            .children()
            .iter()
            .map(|c| real.jobs.iter().position(|j| j == c).unwrap())
            .collect();
        real_children.sort_unstable();
        let mut model_children = node.children.clone();
        model_children.sort_unstable();
        prop_assert_eq!(real_children, model_children, "job {} children", i);
        // join is ready exactly when the job is final.
        let mut join = job.join();
        let mut cx = TaskContext::from_waker(Waker::noop());
        let ready = std::pin::Pin::new(&mut join).poll(&mut cx).is_ready();
        prop_assert_eq!(ready, node.end.is_some(), "job {} join readiness", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn job_tree_matches_the_reference_model(ops in proptest::collection::vec(op_strategy(), 1..60)) {
        let mut model = Model::default();
        let mut real = Real { jobs: Vec::new(), handler_log: Vec::new() };
        let mut failures = 0;
        for op in ops {
            let count = model.nodes.len();
            match op {
                Op::NewRoot(kind) => {
                    model.add(kind, None);
                    real.add(kind, None);
                }
                Op::NewChild(p, kind) if count > 0 => {
                    model.add(kind, Some(p % count));
                    real.add(kind, Some(p % count));
                }
                Op::Complete(i) if count > 0 => {
                    let expected = model.complete(i % count);
                    prop_assert_eq!(real.jobs[i % count].complete(), expected);
                }
                Op::Cancel(i) if count > 0 => {
                    model.cancel(i % count, None);
                    real.jobs[i % count].cancel();
                }
                Op::Fail(i) if count > 0 => {
                    failures += 1;
                    let message = format!("failure {failures}");
                    let expected = model.fail(i % count, message.clone());
                    let actual = real.jobs[i % count].complete_exceptionally(JobError::failure(message));
                    prop_assert_eq!(actual, expected);
                }
                _ => continue,
            }
            check(&model, &real)?;
        }
        // Active parents and children reference each other until they complete (the tree owns
        // its jobs): end every job so nothing outlives the case.
        for job in &real.jobs {
            job.cancel();
        }
    }
}

#[test]
fn join_is_pending_until_completion() {
    let job = Job::new();
    let mut join = job.join();
    let mut cx = TaskContext::from_waker(Waker::noop());
    assert_eq!(std::pin::Pin::new(&mut join).poll(&mut cx), Poll::Pending);
    assert!(job.complete());
    assert_eq!(std::pin::Pin::new(&mut join).poll(&mut cx), Poll::Ready(()));
}
