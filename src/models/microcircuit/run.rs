//! Building and running the microcircuit's shards, in one process or over ranks
//! ([`run_ranked`]): the network of the shards this rank holds, and the run's figures
//! gathered from every shard of every rank.

use std::ops::Range;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::build::Wiring;
use super::model::{Model, BG_RATE_HZ, LIF, POPULATIONS, REFERENCE_RATES_HZ, V0_MEAN_MV, V0_SD_MV};
use super::{DriveKind, MicrocircuitConfig, MicrocircuitRun, RASTER_MS, RASTER_NEURONS};
use crate::cluster::shard_traffic::{self, ShardTraffic};
use crate::cluster::{
    run_ranked, BridgeFigures, Built, Link, LinkFigures, Placed, RankBridge, RankedNetwork, Ranks,
    Report,
};
use crate::math::rng::SeededRng;
use crate::message::probe::{ProbeArray, ProbePlan};
use crate::message::Message;
use crate::run_error::NetworkRunError;
use crate::runtime::{memory, ActorId, Network, RunReport, RuntimeConfig, RuntimeError};
use crate::spike::coupling::Coupling;
use crate::spike::drive::{Drive, PoissonInput};
use crate::spike::lif::LifState;
use crate::spike::plasticity::WeightFigures;
use crate::spike::population::{Population, SynapseTable};
use crate::spike::probe_sink::{self, attach_sink, ProbeSink};
use crate::spike::record::{summarize, SpikeRecord};
use crate::spike::stats::{RankFigures, SnnStats};

/// Ticks of a run: simulated, and where the measurement and the raster start and end.
struct Span {
    ticks: u64,
    from: u64,
    raster: Range<u64>,
}

impl Span {
    fn of(cfg: &MicrocircuitConfig) -> Self {
        let dt = LIF.dt_ms;
        let ticks = (cfg.duration_ms / dt).round() as u64;
        let from = ((cfg.transient_ms / dt).round() as u64).min(ticks);
        Span {
            ticks,
            from,
            raster: from..(from + (RASTER_MS / dt) as u64).min(ticks),
        }
    }

    /// Simulated seconds from tick `from`.
    fn seconds(&self, from: u64) -> f64 {
        (self.ticks - from) as f64 * LIF.dt_ms / 1000.0
    }
}

/// What one rank's shards did (gathered from every rank when there are several).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Figures {
    spikes: u64,
    events: u64,
    synapses: usize,
    bytes: u64,
    messages: u64,
    /// (shard, seconds stepping).
    busy: Vec<(usize, f64)>,
    records: Vec<SpikeRecord>,
    peak_rss: u64,
    /// Ticks simulated (all shards stop at the same tick) and whether that was early.
    ticks: u64,
    stopped: bool,
    wall_s: f64,
    build_s: f64,
    exchanges: u64,
    exchange_wait_s: f64,
    exchange_bytes: u64,
    /// What the plastic weights did, if any learn.
    weights: Option<WeightFigures>,
    /// Its share of the run's traffic, as one process's.
    traffic: ShardTraffic,
}

/// [`super::run_microcircuit_on`]: builds the model's wiring, then runs its shards on
/// `ranks` ([`run_ranked`]).
pub(super) fn run_on(
    ranks: &mut Ranks,
    cfg: &MicrocircuitConfig,
    seed: u64,
    (shards, runtime, stop): (usize, RuntimeConfig, Option<StopFlag>),
) -> Result<MicrocircuitRun, NetworkRunError> {
    if ranks.several() && !cfg.probes.plans.is_empty() {
        return Err(NetworkRunError::Ranks(
            "probes do not run across ranks yet; run the probed scenario in one process".to_owned(),
        ));
    }
    let built = Instant::now();
    let model = cfg.model();
    // The build runs on as many threads as the run's workers (the same network on any
    // number: every job draws from its own substream).
    let wiring = Wiring::new(&model, seed, LIF.dt_ms, runtime.workers.max(1));
    let ranges = wiring.balanced_ranges(shards);
    let circuit = Circuit {
        cfg,
        seed,
        shards,
        runtime,
        stop,
        built,
        span: Span::of(cfg),
        wiring,
        ranges,
        local: Vec::new(),
        populations: Vec::new(),
        build_s: 0.0,
        sink: None,
        probes: Vec::new(),
    };
    run_ranked(ranks, circuit)
}

