//! The local scheduler, one copy for the inline and the pinned executor: a [`Worker`] serves
//! the actors resident on it from local queues. Start hooks run in id order; then actors with
//! mail are served from a FIFO ready queue, one item per turn, the stop flag checked before
//! every turn (control first), each handler's sends delivered after it returns. The inline
//! executor is one worker with every actor, on the calling thread ([`Mode::Inline`]); the
//! pinned executor runs one per thread ([`Mode::Pinned`]).
//!
//! - A send to an actor on the same worker is a push on that actor's local queue (a list
//!   in the worker's slab, [`Mailboxes`]) and a mark in the ready queue: no channel, no
//!   wake-up, no atomic.
//! - A send to an actor on another worker goes on that worker's inbound queue: one unbounded
//!   MPSC queue per worker, which the worker drains into its local queues when it has no
//!   ready actor and every [`DRAIN_EVERY`] turns. A handler's sends to one worker go as one
//!   push (a batch), made when its sends turn to another worker or its delivery ends: pushes
//!   keep the order of the sends, so per-edge order and causal order hold across workers (if
//!   A sends to C, then to B, and B then sends to C, C's queue holds A's message first).
//!   Emptied batches received (up to [`SPARE_MAX`]) carry the worker's own: no allocation.
//! - Backpressure: none. Queues are unbounded (a send that waited for room could wait on its
//!   own worker): no deadlock on a full queue; a producer that outpaces its consumer grows it.
//! - An idle pinned worker (nothing ready, nothing inbound) first lends the time to its
//!   ticked residents that sleep past its next worker tick, which bring their own state
//!   forward to it ([`Sleepers`], [`crate::runtime::actor::Actor::advance`]); then it spins,
//!   waits politely and blocks on its inbound queue, with budgets that adapt to how soon mail
//!   came before ([`Idle`]). An inline worker has nobody to wait for: nothing ready means
//!   the run is over (every actor stopped, or a deadlock, which its executor reports as a
//!   stall).
//! - Worker ticks ([`crate::runtime::actor::Context::tick_worker`]): the worker steps its
//!   ticked residents in id order, each after the mail queued for it, inside the turn that
//!   asked. One that asked to sleep ([`crate::runtime::actor::Context::sleep_until`]) is
//!   skipped until its wake tick ([`Calendar`]) or mail (whose handler may ask it to sleep
//!   on, untouched), so a worker tick costs what its busy residents cost.
//! - A `StopAll`, a panic or (pinned) the supervisor's stop sets one shared stop flag and
//!   wakes every worker, which sends `Stop` to its live actors in id order. A pinned worker
//!   tells the supervisor of every stop; an inline one's executor reads the cells' panics.
//!
//! The order depends only on the network and its messages on one worker, never on timing
//! (inline, or pinned with one worker); with several, the interleaving across workers
//! depends on timing, as on tokio.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::advance::{Sleepers, BETWEEN_LOOKS};
use super::calendar::{Calendar, DueSet};
use super::idle::Idle;
use super::mail::Mailboxes;
use crate::runtime::cell::{Cell, Envelope, Step};
use crate::runtime::mailbox::{Item, RecvTimeoutError, WorkerRx, WorkerTx};
use crate::runtime::payload::{Control, Payload};
use crate::runtime::progress::Event;

/// Longest a blocked worker sleeps before it looks at the stop flag again (a safety net: a
/// stop also wakes every worker through its inbound queue).
const PARK_MAX: Duration = Duration::from_millis(100);
/// A busy pinned worker drains its inbound queue at least once every this many turns.
const DRAIN_EVERY: u32 = 32;
/// Most inbound items moved into local queues per drain (a worker flooded by others still
/// serves its own actors).
const DRAIN_MAX: usize = 4096;
/// Most emptied batches a worker keeps to send its own in.
const SPARE_MAX: usize = 64;
/// How many residents ahead of the one ticked a worker tick fetches the cell of (and half as
/// many ahead, its actor).
const CELLS_AHEAD: usize = 4;

/// Who runs a worker and who watches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// The inline executor's one worker, on the calling thread, watched by nobody: nothing
    /// ready means the run is over. A sampled message logs its local queue's depth (the
    /// actor's mailbox).
    Inline,
    /// One of the pinned executor's threads, watched by the supervisor (told of every stop
    /// and stop request). A sampled message logs depth 0, as its actor's address holds no
    /// mail.
    Pinned,
}

