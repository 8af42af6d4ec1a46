//! The CUBA benchmark network (Brette et al. 2007, as Brian2's `examples/CUBA.py`) on actors:
//! its configuration ([`CubaConfig`]), random connectivity, and [`run_cuba`] (population
//! shards, or one actor per neuron when there are as many shards as neurons), which reports
//! a [`SpikingRun`].
//!
//! The actors exchange `Spike` events (the indices that fired at a tick): see
//! [`crate::spike::population`] for the sharded lockstep and `crate::spike::neuron_network`
//! for one actor per neuron and its clock.

use std::ops::Range;
use std::time::Instant;

use serde::Serialize;

use crate::cluster::shard_traffic::{self, ShardTraffic};
use crate::cluster::{
    run_ranked, BridgeFigures, Built, Link, LinkFigures, Origins, Placed, RankBridge,
    RankedNetwork, Ranks, Report,
};
use crate::math::rng::SeededRng;
use crate::message::probe::ProbePlan;
use crate::message::Message;
use crate::run_error::NetworkRunError;
use crate::runtime::{ActorId, Network, RunReport, RuntimeConfig};
use crate::spike::coupling::Coupling;
use crate::spike::lif::{LifParams, LifState, Reset};
use crate::spike::neuron_network::NeuronNetwork;
use crate::spike::plasticity::{PlasticProjections, WeightFigures};
use crate::spike::population::{Population, SynapseTable};
use crate::spike::probe_sink::{self, attach_sink, ProbeSink};
use crate::spike::stats::RankFigures;
use crate::spike::tally::{RunSize, SpikingRun, StopFlag};

/// The CUBA network's neurons (Brette et al. 2007, Brian2's `examples/CUBA.py`).
pub const LIF: LifParams = LifParams {
    tau_m_ms: 20.0,
    tau_e_ms: 5.0,
    tau_i_ms: 10.0,
    v_rest_mv: -49.0,
    v_threshold_mv: -50.0,
    v_reset_mv: -60.0,
    refractory_ms: 5.0,
    dt_ms: 0.1,
    reset: Reset::ToValue,
};

/// The CUBA network (`axon bench snn`; a scenario's `[cuba]` resolves to one, see
/// `experiment::scenario::CubaSection`). Serialised only for the ranks of a run to agree
/// on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    /// Projections whose synapses learn by STDP (`[plasticity]`), if any. Default none.
    pub plasticity: Option<PlasticProjections>,
    /// What `[[probe]]`s record (population shards only). Default none.
    pub probes: crate::message::probe::Probes,
}

