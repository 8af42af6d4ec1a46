//! `axon bench scale`'s measurements: how the wall time of a fixed amount of work falls with the worker
//! count, per workload and executor. Each row is timed once; `speedup` is the 1-worker row's
//! wall time (same workload and executor) over this row's, `efficiency` is
//! `speedup / workers`.
//!
//! Workloads: `ring` (the loaded ring of [`super::stress::ring_work`]: every actor
//! holds a token and handles `--ring-hops` messages, timed from the first actor's start to the
//! last message; shards = actors), `pc` (the scenario's predictive-coding layer actors on
//! `--pc-batches` training batches, one epoch, as `axon bench pc` times it; shards = workers),
//! `cuba` and `cuba40k` (the CUBA network at `--cuba-neurons` and `--cuba-large-neurons`
//! neurons with connection probability `--fan-in / neurons`, so each neuron keeps `--fan-in`
//! inputs on average; the simulation loop as `axon bench snn` times it; shards = workers) and
//! `cuba-neurons` (CUBA at `--cuba-neurons` with one actor per neuron, `--neurons-duration-ms`;
//! shards = neurons).

use serde::Serialize;

use crate::data::dataset::Split;
use crate::experiment::scenario::Scenario;
use crate::run_error::NetworkRunError;
use crate::runtime::{Executor, RuntimeConfig};

/// Every workload, in table order.
pub const WORKLOADS: [&str; 5] = ["ring", "pc", "cuba", "cuba40k", "cuba-neurons"];

/// One row of the table (`--json` writes a list of these).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScaleRow {
    /// One of [`WORKLOADS`].
    pub workload: String,
    /// The executor, as `runtime.executor` names it.
    pub executor: String,
    /// Worker threads.
    pub workers: usize,
    /// Actors the work is split over (see the module doc, per workload).
    pub shards: usize,
    /// Seconds of the timed work.
    pub wall_s: f64,
    /// The 1-worker row's `wall_s` over this one's.
    pub speedup: f64,
    /// `speedup / workers`.
    pub efficiency: f64,
}

/// Sizes of the workloads.
#[derive(Clone, Debug)]
pub struct ScaleConfig {
    /// Actors in the loaded ring.
    pub ring_actors: usize,
    /// Messages each ring actor handles.
    pub ring_hops: u64,
    /// Neurons of `cuba` and `cuba-neurons`.
    pub cuba_neurons: usize,
    /// Neurons of `cuba40k`.
    pub cuba_large_neurons: usize,
    /// Mean inputs per neuron (connection probability `fan_in / neurons`).
    pub fan_in: f64,
    /// Simulated ms of `cuba` and `cuba40k`.
    pub duration_ms: f64,
    /// Simulated ms of `cuba-neurons`.
    pub neurons_duration_ms: f64,
    /// Connectivity seed of the CUBA workloads.
    pub seed: u64,
}

impl Default for ScaleConfig {
    fn default() -> Self {
        Self {
            ring_actors: 100_000,
            ring_hops: 100,
            cuba_neurons: 4000,
            cuba_large_neurons: 40_000,
            fan_in: 80.0,
            duration_ms: 1000.0,
            neurons_duration_ms: 100.0,
            seed: 1,
        }
    }
}

/// The `pc` workload's scenario and data (the training split already cut to the batches to
/// time).
pub struct PcWork<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// The training examples (one epoch of them is timed).
    pub train: &'a Split,
    /// The test examples (evaluated after the epoch, not timed).
    pub test: &'a Split,
}

/// Runs `workload` on each executor and worker count (`workers` should start at 1: the
/// reference of `speedup`), calling `on_row` as each row is done; returns the rows.
///
/// # Panics
/// If `workload` is `pc` and `pc` is `None`, or `workload` is not one of [`WORKLOADS`].
pub fn run_workload(
    workload: &str,
    executors: &[Executor],
    workers: &[usize],
    cfg: &ScaleConfig,
    pc: Option<&PcWork<'_>>,
    on_row: &mut dyn FnMut(&ScaleRow),
) -> Result<Vec<ScaleRow>, NetworkRunError> {
    let mut rows = Vec::new();
    for &executor in executors {
        let mut timed = Vec::new();
        if workload == "pc" {
            let pc = pc.expect("the pc workload needs its scenario and data");
            let setups: Vec<_> = workers.iter().map(|&w| (executor, w, w)).collect();
            let pc_rows =
                super::training::bench_pc(pc.scenario, pc.train, pc.test, &setups, 1, &mut |_| {})?;
            timed.extend(
                pc_rows
                    .iter()
                    .filter(|r| r.model != "bp")
                    .map(|r| (r.workers, r.shards, r.best_s)),
            );
        } else {
            for &w in workers {
                let (shards, wall_s) = time_one(workload, executor, w, cfg)?;
                timed.push((w, shards, wall_s));
            }
        }
        let base = timed
            .iter()
            .find(|t| t.0 == 1)
            .or(timed.first())
            .map_or(f64::NAN, |t| t.2);
        for (workers, shards, wall_s) in timed {
            let speedup = base / wall_s;
            let row = ScaleRow {
                workload: workload.to_owned(),
                executor: executor_name(executor),
                workers,
                shards,
                wall_s,
                speedup,
                efficiency: speedup / workers as f64,
            };
            on_row(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The executor's name as `runtime.executor` spells it.
pub fn executor_name(e: Executor) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{e:?}").to_lowercase())
}

/// Times one run of a non-`pc` workload: (shards, wall seconds).
fn time_one(
    workload: &str,
    executor: Executor,
    workers: usize,
    cfg: &ScaleConfig,
) -> Result<(usize, f64), NetworkRunError> {
    if workload == "ring" {
        let r = super::stress::ring_work(executor, workers, cfg.ring_actors, cfg.ring_hops)?;
        return Ok((cfg.ring_actors, r.wall_s));
    }
    let (neurons, shards, duration_ms) = match workload {
        "cuba" => (cfg.cuba_neurons, workers, cfg.duration_ms),
        "cuba40k" => (cfg.cuba_large_neurons, workers, cfg.duration_ms),
        "cuba-neurons" => (cfg.cuba_neurons, cfg.cuba_neurons, cfg.neurons_duration_ms),
        other => panic!("no workload {other}"),
    };
    let cuba = crate::models::cuba::CubaConfig {
        neurons,
        p_connect: (cfg.fan_in / neurons as f64).min(1.0),
        duration_ms,
        ..crate::models::cuba::CubaConfig::default()
    };
    let runtime = RuntimeConfig {
        executor,
        workers,
        ..RuntimeConfig::default()
    };
    let run = crate::models::cuba::run_cuba(&cuba, cfg.seed, shards, runtime)?;
    Ok((shards, run.stats.wall_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speedup_is_against_the_one_worker_row() {
        let cfg = ScaleConfig {
            ring_actors: 40,
            ring_hops: 10,
            cuba_neurons: 200,
            duration_ms: 5.0,
            neurons_duration_ms: 2.0,
            ..ScaleConfig::default()
        };
        for workload in ["ring", "cuba", "cuba-neurons"] {
            let rows = run_workload(
                workload,
                &[Executor::Tokio],
                &[1, 2],
                &cfg,
                None,
                &mut |_| {},
            )
            .expect("runs");
            assert_eq!(rows.len(), 2);
            assert_eq!(rows[0].speedup, 1.0, "{workload}");
            for r in &rows {
                assert!(r.wall_s > 0.0, "{r:?}");
                assert!((r.efficiency - r.speedup / r.workers as f64).abs() < 1e-12);
            }
            assert_eq!(rows[0].executor, "tokio");
        }
    }
}
