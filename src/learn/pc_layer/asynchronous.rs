//! The asynchronous schedule of the predictive-coding layer actor (`runtime.schedule =
//! "async"`): `AsyncState`, the second state machine a `PcLayer` runs its training batches
//! by. Each actor updates from the latest values it holds whenever a message arrives, through
//! links that may drop, delay or duplicate messages; it reports to the coordinator when it
//! settles, and learns when the coordinator says every actor has.
//!
//! Training batch `b` uses steps `b` (the forward sweep, the labels and the learn phase:
//! delivered without faults) and `b + 1` (inference traffic: activity after the sweep, every
//! error, ticks and settle reports). Evaluation batches, saves and snapshots follow the
//! lockstep rules.

use std::time::{Duration, Instant};

use crate::learn::layer::config::{AsyncSchedule, Feedback};
use crate::learn::layer::core::LayerRule;
use crate::learn::layer::placement::{read_labels, Placement};
use crate::learn::pc_layer::{PcLayer, PcSchedule};
use crate::message::{Message, Phase, ReportData};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::faults::{FaultTally, Link};
use crate::state::{StateBag, StateError};

/// What an actor keeps for the asynchronous schedule.
pub(crate) struct AsyncState {
    cfg: AsyncSchedule,
    /// Fault injectors of the in-edges: the shards below (not the coordinator's input), then
    /// the shards above.
    links: Vec<Link>,
    below_links: usize,
    /// Delayed messages: when due, which link, the message (in arrival order).
    held: Vec<(Instant, usize, Message)>,
    /// Mean duration of an update (an exponential average): one step of delay.
    step_time: Duration,
    /// Updates in this batch, and over the run.
    updates: u64,
    total_updates: u64,
    batches: u64,
    /// Local energy after the last update.
    energy: f32,
    /// The status last reported to the coordinator.
    settled: bool,
    /// A tick to ourselves is in the mailbox.
    tick_pending: bool,
    /// When the last inference message arrived (or the batch began).
    last_arrival: Instant,
    /// Neighbours that told us they are exhausted in this batch, and how many could.
    neighbours_done: usize,
    neighbours: usize,
    /// We told our neighbours.
    told_done: bool,
}

impl AsyncState {
    /// The state of the shard at `at` under settings `a`.
    pub(crate) fn new(a: AsyncSchedule, at: &Placement) -> Self {
        let below_links = if at.layer == 1 { 0 } else { at.below.len() };
        let links = at
            .below_names
            .iter()
            .take(below_links)
            .chain(&at.above_names)
            .map(|from| Link::new(a.faults, a.seed, &format!("{from} -> {}", at.name)))
            .collect();
        // The budget counts what each neighbouring layer sends: lockstep's T steps hear
        // T times from below and T times from above.
        let heard_from = usize::from(at.layer > 1) + usize::from(!at.above.is_empty());
        let mut cfg = a;
        cfg.max_updates *= heard_from.max(1) as u64;
        let neighbours = if at.layer > 1 { at.below.len() } else { 0 } + at.above.len();
        Self {
            cfg,
            links,
            below_links,
            held: Vec::new(),
            updates: 0,
            total_updates: 0,
            batches: 0,
            energy: 0.0,
            settled: false,
            tick_pending: false,
            last_arrival: Instant::now(),
            step_time: Duration::from_micros(100),
            neighbours_done: 0,
            neighbours,
            told_done: false,
        }
    }

    /// The fault link a message arrives on (`None` for the coordinator's input).
    fn link_of(&self, m: &Message) -> Option<usize> {
        match m {
            Message::Activity { shard, .. } if self.below_links > 0 => Some(*shard as usize),
            Message::Error { shard, .. } => Some(self.below_links + *shard as usize),
            _ => None,
        }
    }
}

impl PcSchedule for AsyncState {
    const ASYNC: bool = true;

    fn begin_training(&mut self) {
        self.updates = 0;
        self.energy = 0.0;
        self.settled = false;
        self.held.clear();
        self.last_arrival = Instant::now();
        self.neighbours_done = 0;
        self.told_done = false;
    }

    fn save(&self, bag: &mut StateBag) {
        for (i, l) in self.links.iter().enumerate() {
            l.save(&format!("link.{i}."), bag);
        }
        bag.scalar("async.updates", self.total_updates.to_string());
        bag.scalar("async.batches", self.batches.to_string());
    }