impl Default for CubaConfig {
    fn default() -> Self {
        Self {
            neurons: 4000,
            p_connect: 0.02,
            // Brian2's (60 * 0.27 / 10) mV and (-20 * 4.5 / 10) mV, written as the values the
            // scenario reference documents (the f64 product is 1.6200000000000003; both are the
            // same f32, which is what the neurons use).
            we_mv: 1.62,
            wi_mv: -9.0,
            duration_ms: 1000.0,
            plasticity: None,
            probes: Default::default(),
        }
    }
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

/// CUBA's coupling: the first 80 % of the neurons excitatory, the configured weights.
fn coupling_of(cfg: &CubaConfig) -> Coupling {
    Coupling {
        excitatory: (cfg.neurons * 4 / 5) as u32,
        we_mv: cfg.we_mv as f32,
        wi_mv: cfg.wi_mv as f32,
    }
}

/// Runs CUBA with `shards` population actors on the configured executor, in one process.
pub fn run_cuba(
    cfg: &CubaConfig,
    seed: u64,
    shards: usize,
    runtime: RuntimeConfig,
) -> Result<SpikingRun, NetworkRunError> {
    run_cuba_on(&mut Ranks::single(), cfg, seed, shards, runtime)
}

/// [`run_cuba`] on `ranks`: across several, the population shards are spread over them and
/// every rank returns the whole run's figures.
pub fn run_cuba_on(
    ranks: &mut Ranks,
    cfg: &CubaConfig,
    seed: u64,
    shards: usize,
    runtime: RuntimeConfig,
) -> Result<SpikingRun, NetworkRunError> {
    run_cuba_until(ranks, cfg, seed, shards, runtime, None)
}

/// [`run_cuba_on`] that stops early, every shard (and rank) at the same tick, once `stop` is
/// set (Ctrl-C): the run's figures then cover the ticks simulated and
/// [`SpikingRun::stopped`] is set. One actor per neuron stops at a tick's end too (its
/// clock opens no further tick).
pub fn run_cuba_until(
    ranks: &mut Ranks,
    cfg: &CubaConfig,
    seed: u64,
    shards: usize,
    runtime: RuntimeConfig,
    stop: Option<StopFlag>,
) -> Result<SpikingRun, NetworkRunError> {
    if ranks.several() && !cfg.probes.plans.is_empty() {
        return Err(NetworkRunError::Ranks(
            "probes do not run across ranks yet; run the probed scenario in one process".to_owned(),
        ));
    }
    let built = Instant::now();
    let n = cfg.neurons;
    let (post, v0, ticks) = draw_network(cfg, seed);
    // Nothing to simulate: one actor that stops at once.
    let k = if ticks == 0 {
        1
    } else {
        shards.clamp(1, n.max(1))
    };
    if k == n && n > 1 {
        if ranks.several() {
            return Err(NetworkRunError::Ranks(
                "one actor per neuron does not run across ranks; set runtime.shards below \
                 cuba.neurons (population shards, at least one per rank)"
                    .to_owned(),
            ));
        }
        let net = NeuronNetwork {
            post: &post,
            v0: &v0,
            params: LIF,
            coupling: coupling_of(cfg),
            ticks,
            plastic: cfg.plasticity.as_ref(),
            stop,
        };
        return net.run(built, runtime).map_err(Into::into);
    }
    let net = Sharded {
        cfg,
        post: &post,
        v0: &v0,
        ticks,
        delays: None,
        stop,
    };
    run_sharded(ranks, &net, k, built, runtime)
}

/// The synapses a seed draws for `cfg`, as (presynaptic, postsynaptic) index pairs, and how
/// many of the first neurons are excitatory: the network [`run_cuba`] simulates, for export
/// (`axon.to_nir`).
pub fn synapse_pairs(cfg: &CubaConfig, seed: u64) -> (Vec<(u32, u32)>, usize) {
    let (post, _, _) = draw_network(cfg, seed);
    let pairs = post
        .iter()
        .enumerate()
        .flat_map(|(pre, targets)| targets.iter().map(move |&t| (pre as u32, t)))
        .collect();
    (pairs, cfg.neurons * 4 / 5)
}

/// The network a seed draws: each neuron's targets (stream `cuba/connectivity`), initial
/// potentials uniform between reset and threshold (`cuba/v0`), and the ticks to simulate.
fn draw_network(cfg: &CubaConfig, seed: u64) -> (Vec<Vec<u32>>, Vec<f32>, u64) {
    let params = LIF;
    let mut rng = SeededRng::stream(seed, "cuba/connectivity");
    let post = connectivity(cfg.neurons, cfg.p_connect, &mut rng);
    let mut vrng = SeededRng::stream(seed, "cuba/v0");
    let v0 = (0..cfg.neurons)
        .map(|_| {
            (params.v_reset_mv + vrng.uniform() * (params.v_threshold_mv - params.v_reset_mv))
                as f32
        })
        .collect();
    let ticks = (cfg.duration_ms / params.dt_ms).round() as u64;
    (post, v0, ticks)
}

/// Synaptic delays of a spiking network: per presynaptic neuron, each synapse's delay in
/// ticks (beside its targets), and the smallest and largest.
pub(crate) struct Delays {
    pub(crate) of: Vec<Vec<u16>>,
    pub(crate) min: u16,
    pub(crate) max: u16,
}

/// CUBA's network with each synapse's delay drawn uniformly from `min..=max` ticks (seeded
/// stream `cuba/delays`), run as `shards` population shards (not one actor per neuron) that
/// exchange spikes once per window of `min` ticks (`min` below 1 is taken as 1, `max` below
/// `min` as `min`).
pub fn run_cuba_delayed(
    cfg: &CubaConfig,
    seed: u64,
    shards: usize,
    runtime: RuntimeConfig,
    delays: (u16, u16),
) -> Result<SpikingRun, NetworkRunError> {
    run_cuba_delayed_on(&mut Ranks::single(), cfg, seed, shards, runtime, delays)
}

/// [`run_cuba_delayed`] on `ranks` (the shards spread over them, as [`run_cuba_on`]).
pub fn run_cuba_delayed_on(
    ranks: &mut Ranks,
    cfg: &CubaConfig,
    seed: u64,
    shards: usize,
    runtime: RuntimeConfig,
    (min, max): (u16, u16),
) -> Result<SpikingRun, NetworkRunError> {
    let built = Instant::now();
    // A delay is at least one tick, and the range is never reversed.
    let min = min.max(1);
    let max = max.max(min);
    let (post, v0, ticks) = draw_network(cfg, seed);
    let mut drng = SeededRng::stream(seed, "cuba/delays");
    let span = f64::from(max - min + 1);
    let of = post
        .iter()
        .map(|t| {
            t.iter()
                .map(|_| min + ((drng.uniform() * span) as u16).min(max - min))
                .collect()
        })
        .collect();
    let delays = Delays { of, min, max };
    let k = shards.clamp(1, cfg.neurons.max(1));
    let net = Sharded {
        cfg,
        post: &post,
        v0: &v0,
        ticks,
        delays: Some(&delays),
        stop: None,
    };
    run_sharded(ranks, &net, k, built, runtime)
}

/// A sharded CUBA network to build: its configuration, each neuron's targets, initial
/// potentials, ticks, and delays if any.
struct Sharded<'a> {
    cfg: &'a CubaConfig,
    post: &'a [Vec<u32>],
    v0: &'a [f32],
    ticks: u64,
    delays: Option<&'a Delays>,
    stop: Option<StopFlag>,
}

