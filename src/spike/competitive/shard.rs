//! [`CompetitiveShard`]: one shard of a competitive layer (see the module above) and its
//! lockstep with the other shards.

use std::collections::VecDeque;
use std::ops::Range;

use super::CompetitiveParams;
use crate::message::{Message, Phase, ReportData, SpikePool, Spikes};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::spike::conductance::CobaState;
use crate::spike::plasticity::{AdaptiveThreshold, DenseProjection};
use crate::state::{StateBag, StateError};

/// One presentation in progress.
struct Presentation {
    number: u64,
    learn: bool,
    window: Spikes,
    /// Where the next tick's count is in `window`.
    cursor: usize,
    /// Ticks done.
    t: u32,
}

/// One shard of a competitive layer: excitatory neurons `range`, their inhibitory partners,
/// and their plastic input synapses.
pub struct CompetitiveShard {
    shard: usize,
    shards: usize,
    range: Range<usize>,
    params: CompetitiveParams,
    exc: CobaState,
    inh: CobaState,
    input: DenseProjection,
    theta: AdaptiveThreshold,
    phases: VecDeque<(u64, bool)>,
    windows: VecDeque<(u64, Spikes)>,
    now: Option<Presentation>,
    /// Global tick (over all presentations).
    tick: u64,
    /// Inhibitory spikes of the previous tick: how many, over every shard, and which of this
    /// shard's partners fired (flags).
    inhibition: u32,
    own_inh: Vec<bool>,
    have: usize,
    deferred: VecDeque<(u64, Spikes)>,
    fired_e: Vec<u32>,
    fired_i: Vec<u32>,
    counts: Vec<u32>,
    sums: Vec<f32>,
    pool: SpikePool,
    /// Spikes (excitatory and inhibitory) and synaptic events, in this presentation and in
    /// the run.
    pres: (u64, u64),
    /// A checkpoint asked for before presentation `n` (saved once the last tick's spikes of
    /// every shard are in).
    save: Option<u64>,
    /// Spikes fired by the shard over the run.
    pub spikes: u64,
    /// Synaptic events delivered into the shard over the run.
    pub synaptic_events: u64,
}

impl CompetitiveShard {
    /// Shard `shard` of `shards` holding excitatory neurons `range`, receiving `input`.
    pub fn new(
        (shard, shards): (usize, usize),
        range: Range<usize>,
        params: CompetitiveParams,
        input: DenseProjection,
    ) -> Self {
        let n = range.len();
        let input = match params.plasticity {
            Some(p) => input.with_plasticity(p, params.exc.dt_ms),
            None => input,
        };
        let (theta0, plus, tau) = params.theta;
        CompetitiveShard {
            shard,
            shards,
            range,
            exc: CobaState::new(n, params.v0_mv.0),
            inh: CobaState::new(n, params.v0_mv.1),
            input,
            theta: AdaptiveThreshold::new(n, theta0, plus, tau, params.exc.dt_ms),
            params,
            phases: VecDeque::new(),
            windows: VecDeque::new(),
            now: None,
            tick: 0,
            inhibition: 0,
            own_inh: vec![false; n],
            have: 0,
            deferred: VecDeque::new(),
            fired_e: Vec::new(),
            fired_i: Vec::new(),
            counts: vec![0; n],
            sums: Vec::new(),
            pool: SpikePool::default(),
            pres: (0, 0),
            save: None,
            spikes: 0,
            synaptic_events: 0,
        }
    }

    /// The excitatory neurons this shard holds.
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// The input synapses (a row per input neuron, a column per local excitatory neuron).
    pub fn input(&self) -> &DenseProjection {
        &self.input
    }

    /// The adaptive thresholds' theta, mV.
    pub fn theta(&self) -> &[f32] {
        &self.theta.theta
    }

    /// Opens the next presentation when its phase word and input window are both here.
    fn open(&mut self) -> bool {
        let (Some(&(p, learn)), Some((q, _))) = (self.phases.front(), self.windows.front()) else {
            return false;
        };
        debug_assert_eq!(p, *q, "phase words and windows come in presentation order");
        self.phases.pop_front();
        let (_, window) = self.windows.pop_front().expect("checked above");
        if let (true, Some(total)) = (learn, self.params.normalise_to) {
            self.input.normalise(total, &mut self.sums);
        }
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.pres = (0, 0);
        self.now = Some(Presentation {
            number: p,
            learn,
            window,
            cursor: 0,
            t: 0,
        });
        true
    }

    /// Whether every other shard's spikes of the last tick are in.
    fn ready(&self) -> bool {
        self.shards == 1 || self.tick == 0 || self.have + 1 >= self.shards
    }