    fn restore(&mut self, bag: &StateBag) -> Result<(), StateError> {
        // A checkpoint of a lockstep run has no link state: the streams start fresh.
        if bag.parse::<u64>("async.updates").is_ok() {
            for (i, l) in self.links.iter_mut().enumerate() {
                l.restore(&format!("link.{i}."), bag)?;
            }
            self.total_updates = bag.parse("async.updates")?;
            self.batches = bag.parse("async.batches")?;
        }
        Ok(())
    }
}

/// The predictive-coding layer actor under the asynchronous schedule.
pub(crate) type AsyncPcLayerActor = PcLayer<AsyncState>;

impl PcLayer<AsyncState> {
    /// Handles `msg` under the asynchronous schedule (see the module doc).
    fn handle_async(&mut self, msg: Message, ctx: &mut Context<'_, Message>) {
        let Some(base) = self.core.batch.filter(|b| b.train).map(|b| b.base) else {
            if let Message::Tick { .. } = msg {
                self.sched.tick_pending = false;
                return;
            }
            self.drive(msg, ctx);
            if self.in_async_batch() {
                self.replay_deferred(ctx);
            }
            return;
        };
        let step = crate::message::Payload::step(&msg);
        match msg {
            Message::Tick { .. } => {
                self.sched.tick_pending = false;
                self.on_tick(ctx);
            }
            Message::Phase {
                phase: Phase::Learn,
                step,
            } if step == base => {
                self.learn_async(ctx);
                self.replay_deferred(ctx);
            }
            Message::Phase {
                phase: Phase::Exhausted,
                step,
            } if step == base + 1 => {
                self.sched.neighbours_done += 1;
                self.update_settled(false, ctx);
            }
            Message::Phase {
                phase: Phase::Exhausted,
                step,
            } if step <= base => {}
            Message::Report { .. }
            | Message::Probe { .. }
            | Message::Spike { .. }
            | Message::Input { .. }
            | Message::SpikeBatch { .. }
            | Message::ActivityDown { .. }
            | Message::Poll => {}
            m if step < base => {
                if matches!(m, Message::Activity { .. } | Message::Error { .. }) {
                    if let Some(l) = self.sched.link_of(&m) {
                        self.sched.links[l].counts.stale += 1;
                    }
                }
            }
            m @ Message::Phase { .. } => self.core.deferred.push_back(m),
            m if step > base + 1 => self.core.deferred.push_back(m),
            Message::Clamp { labels, .. } => {
                read_labels(&mut self.core.labels, &labels);
                self.update_async(ctx);
            }
            Message::WeightTransport { shard, copy, .. } => {
                let c = &mut self.core;
                c.at.store_copy(c.fb_syn.as_mut(), shard, &copy);
            }
            m @ (Message::Activity { .. } | Message::Error { .. }) => {
                self.arrive(m, step == base + 1, ctx);
            }
        }
    }

    /// Activity or errors of the batch open: through its link's faults (inference traffic)
    /// or as sent (the forward sweep, layer 1's input); then an update if anything applied.
    fn arrive(&mut self, m: Message, inference: bool, ctx: &mut Context<'_, Message>) {
        let st = &mut self.sched;
        st.last_arrival = Instant::now();
        let applied = match st.link_of(&m).filter(|_| inference) {
            None => {
                self.put_async(m);
                true
            }
            Some(l) => {
                let mut now = false;
                for delay in st.links[l].admit().into_iter().flatten() {
                    match delay.due(st.step_time) {
                        Some(at) => st.held.push((at, l, m.clone())),
                        None => now = true,
                    }
                }
                if now {
                    self.put_async(m);
                }
                now
            }
        };
        // An update for every message that arrives (a dropped one never does; a delayed
        // one when it is due).
        if self.release_due(false) || applied {
            self.update_async(ctx);
        } else {
            self.schedule_tick(ctx);
        }
    }

    fn put_async(&mut self, m: Message) {
        match m {
            Message::Activity { shard, signal, .. } => {
                self.core.below.put(shard as usize, signal);
                self.below_changed = true;
            }
            Message::Error { shard, signal, .. } => self.core.above.put(shard as usize, signal),
            _ => {}
        }
    }

