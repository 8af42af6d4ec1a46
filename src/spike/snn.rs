//! Spiking networks by message passing: populations of LIF neurons as actors that exchange
//! `Spike` events (the indices that fired at a tick), and the CUBA benchmark network
//! (Brette et al. 2007, as Brian2's `examples/CUBA.py`).
//!
//! A [`Population`] actor owns a contiguous range of neurons: their [`LifState`] and their
//! *incoming* synapses, stored by presynaptic neuron (so a spike from `j` is delivered by walking
//! `j`'s targets in this shard: work per tick grows with spikes x fan-out, not with population
//! size x fan-in). Lockstep: at tick `n` a shard first delivers every shard's spikes of tick
//! `n - 1` (in shard order, so the sums are the same whatever the sharding or arrival order),
//! then integrates, fires, and sends its spikes of tick `n` to the other shards. A spike at tick
//! `n` therefore affects its targets from tick `n + 1`, and recurrence cannot deadlock. Spikes
//! for a later tick wait in arrival order.
//!
//! With as many shards as neurons, the network is built instead as one [`NeuronActor`] per
//! neuron, wired only to its targets, plus a [`Clock`]: all-to-all exchange would cost
//! `n^2` messages per tick, so a neuron sends a spike only to its targets and reports each tick
//! done to the clock, which opens the next tick once all have. A spike is queued before its
//! sender's report and the report before the clock's next tick, and each mailbox is
//! first-in first-out, so every spike of tick `n` is in its target's mailbox before tick
//! `n + 1` (a spike that arrives before its receiver has run tick `n` is held until it has).

use std::collections::VecDeque;
use std::ops::Range;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::math::rng::SeededRng;
use crate::message::{Message, ReportData, SpikePool, Spikes};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::{Network, Runtime, RuntimeConfig, RuntimeError};
use crate::spike::lif::{LifParams, LifState, Propagator};

/// Incoming synapses of a shard, by presynaptic neuron (compressed rows).
#[derive(Clone, Debug, Default)]
pub struct SynapseTable {
    /// `targets[offsets[j]..offsets[j + 1]]`: local indices of `j`'s targets in this shard.
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl SynapseTable {
    /// Synapses in the table.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    fn of(&self, j: u32) -> &[u32] {
        let j = j as usize;
        &self.targets[self.offsets[j] as usize..self.offsets[j + 1] as usize]
    }
}

/// One shard of a recurrent LIF network.
pub struct Population {
    shard: usize,
    range: Range<usize>,
    /// Neuron ranges of every shard, for ordering pieces.
    ranges: Vec<Range<usize>>,
    state: LifState,
    prop: Propagator,
    synapses: SynapseTable,
    /// Presynaptic neurons below this index are excitatory.
    excitatory: u32,
    we_mv: f32,
    wi_mv: f32,
    ticks: u64,
    tick: u64,
    /// Spikes of the previous tick, one piece per shard (this shard's own among them).
    pieces: Vec<Option<Spikes>>,
    have: usize,
    deferred: VecDeque<(u64, Spikes)>,
    fired: Vec<u32>,
    pool: SpikePool,
    /// Spikes fired by this shard over the run.
    pub spikes: u64,
    /// Synaptic events delivered into this shard.
    pub synaptic_events: u64,
    /// (tick, neuron) of this shard's spikes in the first [`RASTER_TICKS`] ticks.
    raster: Vec<(u32, u32)>,
    /// A non-finite value found in the state: (tick, what, value).
    fault: Option<(u64, &'static str, f32)>,
}

/// Populations check their state for non-finite values every this many ticks (and at the
/// last): a pass over the state costs about half a tick.
const CHECK_EVERY: u64 = 1000;

/// Ticks whose spikes are kept for the raster plot (1 s of CUBA).
pub const RASTER_TICKS: u64 = 10_000;

impl Population {
    fn piece_shard(&self, s: &Spikes) -> Option<usize> {
        let first = *s.0.first()? as usize;
        self.ranges.iter().position(|r| r.contains(&first))
    }