/// The microcircuit's shards as [`run_ranked`] runs them: the model's wiring, each shard's
/// neurons, the shards this rank holds, and when its build began and ended.
struct Circuit<'a> {
    cfg: &'a MicrocircuitConfig,
    seed: u64,
    shards: usize,
    runtime: RuntimeConfig,
    stop: Option<StopFlag>,
    built: Instant,
    span: Span,
    wiring: Wiring<'a>,
    ranges: Vec<Range<usize>>,
    local: Vec<usize>,
    /// This rank's shards, once built.
    populations: Vec<ActorId<Population>>,
    build_s: f64,
    /// The probe sink, and what it assembled.
    sink: Option<ActorId<ProbeSink>>,
    probes: Vec<ProbeArray>,
}

impl RankedNetwork for Circuit<'_> {
    type Fingerprint = (MicrocircuitConfig, u64, usize);
    type Share = Figures;
    type Output = MicrocircuitRun;

    fn runtime(&self) -> RuntimeConfig {
        self.runtime
    }

    fn fingerprint(&self) -> Self::Fingerprint {
        (self.cfg.clone(), self.seed, self.shards)
    }

    fn units(&self) -> usize {
        self.ranges.len()
    }

    fn synapses(&self) -> Vec<u64> {
        let synapses = |r: &Range<usize>| self.wiring.synapses_in(r.clone());
        self.ranges.iter().map(synapses).collect()
    }

    fn build(&mut self, at: &Placed, ranks: &mut Ranks) -> Result<Built, NetworkRunError> {
        self.local = at.local();
        let tables: Vec<SynapseTable> = self
            .local
            .iter()
            .map(|&s| self.wiring.shard_table(self.ranges[s].clone()))
            .collect();
        let span = |all: &mut dyn Iterator<Item = (u16, u16)>| {
            all.fold((u16::MAX, 1), |(a, b), (lo, hi)| (a.min(lo), b.max(hi)))
        };
        let delays = span(&mut tables.iter().filter_map(SynapseTable::delay_range));
        // Every rank must agree on the window: the smallest delay of all.
        let delays = span(&mut ranks.gather_json(delays)?.into_iter());
        let window = u64::from(delays.0.min(delays.1));
        let shards_of = Shards {
            ranges: &self.ranges,
            local: &self.local,
            delays,
            stop: self.stop.clone(),
        };
        let (net, populations, sink) = build_network(
            self.cfg,
            &self.wiring,
            self.seed,
            &shards_of,
            tables,
            &self.span,
        );
        self.populations = populations;
        self.sink = sink;
        self.build_s = self.built.elapsed().as_secs_f64();
        let (local, windows) = (
            self.local.len(),
            RankBridge::windows(self.span.ticks, window),
        );
        let link = Link::Bridge {
            local,
            windows,
            origins: Some(crate::cluster::Origins::FirstWord),
        };
        Ok((net, link))
    }

    fn share(
        &mut self,
        report: &mut Report,
        link: &LinkFigures,
    ) -> Result<Figures, NetworkRunError> {
        let mut mine = local_figures(report, &self.populations, link.bridge)?;
        let synapses = |&s: &usize| self.wiring.synapses_in(self.ranges[s].clone()) as usize;
        mine.synapses = self.local.iter().map(synapses).sum();
        mine.build_s = self.build_s;
        self.probes = probe_sink::arrays(report, self.sink);
        let shard_name = |s: u32| format!("population.{s}");
        mine.traffic =
            ShardTraffic::of(&report.traffic, &report.names, &link.delivered, shard_name);
        Ok(mine)
    }

    fn assemble(
        self,
        mut report: RunReport<Message>,
        mut all: Vec<Figures>,
        at: &Placed,
        _: LinkFigures,
    ) -> Result<MicrocircuitRun, NetworkRunError> {
        let shard_rank = at.unit_rank.clone();
        let shares = all
            .iter_mut()
            .map(|f| std::mem::take(&mut f.traffic))
            .collect();
        let mut log = crate::spike::tally::TrafficLog::take(&mut report);
        let names: Vec<String> = (0..self.ranges.len())
            .map(|s| format!("population.{s}"))
            .collect();
        let (traffic, names) = shard_traffic::merge(shares, &names, &shard_rank);
        log.renamed(traffic, names);
        let mut run = assemble(self.cfg, &self.wiring, &self.span, all, shard_rank);
        run.probes = self.probes;
        run.traffic = log;
        Ok(run)
    }
}

/// A request to stop early, shared with the shards.
type StopFlag = std::sync::Arc<std::sync::atomic::AtomicBool>;

/// Which shards there are and which this rank holds, the delays of all, and the stop flag.
struct Shards<'a> {
    ranges: &'a [Range<usize>],
    local: &'a [usize],
    delays: (u16, u16),
    stop: Option<StopFlag>,
}