/// CUBA as `k` [`Population`] shards, every shard connected to every other (exchanging
/// spikes every tick, or once per window of the minimum delay when synapses carry `delays`).
/// Across several `ranks` this rank builds its shards only, a bridge carries the spikes to and
/// from the other ranks, and every rank returns the whole run ([`run_ranked`]).
fn run_sharded(
    ranks: &mut Ranks,
    c: &Sharded<'_>,
    k: usize,
    built: Instant,
    runtime: RuntimeConfig,
) -> Result<SpikingRun, NetworkRunError> {
    let n = c.cfg.neurons;
    let shards = CubaShards {
        c,
        ranges: (0..k).map(|s| s * n / k..(s + 1) * n / k).collect(),
        built,
        runtime,
        synapses: 0,
        build_s: 0.0,
        populations: Vec::new(),
        sink: None,
        run: None,
    };
    run_ranked(ranks, shards)
}

/// A sharded CUBA network as [`run_ranked`] runs it: each shard's neurons, and what this
/// rank built and counted.
struct CubaShards<'a> {
    c: &'a Sharded<'a>,
    ranges: Vec<Range<usize>>,
    built: Instant,
    runtime: RuntimeConfig,
    synapses: usize,
    build_s: f64,
    /// This rank's shards, once built.
    populations: Vec<ActorId<Population>>,
    /// The probe sink, when something is probed.
    sink: Option<ActorId<ProbeSink>>,
    run: Option<SpikingRun>,
}

impl CubaShards<'_> {
    /// The synapses onto the neurons `r`.
    fn table(&self, r: &Range<usize>) -> SynapseTable {
        match self.c.delays {
            Some(d) => SynapseTable::for_shard_delayed(self.c.post, &d.of, r),
            None => SynapseTable::for_shard(self.c.post, r),
        }
    }
}

