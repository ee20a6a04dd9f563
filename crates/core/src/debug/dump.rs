//! [`Dump`]: a snapshot of the live coroutines as a tree, printed indented or as JSON.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::panic::Location;
use std::time::{Duration, Instant};

use super::registry;
use super::stall;
use crate::job::JobState;

/// Whether a coroutine is being polled, waits in a dispatcher's queue, or waits for a wake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunState {
    /// A thread polls it right now.
    Running,
    /// Suspended: waiting for a wake (or, when New, for `start`).
    Suspended,
    /// Woken, waiting in its dispatcher's queue for a thread.
    Queued,
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One live coroutine in a [`Dump`].
#[derive(Clone, Debug)]
pub struct CoroutineInfo {
    /// Its job's id.
    pub id: u64,
    /// Its `CoroutineName`, if it has one.
    pub name: Option<String>,
    /// Its job's state when the dump was taken.
    pub state: JobState,
    /// Running, Queued or Suspended when the dump was taken.
    pub run_state: RunState,
    /// Its dispatcher's `Display`, or `None` for one resumed in place.
    pub dispatcher: Option<String>,
    /// Where the `launch` / `async_` call that created it is.
    pub location: &'static Location<'static>,
    /// Time since it was created.
    pub age: Duration,
    /// How many times it was polled.
    pub polls: u64,
    /// Its current poll has run longer than the stall threshold.
    pub stalled: bool,
    /// The id of its parent in the dump: its nearest ancestor job that is a recorded coroutine.
    pub parent: Option<u64>,
    /// Its depth in the dump's tree (0 for a root).
    pub depth: usize,
}

impl CoroutineInfo {
    /// Its name, or `coroutine#id` when it has none (kotlinx's default name).
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("coroutine#{}", self.id),
        }
    }
}

/// A snapshot of the live coroutines ([`dump`](super::dump)): `Display` prints an indented
/// tree, one line per coroutine, each child under its parent; [`Dump::to_json`] gives the same
/// tree as JSON.
#[derive(Clone, Debug, Default)]
pub struct Dump {
    /// Depth first: every coroutine after its parent, children in id order.
    coroutines: Vec<CoroutineInfo>,
}

impl Dump {
    pub(super) fn take() -> Dump {
        let now = Instant::now();
        let live = registry::live();
        let stalled = stall::stalled_ids();
        let index: HashMap<u64, usize> = live
            .iter()
            .enumerate()
            .map(|(position, recorded)| (recorded.id, position))
            .collect();
        let mut nodes: Vec<CoroutineInfo> = Vec::with_capacity(live.len());
        for recorded in &live {
            let task = &recorded.task;
            let job = std::sync::Arc::clone(task).probe_job();
            // Walk up (a loop, not recursion) to the nearest recorded ancestor.
            let mut parent = job.parent();
            while let Some(ancestor) = parent.take() {
                if index.contains_key(&ancestor.id()) {
                    parent = Some(ancestor);
                    break;
                }
                parent = ancestor.parent();
            }
            nodes.push(CoroutineInfo {
                id: recorded.id,
                name: task.probe_name(),
                state: job.state(),
                run_state: task.probe_run_state(),
                dispatcher: task.probe_dispatcher(),
                location: task.probe_location(),
                age: now.saturating_duration_since(recorded.created),
                polls: task.probe_polls(),
                stalled: stalled.contains(&recorded.id),
                parent: parent.map(|parent| parent.id()),
                depth: 0,
            });
        }
        drop(live);
        Dump {
            coroutines: depth_first(nodes),
        }
    }

    /// The coroutines, depth first: each after its parent, siblings in creation order.
    pub fn coroutines(&self) -> &[CoroutineInfo] {
        &self.coroutines
    }

    /// The coroutine with job id `id`, if it is in the dump.
    pub fn get(&self, id: u64) -> Option<&CoroutineInfo> {
        self.coroutines.iter().find(|info| info.id == id)
    }

    /// How many coroutines the dump holds.
    pub fn len(&self) -> usize {
        self.coroutines.len()
    }

    /// Whether no coroutine was live.
    pub fn is_empty(&self) -> bool {
        self.coroutines.is_empty()
    }

    /// The tree as JSON: an array of root coroutines, each an object with `id`, `name` (as
    /// printed: `coroutine#id` when unnamed), `named` (whether it has a `CoroutineName`), `state`, `run_state`, `dispatcher` (null when in place), `location`
    /// (`"file:line:col"`), `age_ms`, `polls`, `stalled` and `children` (nested objects).
    pub fn to_json(&self) -> String {
        let mut out = String::from("[");
        // Whether each open array (the roots', then each open node's children) has an element.
        let mut open: Vec<bool> = vec![false];
        for info in &self.coroutines {
            while open.len() > info.depth + 1 {
                open.pop();
                out.push_str("]}");
            }
            let has_element = open.last_mut().expect("the roots' array is open");
            if *has_element {
                out.push(',');
            }
            *has_element = true;
            let _ = write!(out, "{{\"id\":{},\"name\":", info.id);
            push_json_string(&mut out, &info.display_name());
            out.push_str(",\"named\":");
            out.push_str(if info.name.is_some() { "true" } else { "false" });
            let _ = write!(
                out,
                ",\"state\":\"{:?}\",\"run_state\":\"{}\",\"dispatcher\":",
                info.state, info.run_state
            );
            match &info.dispatcher {
                Some(dispatcher) => push_json_string(&mut out, dispatcher),
                None => out.push_str("null"),
            }
            out.push_str(",\"location\":");
            push_json_string(&mut out, &info.location.to_string());
            let _ = write!(
                out,
                ",\"age_ms\":{},\"polls\":{},\"stalled\":{},\"children\":[",
                info.age.as_millis(),
                info.polls,
                info.stalled
            );
            open.push(false);
        }
        while open.len() > 1 {
            open.pop();
            out.push_str("]}");
        }
        out.push(']');
        out
    }
}

/// Orders `nodes` depth first (children by id) and sets their depths, with an explicit stack.
fn depth_first(mut nodes: Vec<CoroutineInfo>) -> Vec<CoroutineInfo> {
    nodes.sort_by_key(|info| info.id);
    let position: HashMap<u64, usize> = nodes
        .iter()
        .enumerate()
        .map(|(at, info)| (info.id, at))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut roots = Vec::new();
    for (at, info) in nodes.iter().enumerate() {
        match info.parent.and_then(|parent| position.get(&parent)) {
            Some(&parent) => children[parent].push(at),
            None => roots.push(at),
        }
    }
    let mut order = Vec::with_capacity(nodes.len());
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&at| (at, 0)).collect();
    while let Some((at, depth)) = stack.pop() {
        order.push((at, depth));
        stack.extend(children[at].iter().rev().map(|&child| (child, depth + 1)));
    }
    let mut slots: Vec<Option<CoroutineInfo>> = nodes.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(at, depth)| {
            let mut info = slots[at].take()?;
            info.depth = depth;
            Some(info)
        })
        .collect()
}

fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Nesting unit of the printed tree.
const INDENT: &str = "  ";

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Coroutines dump: {} live", self.coroutines.len())?;
        for info in &self.coroutines {
            for _ in 0..info.depth {
                f.write_str(INDENT)?;
            }
            write!(
                f,
                "- {} id={} {:?} {} on {} at {} age={:.1?} polls={}",
                info.display_name(),
                info.id,
                info.state,
                info.run_state,
                info.dispatcher.as_deref().unwrap_or("(in place)"),
                info.location,
                info.age,
                info.polls
            )?;
            if info.stalled {
                f.write_str(" STALLED")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
