//! One actor per neuron: a [`NeuronActor`] holds one LIF neuron and is wired only to its
//! targets, and a [`Clock`] opens tick after tick.
//!
//! With as many shards as neurons, all-to-all exchange between [`Population`] shards would cost
//! `n^2` messages per tick, so a neuron sends a spike only to its targets. The clock reaches
//! the neurons in one of two ways:
//!
//! - **Worker ticks** (inline and pinned executors): the clock sends one `Tick` per worker to
//!   that worker's [`WorkerTicker`], which asks its executor for a worker tick
//!   ([`Context::tick_worker`]): every neuron resident there is stepped by a direct call
//!   ([`Actor::tick`]), after handling the spikes queued for it, and the ticker then reports
//!   the tick done. Two messages per worker per tick, none per neuron; a neuron sends only
//!   its spikes. A neuron sure to stay below threshold for a while (and without plastic
//!   synapses) asks to sleep until then ([`Context::sleep_until`], the bound
//!   [`Propagator::quiet_ticks`]); a spike for it is handled at the next worker tick: the
//!   neuron computes the ticks it slept through in one loop ([`Propagator::steps`], bit for
//!   bit the same, so the spike trains do not change), takes the spike and, still surely
//!   quiet, sleeps on from its handler without being ticked. A pinned worker that waits for
//!   the others computes those ticks ahead, up to its next worker tick
//!   ([`Actor::advance`]), off the tick's critical path.
//! - **Message ticks** (tokio and threads, which cannot call another task's actor): the clock
//!   sends a `Tick` to every neuron and each reports back, two messages per neuron per tick.
//!
//! Either way a spike is queued before the report that closes its tick and the report before
//! the clock's next tick, and each mailbox is first-in first-out, so every spike of tick `n`
//! is in its target's mailbox before tick `n + 1` (a spike that arrives before its receiver
//! has run tick `n` is held until it has).
//!
//! [`Population`]: crate::spike::population::Population

use crate::spike::tally::StopFlag;
use std::sync::Arc;

use crate::message::{Message, ReportData, Spikes};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::Executor;
use crate::spike::coupling::Coupling;
use crate::spike::lif::{LifNeuron, Propagator};
use crate::spike::plasticity::{SynapseTraces, WeightFigures};
use crate::spike::tally::{SpikeTally, RASTER_TICKS};

/// How a [`NeuronActor`] learns that a tick has opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickProtocol {
    /// A worker tick per worker ([`WorkerTicker`]): no message per neuron.
    Worker,
    /// A `Tick` message to every neuron, which reports back.
    Message,
}

impl TickProtocol {
    /// Worker ticks where the executor runs them (inline, pinned), else message ticks.
    pub fn for_executor(executor: Executor) -> Self {
        match executor {
            Executor::Inline | Executor::Pinned => TickProtocol::Worker,
            Executor::Tokio | Executor::Threads => TickProtocol::Message,
        }
    }
}

/// What every neuron actor of a network shares (read-only): the propagator, how a spike acts
/// on its targets, and how many ticks the run lasts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NeuronShared {
    pub(crate) prop: Propagator,
    /// Ticks to compute.
    pub(crate) ticks: u64,
    /// How a spike acts on its targets.
    pub(crate) coupling: Coupling,
}