    /// Re-handles the messages kept for later (once per message).
    fn replay_deferred(&mut self, ctx: &mut Context<'_, Message>) {
        let pending = std::mem::take(&mut self.core.deferred);
        for m in pending {
            self.handle_async(m, ctx);
        }
    }

    /// The errors of an update from the latest values held (at the first, the forward sweep
    /// too); returns the local energy.
    fn async_errors(&mut self, first: bool, base: u64, ctx: &mut Context<'_, Message>) -> f32 {
        if first || (self.below_changed && self.core.at.layer > 1) {
            self.core.below.assemble();
            self.predict();
        }
        self.below_changed = false;
        if self.is_output() {
            if first {
                self.report_predictions(base, ctx);
            }
            return self.output_errors();
        }
        if first {
            self.init_value_nodes(true);
            self.send_activity_at(base, ctx);
        }
        self.hidden_errors()
    }

    /// One asynchronous update from the latest values held: errors, feedback, one relaxation
    /// step; sends what changed; reports when its settled status flips; ticks itself while
    /// unsettled.
    fn update_async(&mut self, ctx: &mut Context<'_, Message>) {
        let Some(b) = self.core.batch.filter(|b| b.train) else {
            return;
        };
        let st = &self.sched;
        if st.updates >= st.cfg.max_updates
            || !self.core.below.complete()
            || (self.is_output() && self.core.labels.is_empty())
        {
            return;
        }
        let first = st.updates == 0;
        let started = Instant::now();
        let relaxation = b.base + 1;
        let energy = self.async_errors(first, b.base, ctx);
        self.send_errors(relaxation, false, ctx);
        // A hidden layer cannot be settled before errors from above reach it: until then it
        // has not started relaxing.
        let mut heard = self.is_output();
        let mut energy_after = energy;
        if !self.is_output() {
            heard = self.feedback_from_above();
            if self.relax() {
                self.send_activity_at(relaxation, ctx);
                // The local energy where the update left it.
                energy_after = self.hidden_errors();
            }
        }
        if first {
            self.energies[0] = energy;
        }
        let energy = energy_after;
        let st = &mut self.sched;
        st.updates += 1;
        st.total_updates += 1;
        st.step_time = (st.step_time * 7 + started.elapsed()) / 8;
        let prev = std::mem::replace(&mut st.energy, energy);
        let tol = st.cfg.settle_tolerance;
        let calm = !first
            && heard
            && st.held.is_empty()
            && (energy - prev).abs() <= tol * energy.abs().max(prev.abs());
        self.update_settled(calm, ctx);
    }

    /// Settled: calm (the last update changed the local energy less than the tolerance),
    /// exhausted (all updates made), or nothing more can come (every neighbour exhausted and
    /// nothing held). Reports a change to the coordinator, tells the neighbours once when
    /// exhausted, and keeps the tick going while unsettled.
    fn update_settled(&mut self, calm: bool, ctx: &mut Context<'_, Message>) {
        let Some(b) = self.core.batch.filter(|b| b.train) else {
            return;
        };
        let relaxation = b.base + 1;
        let st = &mut self.sched;
        let exhausted = st.updates >= st.cfg.max_updates;
        let orphaned = st.updates > 0 && st.neighbours_done >= st.neighbours && st.held.is_empty();
        let settled = calm || exhausted || orphaned;
        let at = &self.core.at;
        if exhausted && !st.told_done {
            st.told_done = true;
            for edge in at.up.clone().chain(at.down.clone()) {
                let phase = Phase::Exhausted;
                ctx.send(
                    edge,
                    Message::Phase {
                        step: relaxation,
                        phase,
                    },
                );
            }
        }
        if settled != st.settled {
            st.settled = settled;
            self.report_settled(relaxation, settled, ctx);
        }
        self.schedule_tick(ctx);
    }

    /// Tells the coordinator this shard's settled status.
    fn report_settled(&mut self, step: u64, settled: bool, ctx: &mut Context<'_, Message>) {
        let at = &self.core.at;
        let (layer, shard) = (at.layer as u32, at.shard as u32);
        let data = ReportData::Settled {
            layer,
            shard,
            settled,
        };
        at.report(ctx, step, data);
    }

