//! Timing the BP baseline for `axon bench bp`: seconds per training epoch on real data.
//!
//! Criterion (in `benches/bp.rs`) gives statistics for developers; this module gives users
//! one command that prints the figure the README's benchmark table quotes.

use std::time::Instant;

use serde::Serialize;

use crate::activation::Activation;
use crate::backprop::{Backprop, TrainConfig};
use crate::dataset::Split;
use crate::loss::Loss;
use crate::matrix::Threads;
use crate::mlp::{Init, Mlp};
use crate::optimizer::{OptimizerConfig, OptimizerKind, Schedule};
use crate::rng::SeededRng;

/// What `axon bench bp` measures.
#[derive(Clone, Debug, PartialEq)]
pub struct BpBenchConfig {
    /// Layer widths (input first).
    pub layers: Vec<usize>,
    /// Examples per batch.
    pub batch_size: usize,
    /// Threads for the matrix products.
    pub threads: usize,
    /// Epochs to time.
    pub epochs: usize,
    /// Optimiser.
    pub optimizer: OptimizerKind,
}

/// The measured times.
#[derive(Clone, Debug, Serialize)]
pub struct BpBenchReport {
    /// Layer widths.
    pub layers: Vec<usize>,
    /// Examples per batch.
    pub batch_size: usize,
    /// Threads used.
    pub threads: usize,
    /// Training examples per epoch.
    pub examples: usize,
    /// Seconds of each timed epoch.
    pub epoch_s: Vec<f64>,
    /// The fastest epoch.
    pub best_s: f64,
    /// The median epoch.
    pub median_s: f64,
    /// Floating-point operations of one epoch's matrix products (forward, backward, weight
    /// gradients; the input layer's input gradient is not computed).
    pub gflop_per_epoch: f64,
}

/// GEMM work of one BP epoch: `2 * n * in * out` for forward and weight gradient of each
/// layer, and again for the input gradient of every layer but the first.
pub fn bp_epoch_gflop(layers: &[usize], examples: usize) -> f64 {
    let flops: f64 = layers
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let one = 2.0 * examples as f64 * w[0] as f64 * w[1] as f64;
            if i == 0 {
                2.0 * one
            } else {
                3.0 * one
            }
        })
        .sum();
    flops / 1e9
}

/// Times `cfg.epochs` BP epochs on `train`; `on_epoch(i, seconds)` after each.
pub fn bench_bp(
    train: &Split,
    cfg: &BpBenchConfig,
    on_epoch: &mut dyn FnMut(usize, f64),
) -> BpBenchReport {
    let mut rng = SeededRng::stream(1, "weights");
    let net = Mlp::new(&cfg.layers, Activation::Relu, Init::Kaiming, &mut rng);
    let mut learner = Backprop::new(
        net,
        TrainConfig {
            batch_size: cfg.batch_size,
            lr: if cfg.optimizer == OptimizerKind::Adam {
                1e-3
            } else {
                0.05
            },
            schedule: Schedule::Constant,
            epochs: cfg.epochs,
            loss: Loss::CrossEntropy,
            optimizer: OptimizerConfig {
                kind: cfg.optimizer,
                ..OptimizerConfig::default()
            },
            seed: 1,
            threads: Threads(cfg.threads),
        },
    );
    let mut epoch_s = Vec::with_capacity(cfg.epochs);
    for e in 1..=cfg.epochs {
        let start = Instant::now();
        learner.train_epoch(train, e, &mut |_, _| {});
        let s = start.elapsed().as_secs_f64();
        on_epoch(e, s);
        epoch_s.push(s);
    }
    let mut sorted = epoch_s.clone();
    sorted.sort_by(f64::total_cmp);
    BpBenchReport {
        layers: cfg.layers.clone(),
        batch_size: cfg.batch_size,
        threads: cfg.threads,
        examples: train.len(),
        best_s: sorted.first().copied().unwrap_or(0.0),
        median_s: sorted.get(sorted.len() / 2).copied().unwrap_or(0.0),
        gflop_per_epoch: bp_epoch_gflop(&cfg.layers, train.len()),
        epoch_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flop_count_matches_the_design_note() {
        // DESIGN.md: one BP epoch of 784-256-256-10 on 60k examples is 72.7 GFLOP.
        let g = bp_epoch_gflop(&[784, 256, 256, 10], 60_000);
        assert!((g - 72.7).abs() < 0.1, "{g}");
    }
}