    /// Runs every tick the messages at hand allow.
    fn advance(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        loop {
            if self.now.is_none() {
                if let Some(step) = self.save {
                    if !self.ready() {
                        return Flow::Continue;
                    }
                    self.send_state(ctx, step);
                }
                if !self.open() {
                    return Flow::Continue;
                }
            }
            if !self.ready() {
                return Flow::Continue;
            }
            self.step(ctx);
            let ticks = self.params.present_ticks + self.params.rest_ticks;
            if self.now.as_ref().is_some_and(|n| n.t == ticks) {
                if let Some(flow) = self.finish(ctx) {
                    return flow;
                }
            }
        }
    }

    /// One tick (see the module's schedule).
    fn step(&mut self, ctx: &mut Context<'_, Message>) {
        let now = self.now.as_mut().expect("a presentation is open");
        let learn = now.learn;
        if self.inhibition > 0 {
            let (w, m) = (self.params.w_inh_exc, self.inhibition);
            for (g, &own) in self.exc.gi.iter_mut().zip(&self.own_inh) {
                *g += w * (m - u32::from(own)) as f32;
            }
            self.synaptic_events += u64::from(m) * self.range.len() as u64;
            self.pres.1 += u64::from(m) * self.range.len() as u64;
        }
        self.input.decay();
        self.theta.decay(learn);
        self.fired_e.clear();
        self.fired_i.clear();
        let p = &self.params;
        p.exc
            .step(&mut self.exc, &self.theta.theta, &mut self.fired_e);
        p.inh.step(&mut self.inh, &[], &mut self.fired_i);
        // Every tick, also at rest: delayed input spikes may still arrive.
        let fired: &[u32] = if now.t < p.present_ticks {
            let n = now.window[now.cursor] as usize;
            now.cursor += 1 + n;
            &now.window[now.cursor - n..now.cursor]
        } else {
            &[]
        };
        let events = self.input.deliver(fired, &mut self.exc.ge, learn);
        self.synaptic_events += events;
        self.pres.1 += events;
        if now.t < p.present_ticks {
            for &j in &self.fired_e {
                self.counts[j as usize] += 1;
            }
        }
        for &j in &self.fired_e {
            self.inh.ge[j as usize] += p.w_exc_inh;
        }
        self.input.post_spikes(&self.fired_e, learn);
        self.theta.spiked(&self.fired_e, learn);
        now.t += 1;
        let fired = (self.fired_e.len() + self.fired_i.len()) as u64;
        self.spikes += fired;
        self.pres.0 += fired;
        self.own_inh.iter_mut().for_each(|f| *f = false);
        for &j in &self.fired_i {
            self.own_inh[j as usize] = true;
        }
        self.inhibition = self.fired_i.len() as u32;
        self.send_inhibition(ctx);
        self.tick += 1;
        self.take_early();
    }

    /// Sends this tick's inhibitory spikes (shard index, then local indices) to the other
    /// shards; their counts join `inhibition` as they arrive.
    fn send_inhibition(&mut self, ctx: &mut Context<'_, Message>) {
        self.have = 0;
        if self.shards == 1 {
            return;
        }
        self.fired_i.insert(0, self.shard as u32);
        let own = self.pool.spikes(&self.fired_i);
        for edge in 1..ctx.edges() {
            ctx.send(
                edge,
                Message::Spike {
                    tick: self.tick,
                    fired: own.clone(),
                },
            );
        }
    }

    /// Takes up other shards' spikes of the tick just finished that arrived early.
    fn take_early(&mut self) {
        let want = self.tick - 1;
        let mut i = 0;
        while i < self.deferred.len() {
            if self.deferred[i].0 == want {
                let (_, s) = self.deferred.remove(i).expect("in range");
                self.accept(&s);
            } else {
                i += 1;
            }
        }
    }

    fn accept(&mut self, s: &Spikes) {
        self.inhibition += s.len().saturating_sub(1) as u32;
        self.have += 1;
    }

    /// Ends the presentation: reports the counts; a non-finite state stops the run.
    fn finish(&mut self, ctx: &mut Context<'_, Message>) -> Option<Flow> {
        let now = self.now.take().expect("a presentation is open");
        let fault = self
            .exc
            .first_non_finite()
            .or_else(|| self.inh.first_non_finite());
        let data = match fault {
            Some((what, value)) => ReportData::Fault {
                layer: 1,
                shard: self.shard as u32,
                what,
                value,
            },
            None => ReportData::Responses {
                offset: self.range.start as u32,
                counts: std::sync::Arc::new(self.counts.clone()),
                spikes: self.pres.0,
                events: self.pres.1,
            },
        };
        ctx.send(
            0,
            Message::Report {
                step: now.number,
                data,
            },
        );
        fault.map(|_| Flow::Continue)
    }
}