/// This rank's shards, each with its synapses, delay ring, drive and record (connected to
/// each other and to the other ranks by [`run_ranked`]), and their handles.
fn build_network(
    cfg: &MicrocircuitConfig,
    wiring: &Wiring<'_>,
    seed: u64,
    shards: &Shards<'_>,
    tables: Vec<SynapseTable>,
    span: &Span,
) -> (
    Network<Message>,
    Vec<ActorId<Population>>,
    Option<ActorId<ProbeSink>>,
) {
    let lif = LIF;
    let model = wiring.model;
    let v0 = initial_potentials(wiring, seed);
    let biggest = *model.neurons.iter().max().unwrap_or(&1);
    let raster_sample = model
        .neurons
        .map(|p| (p * RASTER_NEURONS).div_ceil(biggest.max(1)));
    let prop = lif
        .propagator()
        .with_refractory_ticks((lif.refractory_ms / lif.dt_ms).round() as u32);
    let (min, max) = shards.delays;
    let mut net = Network::new();
    let mut populations = Vec::with_capacity(tables.len());
    let mut tapped = Vec::new();
    for (i, (&s, table)) in shards.local.iter().zip(tables).enumerate() {
        let r = &shards.ranges[s];
        let mut state = LifState::new(r.len(), 0.0);
        state.v_mv.copy_from_slice(&v0[r.clone()]);
        let ticks = (span.from, span.ticks);
        let record = SpikeRecord::new(
            r.clone(),
            &wiring.starts,
            ticks,
            &raster_sample,
            span.raster.end,
        );
        let mut shard = Population::new(
            s,
            shards.ranges,
            state,
            prop,
            table,
            Coupling::NONE,
            span.ticks,
        );
        if let Some(p) = &cfg.plasticity {
            shard = shard.with_plasticity(p, lif.dt_ms as f32);
        }
        let shard = shard
            .with_windows(u64::from(min.min(max)), u64::from(max))
            .with_drive(drive(cfg, model, wiring, r, seed))
            .with_record(record)
            .with_stop(shards.stop.clone());
        let taps = ProbePlan::taps(&cfg.probes.plans, 0, r.clone());
        let n_taps = taps.len();
        let id = net.add(format!("population.{s}"), shard.with_probes(taps));
        net.place(id, i);
        populations.push(id);
        tapped.push((id.index(), n_taps));
    }
    let probes = &cfg.probes;
    let plans = (&probes.plans[..], span.ticks);
    let sink = attach_sink(&mut net, plans, &tapped, probes.feed.clone());
    (net, populations, sink)
}

/// What this rank's shards (`populations`) did, and its bridge `b`.
fn local_figures(
    report: &RunReport<Message>,
    populations: &[ActorId<Population>],
    b: BridgeFigures,
) -> Result<Figures, NetworkRunError> {
    let mut f = Figures {
        messages: report.handled,
        wall_s: report.elapsed.as_secs_f64(),
        peak_rss: memory::peak_resident_bytes().unwrap_or(0),
        ..Figures::default()
    };
    (f.exchanges, f.exchange_wait_s, f.exchange_bytes) = (b.exchanges, b.wait_s, b.bytes);
    for &id in populations {
        let p = report.actor(id);
        if let Some((step, what, value)) = crate::spike::tally::SpikeTally::fault(p) {
            return Err(NetworkRunError::from(RuntimeError::NonFinite {
                actor: report.names[id.index()].clone(),
                step,
                what: what.to_owned(),
                value,
            }));
        }
        f.spikes += p.spikes;
        f.events += p.synaptic_events;
        f.bytes += p.bytes() as u64;
        f.busy.push((p.shard(), p.busy_s()));
        f.ticks = p.ticks();
        f.stopped |= p.stopped_early;
        f.records.extend(p.record().cloned());
        if let Some(w) = p.weight_figures() {
            merge_weights(&mut f.weights, &w);
        }
    }
    Ok(f)
}

