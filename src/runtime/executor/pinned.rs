//! The pinned executor: `workers` OS threads, every actor resident on exactly one of them
//! ([`crate::runtime::Network::place`], else contiguous blocks of ids). Each worker serves
//! its residents the inline way: start hooks in id order, then a FIFO ready queue, one item
//! per turn, the stop flag checked before every turn (control first), each handler's sends
//! delivered after it returns.
//!
//! - A send to an actor on the same worker is a push on that actor's local queue (a
//!   `VecDeque`) and a mark in the ready queue: no channel, no wake-up, no atomic.
//! - A send to an actor on another worker is one push (unbatched) on that worker's inbound
//!   queue: one unbounded MPSC queue per worker, which the worker drains into its local
//!   queues when it has no ready actor and every [`DRAIN_EVERY`] turns. One FIFO queue per
//!   destination keeps per-edge order and causal order across workers (if A sends to C, then
//!   to B, and B then sends to C, C's queue holds A's message first).
//! - Backpressure: none. Local and inbound queues are unbounded, as the inline executor's
//!   mailboxes are (a worker serves many actors: a send that waited for room could wait on
//!   itself), so a sender never blocks and the executor cannot deadlock on a full queue; a
//!   producer that outpaces its consumer grows the consumer's queue instead.
//! - An idle worker (nothing ready, nothing inbound) spins on [`std::hint::spin_loop`],
//!   checking its inbound queue, for at most its spin budget (bounded by the clock, not by a
//!   count, so it means the same on every CPU), then blocks on it (crossbeam parks the thread;
//!   a sender unparks it) for at most [`PARK_MAX`]. The budget adapts, as an adaptive mutex
//!   does: a spin that caught a message doubles it (up to [`SPIN_MAX`]), a spin that ended in
//!   a park halves it (down to [`SPIN_MIN`]). Lockstep work whose partner answers within
//!   microseconds (a CUBA tick split over two workers is 10-30 us per half) hands over within
//!   the spin and never pays a park and wake-up (10-50 us on a VM); when the partner is not
//!   running (another process has the core) the spins fail, the budget falls to
//!   [`SPIN_MIN`] and the worker gives its core back almost at once.
//! - Supervision is the supervisor's ([`crate::runtime::supervisor`]): every stopped actor
//!   reports `Stopped`, panics and `StopAll` are reported as on the threads executor, and
//!   no progress for `stall_timeout` is a stall. A `StopAll`, a panic or the supervisor's
//!   stop sets one shared stop flag and wakes every worker, which then sends `Stop` to its
//!   live actors in id order.
//!
//! With one worker this is the inline executor's schedule (deterministic); with several,
//! the interleaving across workers depends on timing, as on tokio.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Finished, Runtime};
use crate::runtime::cell::{Cell, Envelope, Step};
use crate::runtime::mailbox::{worker_queue, Item, RecvTimeoutError, WorkerRx, WorkerTx};
use crate::runtime::network::Executor;
use crate::runtime::payload::{Control, Payload};
use crate::runtime::supervisor::{Event, RuntimeError};

/// Longest an idle worker spins before it blocks: long enough to catch the other half of a
/// lockstep tick (a park and wake-up costs 10-50 us on a VM, as much as the tick itself),
/// short enough that a worker with nothing to do gives its core back within 50 us.
pub(crate) const SPIN_MAX: Duration = Duration::from_micros(50);
/// Shortest spin budget (where it falls when spins keep ending in a park).
pub(crate) const SPIN_MIN: Duration = Duration::from_micros(1);
/// Spin iterations between two reads of the clock.
const SPIN_CHECK: u32 = 64;
/// Longest a blocked worker sleeps before it looks at the stop flag again (a safety net: a
/// stop also wakes every worker through its inbound queue).
pub(crate) const PARK_MAX: Duration = Duration::from_millis(100);
/// A busy worker drains its inbound queue at least once every this many turns.
const DRAIN_EVERY: u32 = 32;
/// Most inbound items moved into local queues per drain (a worker flooded by others still
/// serves its own actors).
const DRAIN_MAX: usize = 4096;

