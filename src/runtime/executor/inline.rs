//! The inline executor: every actor on the calling thread. Start hooks run in id order; then
//! actors with mail are served from a FIFO ready queue, one item per turn (control first),
//! each handler's sends delivered before the next turn. The order depends only on the network
//! and its messages, never on timing, and idle actors cost nothing. No mail anywhere while
//! actors still run is a deadlock, reported as a stall.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Finished, Runtime};
use crate::runtime::cell::{Cell, Envelope, Step};
use crate::runtime::mailbox::{Item, Mailbox, SupervisorRx};
use crate::runtime::payload::{Control, Payload};
use crate::runtime::supervisor::{Event, RuntimeError};

/// The inline executor's state: the actors, their queues and who is ready.
struct Inline<'r, M: Payload> {
    runtime: &'r Runtime<M>,
    events: &'r SupervisorRx<Event>,
    cells: Vec<Cell<M>>,
    mailboxes: Vec<Mailbox<Envelope<M>>>,
    /// Actors that have not stopped.
    live: Vec<bool>,
    /// Actors in `ready`.
    queued: Vec<bool>,
    /// Actors that may have mail, in the order they got it.
    ready: VecDeque<usize>,
    failure: Option<RuntimeError>,
    stop_at: Option<Instant>,
    /// An actor asked every actor to stop, or failed.
    stop_all: bool,
}

impl<M: Payload> Runtime<M> {
    /// Runs every actor on this thread until all stop, one fails, or none has mail.
    pub(super) fn run_inline(
        &self,
        cells: Vec<Cell<M>>,
        mailboxes: Vec<Mailbox<Envelope<M>>>,
        events: &SupervisorRx<Event>,
    ) -> Finished<M> {
        let n = cells.len();
        let mut ex = Inline {
            runtime: self,
            events,
            cells,
            mailboxes,
            live: vec![true; n],
            queued: vec![false; n],
            ready: VecDeque::new(),
            failure: None,
            stop_at: None,
            stop_all: false,
        };
        ex.start_all();
        ex.serve();
        if ex.stop_all {
            ex.stop_the_rest();
        } else if ex.live.iter().any(|&l| l) && ex.failure.is_none() {
            ex.failure = Some(ex.deadlock());
        }
        Finished {
            cells: ex.cells,
            failure: ex.failure,
            stop_at: ex.stop_at,
            spawn: Duration::ZERO,
        }
    }
}

impl<M: Payload> Inline<'_, M> {
    /// Runs one handler of actor `id` and delivers its sends, queueing their receivers.
    fn turn(&mut self, id: usize, item: Option<Item<Envelope<M>>>) -> Step {
        let cell = &mut self.cells[id];
        let step = cell.call(item);
        let mut outbox = std::mem::take(&mut cell.outbox);
        for (edge, msg) in outbox.drain(..) {
            let env = cell.wrap(edge, msg);
            let target = cell.edges[edge].id();
            // Inline mailboxes are unbounded: a send only fails if the target stopped.
            let _ = cell.edges[edge].try_send(env);
            if !self.queued[target] {
                self.queued[target] = true;
                self.ready.push_back(target);
            }
        }
        cell.outbox = outbox; // keeps its capacity: no allocation per message
        step
    }

    /// Acts on what a turn of actor `id` returned: unless it goes on, the actor stops (its
    /// `stopped` hook runs unless it failed), and a failure or `StopAll` stops the run.
    fn visit(&mut self, id: usize, step: Step) {
        match step {
            Step::Go => return,
            Step::Stop => {}
            Step::StopAll => {
                self.stop_all = true;
                self.stop_at.get_or_insert_with(Instant::now);
            }
            Step::Failed => {
                self.stop_all = true;
                if self.failure.is_none() {
                    if let Ok(Event::Failed {
                        actor,
                        kind,
                        message,
                    }) = self.events.try_recv()
                    {
                        self.failure = Some(self.runtime.panicked(actor, kind, message));
                    }
                }
            }
        }
        self.live[id] = false;
        if !matches!(step, Step::Failed) {
            self.cells[id].actor.stopped();
        }
    }

    /// Start hooks, in id order.
    fn start_all(&mut self) {
        for id in 0..self.cells.len() {
            if self.stop_all {
                break;
            }
            let step = self.turn(id, None);
            self.visit(id, step);
        }
    }

    /// Serves ready actors, one item per turn, until the queue empties or the run stops.
    fn serve(&mut self) {
        while !self.stop_all {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            self.queued[id] = false;
            if !self.live[id] {
                continue;
            }
            let Some(item) = self.mailboxes[id].try_recv() else {
                continue;
            };
            let step = self.turn(id, Some(item));
            // It may have more mail: back of the queue, behind everyone else's turn.
            if self.live[id] && !self.queued[id] {
                self.queued[id] = true;
                self.ready.push_back(id);
            }
            self.visit(id, step);
        }
    }

    /// Sends a stop to every actor still live, in id order.
    fn stop_the_rest(&mut self) {
        for id in 0..self.cells.len() {
            if self.live[id] {
                let step = self.turn(id, Some(Item::Control(Control::Stop)));
                let step = if matches!(step, Step::Go) {
                    Step::Stop
                } else {
                    step
                };
                self.visit(id, step);
            }
        }
    }

    /// No mail anywhere and actors still running: a stall naming the live ones.
    fn deadlock(&self) -> RuntimeError {
        let states = self
            .runtime
            .states()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.live[*i])
            .map(|(_, s)| s)
            .collect();
        RuntimeError::Stalled {
            timeout: Duration::ZERO,
            states,
        }
    }
}
