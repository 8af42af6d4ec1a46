//! Diehl & Cook (2015)'s unsupervised MNIST network on actors: Poisson inputs
//! ([`PoissonSource`](crate::spike::poisson_source::PoissonSource)), a competitive layer of
//! excitatory neurons with plastic input synapses and their inhibitory partners
//! ([`CompetitiveShard`](crate::spike::competitive::CompetitiveShard)s), and a coordinator that presents the
//! images, labels the neurons and tests ([`coordinator`]). Its configuration
//! ([`DiehlCookConfig`]), the paper's constants ([`params`]), and [`run_diehl_cook`], which
//! reports a [`DiehlCookRun`] (across MPI ranks: [`ranked`]).

pub mod coordinator;
pub mod labels;
pub mod ranked;

pub use ranked::run_diehl_cook_on;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cluster::Ranks;
use crate::data::dataset::Dataset;
use crate::math::rng::SeededRng;
use crate::message::Message;
use crate::run_error::NetworkRunError;
use crate::runtime::{RunReport, RuntimeConfig};
use crate::spike::competitive::CompetitiveParams;
use crate::spike::conductance::CobaParams;
use crate::spike::plasticity::Plasticity;
use crate::state::{StateBag, StateError};
use coordinator::{Checkpoints, StdpCoordinator};

/// Tick, ms.
pub const DT_MS: f32 = 0.5;
/// Input rate per pixel value and intensity unit, Hz (pixel / 8 x intensity).
pub const HZ_PER_UNIT: f64 = 1.0 / 8.0;

/// The network (a scenario's `[stdp_mnist]` and `[plasticity]` resolve to one).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiehlCookConfig {
    /// Excitatory neurons (as many inhibitory ones).
    pub n_exc: usize,
    /// Passes over the training images.
    pub epochs: usize,
    /// Training images per epoch (the first ones of the training set).
    pub train_images: usize,
    /// Training images presented with learning off to label the neurons.
    pub label_images: usize,
    /// Test images.
    pub test_images: usize,
    /// Training images per point of the training curve.
    pub curve_every: usize,
    /// The input synapses' rule.
    pub plasticity: Plasticity,
    /// The input synapses' delays, ms: each drawn uniformly in `[min, max]` and truncated to
    /// whole ticks, as Brian 1 does (`(0, 0)`: none).
    pub input_delay_ms: (f32, f32),
}

impl Default for DiehlCookConfig {
    fn default() -> Self {
        DiehlCookConfig {
            n_exc: 400,
            epochs: 1,
            train_images: 60_000,
            label_images: 10_000,
            test_images: 10_000,
            curve_every: 1000,
            plasticity: Plasticity::diehl_cook(),
            input_delay_ms: INPUT_DELAY_MS,
        }
    }
}

/// The published code's input delays, ms (`delay['ee_input']`).
pub const INPUT_DELAY_MS: (f32, f32) = (0.0, 10.0);

/// The paper's constants (its published code): neurons, weights, theta, normalisation, and
/// 350 ms of input then 150 ms of rest per presentation, for `plasticity`.
pub fn params(plasticity: Plasticity) -> CompetitiveParams {
    let exc = CobaParams {
        tau_m_ms: 100.0,
        v_rest_mv: -65.0,
        v_reset_mv: -65.0,
        // The code's threshold is `theta - offset + v_thresh` with offset 20 mV, v_thresh -52.
        v_threshold_mv: -72.0,
        e_exc_mv: 0.0,
        e_inh_mv: -100.0,
        tau_ge_ms: 1.0,
        tau_gi_ms: 2.0,
        refractory_ms: 5.0,
        // `timer > refrac_e` with a timer running at 0.1 ms per ms: 50 ms between spikes.
        lockout_ms: 50.0,
        dt_ms: DT_MS,
    };
    let inh = CobaParams {
        tau_m_ms: 10.0,
        v_rest_mv: -60.0,
        v_reset_mv: -45.0,
        v_threshold_mv: -40.0,
        e_exc_mv: 0.0,
        e_inh_mv: -85.0,
        tau_ge_ms: 1.0,
        tau_gi_ms: 2.0,
        refractory_ms: 2.0,
        lockout_ms: 0.0,
        dt_ms: DT_MS,
    };
    CompetitiveParams {
        exc,
        inh,
        v0_mv: (-105.0, -100.0),
        w_exc_inh: 10.4,
        w_inh_exc: 17.0,
        plasticity: Some(plasticity),
        theta: (20.0, 0.05, 1e7),
        normalise_to: Some(78.0),
        present_ticks: 700,
        rest_ticks: 300,
    }
}

