//! The actor model: the [`Actor`] trait and the [`Context`] a handler sends through.
//!
//! An actor owns its state and handles one message at a time. Handlers are plain synchronous
//! functions: they never block and never see a channel. What they send goes into the
//! context's outbox, addressed by *out-edge index* (the position of the neighbour in the
//! wiring), and the executor delivers it after the handler returns, with backpressure, counting
//! every message and byte per edge and kind. So the same actor code runs on every executor,
//! and an actor can only reach the neighbours it was wired to.

use std::any::Any;

use crate::runtime::payload::{Control, Payload};

/// What a handler wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep handling messages.
    Continue,
    /// Stop this actor (its `stopped` hook runs).
    Stop,
    /// Stop every actor in the network: the run is complete.
    StopAll,
}

/// An actor: state plus handlers. `M` is the network's message vocabulary.
pub trait Actor<M: Payload>: Any + Send {
    /// Called once, before any message, when the network starts.
    fn started(&mut self, _ctx: &mut Context<'_, M>) -> Flow {
        Flow::Continue
    }
    /// Handles one data message.
    fn handle(&mut self, msg: M, ctx: &mut Context<'_, M>) -> Flow;
    /// Handles a control word (served before waiting data). The default stops on
    /// [`Control::Stop`].
    fn control(&mut self, c: Control, _ctx: &mut Context<'_, M>) -> Flow {
        match c {
            Control::Stop => Flow::Stop,
        }
    }
    /// A worker tick: called by the executor, not through the mailbox, when an actor on
    /// the same worker asked for one ([`Context::tick_worker`]), for every actor marked
    /// [`crate::runtime::Network::tick_by_worker`]. The mail already queued for this actor is
    /// handled first. Its sends are counted and delivered as any handler's; it may ask not
    /// to be ticked for a while ([`Context::sleep_until`]). The default does nothing.
    fn tick(&mut self, _tick: u64, _ctx: &mut Context<'_, M>) -> Flow {
        Flow::Continue
    }
    /// Idle time on a worker: a ticked actor whose next worker tick is `tick` or later may
    /// bring its own state forward to `tick` now, computing what it would compute anyway at
    /// its next tick or message, so that its worker does that work while it waits for the
    /// others instead of on the tick's critical path. It cannot send, and what the run
    /// computes must not depend on whether or when this is called. The default does nothing.
    fn advance(&mut self, _tick: u64) {}
    /// Called once when the actor stops, normally or because the run is stopping.
    fn stopped(&mut self) {}
}

/// What a handler may do besides computing: send to its out-edges.
pub struct Context<'a, M> {
    pub(crate) outbox: &'a mut Vec<(usize, M)>,
    pub(crate) edges: usize,
    pub(crate) id: usize,
    /// A worker tick this handler asked for.
    pub(crate) worker_tick: &'a mut Option<u64>,
    /// The worker tick before which a ticked actor need not be ticked (see
    /// [`Context::sleep_until`]).
    pub(crate) sleep: &'a mut Option<u64>,
}

impl<M> Context<'_, M> {
    /// Queues `msg` for out-edge `edge` (0-based, in wiring order). Delivered when the handler
    /// returns.
    ///
    /// # Panics
    /// If the actor has no such edge (a wiring bug; the supervisor reports it by actor name).
    pub fn send(&mut self, edge: usize, msg: M) {
        assert!(
            edge < self.edges,
            "actor {} has {} out-edges, no edge {edge}",
            self.id,
            self.edges
        );
        self.outbox.push((edge, msg));
    }

    /// Asks for worker tick `tick`: once this handler returns, the executor calls
    /// [`Actor::tick`] on every live actor of this actor's worker that was marked
    /// [`crate::runtime::Network::tick_by_worker`], in id order (each after handling the
    /// mail already queued for it), delivers their sends, and only then delivers this
    /// handler's own sends. So a message this handler sends (say, "tick done" to a clock)
    /// reaches its receiver after everything the ticked actors sent, on every worker: one
    /// message per worker per tick instead of two per actor. The inline executor has one
    /// worker; the pinned executor one per thread. A ticked actor's own request is ignored.
    pub fn tick_worker(&mut self, tick: u64) {
        *self.worker_tick = Some(tick);
    }

    /// From [`Actor::tick`] of an actor stepped by worker ticks: it need not be ticked again
    /// before worker tick `tick`. Mail for it cancels the rest of the sleep: it is then ticked
    /// (after handling the mail) at the next worker tick that starts after the mail came,
    /// or at this one if its turn in id order is still to come. From [`Actor::handle`] of
    /// such an actor, for mail handled at a worker tick: when the last message handled asks
    /// for a tick later than that worker tick, the actor is not ticked at it and sleeps on
    /// until the tick asked for. Ignored elsewhere. An actor that does not ask is ticked
    /// every worker tick.
    pub fn sleep_until(&mut self, tick: u64) {
        *self.sleep = Some(tick);
    }

    /// Number of out-edges.
    pub fn edges(&self) -> usize {
        self.edges
    }

    /// This actor's id (its position in the network description).
    pub fn id(&self) -> usize {
        self.id
    }
}