    /// Delivers the previous tick's spikes, in shard order.
    fn deliver(&mut self) {
        for p in self.pieces.iter_mut() {
            let Some(spikes) = p.take() else { continue };
            for &j in spikes.0.iter() {
                let targets = self.synapses.of(j);
                self.synaptic_events += targets.len() as u64;
                if j < self.excitatory {
                    for &t in targets {
                        self.state.ge_mv[t as usize] += self.we_mv;
                    }
                } else {
                    for &t in targets {
                        self.state.gi_mv[t as usize] += self.wi_mv;
                    }
                }
            }
        }
        self.have = 0;
    }

    /// Runs every tick the spikes at hand allow; returns whether the run is over for this shard.
    fn advance(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        let shards = self.ranges.len();
        while self.tick < self.ticks {
            if self.tick > 0 && self.have < shards {
                return false;
            }
            self.deliver();
            self.fired.clear();
            self.prop.tick(
                &mut self.state,
                &[],
                self.range.start as u32,
                &mut self.fired,
            );
            self.spikes += self.fired.len() as u64;
            if self.tick < RASTER_TICKS {
                let t = self.tick as u32;
                self.raster.extend(self.fired.iter().map(|&i| (t, i)));
            }
            let last = self.tick + 1 == self.ticks;
            if last || self.tick.is_multiple_of(CHECK_EVERY) {
                if let Some((what, value)) = self.state.first_non_finite() {
                    self.fault = Some((self.tick, what, value));
                    return true;
                }
            }
            if !last {
                let own = self.pool.spikes(&self.fired);
                for edge in 0..ctx.edges() {
                    ctx.send(
                        edge,
                        Message::Spike {
                            tick: self.tick,
                            fired: own.clone(),
                        },
                    );
                }
                self.pieces[self.shard] = (!own.0.is_empty()).then_some(own);
                self.have = 1;
            }
            self.tick += 1;
            // Take up pieces of the tick just finished that arrived early.
            let want = self.tick - 1;
            let mut i = 0;
            while i < self.deferred.len() {
                if self.deferred[i].0 == want {
                    let (_, s) = self.deferred.remove(i).expect("in range");
                    self.accept(s);
                } else {
                    i += 1;
                }
            }
        }
        true
    }

    fn accept(&mut self, s: Spikes) {
        if let Some(k) = self.piece_shard(&s) {
            self.pieces[k] = Some(s);
        }
        self.have += 1;
    }
}

impl Actor<Message> for Population {
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        if self.advance(ctx) {
            self.stop_flow()
        } else {
            Flow::Continue
        }
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        if let Message::Spike { tick, fired } = msg {
            if tick + 1 == self.tick {
                self.accept(fired);
            } else {
                self.deferred.push_back((tick, fired));
            }
        }
        if self.advance(ctx) {
            self.stop_flow()
        } else {
            Flow::Continue
        }
    }
}

impl Population {
    /// Done: alone, or with every actor when the state went non-finite.
    fn stop_flow(&self) -> Flow {
        if self.fault.is_some() {
            Flow::StopAll
        } else {
            Flow::Stop
        }
    }
}

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
            Message::Tick { tick } if tick == self.next => {
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
            }
            _ => {}
        }
        Flow::Continue
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

/// The CUBA network (`scenarios/cuba.toml`, `axon bench snn`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CubaConfig {
    /// Neurons (the first 80 % excitatory). Default 4000.
    pub neurons: usize,
    /// Connection probability of every ordered pair. Default 0.02.
    pub p_connect: f64,
    /// Excitatory weight, mV added to `ge`. Default 1.62.
    pub we_mv: f64,
    /// Inhibitory weight, mV added to `gi`. Default -9.
    pub wi_mv: f64,
    /// Simulated time, ms. Default 1000.
    pub duration_ms: f64,
}