/// One point of the training curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Training images seen.
    pub images: u64,
    /// Accuracy on the last window of training images, by labels from the window before.
    pub accuracy: f64,
}

/// What one stage (training, labelling, test) took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageFigures {
    /// Presentations, re-presentations included.
    pub presentations: u64,
    /// Images.
    pub images: u64,
    /// Spikes (excitatory and inhibitory; inputs not counted).
    pub spikes: u64,
    /// Synaptic events (input and lateral).
    pub synaptic_events: u64,
    /// Wall seconds.
    pub wall_s: f64,
}

/// What a Diehl & Cook run measured (`"stdp"` in results.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiehlCookResults {
    /// Excitatory neurons.
    pub n_exc: usize,
    /// Test accuracy (learning off, labels from the labelling images).
    pub test_accuracy: f64,
    /// Test accuracy per class.
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]`; the last column: no labelled neuron fired.
    pub confusion: Vec<Vec<u64>>,
    /// Neurons labelled with each class; the last entry: never fired while labelling.
    pub neurons_per_class: Vec<usize>,
    /// Accuracy against training images seen.
    pub curve: Vec<CurvePoint>,
    /// Training, labelling, test.
    pub train: StageFigures,
    /// Labelling.
    pub label: StageFigures,
    /// Test.
    pub test: StageFigures,
    /// Input spikes over the run.
    pub input_spikes: u64,
    /// Wall seconds per training image.
    pub train_wall_s_per_image: f64,
    /// Spikes per presented image, over the run.
    pub spikes_per_image: f64,
    /// Synaptic events per presented image, over the run.
    pub synaptic_events_per_image: f64,
}

/// What [`run_diehl_cook`] returns: the figures, the learned weights and thresholds, and the
/// actors' report (traffic).
pub struct DiehlCookRun {
    /// The figures.
    pub results: DiehlCookResults,
    /// Input weights, `784 x n_exc` (a row per pixel).
    pub weights: Vec<f32>,
    /// Adaptive thresholds' theta, mV.
    pub theta: Vec<f32>,
    /// The run's message traffic, names and trace.
    pub report: RunReport<Message>,
    /// Stopped on request before the end (after a checkpoint when training).
    pub interrupted: bool,
}

/// The initial input weights: `(U(0, 1) + 0.01) x 0.3` per synapse, drawn row by row from
/// the seed (the same whatever the sharding).
pub fn initial_weights(inputs: usize, n_exc: usize, seed: u64) -> Vec<f32> {
    let mut rng = SeededRng::stream(seed, "stdp-input-weights");
    (0..inputs * n_exc)
        .map(|_| ((rng.uniform() + 0.01) * 0.3) as f32)
        .collect()
}

/// The input synapses' delays in ticks of [`DT_MS`]: `U(min, max)` ms per synapse truncated
/// to whole ticks, drawn row by row from the seed (the same whatever the sharding).
pub fn input_delays(inputs: usize, n_exc: usize, seed: u64, (min, max): (f32, f32)) -> Vec<u8> {
    let mut rng = SeededRng::stream(seed, "stdp-input-delays");
    let (min, max) = (f64::from(min), f64::from(max));
    (0..inputs * n_exc)
        .map(|_| {
            let ms = min + rng.uniform() * (max - min);
            (ms / f64::from(DT_MS)).floor().clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// Patterns (training images then test images) and their labels, as the plan needs them.
fn patterns(cfg: &DiehlCookConfig, data: &Dataset) -> (Arc<Vec<u8>>, Arc<Vec<u8>>, usize) {
    let train = cfg.train_images.max(cfg.label_images).min(data.train.len());
    let test = cfg.test_images.min(data.test.len());
    let mut images = Vec::with_capacity((train + test) * data.pixels());
    let mut labels = Vec::with_capacity(train + test);
    for i in 0..train {
        images.extend_from_slice(data.train.image(i));
        labels.push(data.train.labels()[i]);
    }
    for i in 0..test {
        images.extend_from_slice(data.test.image(i));
        labels.push(data.test.labels()[i]);
    }
    (Arc::new(images), Arc::new(labels), train)
}

/// How a run is watched and continued: a counter of images finished, where checkpoints go,
/// and the checkpoint to continue from.
#[derive(Default)]
pub struct RunHooks<'a> {
    /// Counts images finished (labelling and test included).
    pub progress: Option<Arc<AtomicU64>>,
    /// Where checkpoints go, and how often.
    pub checkpoints: Option<Checkpoints>,
    /// Actor states to continue from (a checkpoint's `actors`).
    pub resume: Option<&'a BTreeMap<String, StateBag>>,
}

/// Trains the network on `data` (unsupervised), labels its neurons and tests it, with
/// `shards` shards on `runtime`, in one process.
pub fn run_diehl_cook(
    cfg: &DiehlCookConfig,
    data: &Dataset,
    seed: u64,
    (shards, runtime): (usize, RuntimeConfig),
    hooks: RunHooks<'_>,
) -> Result<DiehlCookRun, NetworkRunError> {
    let setup = (shards, runtime);
    run_diehl_cook_on(&mut Ranks::single(), cfg, data, seed, setup, hooks)
}

/// Restores actor `name` from `resume` (if continuing) with `into`.
pub(super) fn restore(
    resume: Option<&BTreeMap<String, StateBag>>,
    name: &str,
    into: impl FnOnce(&StateBag) -> Result<(), StateError>,
) -> Result<(), NetworkRunError> {
    let Some(states) = resume else {
        return Ok(());
    };
    let bag = states.get(name).ok_or_else(|| {
        NetworkRunError::Restore(format!(
            "the checkpoint has no state for {name} (was it written with another number of \
             shards? runtime.shards must be the same)"
        ))
    })?;
    into(bag).map_err(|e| NetworkRunError::Restore(format!("{name}: {e}")))
}

/// The figures from the coordinator's tallies.
fn figures(
    cfg: &DiehlCookConfig,
    c: &StdpCoordinator,
    input_spikes: u64,
    classes: usize,
) -> DiehlCookResults {
    let confusion: Vec<Vec<u64>> = c
        .confusion
        .chunks_exact(classes + 1)
        .map(<[u64]>::to_vec)
        .collect();
    let hits: u64 = (0..classes).map(|k| confusion[k][k]).sum();
    let total: u64 = confusion.iter().flatten().sum();
    let per_class = confusion
        .iter()
        .enumerate()
        .map(|(k, row)| row[k] as f64 / row.iter().sum::<u64>().max(1) as f64)
        .collect();
    let [train, label, test] = c.stages;
    let presented = train.presentations + label.presentations + test.presentations;
    let spikes = train.spikes + label.spikes + test.spikes;
    let events = train.synaptic_events + label.synaptic_events + test.synaptic_events;
    DiehlCookResults {
        n_exc: cfg.n_exc,
        test_accuracy: hits as f64 / total.max(1) as f64,
        per_class_accuracy: per_class,
        confusion,
        neurons_per_class: c.assignments.per_class(),
        curve: c.curve.clone(),
        train,
        label,
        test,
        input_spikes,
        train_wall_s_per_image: train.wall_s / train.images.max(1) as f64,
        spikes_per_image: spikes as f64 / presented.max(1) as f64,
        synaptic_events_per_image: events as f64 / presented.max(1) as f64,
    }
}

#[cfg(test)]
mod tests;
