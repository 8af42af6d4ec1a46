//! What to run and how: the [`Network`] description (actors and their wiring, each actor
//! added under a typed [`ActorId`]), the [`RuntimeConfig`] that picks an [`Executor`], and the
//! [`RunReport`] a finished run hands back (each actor's final state, by its [`ActorId`]).

use std::any::Any;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// The handle of an actor of type `A` added to a network ([`Network::add`]): its id (an
/// index, as [`Network::connect`] and [`Network::place`] take) and the type the finished
/// run's [`RunReport::actor`] hands back for it. A handle fits only the network that made it.
pub struct ActorId<A> {
    index: usize,
    network: u64,
    actor: PhantomData<fn() -> A>,
}

impl<A> ActorId<A> {
    /// The actor's id: its position in the network description.
    pub fn index(self) -> usize {
        self.index
    }
}

impl<A> Clone for ActorId<A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for ActorId<A> {}

impl<A> PartialEq for ActorId<A> {
    fn eq(&self, other: &Self) -> bool {
        (self.index, self.network) == (other.index, other.network)
    }
}

impl<A> Eq for ActorId<A> {}

impl<A> std::fmt::Debug for ActorId<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = std::any::type_name::<A>();
        write!(f, "ActorId<{name}>({})", self.index)
    }
}

/// What names an actor of a network being described: its id (`usize`) or its handle
/// ([`ActorId`]).
pub trait ActorIndex {
    /// The actor's id.
    fn actor_index(self) -> usize;
}

impl ActorIndex for usize {
    fn actor_index(self) -> usize {
        self
    }
}

impl<A> ActorIndex for ActorId<A> {
    fn actor_index(self) -> usize {
        self.index
    }
}

/// Stamps each network, so that a handle is known to be its network's.
static NETWORKS: AtomicU64 = AtomicU64::new(0);

/// What to build and how it is wired, kept apart from the running actors.
pub struct Network<M: Payload> {
    /// This network's stamp (its handles carry it).
    stamp: u64,
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
            stamp: NETWORKS.fetch_add(1, Ordering::Relaxed),
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

    /// Adds an actor; returns its handle, whose [`ActorId::index`] is its id and through
    /// which the finished run hands the actor back ([`RunReport::actor`]).
    pub fn add<A: Actor<M>>(&mut self, name: impl Into<String>, actor: A) -> ActorId<A> {
        self.actors.push((name.into(), Box::new(actor)));
        self.edges.push(Vec::new());
        self.groups.push(None);
        self.ticked.push(false);
        ActorId {
            index: self.actors.len() - 1,
            network: self.stamp,
            actor: PhantomData,
        }
    }

    /// Places actor `id` in placement group `group`: on the pinned executor it runs on worker
    /// `group % workers` (other executors ignore placement). Actors that share a worker
    /// exchange messages without a channel. Unplaced actors go in contiguous blocks of ids:
    /// actor `i` of `n` on worker `i * workers / n`.
    ///
    /// # Panics
    /// If `id` is not in the network.
    pub fn place(&mut self, id: impl ActorIndex, group: usize) {
        let id = id.actor_index();
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
    pub fn tick_by_worker(&mut self, id: impl ActorIndex) {
        let id = id.actor_index();
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
    pub fn connect(&mut self, from: impl ActorIndex, to: impl ActorIndex) -> usize {
        let (from, to) = (from.actor_index(), to.actor_index());
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

    /// The named actors, each actor's out-edge targets and whether it is ticked, in id
    /// order, and the network's stamp.
    #[allow(clippy::type_complexity)]
    pub(crate) fn into_parts(
        self,
    ) -> (
        Vec<(String, Box<dyn Actor<M>>)>,
        Vec<Vec<usize>>,
        Vec<bool>,
        u64,
    ) {
        (self.actors, self.edges, self.ticked, self.stamp)
    }
}

/// What a finished run hands back.
pub struct RunReport<M: Payload> {
    /// The actors, in network order, with their final state. A run's results are read
    /// through the handles its network gave out ([`RunReport::actor`]), not by type tests.
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
    /// The stamp of the network that ran (its handles carry it).
    pub(crate) network: u64,
}

impl<M: Payload> RunReport<M> {
    /// The actor `id` names, with its final state.
    ///
    /// # Panics
    /// If `id` is another network's handle, or its actor was removed from the report.
    pub fn actor<A: Actor<M>>(&self, id: ActorId<A>) -> &A {
        self.check(id);
        let actor: &dyn Any = self.actors[id.index].as_ref();
        // The one type test of a run's actors: `id` was made by `Network::add` for an `A`
        // at this index of this network, so the actor is an `A`.
        actor
            .downcast_ref()
            .expect("a handle names its actor's type")
    }

    /// The actor `id` names, with its final state, to take things out of.
    ///
    /// # Panics
    /// If `id` is another network's handle, or its actor was removed from the report.
    pub fn actor_mut<A: Actor<M>>(&mut self, id: ActorId<A>) -> &mut A {
        self.check(id);
        let actor: &mut dyn Any = self.actors[id.index].as_mut();
        // As in `actor`: the handle guarantees the type.
        actor
            .downcast_mut()
            .expect("a handle names its actor's type")
    }

    /// Panics unless `id` is a handle of the network that ran and its actor is still here.
    fn check<A>(&self, id: ActorId<A>) {
        assert_eq!(
            id.network, self.network,
            "{id:?} is another network's handle"
        );
        assert!(
            id.index < self.actors.len(),
            "{id:?} was removed from the report"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::actor::{Context, Flow};
    use crate::runtime::Runtime;

    type M = crate::message::Message;

    /// Holds a number; stops the run at once.
    struct Idle(u32);

    impl Actor<M> for Idle {
        fn started(&mut self, _: &mut Context<'_, M>) -> Flow {
            Flow::StopAll
        }
        fn handle(&mut self, _: M, _: &mut Context<'_, M>) -> Flow {
            Flow::Continue
        }
    }

    fn run(net: Network<M>) -> RunReport<M> {
        let config = RuntimeConfig {
            executor: Executor::Inline,
            ..RuntimeConfig::default()
        };
        Runtime::new(config).run(net).expect("runs")
    }

    #[test]
    fn a_handle_gives_back_its_own_actor() {
        let mut net = Network::new();
        let (a, b) = (net.add("a", Idle(1)), net.add("b", Idle(2)));
        net.connect(a, b.index());
        assert_eq!((a.index(), b.index()), (0, 1));
        let mut report = run(net);
        assert_eq!(report.actor(b).0, 2);
        report.actor_mut(a).0 = 7;
        assert_eq!(report.actor(a).0, 7);
    }

    #[test]
    #[should_panic(expected = "another network's handle")]
    fn a_handle_of_another_network_is_refused() {
        let mut other = Network::<M>::new();
        let stranger = other.add("a", Idle(1));
        let mut net = Network::new();
        net.add("a", Idle(2));
        let _ = run(net).actor(stranger);
    }
}