    /// Applies the held messages that are due (`force`: at least the earliest, as when the
    /// actor has been quiet); returns whether any was.
    fn release_due(&mut self, force: bool) -> bool {
        let st = &mut self.sched;
        let now = Instant::now();
        let mut due = Vec::new();
        st.held.retain(|(when, _, m)| {
            let ready = *when <= now;
            if ready {
                due.push(m.clone());
            }
            !ready
        });
        if due.is_empty() && force && !st.held.is_empty() {
            let first = (0..st.held.len())
                .min_by_key(|&i| st.held[i].0)
                .expect("not empty");
            due.push(st.held.remove(first).2);
        }
        let any = !due.is_empty();
        for m in due {
            self.put_async(m);
        }
        any
    }

    /// Keeps a tick in our own mailbox while unsettled or holding delayed messages: the
    /// clock that releases them and notices when nothing arrives any more.
    fn schedule_tick(&mut self, ctx: &mut Context<'_, Message>) {
        let Some(b) = self.core.batch.filter(|b| b.train) else {
            return;
        };
        let st = &mut self.sched;
        if (st.settled && st.held.is_empty()) || st.tick_pending {
            return;
        }
        st.tick_pending = true;
        let me = self
            .core
            .at
            .self_edge
            .expect("async actors have a self edge");
        ctx.send(me, Message::Tick { tick: b.base + 1 });
    }

    /// A tick: releases what is due; after a quiet spell, settles (or releases the earliest
    /// held message).
    fn on_tick(&mut self, ctx: &mut Context<'_, Message>) {
        let Some(b) = self.core.batch.filter(|b| b.train) else {
            return;
        };
        // Only a lost message can leave an actor waiting for nothing: without drops,
        // silence never settles (a busy machine can pause a neighbour for milliseconds).
        let st = &self.sched;
        let quiet = st.cfg.faults.drop > 0.0 && st.last_arrival.elapsed() >= st.cfg.quiet;
        if self.release_due(quiet) {
            self.update_async(ctx);
            return;
        }
        let st = &mut self.sched;
        if quiet && !st.settled && st.updates > 0 {
            st.settled = true;
            self.report_settled(b.base + 1, true, ctx);
        }
        self.schedule_tick(ctx);
    }

    /// `fb = eps_above B` from the errors held (zero until every shard above has sent);
    /// returns whether any error from above is non-zero.
    fn feedback_from_above(&mut self) -> bool {
        let above = &mut self.core.above;
        if !above.complete() || !above.any_nonzero() {
            self.fb.fill(0.0);
            return false;
        }
        above.assemble();
        self.feed_back();
        true
    }

    /// The batch has settled: errors from the latest values, the local update (and
    /// Kolen-Pollack's), and the batch's energies to the coordinator.
    fn learn_async(&mut self, ctx: &mut Context<'_, Message>) {
        let b = self.core.batch.expect("a batch is open");
        let st = &mut self.sched;
        for (_, l, _) in st.held.drain(..) {
            st.links[l].counts.late += 1;
        }
        st.batches += 1;
        if self.core.below.complete() {
            if self.below_changed && self.core.at.layer > 1 {
                self.core.below.assemble();
                self.predict();
            }
            self.energies[1] = if self.is_output() {
                self.output_errors()
            } else {
                self.hidden_errors()
            };
            self.learn(b.base + 1, ctx);
            if self.core.cfg.feedback == Feedback::KolenPollack
                && !self.is_output()
                && self.core.above.complete()
            {
                self.core.above.assemble();
                self.learn_feedback();
            }
        }
        self.end_batch(ctx);
    }

    /// Adds what this actor's links did (by edge) and its updates to `tally`; returns its
    /// training batches.
    pub(crate) fn add_async_tally(&self, tally: &mut FaultTally) -> u64 {
        let st = &self.sched;
        let at = &self.core.at;
        let names = at.below_names.iter().take(st.below_links);
        for (from, l) in names.chain(&at.above_names).zip(&st.links) {
            tally.totals.add(&l.counts);
            tally
                .per_edge
                .entry(format!("{from} -> {}", at.name))
                .or_default()
                .add(&l.counts);
        }
        tally.updates += st.total_updates;
        st.batches
    }
}

impl Actor<Message> for PcLayer<AsyncState> {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        self.handle_async(msg, ctx);
        Flow::Continue
    }
}
