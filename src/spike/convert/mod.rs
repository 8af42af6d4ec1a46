//! ANN-to-SNN conversion (Diehl et al. 2015; Rueckauer et al. 2017), run live on actors.
//!
//! A trained ReLU MLP becomes a network of integrate-and-fire layers: weights and biases are
//! normalised by the 99.9th percentile of each layer's ReLU activations on training data
//! ([`normalise`]), every unit integrates `v += W s + b` per tick, fires when `v >= 1` and resets
//! by subtracting 1 (so its rate approximates the ReLU's activation). The input is a constant
//! current (the pixel values) or, as an option, Poisson spike trains ([`Input::Poisson`]: a
//! pixel of intensity `p` fires at each tick with probability `p * max_rate`, and each input
//! spike adds its weight column divided by `max_rate`, so the expected current is the
//! constant one). The class is the output neuron with most spikes, ties broken by
//! membrane potential. Accuracy is read at several tick counts in one simulation.
//!
//! ```text
//! coordinator --Activity(pixels)--> layer-1 --Phase, Spike(t)--> layer-2 --> ... --> output
//!      ^------------------ Report (scores at checkpoint ticks, spike counts) -----------'
//! ```
//! Spike messages carry `row * width + neuron` for every unit that fired at a tick, so work per
//! tick grows with spikes times fan-out.

mod coordinator;
mod if_layer;
mod normalise;

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::dataset::Split;
use crate::math::mlp::Mlp;
use crate::runtime::{Network, Runtime, RuntimeConfig, RuntimeError};
use coordinator::ConvertCoordinator;
use if_layer::IfLayer;
pub use normalise::normalise;

/// Test images whose spikes are kept for the raster plot.
pub const RASTER_IMAGES: usize = 3;

/// How pixels drive the first layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    /// A constant current: the pixel values, every tick.
    Constant,
    /// Independent Bernoulli (discrete-time Poisson) spike trains, one per pixel.
    Poisson {
        /// Firing probability per tick of a pixel of intensity 1, in (0, 1].
        max_rate: f64,
        /// Seed of the spike trains.
        seed: u64,
    },
}

/// Accuracy and activity after a number of ticks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversionPoint {
    /// Ticks simulated.
    pub ticks: usize,
    /// Test accuracy of the spiking network.
    pub test_accuracy: f64,
    /// Spikes per image (all layers) up to this tick.
    pub spikes_per_image: f64,
    /// Synaptic events per image (spikes times fan-out) up to this tick.
    pub synaptic_events_per_image: f64,
}

/// What a conversion run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversionReport {
    /// One entry per checkpoint tick count.
    pub points: Vec<ConversionPoint>,
    /// Wall seconds of the spiking simulation.
    pub wall_s: f64,
    /// Spikes of the first test images, per layer: (image, tick, neuron).
    pub raster: Vec<Vec<(u32, u32, u32)>>,
    /// Layer widths (input excluded), for the raster's axes.
    pub widths: Vec<usize>,
    /// Ticks simulated.
    pub ticks: usize,
    /// What the layers and the coordinator sent each other (not serialised).
    #[serde(skip)]
    pub traffic: crate::spike::tally::TrafficLog,
}

/// Converts `net` (normalised with [`normalise`]) and runs it on `test` for `max(checkpoints)`
/// ticks on actors, driven by `input`, reading accuracy and activity at every checkpoint.
pub fn run_converted(
    net: &Mlp,
    test: &Split,
    checkpoints: &[usize],
    input: Input,
    runtime: RuntimeConfig,
) -> Result<ConversionReport, RuntimeError> {
    let ticks = checkpoints.iter().copied().max().unwrap_or(1).max(1);
    let widths = net.widths();
    let layers = net.layers().len();
    let mut network = Network::new();
    let cid = network.add(
        "coordinator",
        ConvertCoordinator::new(test, ticks, checkpoints, &widths),
    );
    let mut ids = Vec::new();
    for (l, layer) in net.layers().iter().enumerate() {
        ids.push(network.add(
            format!("if-layer-{}", l + 1),
            IfLayer::new(layer, l, &widths, ticks, checkpoints, input),
        ));
    }
    network.connect(cid, ids[0]);
    for (l, &id) in ids.iter().enumerate() {
        if l + 1 < layers {
            network.connect(id, ids[l + 1]);
        }
        network.connect(id, cid);
    }
    let started = Instant::now();
    let mut report = Runtime::new(runtime).run(network)?;
    let wall_s = started.elapsed().as_secs_f64();
    let traffic = crate::spike::tally::TrafficLog::take(&mut report);
    let c = report.actor(cid);
    let raster = ids
        .iter()
        .map(|&id| report.actor(id).raster.clone())
        .collect();
    Ok(ConversionReport {
        points: c.points(),
        wall_s,
        raster,
        widths: widths[1..].to_vec(),
        ticks,
        traffic,
    })
}
