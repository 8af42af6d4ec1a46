//! What to run and how: the [`Network`] description (actors and their wiring), the
//! [`RuntimeConfig`] that picks an [`Executor`], and the [`RunReport`] a finished run hands
//! back.

use std::time::Duration;

use serde::Serialize;

use crate::runtime::actor::Actor;
use crate::runtime::payload::Payload;
use crate::runtime::trace_log::TraceEvent;
use crate::runtime::traffic::Traffic;

/// Which executor runs the actors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Executor {
    /// Tasks on a tokio multi-thread runtime.
    Tokio,
    /// One OS thread per actor.
    Threads,
    /// All actors on the calling thread, in a fixed order.
    Inline,
    /// `workers` OS threads, each running the actors placed on it inline-style; messages
    /// between actors on one worker skip channels (see [`Network::place`]).
    Pinned,
}

impl Executor {
    /// Every executor (for tests that run a case on each).
    pub const ALL: [Executor; 4] = [
        Executor::Tokio,
        Executor::Threads,
        Executor::Inline,
        Executor::Pinned,
    ];
}

/// How a network runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RuntimeConfig {
    /// The executor.
    pub executor: Executor,
    /// Worker threads of the tokio and pinned executors (>= 1).
    pub workers: usize,
    /// Data messages a mailbox holds before senders wait (>= 1; inline: unbounded).
    pub mailbox_capacity: usize,
    /// No progress for this long is a stall.
    pub stall_timeout: Duration,
    /// Log 1 in this many messages (send and receive time, edge, kind, bytes, step, mailbox
    /// depth) in [`RunReport::trace`]; 0 logs none.
    pub trace_sample: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            executor: Executor::Tokio,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mailbox_capacity: 1024,
            stall_timeout: Duration::from_secs(10),
            trace_sample: 0,
        }
    }
}

/// What to build and how it is wired, kept apart from the running actors.
pub struct Network<M: Payload> {
    actors: Vec<(String, Box<dyn Actor<M>>)>,
    edges: Vec<Vec<usize>>,
    /// Placement group of each actor, if placed (see [`Network::place`]).
    groups: Vec<Option<usize>>,
    /// Actors stepped by worker ticks (see [`Network::tick_by_worker`]).
    ticked: Vec<bool>,
}

impl<M: Payload> Default for Network<M> {
    fn default() -> Self {
        Self {
            actors: Vec::new(),
            edges: Vec::new(),
            groups: Vec::new(),
            ticked: Vec::new(),
        }
    }
}

impl<M: Payload> Network<M> {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an actor; returns its id.
    pub fn add(&mut self, name: impl Into<String>, actor: impl Actor<M>) -> usize {
        self.actors.push((name.into(), Box::new(actor)));
        self.edges.push(Vec::new());
        self.groups.push(None);
        self.ticked.push(false);
        self.actors.len() - 1
    }

    /// Places actor `id` in placement group `group`: on the pinned executor it runs on worker
    /// `group % workers` (other executors ignore placement). Actors that share a worker
    /// exchange messages without a channel. Unplaced actors go in contiguous blocks of ids:
    /// actor `i` of `n` on worker `i * workers / n`.
    ///
    /// # Panics
    /// If `id` is not in the network.
    pub fn place(&mut self, id: usize, group: usize) {
        assert!(id < self.actors.len(), "no actor {id}");
        self.groups[id] = Some(group);
    }

    /// Marks actor `id` as stepped by worker ticks: when an actor on its worker calls
    /// [`crate::runtime::actor::Context::tick_worker`], the executor calls its
    /// [`crate::runtime::actor::Actor::tick`] directly, with no message. Its mail is handled
    /// only then, in arrival order, just before it ticks: between ticks it costs nothing and
    /// the executor walks its ticked actors in id order once a tick. Only the inline and pinned
    /// executors run worker ticks; on the others a network with ticked actors does not start
    /// ([`crate::runtime::RuntimeError::Start`]).
    ///
    /// # Panics
    /// If `id` is not in the network.
    pub fn tick_by_worker(&mut self, id: usize) {
        assert!(id < self.actors.len(), "no actor {id}");
        self.ticked[id] = true;
    }

    /// Whether any actor is stepped by worker ticks.
    pub fn has_ticked(&self) -> bool {
        self.ticked.iter().any(|&t| t)
    }

    /// The worker of every actor, in id order, when the network runs on `workers` workers.
    pub fn workers_of(&self, workers: usize) -> Vec<usize> {
        let (w, n) = (workers.max(1), self.groups.len());
        self.groups
            .iter()
            .enumerate()
            .map(|(i, g)| g.map_or(i * w / n, |g| g % w))
            .collect()
    }

    /// Wires `from -> to`; returns the edge's index among `from`'s out-edges.
    ///
    /// # Panics
    /// If either id is not in the network.
    pub fn connect(&mut self, from: usize, to: usize) -> usize {
        assert!(to < self.actors.len(), "no actor {to}");
        self.edges[from].push(to);
        self.edges[from].len() - 1
    }

    /// Number of actors.
    pub fn len(&self) -> usize {
        self.actors.len()
    }

    /// Whether the network has no actors.
    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }

    /// The named actors and each actor's out-edge targets, in id order.
    #[allow(clippy::type_complexity)]
    pub(crate) fn into_parts(
        self,
    ) -> (Vec<(String, Box<dyn Actor<M>>)>, Vec<Vec<usize>>, Vec<bool>) {
        (self.actors, self.edges, self.ticked)
    }
}

/// What a finished run hands back.
pub struct RunReport<M: Payload> {
    /// The actors, in network order, with their final state.
    pub actors: Vec<Box<dyn Actor<M>>>,
    /// Names, in network order.
    pub names: Vec<String>,
    /// Every message counted, merged.
    pub traffic: Traffic,
    /// Wall time from the actors' start to the last actor stopping.
    pub elapsed: Duration,
    /// Wall time from the actors' start to the first stop request (`Flow::StopAll`), or to
    /// the last actor stopping if none asked: the window in which the work ran.
    pub active: Duration,
    /// Data messages handled by all actors (counted even when built without `counters`).
    pub handled: u64,
    /// The sampled message events (empty unless `trace_sample` > 0), by send time.
    pub trace: Vec<TraceEvent<M::Kind>>,
    /// Wall time to build mailboxes and the registry and to spawn every actor (actors start
    /// working while later ones are spawned, so this overlaps `active`).
    pub startup: Duration,
    /// The worker each actor ran on, in network order (pinned executor; empty on the others,
    /// which do not pin actors to threads).
    pub worker_of: Vec<usize>,
}