/// What a rank's shards counted, gathered from every rank after the run.
#[derive(serde::Serialize, serde::Deserialize)]
struct CubaShare {
    spikes: u64,
    events: u64,
    synapses: usize,
    messages: u64,
    raster: Vec<(u32, u32)>,
    bridge: BridgeFigures,
    weights: Option<WeightFigures>,
    /// Its share of the traffic, the bridge's deliveries standing in for the shards that
    /// sent them.
    traffic: ShardTraffic,
}

impl RankedNetwork for CubaShards<'_> {
    type Fingerprint = (CubaConfig, u64, Option<(u16, u16)>, usize, usize, Vec<u32>);
    type Share = CubaShare;
    type Output = SpikingRun;

    fn runtime(&self) -> RuntimeConfig {
        self.runtime
    }

    /// Configuration, delays, shards, synapses and first potentials (these two show the seed).
    fn fingerprint(&self) -> Self::Fingerprint {
        let c = self.c;
        let synapses: usize = c.post.iter().map(Vec::len).sum();
        let v0: Vec<u32> = c.v0.iter().take(16).map(|v| v.to_bits()).collect();
        let (delays, k) = (c.delays.map(|d| (d.min, d.max)), self.ranges.len());
        (c.cfg.clone(), c.ticks, delays, k, synapses, v0)
    }

    fn units(&self) -> usize {
        self.ranges.len()
    }

    fn synapses(&self) -> Vec<u64> {
        self.ranges
            .iter()
            .map(|r| self.table(r).len() as u64)
            .collect()
    }

    fn build(&mut self, at: &Placed, _: &mut Ranks) -> Result<Built, NetworkRunError> {
        let c = self.c;
        let prop = LIF.propagator();
        let k = self.ranges.len();
        let local = at.local();
        let mut net = Network::new();
        let mut tapped = Vec::new();
        for (i, &s) in local.iter().enumerate() {
            let r = &self.ranges[s];
            let table = self.table(r);
            self.synapses += table.len();
            let mut state = LifState::new(r.len(), 0.0);
            state.v_mv.copy_from_slice(&c.v0[r.clone()]);
            let coupling = coupling_of(c.cfg);
            let ranges = &self.ranges;
            let mut shard = Population::new(s, ranges, state, prop, table, coupling, c.ticks);
            if let Some(p) = &c.cfg.plasticity {
                shard = shard.with_plasticity(p, LIF.dt_ms as f32);
            }
            if let Some(d) = c.delays {
                shard = shard.with_windows(u64::from(d.min), u64::from(d.max));
            }
            shard = shard.with_stop(c.stop.clone());
            let taps = ProbePlan::taps(&c.cfg.probes.plans, 0, r.clone());
            let n_taps = taps.len();
            shard = shard.with_probes(taps);
            let name = if k == 1 {
                "population".to_owned()
            } else {
                format!("population.{s}")
            };
            let id = net.add(name, shard);
            net.place(id, i); // pinned executor: local shard i on worker i % workers
            self.populations.push(id);
            tapped.push((id.index(), n_taps));
        }
        let probes = &c.cfg.probes;
        let plans = (&probes.plans[..], c.ticks);
        self.sink = attach_sink(&mut net, plans, &tapped, probes.feed.clone());
        let windows = RankBridge::windows(c.ticks, c.delays.map_or(1, |d| u64::from(d.min)));
        let local = local.len();
        self.build_s = self.built.elapsed().as_secs_f64();
        let origins = match c.delays {
            Some(_) => Origins::FirstWord,
            None => Origins::ByRange {
                starts: self.ranges.iter().map(|r| r.start as u32).collect(),
                shard_rank: at.unit_rank.clone(),
            },
        };
        Ok((
            net,
            Link::Bridge {
                local,
                windows,
                origins: Some(origins),
            },
        ))
    }

    fn share(
        &mut self,
        report: &mut Report,
        link: &LinkFigures,
    ) -> Result<CubaShare, NetworkRunError> {
        let (c, synapses) = (self.c, self.synapses);
        let shards = &self.populations;
        let mut run = collect(c.cfg, synapses, c.ticks, self.build_s, report, shards)?;
        run.probes = probe_sink::arrays(report, self.sink);
        let raster = std::mem::take(&mut run.raster);
        let s = &run.stats;
        let shard_name = |s: u32| format!("population.{s}");
        let share = CubaShare {
            spikes: s.spikes,
            events: s.synaptic_events,
            synapses: s.synapses,
            messages: s.messages,
            raster,
            bridge: link.bridge,
            weights: s.plasticity.clone(),
            traffic: ShardTraffic::of(&report.traffic, &report.names, &link.delivered, shard_name),
        };
        self.run = Some(run);
        Ok(share)
    }

    fn assemble(
        self,
        mut report: RunReport<Message>,
        mut all: Vec<CubaShare>,
        at: &Placed,
        link: LinkFigures,
    ) -> Result<SpikingRun, NetworkRunError> {
        let mut run = self.run.expect("shared before assembled");
        run.traffic = crate::spike::tally::TrafficLog::take(&mut report);
        if at.ranks > 1 {
            merge_ranks(&mut run, &mut all, at.unit_rank.clone(), link.bridge);
        }
        run.raster = all.into_iter().flat_map(|a| a.raster).collect();
        run.raster.sort_unstable();
        Ok(run)
    }
}