impl Default for CubaConfig {
    fn default() -> Self {
        Self {
            neurons: 4000,
            p_connect: 0.02,
            we_mv: 60.0 * 0.27 / 10.0,
            wi_mv: -20.0 * 4.5 / 10.0,
            duration_ms: 1000.0,
        }
    }
}

/// What a spiking run measured (`"snn"` in results.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnnStats {
    /// Neurons.
    pub neurons: usize,
    /// Synapses.
    pub synapses: usize,
    /// Spikes fired.
    pub spikes: u64,
    /// Spikes delivered to a synapse.
    pub synaptic_events: u64,
    /// Spikes per neuron per simulated second.
    pub mean_rate_hz: f64,
    /// Simulated seconds.
    pub sim_s: f64,
    /// Wall seconds of the simulation loop (network construction excluded).
    pub wall_s: f64,
    /// Wall seconds to build the network (connectivity, state).
    pub build_s: f64,
    /// Messages the actors handled (spike lists, and with one actor per neuron also the
    /// clock's ticks and the neurons' reports).
    #[serde(default)]
    pub messages: u64,
}

/// What [`run_cuba`] returns.
#[derive(Clone, Debug)]
pub struct CubaRun {
    /// The figures (`"snn"` in results.json).
    pub stats: SnnStats,
    /// (tick, neuron) of every spike in the first [`RASTER_TICKS`] ticks, in time order.
    pub raster: Vec<(u32, u32)>,
}

/// Draws the CUBA connectivity: for each presynaptic neuron, its targets in ascending order
/// (each of the `n` neurons independently with probability `p`, by geometric skips).
fn connectivity(n: usize, p: f64, rng: &mut SeededRng) -> Vec<Vec<u32>> {
    let log_q = (1.0 - p).ln();
    (0..n)
        .map(|_| {
            let mut out = Vec::new();
            let mut j: f64 = -1.0;
            loop {
                let u = rng.uniform().max(f64::MIN_POSITIVE);
                j += 1.0 + (u.ln() / log_q).floor();
                if j >= n as f64 {
                    break;
                }
                out.push(j as u32);
            }
            out
        })
        .collect()
}

/// Runs CUBA with `shards` population actors on the configured executor.
pub fn run_cuba(
    cfg: &CubaConfig,
    seed: u64,
    shards: usize,
    runtime: RuntimeConfig,
) -> Result<CubaRun, RuntimeError> {
    let built = Instant::now();
    let params = LifParams::CUBA;
    let prop = params.propagator();
    let n = cfg.neurons;
    let mut rng = SeededRng::stream(seed, "cuba/connectivity");
    let post = connectivity(n, cfg.p_connect, &mut rng);
    let mut vrng = SeededRng::stream(seed, "cuba/v0");
    let v0: Vec<f32> = (0..n)
        .map(|_| {
            (params.v_reset_mv + vrng.uniform() * (params.v_threshold_mv - params.v_reset_mv))
                as f32
        })
        .collect();
    let ticks = (cfg.duration_ms / params.dt_ms).round() as u64;
    // Nothing to simulate: one actor that stops at once.
    let k = if ticks == 0 {
        1
    } else {
        shards.clamp(1, n.max(1))
    };
    if k == n && n > 1 {
        return run_per_neuron(cfg, &post, &v0, ticks, built, runtime);
    }
    let ranges: Vec<Range<usize>> = (0..k).map(|s| s * n / k..(s + 1) * n / k).collect();
    let mut net = Network::new();
    let mut synapses = 0;
    for (s, r) in ranges.iter().enumerate() {
        let mut table = SynapseTable {
            offsets: Vec::with_capacity(n + 1),
            targets: Vec::new(),
        };
        table.offsets.push(0);
        for targets in &post {
            table.targets.extend(
                targets
                    .iter()
                    .filter(|&&t| r.contains(&(t as usize)))
                    .map(|&t| t - r.start as u32),
            );
            table.offsets.push(table.targets.len() as u32);
        }
        synapses += table.len();
        let mut state = LifState::new(r.len(), 0.0);
        state.v_mv.copy_from_slice(&v0[r.clone()]);
        net.add(
            if k == 1 {
                "population".to_owned()
            } else {
                format!("population.{s}")
            },
            Population {
                shard: s,
                range: r.clone(),
                ranges: ranges.clone(),
                state,
                prop,
                synapses: table,
                excitatory: (n * 4 / 5) as u32,
                we_mv: cfg.we_mv as f32,
                wi_mv: cfg.wi_mv as f32,
                ticks,
                tick: 0,
                pieces: vec![None; k],
                have: 0,
                deferred: VecDeque::new(),
                fired: Vec::new(),
                pool: SpikePool::default(),
                spikes: 0,
                synaptic_events: 0,
                raster: Vec::new(),
                fault: None,
            },
        );
    }
    for a in 0..k {
        for b in 0..k {
            if a != b {
                net.connect(a, b);
            }
        }
    }
    let build_s = built.elapsed().as_secs_f64();
    let report = Runtime::new(runtime).run(net)?;
    collect::<Population>(cfg, synapses, ticks, build_s, &report)
}