/// What a worker's inbound queue carries.
enum Inbound<M> {
    /// A message for resident `to` (its index on the worker).
    Msg(u32, Envelope<M>),
    /// Look at the stop flag.
    Wake,
}

/// What every worker shares.
struct Shared<M> {
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
    /// Sets the stop flag and wakes every worker (once).
    fn stop(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            for q in &self.inbound {
                let _ = q.send(Inbound::Wake);
            }
        }
    }
}

/// One worker: its residents, their queues and who is ready.
struct Worker<M: Payload> {
    index: usize,
    shared: Arc<Shared<M>>,
    inbound: WorkerRx<Inbound<M>>,
    /// Residents, in id order.
    cells: Vec<Cell<M>>,
    queues: Vec<VecDeque<Envelope<M>>>,
    live: Vec<bool>,
    live_count: usize,
    /// Residents in `ready` (and, for good, the ticked ones, whose mail waits for their tick).
    queued: Vec<bool>,
    ready: VecDeque<u32>,
    /// Queue lengths when the stop came (the supervisor's stall report reads them).
    depths: Vec<(usize, usize)>,
    /// Residents stepped by worker ticks, in id order.
    ticked: Vec<u32>,
    /// A worker tick is running (a request from a ticked actor is ignored).
    ticking: bool,
    /// How long the next idle spell spins before parking (adaptive, see `idle`).
    spin: Duration,
    /// The outboxes handlers here write into (one per level of nesting: a worker tick runs
    /// inside the turn that asked for it), so that thousands of small actors do not each keep
    /// a buffer sized for their largest burst.
    outboxes: Vec<Vec<(usize, M)>>,
}

/// What a worker hands back.
type WorkerResult<M> = (Vec<Cell<M>>, Vec<(usize, usize)>);

impl<M: Payload> Runtime<M> {
    /// Places every actor on its worker, runs the workers, supervises them and joins them.
    pub(super) fn run_pinned(
        &self,
        cells: Vec<Cell<M>>,
        worker_of: &[usize],
        ticked: &[bool],
        events: &crate::runtime::mailbox::SupervisorRx<Event>,
        start: Instant,
    ) -> Result<Finished<M>, RuntimeError> {
        let n = cells.len();
        let workers = self.config.workers.max(1);
        let mut residents: Vec<Vec<Cell<M>>> = (0..workers).map(|_| Vec::new()).collect();
        let mut local = Vec::with_capacity(n);
        for cell in cells {
            let w = worker_of[cell.id];
            local.push(residents[w].len() as u32);
            residents[w].push(cell);
        }
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| worker_queue::<Inbound<M>>()).unzip();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            inbound: senders,
            worker: worker_of.iter().map(|&w| w as u32).collect(),
            local,
        });
        let mut handles = Vec::with_capacity(workers);
        for (index, (cells, inbound)) in residents.into_iter().zip(receivers).enumerate() {
            let worker = Worker::new(index, shared.clone(), inbound, cells, ticked);
            let spawned = std::thread::Builder::new()
                .name(format!("axon-pinned-{index}"))
                .spawn(move || worker.run());
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    shared.stop();
                    for h in handles {
                        let _ = h.join();
                    }
                    return Err(RuntimeError::Start {
                        executor: Executor::Pinned,
                        message: e.to_string(),
                    });
                }
            }
        }
        let spawn = start.elapsed();
        let (mut failure, stop_at) = self.supervise(n, events, &|| shared.stop());
        shared.stop();
        let mut cells = Vec::with_capacity(n);
        let mut depths = Vec::new();
        for (w, h) in handles.into_iter().enumerate() {
            match h.join() {
                Ok((c, d)) => {
                    cells.extend(c);
                    depths.extend(d);
                }
                Err(_) => {
                    failure.get_or_insert_with(|| RuntimeError::Panicked {
                        actor: format!("pinned worker {w}"),
                        kind: "its schedule".to_owned(),
                        message: "the worker thread panicked".to_owned(),
                    });
                }
            }
        }
        cells.sort_by_key(|c| c.id);
        if let Some(RuntimeError::Stalled { states, .. }) = &mut failure {
            report_depths(states, depths);
        }
        Ok(Finished {
            cells,
            failure,
            stop_at,
            spawn,
        })
    }
}

