//! `axon bench scale`'s measurements: how the wall time of a fixed amount of work falls with the worker
//! count, per workload and executor. So that a row holds still from run to run, the work is
//! first sized so that the 1-worker row takes at least `min_work_s` (the simulated time or
//! the ring's hops multiplied up; the same work then for every worker count), and each row is
//! the best of `repeats` runs, with their spread. `speedup` is the 1-worker row's wall time
//! (same workload and executor) over this row's, `efficiency` is `speedup / workers`.
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
    /// The slowest of the row's runs (pc: epochs) over the fastest, minus 1 (0 with one run).
    pub spread: f64,
    /// The work timed (after sizing): e.g. `4000 neurons, 5000 ms` or `100000 actors x 300 hops`.
    pub work: String,
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
    /// Runs per row (the best is the row's time).
    pub repeats: usize,
    /// The least work, in seconds of the 1-worker run, a row times (0: as configured).
    pub min_work_s: f64,
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
            repeats: 3,
            min_work_s: 1.0,
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
        let work;
        if workload == "pc" {
            let pc = pc.expect("the pc workload needs its scenario and data");
            let setups: Vec<_> = workers.iter().map(|&w| (executor, w, w)).collect();
            let epochs = cfg.repeats.max(1);
            let pc_rows = super::training::bench_pc(
                pc.scenario,
                pc.train,
                pc.test,
                &setups,
                epochs,
                &mut |_| {},
            )?;
            work = format!("{} training examples x {epochs} epochs", pc.train.len());
            timed.extend(pc_rows.iter().filter(|r| r.model != "bp").map(|r| {
                let worst = r.epoch_s.iter().copied().fold(0.0, f64::max);
                (r.workers, r.shards, r.best_s, worst / r.best_s - 1.0)
            }));
        } else {
            let sized = sized(workload, executor, cfg)?;
            work = describe(workload, &sized);
            for &w in workers {
                let mut runs = Vec::with_capacity(sized.repeats.max(1));
                let mut shards = 0;
                for _ in 0..sized.repeats.max(1) {
                    let (s, wall_s) = time_one(workload, executor, w, &sized)?;
                    shards = s;
                    runs.push(wall_s);
                }
                let best = runs.iter().copied().fold(f64::INFINITY, f64::min);
                let worst = runs.iter().copied().fold(0.0, f64::max);
                timed.push((w, shards, best, worst / best - 1.0));
            }
        }
        let base = timed
            .iter()
            .find(|t| t.0 == 1)
            .or(timed.first())
            .map_or(f64::NAN, |t| t.2);
        for (workers, shards, wall_s, spread) in timed {
            let speedup = base / wall_s;
            let row = ScaleRow {
                workload: workload.to_owned(),
                executor: executor_name(executor),
                workers,
                shards,
                wall_s,
                speedup,
                efficiency: speedup / workers as f64,
                spread,
                work: work.clone(),
            };
            on_row(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// `cfg` with `workload`'s work multiplied up until one run on one worker takes at least
/// `min_work_s` (timed once at the configured size).
fn sized(
    workload: &str,
    executor: Executor,
    cfg: &ScaleConfig,
) -> Result<ScaleConfig, NetworkRunError> {
    let mut sized = cfg.clone();
    if cfg.min_work_s <= 0.0 {
        return Ok(sized);
    }
    let (_, wall_s) = time_one(workload, executor, 1, cfg)?;
    if wall_s >= cfg.min_work_s {
        return Ok(sized);
    }
    let factor = (cfg.min_work_s / wall_s.max(1e-6)).ceil().min(10_000.0);
    match workload {
        "ring" => sized.ring_hops = (cfg.ring_hops as f64 * factor) as u64,
        "cuba-neurons" => sized.neurons_duration_ms = cfg.neurons_duration_ms * factor,
        _ => sized.duration_ms = cfg.duration_ms * factor,
    }
    Ok(sized)
}

/// What `workload` times at `cfg`'s size.
fn describe(workload: &str, cfg: &ScaleConfig) -> String {
    match workload {
        "ring" => format!("{} actors x {} hops", cfg.ring_actors, cfg.ring_hops),
        "cuba" => format!("{} neurons, {} ms", cfg.cuba_neurons, cfg.duration_ms),
        "cuba40k" => format!("{} neurons, {} ms", cfg.cuba_large_neurons, cfg.duration_ms),
        _ => format!(
            "{} neuron actors, {} ms",
            cfg.cuba_neurons, cfg.neurons_duration_ms
        ),
    }
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
            repeats: 2,
            min_work_s: 0.0,
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
