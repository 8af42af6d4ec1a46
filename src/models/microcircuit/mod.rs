//! The Potjans & Diesmann (2014) cortical microcircuit on population shards: 77,169
//! `iaf_psc_exp` neurons in eight populations (layers 2/3, 4, 5, 6; excitatory and
//! inhibitory), about 0.3 billion synapses with normally distributed weights and delays,
//! Poisson (or DC) background drive: the field's stress benchmark. Its configuration
//! ([`MicrocircuitConfig`], what a scenario's `[microcircuit]` resolves to), the published parameters and
//! what a scale derives from them ([`model`]), the parallel build ([`build`]) and
//! [`run_microcircuit`].
//!
//! The shards are [`crate::spike::population::Population`]s exchanging spikes once per window of the minimum delay
//! (one tick, 0.1 ms, with the model's delay distribution, as in NEST); each holds its
//! neurons' incoming synapses by presynaptic neuron, a delay ring, its neurons' Poisson
//! drive and a [`crate::spike::record::SpikeRecord`].

pub mod build;
pub mod model;
mod run;

use std::ops::Range;

use serde::Serialize;

use crate::cluster::Ranks;
use crate::run_error::NetworkRunError;
use crate::runtime::RuntimeConfig;
use crate::spike::stats::SnnStats;
use model::Model;

/// Raster neurons of the largest population (the others in proportion, at least one).
pub const RASTER_NEURONS: usize = 200;
/// Simulated time the raster shows after the transient, ms.
pub const RASTER_MS: f64 = 200.0;

/// How the network is driven from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriveKind {
    /// Independent Poisson spikes at 8 Hz through each neuron's external synapses.
    Poisson,
    /// The constant current with the same mean.
    Dc,
}

/// The microcircuit (a scenario's `[microcircuit]` resolves to one, see
/// `experiment::scenario::MicrocircuitSection`). Serialised only for the ranks of a run
/// to agree on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MicrocircuitConfig {
    /// Scale of neuron numbers and in-degrees (1 = 77,169 neurons, 0.3e9 synapses; weights
    /// grow as 1/sqrt(scale) and a DC current makes up the lost mean input). Default 1.
    pub scale: f64,
    /// Simulated time, ms. Default 1000.
    pub duration_ms: f64,
    /// Start of the measurement (rates, CV, synchrony), ms. Default 100.
    pub transient_ms: f64,
    /// Poisson spikes or a constant current. Default Poisson.
    pub drive: DriveKind,
    /// Mean delay of excitatory synapses, ms. Default 1.5.
    pub delay_e_ms: f64,
    /// Mean delay of inhibitory synapses, ms. Default 0.75.
    pub delay_i_ms: f64,
    /// Projections whose synapses learn by STDP (`[plasticity]`), if any. Default none.
    pub plasticity: Option<crate::spike::plasticity::PlasticProjections>,
    /// What `[[probe]]`s record. Default none.
    pub probes: crate::message::probe::Probes,
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
            plasticity: None,
            probes: Default::default(),
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
    /// Stopped on request before `duration_ms` (the figures cover what was simulated).
    pub stopped: bool,
    /// What the `[[probe]]`s recorded, in scenario order.
    pub probes: Vec<crate::message::probe::ProbeArray>,
    /// The messages this rank's actors sent.
    pub traffic: crate::spike::tally::TrafficLog,
}

/// Builds the microcircuit for `seed` as `shards` population shards and runs it in one
/// process.
pub fn run_microcircuit(
    cfg: &MicrocircuitConfig,
    seed: u64,
    shards: usize,
    runtime: RuntimeConfig,
) -> Result<MicrocircuitRun, NetworkRunError> {
    run_microcircuit_until(cfg, seed, shards, runtime, None)
}

/// [`run_microcircuit`] that stops early, at the end of the second exchange window after the
/// one in which `stop` is seen (Ctrl-C), on every shard at the same tick; the figures then cover the ticks
/// simulated and [`MicrocircuitRun::stopped`] is set.
pub fn run_microcircuit_until(
    cfg: &MicrocircuitConfig,
    seed: u64,
    shards: usize,
    runtime: RuntimeConfig,
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> Result<MicrocircuitRun, NetworkRunError> {
    run_microcircuit_on(&mut Ranks::single(), cfg, seed, (shards, runtime), stop)
}

/// [`run_microcircuit_until`] on `ranks`: across several (MPI under `mpirun` with the `mpi`
/// feature, or [`crate::cluster::on_thread_ranks`]), the shards are spread over them, every
/// rank stops at the same tick, and every rank returns the whole run's figures.
pub fn run_microcircuit_on(
    ranks: &mut Ranks,
    cfg: &MicrocircuitConfig,
    seed: u64,
    (shards, runtime): (usize, RuntimeConfig),
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> Result<MicrocircuitRun, NetworkRunError> {
    run::run_on(ranks, cfg, seed, (shards, runtime, stop))
}

#[cfg(test)]
mod tests;