/// What a spiking actor counted over a run.
trait SpikeTally {
    /// Adds its spikes and synaptic events, and its (tick, neuron) spikes to `raster`.
    fn tally(&self, spikes: &mut u64, events: &mut u64, raster: &mut Vec<(u32, u32)>);
    /// A non-finite value it found: (tick, what, value).
    fn fault(&self) -> Option<(u64, &'static str, f32)>;
}

impl SpikeTally for Population {
    fn fault(&self) -> Option<(u64, &'static str, f32)> {
        self.fault
    }
    fn tally(&self, spikes: &mut u64, events: &mut u64, raster: &mut Vec<(u32, u32)>) {
        *spikes += self.spikes;
        *events += self.synaptic_events;
        raster.extend_from_slice(&self.raster);
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

/// Sums what every actor of type `A` counted into the run's figures.
fn collect<A: SpikeTally + 'static>(
    cfg: &CubaConfig,
    synapses: usize,
    ticks: u64,
    build_s: f64,
    report: &crate::runtime::RunReport<Message>,
) -> Result<CubaRun, RuntimeError> {
    let (mut spikes, mut events, mut raster) = (0u64, 0u64, Vec::new());
    for (i, a) in report.actors.iter().enumerate() {
        if let Some(p) = (a.as_ref() as &dyn std::any::Any).downcast_ref::<A>() {
            if let Some((step, what, value)) = p.fault() {
                return Err(RuntimeError::NonFinite {
                    actor: report.names.get(i).cloned().unwrap_or_default(),
                    step,
                    what: what.to_owned(),
                    value,
                });
            }
            p.tally(&mut spikes, &mut events, &mut raster);
        }
    }
    raster.sort_unstable();
    let n = cfg.neurons;
    let sim_s = ticks as f64 * LifParams::CUBA.dt_ms / 1000.0;
    Ok(CubaRun {
        stats: SnnStats {
            neurons: n,
            synapses,
            spikes,
            synaptic_events: events,
            mean_rate_hz: spikes as f64 / n.max(1) as f64 / sim_s.max(1e-12),
            sim_s,
            wall_s: report.elapsed.as_secs_f64(),
            build_s,
            messages: report.handled,
        },
        raster,
    })
}

/// CUBA as one [`NeuronActor`] per neuron and a [`Clock`].
fn run_per_neuron(
    cfg: &CubaConfig,
    post: &[Vec<u32>],
    v0: &[f32],
    ticks: u64,
    built: Instant,
    runtime: RuntimeConfig,
) -> Result<CubaRun, RuntimeError> {
    let n = cfg.neurons;
    let prop = LifParams::CUBA.propagator();
    let mut net = Network::new();
    for (i, &v) in v0.iter().enumerate() {
        net.add(
            format!("neuron.{i}"),
            NeuronActor {
                index: i as u32,
                excitatory: (n * 4 / 5) as u32,
                state: LifState::new(1, v),
                prop,
                we_mv: cfg.we_mv as f32,
                wi_mv: cfg.wi_mv as f32,
                ticks,
                next: 0,
                early: (0, 0),
                fired: Vec::with_capacity(1),
                pool: SpikePool::default(),
                spikes: 0,
                synaptic_events: 0,
                raster: Vec::new(),
                fault: None,
            },
        );
    }
    let clock = net.add(
        "clock",
        Clock {
            ticks,
            tick: 0,
            done: 0,
        },
    );
    let mut synapses = 0;
    for (i, targets) in post.iter().enumerate() {
        for &t in targets {
            net.connect(i, t as usize);
        }
        synapses += targets.len();
        net.connect(i, clock);
    }
    for i in 0..n {
        net.connect(clock, i);
    }
    let build_s = built.elapsed().as_secs_f64();
    let report = Runtime::new(runtime).run(net)?;
    collect::<NeuronActor>(cfg, synapses, ticks, build_s, &report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Executor;

    #[test]
    fn connectivity_has_the_expected_density_and_order() {
        let mut rng = SeededRng::stream(1, "t");
        let post = connectivity(2000, 0.02, &mut rng);
        let total: usize = post.iter().map(Vec::len).sum();
        let want = 2000.0 * 2000.0 * 0.02;
        assert!((total as f64 - want).abs() < 4.0 * want.sqrt(), "{total}");
        assert!(post.iter().all(|t| t.windows(2).all(|w| w[0] < w[1])));
    }

    /// No ticks: nothing fires, and no sharding (not even one actor per neuron) waits on a
    /// tick that never comes.
    #[test]
    fn a_non_finite_state_stops_the_run_and_names_the_actor() {
        // The scenario loader bounds the weights; the library API does not, so the actors
        // check their own state.
        let cfg = CubaConfig {
            neurons: 50,
            p_connect: 0.5,
            we_mv: 3e38,
            duration_ms: 300.0,
            ..CubaConfig::default()
        };
        for shards in [1, 50] {
            match run_cuba(&cfg, 1, shards, RuntimeConfig::default()) {
                Err(RuntimeError::NonFinite { actor, what, .. }) => {
                    assert!(
                        actor.starts_with("neuron") || actor.starts_with("population"),
                        "{actor}"
                    );
                    assert!(what.contains("mV"), "{what}");
                }
                other => panic!("{shards} shards: expected a non-finite stop, got {other:?}"),
            }
        }
    }

    #[test]
    fn zero_duration_runs_nothing_and_returns() {
        let cfg = CubaConfig {
            neurons: 50,
            duration_ms: 0.0,
            ..CubaConfig::default()
        };
        for shards in [1, 3, 50] {
            let run = run_cuba(&cfg, 1, shards, RuntimeConfig::default()).expect("runs");
            assert_eq!((run.stats.spikes, run.raster.len()), (0, 0));
        }
    }

    /// Same spikes whatever the sharding and executor.
    #[test]
    fn sharding_and_executors_give_identical_spikes() {
        let cfg = CubaConfig {
            neurons: 800,
            duration_ms: 100.0,
            ..CubaConfig::default()
        };
        let rt = |executor| RuntimeConfig {
            executor,
            workers: 2,
            ..RuntimeConfig::default()
        };
        let first = run_cuba(&cfg, 1, 1, rt(Executor::Inline)).expect("runs");
        let one = &first.stats;
        assert!(one.spikes > 0);
        for (shards, ex) in [
            (3, Executor::Tokio),
            (4, Executor::Threads),
            (2, Executor::Inline),
            (800, Executor::Tokio),
            (800, Executor::Inline),
        ] {
            let run = run_cuba(&cfg, 1, shards, rt(ex)).expect("runs");
            assert_eq!(run.raster, first.raster, "{shards} shards on {ex:?}");
            let s = run.stats;
            assert_eq!(
                (s.spikes, s.synaptic_events, s.synapses),
                (one.spikes, one.synaptic_events, one.synapses),
                "{shards} shards on {ex:?}"
            );
        }
    }
}
