//! The Potjans & Diesmann (2014) cortical microcircuit on population shards: 77,169
//! `iaf_psc_exp` neurons in eight populations (layers 2/3, 4, 5, 6; excitatory and
//! inhibitory), about 0.3 billion synapses with normally distributed weights and delays,
//! Poisson (or DC) background drive: the field's stress benchmark. Its configuration
//! ([`MicrocircuitConfig`], `[microcircuit]` in a scenario), the published parameters and
//! what a scale derives from them ([`model`]), the parallel build ([`build`]) and
//! [`run_microcircuit`].
//!
//! The shards are [`Population`]s exchanging spikes once per window of the minimum delay
//! (one tick, 0.1 ms, with the model's delay distribution, as in NEST); each holds its
//! neurons' incoming synapses by presynaptic neuron, a delay ring, its neurons' Poisson
//! drive and a [`SpikeRecord`].

pub mod build;
pub mod model;

use std::ops::Range;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::math::rng::SeededRng;
use crate::runtime::{memory, Network, Runtime, RuntimeConfig, RuntimeError};
use crate::spike::cuba::{Coupling, SnnStats};
use crate::spike::drive::{Drive, PoissonInput};
use crate::spike::lif::{LifParams, LifState};
use crate::spike::population::Population;
use crate::spike::record::{summarize, SpikeRecord};
use build::Wiring;
use model::{Model, BG_RATE_HZ, POPULATIONS, REFERENCE_RATES_HZ, V0_MEAN_MV, V0_SD_MV};

/// Raster neurons of the largest population (the others in proportion, at least one).
pub const RASTER_NEURONS: usize = 200;
/// Simulated time the raster shows after the transient, ms.
pub const RASTER_MS: f64 = 200.0;

/// How the network is driven from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriveKind {
    /// Independent Poisson spikes at 8 Hz through each neuron's external synapses.
    Poisson,
    /// The constant current with the same mean.
    Dc,
}

/// The microcircuit (`scenarios/microcircuit.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MicrocircuitConfig {
    /// Scale of neuron numbers and in-degrees (1 = 77,169 neurons, 0.3e9 synapses; weights
    /// grow as 1/sqrt(scale) and a DC current makes up the lost mean input). Default 1.
    pub scale: f64,
    /// Simulated time, ms. Default 1000.
    pub duration_ms: f64,
    /// Start of the measurement (rates, CV, synchrony), ms. Default 100.
    pub transient_ms: f64,
    /// `poisson` | `dc`. Default `poisson`.
    pub drive: DriveKind,
    /// Mean delay of excitatory synapses, ms. Default 1.5.
    pub delay_e_ms: f64,
    /// Mean delay of inhibitory synapses, ms. Default 0.75.
    pub delay_i_ms: f64,
}

impl Default for MicrocircuitConfig {
    fn default() -> Self {
        Self {
            scale: 1.0,
            duration_ms: 1000.0,
            transient_ms: 100.0,
            drive: DriveKind::Poisson,
            delay_e_ms: 1.5,
            delay_i_ms: 0.75,
        }
    }
}

impl MicrocircuitConfig {
    /// The model this configuration describes.
    pub fn model(&self) -> Model {
        Model::new(
            self.scale,
            self.drive == DriveKind::Poisson,
            [self.delay_e_ms, self.delay_i_ms],
        )
    }
}

/// What [`run_microcircuit`] returns.
#[derive(Clone, Debug)]
pub struct MicrocircuitRun {
    /// The figures (`"snn"` in results.json), with `populations`.
    pub stats: SnnStats,
    /// Each population's first neuron (and the total at the end).
    pub starts: [usize; 9],
    /// Each population's per-neuron rates after the transient (Hz).
    pub rates: Vec<Vec<f32>>,
    /// (tick, neuron) of a sample of each population's spikes after the transient.
    pub raster: Vec<(u32, u32)>,
    /// The ticks the raster covers.
    pub raster_ticks: Range<u64>,
}

/// Ticks of a run: simulated, and where the measurement and the raster start and end.
struct Span {
    ticks: u64,
    from: u64,
    raster: Range<u64>,
}

impl Span {
    fn of(cfg: &MicrocircuitConfig) -> Self {
        let dt = LifParams::MICROCIRCUIT.dt_ms;
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
        (self.ticks - from) as f64 * LifParams::MICROCIRCUIT.dt_ms / 1000.0
    }
}

/// Builds the microcircuit for `seed` as `shards` population shards and runs it.
pub fn run_microcircuit(
    cfg: &MicrocircuitConfig,
    seed: u64,
    shards: usize,
    runtime: RuntimeConfig,
) -> Result<MicrocircuitRun, RuntimeError> {
    let built = Instant::now();
    let model = cfg.model();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wiring = Wiring::new(&model, seed, LifParams::MICROCIRCUIT.dt_ms, threads);
    let span = Span::of(cfg);
    let (net, synapses) = build_network(cfg, &wiring, seed, shards, &span);
    let build_s = built.elapsed().as_secs_f64();
    let report = Runtime::new(runtime).run(net)?;
    let mut run = collect(cfg, &wiring, &span, &report)?;
    run.stats.synapses = synapses;
    run.stats.build_s = build_s;
    run.stats.bytes_per_synapse = run
        .stats
        .peak_rss_bytes
        .map(|p| p as f64 / synapses.max(1) as f64);
    Ok(run)
}