/// The registry's addresses carry no mail under this executor: a stall reports the local
/// queues' depths (`(id, depth)` as the workers left them) instead.
fn report_depths(states: &mut [crate::runtime::ActorState], depths: Vec<(usize, usize)>) {
    for (id, depth) in depths {
        if let Some(s) = states.get_mut(id) {
            s.mailbox_depth = depth;
        }
    }
}

impl<M: Payload> Worker<M> {
    /// Worker `index` serving `cells` (its residents, in id order); `ticked` says, by actor
    /// id, which actors worker ticks step.
    fn new(
        index: usize,
        shared: Arc<Shared<M>>,
        inbound: WorkerRx<Inbound<M>>,
        cells: Vec<Cell<M>>,
        ticked: &[bool],
    ) -> Self {
        let k = cells.len();
        let ticked_here: Vec<u32> = (0..k)
            .filter(|&l| ticked[cells[l].id])
            .map(|l| l as u32)
            .collect();
        // A ticked actor's mail waits for its worker tick: marked queued for good, it never
        // enters the ready queue.
        let mut queued = vec![false; k];
        for &l in &ticked_here {
            queued[l as usize] = true;
        }
        Worker {
            index,
            shared,
            inbound,
            cells,
            queues: (0..k).map(|_| VecDeque::new()).collect(),
            live: vec![true; k],
            live_count: k,
            queued,
            ready: VecDeque::new(),
            depths: Vec::new(),
            ticked: ticked_here,
            ticking: false,
            spin: SPIN_MAX,
            outboxes: Vec::new(),
        }
    }