/// What a worker's inbound queue carries.
pub(super) enum Inbound<M> {
    /// A message for resident `to` (its index on the worker).
    Msg(u32, Envelope<M>),
    /// Messages of one handler for residents here, in the order they were sent.
    Batch(Vec<(u32, Envelope<M>)>),
    /// Look at the stop flag.
    Wake,
}

/// What every worker of a run shares: the stop flag, the inbound queues and where each
/// actor lives.
pub(super) struct Shared<M> {
    /// The run is stopping: every worker stops its live actors.
    stop: AtomicBool,
    /// Each worker's inbound queue.
    inbound: Vec<WorkerTx<Inbound<M>>>,
    /// Worker of each actor, by id.
    worker: Vec<u32>,
    /// Index of each actor among its worker's residents, by id.
    local: Vec<u32>,
}

impl<M> Shared<M> {
    /// Shared state for workers fed by `inbound`, actor `id` resident on `worker[id]` at
    /// index `local[id]`.
    pub(super) fn new(
        inbound: Vec<WorkerTx<Inbound<M>>>,
        worker: Vec<u32>,
        local: Vec<u32>,
    ) -> Self {
        Self {
            stop: AtomicBool::new(false),
            inbound,
            worker,
            local,
        }
    }

    /// Sets the stop flag and wakes every worker (once).
    pub(super) fn stop(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            for q in &self.inbound {
                let _ = q.send(Inbound::Wake);
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// How a worker ended.
pub(super) struct WorkerEnd<M: Payload> {
    /// Its residents, in id order.
    pub(super) cells: Vec<Cell<M>>,
    /// `(id, queue depth)` of the residents still live when the stop came, or when an inline
    /// worker ran out of mail (the stall report reads them).
    pub(super) depths: Vec<(usize, usize)>,
    /// Residents still live at the end: an inline worker that ran out of mail (a deadlock).
    pub(super) live: usize,
    /// When a resident first asked every actor to stop, if one did.
    pub(super) stop_at: Option<Instant>,
}

/// One worker: its residents, their queues and who is ready.
pub(super) struct Worker<M: Payload> {
    mode: Mode,
    index: usize,
    shared: Arc<Shared<M>>,
    inbound: WorkerRx<Inbound<M>>,
    /// Residents, in id order.
    cells: Vec<Cell<M>>,
    queues: Mailboxes<Envelope<M>>,
    live: Vec<bool>,
    live_count: usize,
    /// Residents in `ready` (and, for good, the ticked ones, whose mail waits for their tick).
    queued: Vec<bool>,
    ready: VecDeque<u32>,
    /// One of this worker's residents asked every actor to stop, or failed.
    stopping: bool,
    stop_at: Option<Instant>,
    /// Queue lengths when the stop came (the supervisor's stall report reads them).
    depths: Vec<(usize, usize)>,
    /// Which residents worker ticks step.
    is_ticked: Vec<bool>,
    /// Ticked residents due at the next worker tick (every one that did not ask to sleep,
    /// and every one with new mail), and the spare set the next tick walks.
    due_next: DueSet,
    due: DueSet,
    /// Each ticked resident's next due tick, and who sleeps until when.
    wake: Vec<u64>,
    calendar: Calendar,
    /// A worker tick is running (a request from a ticked actor is ignored).
    ticking: bool,
    /// How the next idle spell waits before it parks.
    idle: Idle,
    /// Which sleeping resident an idle spell brings forward next.
    sleepers: Sleepers,
    /// The outboxes handlers here write into (one per level of nesting: a worker tick runs
    /// inside the turn that asked for it), so that thousands of small actors do not each keep
    /// a buffer sized for their largest burst.
    outboxes: Vec<Vec<(usize, M)>>,
    /// The delivering handler's messages to worker `pending_to` not yet pushed.
    pending: Vec<(u32, Envelope<M>)>,
    pending_to: usize,
    /// Emptied batches from other workers, to send this worker's in.
    spare: Vec<Vec<(u32, Envelope<M>)>>,
    /// The residents of the running worker tick, in id order.
    order: Vec<u32>,
}

impl<M: Payload> Worker<M> {
    /// Worker `index` serving `cells` (its residents, in id order); `ticked` says, by actor
    /// id, which actors worker ticks step.
    pub(super) fn new(
        mode: Mode,
        index: usize,
        shared: Arc<Shared<M>>,
        inbound: WorkerRx<Inbound<M>>,
        cells: Vec<Cell<M>>,
        ticked: &[bool],
    ) -> Self {
        let k = cells.len();
        let is_ticked: Vec<bool> = cells.iter().map(|c| ticked[c.id]).collect();
        // A ticked actor's mail waits for its worker tick: marked queued for good, it never
        // enters the ready queue. Every one is due at the first worker tick.
        let queued = is_ticked.clone();
        let mut due_next = DueSet::new(k);
        for l in (0..k).filter(|&l| is_ticked[l]) {
            due_next.insert(l);
        }
        Worker {
            mode,
            index,
            shared,
            inbound,
            cells,
            queues: Mailboxes::new(k),
            live: vec![true; k],
            live_count: k,
            queued,
            ready: VecDeque::new(),
            stopping: false,
            stop_at: None,
            depths: Vec::new(),
            is_ticked,
            due_next,
            due: DueSet::new(k),
            wake: vec![0; k],
            calendar: Calendar::default(),
            ticking: false,
            idle: Idle::default(),
            sleepers: Sleepers::default(),
            outboxes: Vec::new(),
            pending: Vec::new(),
            pending_to: 0,
            spare: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Start hooks, then turns until every resident stopped or the run stops (or, inline,
    /// until no resident has mail).
    pub(super) fn run(mut self) -> WorkerEnd<M> {
        for l in 0..self.cells.len() {
            if self.shared.stopped() {
                break;
            }
            let step = self.turn(l, None);
            self.visit(l, step);
        }
        let pinned = self.mode == Mode::Pinned;
        let mut turns: u32 = 0;
        loop {
            if self.shared.stopped() {
                self.stop_the_rest();
                break;
            }
            if self.live_count == 0 {
                break;
            }
            turns = turns.wrapping_add(1);
            if pinned && (self.ready.is_empty() || turns.is_multiple_of(DRAIN_EVERY)) {
                self.drain();
            }
            match self.ready.pop_front() {
                Some(l) => self.serve(l as usize),
                None if pinned => self.idle(),
                None => {
                    // Inline: nobody else can send, so the live residents wait for ever.
                    self.depths = self.live_depths();
                    break;
                }
            }
        }
        WorkerEnd {
            cells: self.cells,
            depths: self.depths,
            live: self.live_count,
            stop_at: self.stop_at,
        }
    }

    /// One turn of resident `l`, if it is live and has mail.
    fn serve(&mut self, l: usize) {
        self.queued[l] = false;
        if !self.live[l] {
            return;
        }
        let Some(env) = self.queues.pop(l) else {
            return;
        };
        let step = self.turn(l, Some(Item::Data(env)));
        // It may have more mail: back of the queue, behind everyone else's turn (queued even
        // when empty now, so that the order is the same whether or not more mail comes).
        if self.live[l] && !self.queued[l] {
            self.queued[l] = true;
            self.ready.push_back(l as u32);
        }
        self.visit(l, step);
    }

    /// The messages still queued for resident `l`, as a sampled message logs them (inline
    /// only: see [`Mode`]).
    fn behind(&self, l: usize) -> Option<usize> {
        (self.mode == Mode::Inline).then(|| self.queues.len(l))
    }

    /// Runs one handler of resident `l` and delivers its sends (after the worker tick the
    /// handler asked for, if it did).
    fn turn(&mut self, l: usize, item: Option<Item<Envelope<M>>>) -> Step {
        // The handler writes into one of the worker's outboxes, not an idle buffer of its own.
        let mut outbox = self.outboxes.pop().unwrap_or_default();
        let behind = self.behind(l);
        let step = self.cells[l].call_with(item, behind, &mut outbox);
        if let Some(tick) = self.cells[l].worker_tick.take() {
            if !self.ticking {
                self.tick_worker(tick);
            }
        }
        self.deliver(l, &mut outbox);
        self.outboxes.push(outbox);
        step
    }

    /// Delivers what resident `l`'s last handler put in `outbox`: local messages to their
    /// queues, remote ones to their worker's inbound queue.
    fn deliver(&mut self, l: usize, outbox: &mut Vec<(usize, M)>) {
        for (edge, msg) in outbox.drain(..) {
            let cell = &mut self.cells[l];
            let env = cell.wrap(edge, msg);
            let target = cell.targets[edge] as usize;
            let (w, t) = (self.shared.worker[target], self.shared.local[target]);
            if w as usize == self.index {
                self.enqueue(t as usize, env);
            } else {
                self.hold(w as usize, t, env);
            }
        }
        if !self.pending.is_empty() {
            self.push_pending();
        }
    }

    /// Holds a message for resident `t` of worker `w` until the handler's delivery ends or
    /// its sends turn to another worker.
    #[inline(never)]
    fn hold(&mut self, w: usize, t: u32, env: Envelope<M>) {
        if self.pending_to != w {
            self.push_pending();
            self.pending_to = w;
        }
        self.pending.push((t, env));
    }

    /// Pushes the pending messages to their worker: one alone as it is, more as a batch.
    #[inline(never)]
    fn push_pending(&mut self) {
        let item = match self.pending.len() {
            0 => return,
            1 => match self.pending.pop() {
                Some((t, env)) => Inbound::Msg(t, env),
                None => return,
            },
            _ => {
                let next = self.spare.pop().unwrap_or_default();
                Inbound::Batch(std::mem::replace(&mut self.pending, next))
            }
        };
        // Fails only if that worker has finished (every resident stopped).
        let _ = self.shared.inbound[self.pending_to].send(item);
    }

    /// Worker tick `tick`: every live ticked resident, in id order, handles the mail queued
    /// for it, then ticks; its sends are delivered at once (remote ones before the ticking
    /// actor's own sends, so they reach every worker first). A stop from another worker that
    /// comes during the tick is seen by the next turn (a tick is bounded work); one from a
    /// resident here ends the tick.
    fn tick_worker(&mut self, tick: u64) {
        if self.stopping || self.shared.stopped() {
            return;
        }
        self.ticking = true;
        let mut outbox = self.outboxes.pop().unwrap_or_default();
        // This tick's residents: those due now, and those whose sleep ends now. Mail that
        // comes during the tick marks its receiver due at the next one.
        std::mem::swap(&mut self.due, &mut self.due_next);
        let mut due = std::mem::take(&mut self.due);
        self.calendar
            .take_due(tick, &self.wake, &self.live, &mut due);
        // In id order; the cells (then their actors) a few residents ahead are fetched while
        // this one runs: thousands of small residents have left the cache since their last
        // tick.
        let mut order = std::mem::take(&mut self.order);
        let mut word = 0;
        while let Some(l) = due.pop_first(&mut word) {
            order.push(l as u32);
        }
        for k in 0..order.len() {
            if self.stopping {
                break;
            }
            if let Some(&n) = order.get(k + CELLS_AHEAD) {
                self.cells[n as usize].prefetch();
            }
            if let Some(&n) = order.get(k + CELLS_AHEAD / 2) {
                self.cells[n as usize].prefetch_actor();
            }
            self.tick_resident(order[k] as usize, tick, &mut outbox);
        }
        order.clear();
        self.order = order;
        due.clear();
        self.due = due;
        self.outboxes.push(outbox);
        self.ticking = false;
        self.sleepers.ticked(tick, self.cells.len());
    }

    /// Resident `l` at worker tick `tick`: its queued mail, then its tick (unless the last
    /// handler asked to sleep past it); then due at the next tick or the one it asked for.
    fn tick_resident(&mut self, l: usize, tick: u64, outbox: &mut Vec<(usize, M)>) {
        let mut sleep = None;
        while self.live[l] && !self.stopping {
            let Some(env) = self.queues.pop(l) else {
                break;
            };
            let behind = self.behind(l);
            let step = self.cells[l].call_with(Some(Item::Data(env)), behind, outbox);
            self.cells[l].worker_tick = None; // a ticked actor's request is ignored
            sleep = self.cells[l].sleep_after_mail.take();
            if !outbox.is_empty() {
                self.deliver(l, outbox);
            }
            self.visit(l, step);
        }
        if !self.live[l] || self.stopping {
            return;
        }
        if sleep.is_none_or(|s| s <= tick) {
            sleep = None; // not asked, or for a tick already open: ticked now
            let step = self.cells[l].call_tick(tick, outbox, &mut sleep);
            if !outbox.is_empty() {
                self.deliver(l, outbox);
            }
            self.visit(l, step);
        }
        let at = sleep.map_or(tick + 1, |s| s.max(tick + 1));
        self.wake[l] = at;
        if at == tick + 1 {
            self.due_next.insert(l);
        } else {
            self.calendar.schedule(tick, at, l as u32);
        }
    }

    /// A message from another worker into its resident's queue.
    fn arrive(&mut self, item: Inbound<M>) {
        match item {
            Inbound::Msg(t, env) => self.enqueue(t as usize, env),
            Inbound::Batch(mut batch) => {
                for (t, env) in batch.drain(..) {
                    self.enqueue(t as usize, env);
                }
                if self.spare.len() < SPARE_MAX {
                    self.spare.push(batch);
                }
            }
            Inbound::Wake => {}
        }
    }

    /// Mail for resident `t`: into its queue, and it into the ready queue (or, ticked, due
    /// at the next worker tick). A stopped actor's mail is dropped: it would never be read.
    fn enqueue(&mut self, t: usize, env: Envelope<M>) {
        if !self.live[t] {
            return;
        }
        self.queues.push(t, env);
        if self.is_ticked[t] {
            self.due_next.insert(t);
        } else if !self.queued[t] {
            self.queued[t] = true;
            self.ready.push_back(t as u32);
        }
    }

    /// Moves what other workers sent into the local queues (at most [`DRAIN_MAX`] items).
    fn drain(&mut self) {
        for _ in 0..DRAIN_MAX {
            match self.inbound.try_recv() {
                Ok(item) => self.arrive(item),
                Err(_) => break,
            }
        }
    }

    /// Nothing to do: spin, then wait politely ([`Idle::wait`]), then block on the inbound
    /// queue for at most [`PARK_MAX`].
    fn idle(&mut self) {
        if self.advance_sleepers() {
            return;
        }
        let (inbound, shared) = (&self.inbound, &self.shared);
        if self.idle.wait(|| !inbound.is_empty() || shared.stopped()) {
            return;
        }
        match self.inbound.recv_timeout(PARK_MAX) {
            Ok(item) => self.arrive(item),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
    }

    /// Idle time: brings the ticked residents that sleep past the next worker tick forward to
    /// it ([`Sleepers`]), a few between looks at the inbound queue; true once mail came (or a
    /// resident failed), false once the walk is done for this tick.
    fn advance_sleepers(&mut self) -> bool {
        loop {
            for _ in 0..BETWEEN_LOOKS {
                let Some((l, tick)) = self.sleepers.next(self.cells.len()) else {
                    return false;
                };
                let k = self.cells.len();
                self.cells[(l + CELLS_AHEAD) % k].prefetch();
                self.cells[(l + CELLS_AHEAD / 2) % k].prefetch_actor();
                if self.is_ticked[l] && self.live[l] && self.wake[l] > tick {
                    let step = self.cells[l].call_advance(tick);
                    if !matches!(step, Step::Go) {
                        self.visit(l, step);
                        return true;
                    }
                }
            }
            if !self.inbound.is_empty() || self.shared.stopped() {
                return true;
            }
        }
    }

    /// Acts on what a turn of resident `l` returned: unless it goes on, the actor stops (its
    /// `stopped` hook runs unless it failed), and a failure or `StopAll` stops the run. A
    /// pinned worker tells the supervisor.
    fn visit(&mut self, l: usize, step: Step) {
        let pinned = self.mode == Mode::Pinned;
        match step {
            Step::Go => return,
            Step::Stop => {}
            Step::StopAll => {
                self.stop_at.get_or_insert_with(Instant::now);
                if pinned {
                    let _ = self.cells[l].events.send(Event::StopAll);
                }
                self.stopping = true;
                self.shared.stop();
            }
            // The cell has reported the panic on the supervisor's channel.
            Step::Failed => {
                self.stopping = true;
                self.shared.stop();
            }
        }
        self.live[l] = false;
        self.live_count -= 1;
        self.queues.clear(l);
        let cell = &mut self.cells[l];
        if !matches!(step, Step::Failed) {
            cell.actor.stopped();
        }
        if pinned {
            let _ = cell.events.send(Event::Stopped);
        }
    }

    /// `(id, queue depth)` of every live resident.
    fn live_depths(&self) -> Vec<(usize, usize)> {
        (0..self.cells.len())
            .filter(|&l| self.live[l])
            .map(|l| (self.cells[l].id, self.queues.len(l)))
            .collect()
    }

    /// Sends a stop to every live resident, in id order.
    fn stop_the_rest(&mut self) {
        self.depths = self.live_depths();
        for l in 0..self.cells.len() {
            if self.live[l] {
                let step = self.turn(l, Some(Item::Control(Control::Stop)));
                let step = if matches!(step, Step::Go) {
                    Step::Stop
                } else {
                    step
                };
                self.visit(l, step);
            }
        }
    }
}