/// One neuron as an actor: its own LIF state; out-edges to its targets (then, with message
/// ticks, the clock). Worker ticks call [`Actor::tick`]; message ticks come as `Tick`
/// messages and are answered with a report.
///
/// Laid out in declaration order on a cache-line boundary: a tick, and a spike received, read
/// and write the first line only (state, what the network shares, tick counter, early spikes,
/// plastic synapses if any, events received).
#[repr(C, align(64))]
pub struct NeuronActor {
    state: LifNeuron,
    shared: Arc<NeuronShared>,
    /// The next tick to compute.
    next: u64,
    /// Spikes of tick `next` that came before this neuron computed it (excitatory, inhibitory).
    early: (u32, u32),
    /// Plastic incoming synapses, if any learn.
    plastic: Option<Box<PlasticInputs>>,
    index: u32,
    /// With worker ticks, the tick this neuron asked to sleep until (0: awake): it surely
    /// fires in none of the ticks before it (each spike received asleep renews it). Held
    /// in 32 bits to keep the first cache line: past `u32::MAX` ticks it reads awake, the
    /// safe side (the neuron is ticked again after a spike, as before it slept).
    asleep_until: u32,
    /// Spikes received (each one synaptic event).
    pub synaptic_events: u64,
    /// Spikes fired over the run.
    pub spikes: u64,
    /// Ticks (below [`RASTER_TICKS`]) at which this neuron fired.
    raster: Vec<u32>,
    /// A non-finite value found in the state: (tick, what, value).
    fault: Option<(u64, &'static str, f32)>,
}

/// A neuron actor's plastic incoming synapses and the spikes waiting for them.
struct PlasticInputs {
    traces: SynapseTraces,
    /// (presynaptic neuron, weight) of the spikes of the last tick: summed in presynaptic
    /// order when the next tick opens, as a population shard sums them, whatever order they
    /// came in.
    pending: Vec<(u32, f32)>,
    /// Presynaptic neurons of spikes of tick `next` that came before this neuron computed it.
    early: Vec<u32>,
}

impl NeuronActor {
    /// Neuron `index`, starting at `v_mv` (what the network's neurons share in `shared`).
    pub(crate) fn new(index: u32, v_mv: f32, shared: Arc<NeuronShared>) -> Self {
        NeuronActor {
            index,
            state: LifNeuron::new(v_mv),
            shared,
            next: 0,
            asleep_until: 0,
            early: (0, 0),
            spikes: 0,
            synaptic_events: 0,
            raster: Vec::new(),
            fault: None,
            plastic: None,
        }
    }

    /// Makes the synapses of `traces` (from its presynaptic neurons) learn.
    pub(crate) fn with_plasticity(mut self, traces: SynapseTraces) -> Self {
        self.plastic = Some(Box::new(PlasticInputs {
            traces,
            pending: Vec::new(),
            early: Vec::new(),
        }));
        self
    }

    /// A spike of `from` fired at `tick`, through a plastic synapse or a fixed one: its
    /// weight waits for the next tick, and a plastic synapse learns from it.
    fn receive_plastic(&mut self, from: u32, tick: u64) {
        let c = self.shared.coupling;
        let fixed = if from < c.excitatory {
            c.we_mv
        } else {
            c.wi_mv
        };
        if let Some(p) = self.plastic.as_mut() {
            let w = p.traces.pre_spike(tick, from).unwrap_or(fixed);
            p.pending.push((from, w));
            self.synaptic_events += 1;
        }
    }

    /// Adds the weights of the last tick's spikes, in presynaptic order.
    fn take_pending(&mut self) {
        let Some(p) = self.plastic.as_mut() else {
            return;
        };
        p.pending.sort_unstable_by_key(|s| s.0);
        for &(from, w) in &p.pending {
            if from < self.shared.coupling.excitatory {
                self.state.ge_mv += w;
            } else {
                self.state.gi_mv += w;
            }
        }
        p.pending.clear();
    }

    fn receive(&mut self, from: u32, times: u32) {
        self.synaptic_events += u64::from(times);
        let c = self.shared.coupling;
        for _ in 0..times {
            if from < c.excitatory {
                self.state.ge_mv += c.we_mv;
            } else {
                self.state.gi_mv += c.wi_mv;
            }
        }
    }

    /// Computes tick `tick`: integrate, fire, send the spike to the targets (and with message
    /// ticks report to the clock), then take up the spikes that came early.
    fn run_tick(&mut self, tick: u64, report: bool, ctx: &mut Context<'_, Message>) -> Flow {
        self.take_pending();
        let fired = self.shared.prop.step(&mut self.state);
        // A spike of the last tick is not delivered, so it learns nothing either (as in a
        // population shard).
        if let (true, true, Some(p)) = (fired, tick + 1 < self.shared.ticks, self.plastic.as_mut())
        {
            p.traces.post_spike(tick);
        }
        let st = &self.state;
        if !(st.v_mv.is_finite() && st.ge_mv.is_finite() && st.gi_mv.is_finite()) {
            if let Some((what, value)) = st.first_non_finite() {
                self.fault = Some((tick, what, value));
                return Flow::StopAll;
            }
        }
        // With message ticks the last out-edge is the clock.
        let targets = ctx.edges() - usize::from(report);
        if fired {
            self.spikes += 1;
            if tick < RASTER_TICKS {
                self.raster.push(tick as u32);
            }
            if tick + 1 < self.shared.ticks {
                let own = Spikes::one(self.index);
                for edge in 0..targets {
                    ctx.send(
                        edge,
                        Message::Spike {
                            tick,
                            fired: own.clone(),
                        },
                    );
                }
            }
        }
        if report {
            ctx.send(
                targets,
                Message::Report {
                    step: tick,
                    data: ReportData::SpikeCounts {
                        spikes: u64::from(fired),
                        events: 0,
                    },
                },
            );
        }
        self.close_tick(tick);
        if self.next == self.shared.ticks {
            return Flow::Stop;
        }
        Flow::Continue
    }

