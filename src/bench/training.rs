//! Timing the BP baseline for `axon bench bp`: seconds per training epoch on real data.
//!
//! Criterion (in `benches/bp.rs`) gives statistics for developers; this module gives users
//! one command that prints the figure the benchmark tables (docs/benchmarks.md) quotes.

use std::time::Instant;

use serde::Serialize;

use crate::data::dataset::Split;
use crate::learn::backprop::{Backprop, TrainConfig};
use crate::math::activation::Activation;
use crate::math::loss::Loss;
use crate::math::matrix::Threads;
use crate::math::mlp::{Init, Mlp};
use crate::math::optimizer::{OptimizerConfig, OptimizerKind, Schedule};
use crate::math::rng::SeededRng;

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
        // One BP epoch of 784-256-256-10 on 60k examples is 72.7 GFLOP.
        let g = bp_epoch_gflop(&[784, 256, 256, 10], 60_000);
        assert!((g - 72.7).abs() < 0.1, "{g}");
    }
}

/// One row of `axon bench pc`: one executor, worker count and sharding.
#[derive(Clone, Debug, Serialize)]
pub struct PcBenchRow {
    /// `bp` (the synchronous baseline, one thread) or the scenario's algorithm.
    pub model: String,
    /// Executor (`-` for the baseline).
    pub executor: String,
    /// Worker threads.
    pub workers: usize,
    /// Actors per hidden layer.
    pub shards: usize,
    /// Seconds of each timed epoch (training only).
    pub epoch_s: Vec<f64>,
    /// The fastest epoch.
    pub best_s: f64,
}

/// Times the scenario's predictive-coding actors for `epochs` epochs on each of `setups`
/// (executor, workers, shards), and the BP baseline on one thread, on the same data.
pub fn bench_pc(
    scenario: &crate::experiment::scenario::Scenario,
    train: &Split,
    test: &Split,
    setups: &[(crate::runtime::Executor, usize, usize)],
    epochs: usize,
    on_row: &mut dyn FnMut(&PcBenchRow),
) -> Result<Vec<PcBenchRow>, crate::run_error::NetworkRunError> {
    let init = scenario.initial_network();
    let mut rows = Vec::new();
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    // The baseline, one thread.
    let mut cfg = scenario.train_config();
    cfg.threads = Threads::ONE;
    cfg.epochs = epochs;
    let mut bp = Backprop::new(init.clone(), cfg);
    let mut epoch_s = Vec::new();
    for e in 1..=epochs {
        let start = Instant::now();
        bp.train_epoch(train, e, &mut |_, _| {});
        epoch_s.push(start.elapsed().as_secs_f64());
    }
    let row = PcBenchRow {
        model: "bp".to_owned(),
        executor: "-".to_owned(),
        workers: 1,
        shards: 1,
        best_s: best(&epoch_s),
        epoch_s,
    };
    on_row(&row);
    rows.push(row);
    for &(executor, workers, shards) in setups {
        let mut pc = scenario.layer_config(train.len());
        pc.shards = shards;
        pc.total_batches = train.len().div_ceil(scenario.batch_size()) * epochs;
        pc.check_gradients = false;
        let plan = crate::learn::coordinator::TrainPlan {
            epochs,
            batch_size: scenario.batch_size(),
            seed: scenario.seed(),
            weights: scenario.network().init,
        };
        let runtime = crate::runtime::RuntimeConfig {
            executor,
            workers,
            ..scenario.runtime_config()
        };
        let mut epoch_s = Vec::new();
        crate::learn::train::train_layers(&init, train, test, plan, pc, runtime, &mut |ev| {
            if let crate::learn::coordinator::TrainEvent::Epoch(e) = ev {
                epoch_s.push(e.wall_s);
            }
        })?;
        let row = PcBenchRow {
            model: scenario.kind().name().to_owned(),
            executor: format!("{executor:?}").to_lowercase(),
            workers,
            shards,
            best_s: best(&epoch_s),
            epoch_s,
        };
        on_row(&row);
        rows.push(row);
    }
    Ok(rows)
}