/// The shards (balanced ranges, each with its synapses, delay ring, drive and record), all
/// connected to all; and the synapses in all.
fn build_network(
    cfg: &MicrocircuitConfig,
    wiring: &Wiring<'_>,
    seed: u64,
    shards: usize,
    span: &Span,
) -> (Network<crate::message::Message>, usize) {
    let lif = LifParams::MICROCIRCUIT;
    let model = wiring.model;
    let ranges = wiring.balanced_ranges(shards);
    let tables: Vec<_> = ranges
        .iter()
        .map(|r| wiring.shard_table(r.clone()))
        .collect();
    let synapses: usize = tables.iter().map(|t| t.len()).sum();
    let (min, max) = tables
        .iter()
        .filter_map(|t| t.delay_range())
        .fold((u16::MAX, 1), |(a, b), (lo, hi)| (a.min(lo), b.max(hi)));
    let v0 = initial_potentials(wiring, seed);
    let biggest = *model.neurons.iter().max().unwrap_or(&1);
    let raster_sample = model
        .neurons
        .map(|p| (p * RASTER_NEURONS).div_ceil(biggest.max(1)));
    let prop = lif
        .propagator()
        .with_refractory_ticks((lif.refractory_ms / lif.dt_ms).round() as u32);
    let no_coupling = Coupling {
        excitatory: 0,
        we_mv: 0.0,
        wi_mv: 0.0,
    };
    let mut net = Network::new();
    for (s, (r, table)) in ranges.iter().zip(tables).enumerate() {
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
        let shard = Population::new(s, &ranges, state, prop, table, no_coupling, span.ticks)
            .with_windows(u64::from(min.min(max)), u64::from(max))
            .with_drive(drive(cfg, model, wiring, r, seed))
            .with_record(record);
        net.add(format!("population.{s}"), shard);
        net.place(s, s);
    }
    let k = ranges.len();
    for a in 0..k {
        for b in (0..k).filter(|&b| b != a) {
            net.connect(a, b);
        }
    }
    (net, synapses)
}

/// The run's figures from its shards (synapses, build time and bytes per synapse are the
/// caller's to fill in).
fn collect(
    cfg: &MicrocircuitConfig,
    wiring: &Wiring<'_>,
    span: &Span,
    report: &crate::runtime::RunReport<crate::message::Message>,
) -> Result<MicrocircuitRun, RuntimeError> {
    let mut records = Vec::new();
    let (mut spikes, mut events, mut bytes, mut busy) = (0, 0, 0, Vec::new());
    for (i, a) in report.actors.iter().enumerate() {
        let Some(p) = (a.as_ref() as &dyn std::any::Any).downcast_ref::<Population>() else {
            continue;
        };
        if let Some((step, what, value)) = crate::spike::cuba::SpikeTally::fault(p) {
            return Err(RuntimeError::NonFinite {
                actor: report.names.get(i).cloned().unwrap_or_default(),
                step,
                what: what.to_owned(),
                value,
            });
        }
        spikes += p.spikes;
        events += p.synaptic_events;
        bytes += p.bytes();
        busy.push(p.busy_s());
        records.extend(p.record());
    }
    let reference = (cfg.scale == 1.0).then_some(&REFERENCE_RATES_HZ[..]);
    let (populations, rates) = summarize(
        &records,
        &POPULATIONS,
        &wiring.starts,
        span.seconds(span.from),
        reference,
    );
    let mut raster: Vec<(u32, u32)> = records
        .iter()
        .flat_map(|r| r.raster.iter().copied())
        .collect();
    raster.sort_unstable();
    let (n, sim_s, wall_s) = (
        wiring.in_degrees.len(),
        span.seconds(0),
        report.elapsed.as_secs_f64(),
    );
    Ok(MicrocircuitRun {
        stats: SnnStats {
            neurons: n,
            spikes,
            synaptic_events: events,
            mean_rate_hz: spikes as f64 / n.max(1) as f64 / sim_s.max(1e-12),
            sim_s,
            wall_s,
            messages: report.handled,
            rtf: Some(wall_s / sim_s.max(1e-12)),
            network_bytes: Some(bytes as u64),
            peak_rss_bytes: memory::peak_resident_bytes(),
            shard_busy_s: busy,
            populations,
            ..SnnStats::default()
        },
        starts: wiring.starts,
        rates,
        raster,
        raster_ticks: span.raster.clone(),
    })
}

/// The model's initial potentials: normal per population (seeded stream
/// `microcircuit/v0`, in neuron order).
fn initial_potentials(wiring: &Wiring<'_>, seed: u64) -> Vec<f32> {
    let mut rng = SeededRng::stream(seed, "microcircuit/v0");
    (0..wiring.in_degrees.len())
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
    let dt_s = LifParams::MICROCIRCUIT.dt_ms / 1000.0;
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

#[cfg(test)]
mod tests;