impl CompetitiveShard {
    /// Sends the whole state to the coordinator (a checkpoint before presentation `step`).
    fn send_state(&mut self, ctx: &mut Context<'_, Message>, step: u64) {
        self.save = None;
        let data = ReportData::State {
            layer: 1,
            shard: self.shard as u32,
            state: std::sync::Arc::new(self.snapshot()),
        };
        ctx.send(0, Message::Report { step, data });
    }

    /// The state between two presentations: neurons, thresholds, synapses, traces (with
    /// delays, each input's over the delay line's ticks, and the spikes on their way), the
    /// last tick's inhibition, counters.
    pub fn snapshot(&self) -> StateBag {
        let mut b = StateBag::default();
        let since = |s: &[u32]| s.iter().map(|&t| t.min(1 << 24) as f32).collect();
        for (name, group) in [("exc", &self.exc), ("inh", &self.inh)] {
            b.tensor(&format!("{name}.v"), group.v_mv.clone());
            b.tensor(&format!("{name}.ge"), group.ge.clone());
            b.tensor(&format!("{name}.gi"), group.gi.clone());
            b.tensor(&format!("{name}.since"), since(&group.since));
        }
        b.tensor("theta", self.theta.theta.clone());
        b.tensor("weights", self.input.weights().to_vec());
        for (name, t) in ["r1", "r2", "o1", "o2"].iter().zip(self.input.traces()) {
            b.tensor(name, t.to_vec());
        }
        let own: Vec<f32> = self
            .own_inh
            .iter()
            .map(|&f| f32::from(u8::from(f)))
            .collect();
        b.tensor("own_inhibition", own);
        self.input.save_line(&mut b);
        b.scalar("tick", self.tick.to_string());
        b.scalar("inhibition", self.inhibition.to_string());
        b.scalar("spikes", self.spikes.to_string());
        b.scalar("synaptic_events", self.synaptic_events.to_string());
        b
    }

    /// Continues from a [`CompetitiveShard::snapshot`] of the same shard.
    pub fn restore(&mut self, b: &StateBag) -> Result<(), StateError> {
        let mut since = vec![0.0; self.range.len()];
        for (name, group) in [("exc", &mut self.exc), ("inh", &mut self.inh)] {
            b.fill(&format!("{name}.v"), &mut group.v_mv)?;
            b.fill(&format!("{name}.ge"), &mut group.ge)?;
            b.fill(&format!("{name}.gi"), &mut group.gi)?;
            b.fill(&format!("{name}.since"), &mut since)?;
            group.since = since.iter().map(|&t| t as u32).collect();
        }
        b.fill("theta", &mut self.theta.theta)?;
        b.fill("weights", self.input.weights_mut())?;
        let traces = ["r1", "r2", "o1", "o2"].map(|name| {
            let len = self.input.traces_len(name);
            let mut t = vec![0.0; len];
            b.fill(name, &mut t).map(|()| t)
        });
        let [r1, r2, o1, o2] = traces;
        self.input.set_traces([r1?, r2?, o1?, o2?]);
        self.input.restore_line(b)?;
        let mut own = vec![0.0; self.range.len()];
        b.fill("own_inhibition", &mut own)?;
        self.own_inh = own.iter().map(|&f| f != 0.0).collect();
        self.tick = b.parse("tick")?;
        // The last tick's inhibition from every shard is in `inhibition` already.
        self.have = self.shards.saturating_sub(1);
        self.inhibition = b.parse("inhibition")?;
        self.spikes = b.parse("spikes")?;
        self.synaptic_events = b.parse("synaptic_events")?;
        Ok(())
    }
}

impl Actor<Message> for CompetitiveShard {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        match msg {
            Message::Phase {
                step,
                phase: Phase::Present { learn, .. },
            } => self.phases.push_back((step, learn)),
            Message::Phase {
                step,
                phase: Phase::Save,
            } => self.save = Some(step),
            Message::Input {
                presentation,
                window,
            } => self.windows.push_back((presentation, window)),
            Message::Spike { tick, fired } => {
                if tick + 1 == self.tick {
                    self.accept(&fired);
                } else {
                    self.deferred.push_back((tick, fired));
                }
            }
            _ => {}
        }
        self.advance(ctx)
    }
}