    /// Start hooks, then turns until every resident stopped or the run stops.
    fn run(mut self) -> WorkerResult<M> {
        for l in 0..self.cells.len() {
            if self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            let step = self.turn(l, None);
            self.visit(l, step);
        }
        let mut turns: u32 = 0;
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                self.stop_the_rest();
                break;
            }
            if self.live_count == 0 {
                break;
            }
            turns = turns.wrapping_add(1);
            if self.ready.is_empty() || turns.is_multiple_of(DRAIN_EVERY) {
                self.drain();
            }
            match self.ready.pop_front() {
                Some(l) => self.serve(l as usize),
                None => self.idle(),
            }
        }
        (self.cells, self.depths)
    }

    /// One turn of resident `l`, if it is live and has mail.
    fn serve(&mut self, l: usize) {
        self.queued[l] = false;
        if !self.live[l] {
            return;
        }
        let Some(env) = self.queues[l].pop_front() else {
            return;
        };
        let step = self.turn(l, Some(Item::Data(env)));
        // It may have more mail: back of the queue, behind everyone else's turn (queued even
        // when empty now, as on inline, so that one worker serves in inline's order).
        if self.live[l] && !self.queued[l] {
            self.queued[l] = true;
            self.ready.push_back(l as u32);
        }
        self.visit(l, step);
    }

    /// Runs one handler of resident `l` and delivers its sends (after the worker tick the
    /// handler asked for, if it did).
    fn turn(&mut self, l: usize, item: Option<Item<Envelope<M>>>) -> Step {
        // The handler writes into one of the worker's outboxes, not an idle buffer of its own.
        let mut outbox = self.outboxes.pop().unwrap_or_default();
        let step = self.cells[l].call_with(item, &mut outbox);
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
        let cell = &mut self.cells[l];
        for (edge, msg) in outbox.drain(..) {
            let env = cell.wrap(edge, msg);
            let target = cell.targets[edge] as usize;
            let (w, t) = (self.shared.worker[target], self.shared.local[target]);
            if w as usize == self.index {
                let t = t as usize;
                // A stopped actor's mail is dropped (on inline it would never be read).
                if self.live[t] {
                    self.queues[t].push_back(env);
                    if !self.queued[t] {
                        self.queued[t] = true;
                        self.ready.push_back(t as u32);
                    }
                }
            } else {
                // Fails only if that worker has finished (every resident stopped).
                let _ = self.shared.inbound[w as usize].send(Inbound::Msg(t, env));
            }
        }
    }

    /// Worker tick `tick`: every live ticked resident, in id order, handles the mail queued
    /// for it, then ticks; its sends are delivered at once (remote ones before the ticking
    /// actor's own sends, so they reach every worker first).
    fn tick_worker(&mut self, tick: u64) {
        // A stop that comes during the tick is seen by the next turn (a tick is bounded work).
        if self.shared.stop.load(Ordering::Relaxed) {
            return;
        }
        self.ticking = true;
        let mut outbox = self.outboxes.pop().unwrap_or_default();
        for k in 0..self.ticked.len() {
            let l = self.ticked[k] as usize;
            while self.live[l] {
                let Some(env) = self.queues[l].pop_front() else {
                    break;
                };
                let step = self.cells[l].call_with(Some(Item::Data(env)), &mut outbox);
                self.cells[l].worker_tick = None; // a ticked actor's request is ignored
                if !outbox.is_empty() {
                    self.deliver(l, &mut outbox);
                }
                self.visit(l, step);
            }
            if self.live[l] {
                let step = self.cells[l].call_tick(tick, &mut outbox);
                if !outbox.is_empty() {
                    self.deliver(l, &mut outbox);
                }
                self.visit(l, step);
            }
        }
        self.outboxes.push(outbox);
        self.ticking = false;
    }

    /// A message from another worker into its resident's queue.
    fn arrive(&mut self, item: Inbound<M>) {
        if let Inbound::Msg(t, env) = item {
            let t = t as usize;
            if self.live[t] {
                self.queues[t].push_back(env);
                if !self.queued[t] {
                    self.queued[t] = true;
                    self.ready.push_back(t as u32);
                }
            }
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

    /// Nothing to do: spin for at most the spin budget, then block on the inbound queue; the
    /// budget doubles after a spin that caught something and halves after one that did not.
    fn idle(&mut self) {
        let start = Instant::now();
        loop {
            for _ in 0..SPIN_CHECK {
                if !self.inbound.is_empty() || self.shared.stop.load(Ordering::Relaxed) {
                    self.spin = (self.spin * 2).min(SPIN_MAX);
                    return;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= self.spin {
                break;
            }
        }
        self.spin = (self.spin / 2).max(SPIN_MIN);
        match self.inbound.recv_timeout(PARK_MAX) {
            Ok(item) => self.arrive(item),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
    }

    /// Acts on what a turn of resident `l` returned, as the inline executor does, and tells
    /// the supervisor when the actor stopped.
    fn visit(&mut self, l: usize, step: Step) {
        match step {
            Step::Go => return,
            Step::Stop => {}
            Step::StopAll => {
                let _ = self.cells[l].events.send(Event::StopAll);
                self.shared.stop();
            }
            // The cell has reported the panic to the supervisor.
            Step::Failed => self.shared.stop(),
        }
        self.live[l] = false;
        self.live_count -= 1;
        self.queues[l] = VecDeque::new();
        let cell = &mut self.cells[l];
        if !matches!(step, Step::Failed) {
            cell.actor.stopped();
        }
        let _ = cell.events.send(Event::Stopped);
    }

    /// Sends a stop to every live resident, in id order.
    fn stop_the_rest(&mut self) {
        self.depths = (0..self.cells.len())
            .filter(|&l| self.live[l])
            .map(|l| (self.cells[l].id, self.queues[l].len()))
            .collect();
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

#[cfg(test)]
mod tests;
