//! One actor per neuron: a [`NeuronActor`] holds one LIF neuron and is wired only to its
//! targets, and a [`Clock`] opens tick after tick.
//!
//! With as many shards as neurons, all-to-all exchange between [`Population`] shards would cost
//! `n^2` messages per tick, so a neuron sends a spike only to its targets and reports each tick
//! done to the clock, which opens the next tick once all have. A spike is queued before its
//! sender's report and the report before the clock's next tick, and each mailbox is
//! first-in first-out, so every spike of tick `n` is in its target's mailbox before tick
//! `n + 1` (a spike that arrives before its receiver has run tick `n` is held until it has).
//!
//! [`Population`]: crate::spike::population::Population

use crate::message::{Message, ReportData, SpikePool};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::spike::cuba::{Coupling, SpikeTally, RASTER_TICKS};
use crate::spike::lif::{LifState, Propagator};

/// One neuron as an actor: its own LIF state; out-edges to its targets, then the clock.
pub struct NeuronActor {
    index: u32,
    /// Spikes from neurons below this index are excitatory.
    excitatory: u32,
    state: LifState,
    prop: Propagator,
    we_mv: f32,
    wi_mv: f32,
    ticks: u64,
    /// The next tick to compute.
    next: u64,
    /// Spikes of tick `next` that came before this neuron computed it (excitatory, inhibitory).
    early: (u32, u32),
    fired: Vec<u32>,
    pool: SpikePool,
    /// Spikes fired over the run.
    pub spikes: u64,
    /// Spikes received (each one synaptic event).
    pub synaptic_events: u64,
    /// Ticks (below [`RASTER_TICKS`]) at which this neuron fired.
    raster: Vec<u32>,
    /// A non-finite value found in the state: (tick, what, value).
    fault: Option<(u64, &'static str, f32)>,
}

impl NeuronActor {
    /// Neuron `index`, starting at `v_mv`, for `ticks` ticks.
    pub(crate) fn new(
        index: u32,
        v_mv: f32,
        prop: Propagator,
        coupling: Coupling,
        ticks: u64,
    ) -> Self {
        NeuronActor {
            index,
            excitatory: coupling.excitatory,
            state: LifState::new(1, v_mv),
            prop,
            we_mv: coupling.we_mv,
            wi_mv: coupling.wi_mv,
            ticks,
            next: 0,
            early: (0, 0),
            fired: Vec::with_capacity(1),
            pool: SpikePool::default(),
            spikes: 0,
            synaptic_events: 0,
            raster: Vec::new(),
            fault: None,
        }
    }

    fn receive(&mut self, from: u32, times: u32) {
        self.synaptic_events += u64::from(times);
        for _ in 0..times {
            if from < self.excitatory {
                self.state.ge_mv[0] += self.we_mv;
            } else {
                self.state.gi_mv[0] += self.wi_mv;
            }
        }
    }

    /// Computes tick `tick`: integrate, fire, send the spike to the targets and report to the
    /// clock, then take up the spikes that came early.
    fn run_tick(&mut self, tick: u64, ctx: &mut Context<'_, Message>) -> Flow {
        self.fired.clear();
        self.prop
            .tick(&mut self.state, &[], self.index, &mut self.fired);
        if let Some((what, value)) = self.state.first_non_finite() {
            self.fault = Some((tick, what, value));
            return Flow::StopAll;
        }
        let fired = !self.fired.is_empty();
        let clock = ctx.edges() - 1;
        if fired {
            self.spikes += 1;
            if tick < RASTER_TICKS {
                self.raster.push(tick as u32);
            }
            if tick + 1 < self.ticks {
                let own = self.pool.spikes(&self.fired);
                for edge in 0..clock {
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
        ctx.send(
            clock,
            Message::Report {
                step: tick,
                data: ReportData::SpikeCounts {
                    spikes: u64::from(fired),
                    events: 0,
                },
            },
        );
        self.next += 1;
        let (e, i) = std::mem::take(&mut self.early);
        self.receive(0, e);
        self.receive(self.excitatory, i);
        if self.next == self.ticks {
            return Flow::Stop;
        }
        Flow::Continue
    }
}

impl Actor<Message> for NeuronActor {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        match msg {
            Message::Spike { tick, fired } => {
                for &j in fired.0.iter() {
                    if tick + 1 == self.next {
                        self.receive(j, 1);
                    } else if j < self.excitatory {
                        self.early.0 += 1;
                    } else {
                        self.early.1 += 1;
                    }
                }
            }
            Message::Tick { tick } if tick == self.next => return self.run_tick(tick, ctx),
            _ => {}
        }
        Flow::Continue
    }
}

impl SpikeTally for NeuronActor {
    fn fault(&self) -> Option<(u64, &'static str, f32)> {
        self.fault
    }
    fn tally(&self, spikes: &mut u64, events: &mut u64, raster: &mut Vec<(u32, u32)>) {
        *spikes += self.spikes;
        *events += self.synaptic_events;
        raster.extend(self.raster.iter().map(|&t| (t, self.index)));
    }
}

/// Opens tick after tick for [`NeuronActor`]s: tick `n + 1` once every neuron has reported
/// tick `n` done.
pub struct Clock {
    ticks: u64,
    tick: u64,
    done: usize,
}

impl Clock {
    /// A clock for `ticks` ticks.
    pub(crate) fn new(ticks: u64) -> Self {
        Clock {
            ticks,
            tick: 0,
            done: 0,
        }
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
                self.open(ctx);
            }
        }
        Flow::Continue
    }
}