/// Every rank's counts summed into `run` (on every rank), with the placement, what the
/// bridges did, and the traffic as one process's (edges that crossed ranks marked).
fn merge_ranks(
    run: &mut SpikingRun,
    all: &mut [CubaShare],
    shard_rank: Vec<usize>,
    bridge: BridgeFigures,
) {
    let st = &mut run.stats;
    st.spikes = all.iter().map(|a| a.spikes).sum();
    st.synaptic_events = all.iter().map(|a| a.events).sum();
    st.synapses = all.iter().map(|a| a.synapses).sum();
    st.messages = all.iter().map(|a| a.messages).sum();
    st.mean_rate_hz = st.spikes as f64 / st.neurons.max(1) as f64 / st.sim_s.max(1e-12);
    st.plasticity = None;
    for w in all.iter().filter_map(|a| a.weights.as_ref()) {
        st.plasticity
            .get_or_insert_with(WeightFigures::default)
            .merge(w);
    }
    let shares = all.iter_mut().map(|a| std::mem::take(&mut a.traffic));
    let names: Vec<String> = (0..shard_rank.len())
        .map(|s| format!("population.{s}"))
        .collect();
    let (traffic, names) = shard_traffic::merge(shares.collect(), &names, &shard_rank);
    run.traffic.renamed(traffic, names);
    st.ranks = Some(RankFigures {
        ranks: all.len(),
        shard_rank,
        exchanges: bridge.exchanges,
        exchange_wait_s: all.iter().map(|a| a.bridge.wait_s).collect(),
        exchange_bytes: all.iter().map(|a| a.bridge.bytes).sum(),
    });
}

/// Sums what the shards counted into the run's figures (over the ticks they simulated: fewer
/// than `ticks` when stopped early, every shard at the same tick).
fn collect(
    cfg: &CubaConfig,
    synapses: usize,
    ticks: u64,
    build_s: f64,
    report: &crate::runtime::RunReport<Message>,
    shards: &[ActorId<Population>],
) -> Result<SpikingRun, NetworkRunError> {
    let simulated = shards.iter().map(|&id| report.actor(id).ticks()).min();
    let size = RunSize {
        neurons: cfg.neurons,
        synapses,
        ticks: simulated.unwrap_or(ticks).min(ticks),
        dt_ms: LIF.dt_ms,
    };
    let mut run = crate::spike::tally::collect(size, build_s, report, shards)?;
    run.stopped = shards.iter().any(|&id| report.actor(id).stopped_early);
    Ok(run)
}

#[cfg(test)]
mod tests;