    /// After computing tick `tick`: the next one is due, and the spikes of `tick` that came
    /// early count now.
    fn close_tick(&mut self, tick: u64) {
        self.next += 1;
        if let Some(p) = self.plastic.as_mut() {
            for from in std::mem::take(&mut p.early) {
                self.receive_plastic(from, tick);
            }
        }
        if self.early != (0, 0) {
            let (e, i) = std::mem::take(&mut self.early);
            self.receive(0, e);
            self.receive(self.shared.coupling.excitatory, i);
        }
    }

    /// Computes the ticks before `until` that this neuron slept through: it asked to sleep
    /// only as long as it surely fires in none of them ([`Propagator::quiet_ticks`]), and
    /// spikes that came meanwhile woke it, so the same arithmetic as tick by tick, in one
    /// tight loop.
    fn catch_up(&mut self, until: u64) {
        if self.next >= until {
            return;
        }
        let prop = self.shared.prop;
        let mut fired = false;
        // Spikes wait only for the first tick, and only plastic synapses pend: after that
        // tick, the loop is the bare arithmetic.
        if self.plastic.is_some() || self.early != (0, 0) {
            self.take_pending();
            fired = prop.step(&mut self.state);
            self.close_tick(self.next);
        }
        if self.plastic.is_none() && self.next < until {
            fired |= prop.steps(&mut self.state, until - self.next);
            self.next = until;
        }
        while self.next < until {
            self.take_pending();
            fired |= prop.step(&mut self.state);
            self.close_tick(self.next);
        }
        assert!(
            !fired,
            "neuron {} fired while catching up to tick {until}: its quiet ticks were wrong",
            self.index
        );
    }

    /// With worker ticks (called from a tick, or from a spike's handler while asleep), a
    /// neuron that surely stays below threshold past its next tick to compute asks not to
    /// be ticked until then (at the latest at the last tick, where it stops); otherwise it
    /// is awake and ticked at that next tick.
    fn sleep(&mut self, ctx: &mut Context<'_, Message>) {
        self.asleep_until = 0;
        let ticks = self.shared.ticks;
        if self.plastic.is_some() || self.next >= ticks {
            return;
        }
        let quiet = self.shared.prop.quiet_ticks(&self.state);
        let until = self.next.saturating_add(quiet).min(ticks - 1);
        if quiet > 0 && until > self.next {
            ctx.sleep_until(until);
            self.asleep_until = u32::try_from(until).unwrap_or(0);
        }
    }
}

impl Actor<Message> for NeuronActor {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        // Asleep through the spike's tick (so no spike of it is early), the neuron computes
        // that tick now, takes the spike for the next one and, still quiet, sleeps on
        // without being ticked; awake, it takes up spikes of a tick it has not computed at
        // that tick (early).
        let asleep = match &msg {
            Message::Spike { tick, .. } if u64::from(self.asleep_until) > *tick => {
                self.catch_up(*tick + 1);
                true
            }
            Message::Spike { tick, .. } => {
                self.catch_up(*tick);
                false
            }
            _ => false,
        };
        match msg {
            Message::Spike { tick, fired } if self.plastic.is_some() => {
                for &j in fired.iter() {
                    if tick + 1 == self.next {
                        self.receive_plastic(j, tick);
                    } else if let Some(p) = self.plastic.as_mut() {
                        p.early.push(j);
                    }
                }
            }
            Message::Spike { tick, fired } => {
                for &j in fired.iter() {
                    if tick + 1 == self.next {
                        self.receive(j, 1);
                    } else if j < self.shared.coupling.excitatory {
                        self.early.0 += 1;
                    } else {
                        self.early.1 += 1;
                    }
                }
            }
            Message::Tick { tick } if tick == self.next => return self.run_tick(tick, true, ctx),
            _ => {}
        }
        if asleep {
            self.sleep(ctx);
        }
        Flow::Continue
    }

