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
    /// Actors in `ready` (and, for good, the ticked ones, whose mail waits for their tick).
    queued: Vec<bool>,
    /// Actors that may have mail, in the order they got it.
    ready: VecDeque<usize>,
    failure: Option<RuntimeError>,
    stop_at: Option<Instant>,
    /// An actor asked every actor to stop, or failed.
    stop_all: bool,
    /// Actors stepped by worker ticks, in id order.
    ticked: Vec<usize>,
    /// A worker tick is running (a request from a ticked actor is ignored).
    ticking: bool,
    /// The outboxes handlers write into (one per level of nesting: a worker tick runs inside
    /// the turn that asked for it), so that actors do not each keep a buffer of their own.
    outboxes: Vec<Vec<(usize, M)>>,
}

impl<M: Payload> Runtime<M> {
    /// Runs every actor on this thread until all stop, one fails, or none has mail.
    pub(super) fn run_inline(
        &self,
        cells: Vec<Cell<M>>,
        mailboxes: Vec<Mailbox<Envelope<M>>>,
        ticked: &[bool],
        events: &SupervisorRx<Event>,
    ) -> Finished<M> {
        let n = cells.len();
        let mut ex = Inline {
            runtime: self,
            events,
            cells,
            mailboxes,
            live: vec![true; n],
            // A ticked actor's mail waits for its worker tick: it never enters `ready`.
            queued: ticked.to_vec(),
            ready: VecDeque::new(),
            failure: None,
            stop_at: None,
            stop_all: false,
            ticked: (0..n).filter(|&i| ticked[i]).collect(),
            ticking: false,
            outboxes: Vec::new(),
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
    /// Runs one handler of actor `id` and delivers its sends, queueing their receivers (after
    /// the worker tick the handler asked for, if it did).
    fn turn(&mut self, id: usize, item: Option<Item<Envelope<M>>>) -> Step {
        // The handler writes into one of the executor's outboxes, not a buffer of its own.
        let mut outbox = self.outboxes.pop().unwrap_or_default();
        let step = self.cells[id].call_with(item, &mut outbox);
        if let Some(tick) = self.cells[id].worker_tick.take() {
            if !self.ticking {
                self.tick_worker(tick);
            }
        }
        self.deliver(id, &mut outbox);
        self.outboxes.push(outbox);
        step
    }

    /// Delivers what actor `id`'s last handler put in `outbox`, queueing the receivers.
    fn deliver(&mut self, id: usize, outbox: &mut Vec<(usize, M)>) {
        let cell = &mut self.cells[id];
        for (edge, msg) in outbox.drain(..) {
            let env = cell.wrap(edge, msg);
            let target = cell.targets[edge] as usize;
            // Inline mailboxes are unbounded: a send only fails if the target stopped.
            let _ = cell.edges[edge].try_send(env);
            if !self.queued[target] {
                self.queued[target] = true;
                self.ready.push_back(target);
            }
        }
    }

    /// Worker tick `tick` (one worker: every ticked actor), in id order: each live ticked
    /// actor handles the mail queued for it, then ticks; its sends are delivered at once.
    fn tick_worker(&mut self, tick: u64) {
        self.ticking = true;
        let mut outbox = self.outboxes.pop().unwrap_or_default();
        for k in 0..self.ticked.len() {
            let id = self.ticked[k];
            while self.live[id] && !self.stop_all {
                let Some(item) = self.mailboxes[id].try_recv() else {
                    break;
                };
                let step = self.cells[id].call_with(Some(item), &mut outbox);
                self.cells[id].worker_tick = None; // a ticked actor's request is ignored
                if !outbox.is_empty() {
                    self.deliver(id, &mut outbox);
                }
                self.visit(id, step);
            }
            if self.live[id] && !self.stop_all {
                let step = self.cells[id].call_tick(tick, &mut outbox);
                if !outbox.is_empty() {
                    self.deliver(id, &mut outbox);
                }
                self.visit(id, step);
            }
        }
        self.outboxes.push(outbox);
        self.ticking = false;
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