/// The run's figures from every rank's.
fn assemble(
    cfg: &MicrocircuitConfig,
    wiring: &Wiring<'_>,
    span: &Span,
    all: Vec<Figures>,
    shard_rank: Vec<usize>,
) -> MicrocircuitRun {
    let ranks = all.len();
    // Stopped early: every shard stopped at the same tick; measure what was simulated.
    let ticks = all.iter().map(|f| f.ticks).min().unwrap_or(span.ticks);
    let span = &Span {
        ticks,
        from: span.from.min(ticks),
        raster: span.raster.start.min(ticks)..span.raster.end.min(ticks),
    };
    let stopped = all.iter().any(|f| f.stopped);
    let mut records: Vec<&SpikeRecord> = all.iter().flat_map(|f| f.records.iter()).collect();
    records.sort_by_key(|r| r.first_neuron());
    let reference = (cfg.scale == 1.0).then_some(&REFERENCE_RATES_HZ[..]);
    let (populations, rates) = summarize(
        &records,
        &POPULATIONS,
        &wiring.starts,
        (span.ticks - span.from, span.seconds(span.from)),
        reference,
    );
    let raster = merged_raster(&records);
    let mut busy: Vec<(usize, f64)> = all.iter().flat_map(|f| f.busy.iter().copied()).collect();
    busy.sort_by_key(|b| b.0);
    let sum = |g: fn(&Figures) -> u64| all.iter().map(g).sum::<u64>();
    let n = wiring.neurons();
    let synapses: usize = all.iter().map(|f| f.synapses).sum();
    let (sim_s, wall_s) = (
        span.seconds(0),
        all.iter().map(|f| f.wall_s).fold(0.0, f64::max),
    );
    let spikes = sum(|f| f.spikes);
    let peak = sum(|f| f.peak_rss);
    let mut plasticity: Option<WeightFigures> = None;
    for w in all.iter().filter_map(|f| f.weights.as_ref()) {
        merge_weights(&mut plasticity, w);
    }
    MicrocircuitRun {
        probes: Vec::new(),
        traffic: Default::default(),
        stats: SnnStats {
            neurons: n,
            synapses,
            spikes,
            synaptic_events: sum(|f| f.events),
            mean_rate_hz: spikes as f64 / n.max(1) as f64 / sim_s.max(1e-12),
            sim_s,
            wall_s,
            build_s: all.iter().map(|f| f.build_s).fold(0.0, f64::max),
            messages: sum(|f| f.messages),
            rtf: Some(wall_s / sim_s.max(1e-12)),
            network_bytes: Some(sum(|f| f.bytes)),
            peak_rss_bytes: (peak > 0).then_some(peak),
            bytes_per_synapse: (peak > 0).then(|| peak as f64 / synapses.max(1) as f64),
            shard_busy_s: busy.into_iter().map(|b| b.1).collect(),
            ranks: (ranks > 1).then(|| RankFigures {
                ranks,
                shard_rank,
                exchanges: all[0].exchanges,
                exchange_wait_s: all.iter().map(|f| f.exchange_wait_s).collect(),
                exchange_bytes: sum(|f| f.exchange_bytes),
            }),
            populations,
            plasticity,
        },
        starts: wiring.starts,
        rates,
        raster,
        raster_ticks: span.raster.clone(),
        stopped,
    }
}

/// Adds `w` to the plasticity figures `into` (which start empty).
fn merge_weights(into: &mut Option<WeightFigures>, w: &WeightFigures) {
    into.get_or_insert_with(WeightFigures::default).merge(w);
}

/// Every record's raster points, `(tick, neuron)` in order.
fn merged_raster(records: &[&SpikeRecord]) -> Vec<(u32, u32)> {
    let mut raster: Vec<(u32, u32)> = records
        .iter()
        .flat_map(|r| r.raster.iter().copied())
        .collect();
    raster.sort_unstable();
    raster
}

/// The model's initial potentials: normal per population (seeded stream
/// `microcircuit/v0`, in neuron order).
fn initial_potentials(wiring: &Wiring<'_>, seed: u64) -> Vec<f32> {
    let mut rng = SeededRng::stream(seed, "microcircuit/v0");
    (0..wiring.neurons())
        .map(|i| {
            let p = wiring.population(i);
            (V0_MEAN_MV[p] + V0_SD_MV[p] * rng.normal()) as f32
        })
        .collect()
}

/// The external drive of the neurons `r`: Poisson spikes (mean `K_ext x 8 Hz x dt` a tick)
/// and/or DC, per population.
fn drive(
    cfg: &MicrocircuitConfig,
    model: &Model,
    wiring: &Wiring<'_>,
    r: &Range<usize>,
    seed: u64,
) -> Drive {
    let class: Vec<u8> = r.clone().map(|i| wiring.population(i) as u8).collect();
    let dc_mv = if model.dc_mv.iter().any(|&d| d != 0.0) {
        class
            .iter()
            .map(|&p| model.dc_mv[p as usize] as f32)
            .collect()
    } else {
        Vec::new()
    };
    let dt_s = LIF.dt_ms / 1000.0;
    let poisson = (cfg.drive == DriveKind::Poisson).then(|| {
        let means: Vec<f64> = model
            .k_ext
            .iter()
            .map(|&k| k as f64 * BG_RATE_HZ * dt_s)
            .collect();
        let total = model.total_neurons() as u64;
        PoissonInput::new(
            seed,
            (r.start as u64, total),
            class,
            &means,
            model.weight_ext_mv as f32,
        )
    });
    Drive { dc_mv, poisson }
}