    fn tick(&mut self, tick: u64, ctx: &mut Context<'_, Message>) -> Flow {
        if tick < self.next {
            return Flow::Continue;
        }
        self.catch_up(tick);
        let flow = self.run_tick(tick, false, ctx);
        if flow == Flow::Continue {
            self.sleep(ctx);
        }
        flow
    }

    /// Idle time: the quiet ticks slept through so far, computed now rather than when woken.
    fn advance(&mut self, tick: u64) {
        self.catch_up(tick);
    }
}

impl SpikeTally for NeuronActor {
    fn fault(&self) -> Option<(u64, &'static str, f32)> {
        self.fault
    }
    fn weights(&self) -> Option<WeightFigures> {
        Some(self.plastic.as_ref()?.traces.figures())
    }
    fn tally(&self, spikes: &mut u64, events: &mut u64, raster: &mut Vec<(u32, u32)>) {
        *spikes += self.spikes;
        *events += self.synaptic_events;
        raster.extend(self.raster.iter().map(|&t| (t, self.index)));
    }
}

/// Steps the neurons of one worker: on the clock's `Tick` it asks for a worker tick and then
/// reports the tick done to the clock (its one out-edge).
pub struct WorkerTicker {
    ticks: u64,
}

impl WorkerTicker {
    /// A ticker for `ticks` ticks.
    pub(crate) fn new(ticks: u64) -> Self {
        WorkerTicker { ticks }
    }
}

impl Actor<Message> for WorkerTicker {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        if let Message::Tick { tick } = msg {
            ctx.tick_worker(tick);
            // Delivered after every spike the worker's neurons sent in this tick.
            ctx.send(
                0,
                Message::Report {
                    step: tick,
                    data: ReportData::SpikeCounts {
                        spikes: 0,
                        events: 0,
                    },
                },
            );
            if tick + 1 == self.ticks {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }
}

/// Opens tick after tick: tick `n + 1` once every out-edge (each [`NeuronActor`], or each
/// worker's [`WorkerTicker`]) has reported tick `n` done.
/// Once `stop` is set (Ctrl-C) it opens no further tick and stops the run.
pub struct Clock {
    ticks: u64,
    tick: u64,
    done: usize,
    stop: Option<StopFlag>,
}

impl Clock {
    /// A clock for `ticks` ticks, stopping early once `stop` is set.
    pub(crate) fn new(ticks: u64, stop: Option<StopFlag>) -> Self {
        Clock {
            ticks,
            tick: 0,
            done: 0,
            stop,
        }
    }

    /// Ticks every neuron completed (all of them unless stopped early).
    pub(crate) fn ticks_done(&self) -> u64 {
        self.tick
    }

    fn open(&self, ctx: &mut Context<'_, Message>) {
        for edge in 0..ctx.edges() {
            ctx.send(edge, Message::Tick { tick: self.tick });
        }
    }
}

impl Actor<Message> for Clock {
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        if self.ticks == 0 {
            return Flow::Stop;
        }
        self.open(ctx);
        Flow::Continue
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        if let Message::Report { step, .. } = msg {
            debug_assert_eq!(step, self.tick);
            self.done += 1;
            if self.done == ctx.edges() {
                self.done = 0;
                self.tick += 1;
                if self.tick == self.ticks {
                    return Flow::Stop;
                }
                let stop = self.stop.as_ref();
                if stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
                    return Flow::StopAll;
                }
                self.open(ctx);
            }
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// A tick and a spike received touch the neuron's first cache line only (the worker
    /// fetches that line ahead).
    #[test]
    fn what_a_tick_and_a_spike_touch_is_in_the_first_line() {
        let ends = [
            offset_of!(NeuronActor, state) + size_of::<LifNeuron>(),
            offset_of!(NeuronActor, shared) + size_of::<Arc<NeuronShared>>(),
            offset_of!(NeuronActor, next) + size_of::<u64>(),
            offset_of!(NeuronActor, early) + size_of::<(u32, u32)>(),
            offset_of!(NeuronActor, plastic) + size_of::<Option<Box<PlasticInputs>>>(),
            offset_of!(NeuronActor, index) + size_of::<u32>(),
            offset_of!(NeuronActor, asleep_until) + size_of::<u32>(),
            offset_of!(NeuronActor, synaptic_events) + size_of::<u64>(),
        ];
        assert!(ends.iter().all(|&e| e <= 64), "{ends:?}");
    }
}
