//! `axon bench scale`: how the wall time of a fixed amount of work falls with the worker
//! count, per workload and executor. Each row is timed once; `speedup` is the 1-worker row's
//! wall time (same workload and executor) over this row's, `efficiency` is
//! `speedup / workers`.
//!
//! Workloads: `ring` (the loaded ring of `axon::experiment::stress::ring_work`: every actor
//! holds a token and handles `--ring-hops` messages, timed from the first actor's start to the
//! last message; shards = actors), `pc` (the scenario's predictive-coding layer actors on
//! `--pc-batches` training batches, one epoch, as `axon bench pc` times it; shards = workers),
//! `cuba` and `cuba40k` (the CUBA network at `--cuba-neurons` and `--cuba-large-neurons`
//! neurons with connection probability `--fan-in / neurons`, so each neuron keeps `--fan-in`
//! inputs on average; the simulation loop as `axon bench snn` times it; shards = workers) and
//! `cuba-neurons` (CUBA at `--cuba-neurons` with one actor per neuron, `--neurons-duration-ms`;
//! shards = neurons).

use std::path::PathBuf;

use axon::data::dataset::Split;
use axon::experiment::scenario::Scenario;
use axon::run_error::NetworkRunError;
use axon::runtime::{Executor, RuntimeConfig};
use clap::Args;
use serde::Serialize;

use super::{bad_input, machine_failure, parse_setup, Failure};

#[derive(Args, Debug)]
pub(crate) struct ScaleArgs {
    /// Workloads (comma-separated): ring, pc, cuba, cuba40k, cuba-neurons.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ring,pc,cuba,cuba40k,cuba-neurons"
    )]
    workloads: Vec<String>,
    /// Executors (comma-separated), as `runtime.executor` names them.
    #[arg(long, value_delimiter = ',', default_value = "tokio")]
    executors: Vec<String>,
    /// Worker counts (comma-separated; 1 is always run, as the reference). Default: every
    /// count from 1 to the number of cores.
    #[arg(long, value_delimiter = ',')]
    workers: Vec<usize>,
    /// Also write the rows as a JSON list to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Actors in the loaded ring.
    #[arg(long, default_value_t = 100_000)]
    ring_actors: usize,
    /// Messages each ring actor handles.
    #[arg(long, default_value_t = 100)]
    ring_hops: u64,
    /// The scenario of the pc workload.
    #[arg(long, default_value = "scenarios/pc-mnist.toml")]
    pc_scenario: PathBuf,
    /// Training batches the pc workload times (one epoch of that many).
    #[arg(long, default_value_t = 100)]
    pc_batches: usize,
    /// Override keys of the pc scenario, as for `run`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Neurons of cuba and cuba-neurons.
    #[arg(long, default_value_t = 4000)]
    cuba_neurons: usize,
    /// Neurons of cuba40k.
    #[arg(long, default_value_t = 40_000)]
    cuba_large_neurons: usize,
    /// Mean inputs per CUBA neuron (connection probability FAN_IN / neurons).
    #[arg(long, default_value_t = 80.0)]
    fan_in: f64,
    /// Simulated ms of cuba and cuba40k.
    #[arg(long, default_value_t = 1000.0)]
    duration_ms: f64,
    /// Simulated ms of cuba-neurons (one actor per neuron).
    #[arg(long, default_value_t = 100.0)]
    neurons_duration_ms: f64,
    /// Connectivity seed of the CUBA workloads.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `axon bench scale`: the table, and `--json`.
pub(super) fn bench_scale(args: ScaleArgs) -> Result<(), Failure> {
    let bad = |m: String| bad_input(anyhow::anyhow!(m));
    for w in &args.workloads {
        if !WORKLOADS.contains(&w.as_str()) {
            return Err(bad(format!(
                "--workloads {w}: expected one of {}",
                WORKLOADS.join(", ")
            )));
        }
    }
    let executors = args
        .executors
        .iter()
        .map(|name| parse_setup(&format!("{name}:1:1")).map(|s| s.0))
        .collect::<Result<Vec<Executor>, Failure>>()?;
    let workers = worker_counts(&args)?;
    let cfg = ScaleConfig {
        ring_actors: args.ring_actors,
        ring_hops: args.ring_hops,
        cuba_neurons: args.cuba_neurons,
        cuba_large_neurons: args.cuba_large_neurons,
        fan_in: args.fan_in,
        duration_ms: args.duration_ms,
        neurons_duration_ms: args.neurons_duration_ms,
        seed: args.seed,
    };
    let pc_data = pc_data(&args, &workers)?;
    let pc = pc_data.as_ref().map(|(scenario, data)| PcWork {
        scenario,
        train: &data.train,
        test: &data.test,
    });
    outln!(
        "{:<13} {:<8} {:>7} {:>7} {:>10} {:>8} {:>10}",
        "workload",
        "executor",
        "workers",
        "shards",
        "wall s",
        "speedup",
        "efficiency"
    );
    let mut rows = Vec::new();
    for w in &args.workloads {
        rows.extend(
            run_workload(w, &executors, &workers, &cfg, pc.as_ref(), &mut |r| {
                outln!(
                    "{:<13} {:<8} {:>7} {:>7} {:>10.4} {:>8.2} {:>10.2}",
                    r.workload,
                    r.executor,
                    r.workers,
                    r.shards,
                    r.wall_s,
                    r.speedup,
                    r.efficiency
                );
            })
            .map_err(machine_failure)?,
        );
    }
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&rows).map_err(machine_failure)?;
        axon::io::write_atomic(&path, text.as_bytes()).map_err(machine_failure)?;
    }
    Ok(())
}

/// The worker counts to time (1 always among them), after checking every size flag.
fn worker_counts(args: &ScaleArgs) -> Result<Vec<usize>, Failure> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut workers = if args.workers.is_empty() {
        (1..=cores).collect()
    } else {
        args.workers.clone()
    };
    workers.push(1);
    workers.sort_unstable();
    workers.dedup();
    let durations_ok = [args.duration_ms, args.neurons_duration_ms]
        .iter()
        .all(|d| d.is_finite() && (0.1..=3.6e6).contains(d));
    if workers.contains(&0)
        || args.ring_actors < 2
        || args.ring_hops == 0
        || args.pc_batches == 0
        || args.cuba_neurons < 2
        || args.cuba_large_neurons < 2
        || !(args.fan_in.is_finite() && args.fan_in > 0.0)
        || !durations_ok
    {
        return Err(bad_input(anyhow::anyhow!(
            "--workers, --ring-hops and --pc-batches must be >= 1, --ring-actors and the neuron \
             counts >= 2, --fan-in > 0, the durations between 0.1 and 3600000 ms"
        )));
    }
    Ok(workers)
}

/// The pc workload's scenario and data (its training set cut to the batches to time), if
/// the pc workload is asked for.
fn pc_data(
    args: &ScaleArgs,
    workers: &[usize],
) -> Result<Option<(Scenario, axon::data::dataset::Dataset)>, Failure> {
    Ok(if args.workloads.iter().any(|w| w == "pc") {
        let scenario = Scenario::load(&args.pc_scenario, &args.overrides).map_err(bad_input)?;
        let batch = scenario.batch_size();
        let layers = &scenario.network().layers;
        let narrowest = layers[1..layers.len() - 1].iter().copied().min();
        if let Some(width) = narrowest.filter(|&n| workers.iter().any(|&w| w > n)) {
            return Err(bad_input(anyhow::anyhow!(
                "pc shards = workers, at most the narrowest hidden layer ({width})"
            )));
        }
        let mut overrides = args.overrides.clone();
        overrides.push(format!("data.train_limit={}", batch * args.pc_batches));
        overrides.push(format!("data.test_limit={batch}"));
        let scenario = Scenario::load(&args.pc_scenario, &overrides).map_err(bad_input)?;
        let data = axon::experiment::run::load_data(&scenario)?;
        Some((scenario, data))
    } else {
        None
    })
}

/// Every workload, in table order.
const WORKLOADS: [&str; 5] = ["ring", "pc", "cuba", "cuba40k", "cuba-neurons"];

/// One row of the table (`--json` writes a list of these).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ScaleRow {
    /// One of [`WORKLOADS`].
    pub(crate) workload: String,
    /// The executor, as `runtime.executor` names it.
    pub(crate) executor: String,
    /// Worker threads.
    pub(crate) workers: usize,
    /// Actors the work is split over (see the module doc, per workload).
    pub(crate) shards: usize,
    /// Seconds of the timed work.
    pub(crate) wall_s: f64,
    /// The 1-worker row's `wall_s` over this one's.
    pub(crate) speedup: f64,
    /// `speedup / workers`.
    pub(crate) efficiency: f64,
}

/// Sizes of the workloads.
#[derive(Clone, Debug)]
pub(crate) struct ScaleConfig {
    /// Actors in the loaded ring.
    pub(crate) ring_actors: usize,
    /// Messages each ring actor handles.
    pub(crate) ring_hops: u64,
    /// Neurons of `cuba` and `cuba-neurons`.
    pub(crate) cuba_neurons: usize,
    /// Neurons of `cuba40k`.
    pub(crate) cuba_large_neurons: usize,
    /// Mean inputs per neuron (connection probability `fan_in / neurons`).
    pub(crate) fan_in: f64,
    /// Simulated ms of `cuba` and `cuba40k`.
    pub(crate) duration_ms: f64,
    /// Simulated ms of `cuba-neurons`.
    pub(crate) neurons_duration_ms: f64,
    /// Connectivity seed of the CUBA workloads.
    pub(crate) seed: u64,
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
pub(crate) struct PcWork<'a> {
    /// The scenario.
    pub(crate) scenario: &'a Scenario,
    /// The training examples (one epoch of them is timed).
    pub(crate) train: &'a Split,
    /// The test examples (evaluated after the epoch, not timed).
    pub(crate) test: &'a Split,
}

/// Runs `workload` on each executor and worker count (`workers` should start at 1: the
/// reference of `speedup`), calling `on_row` as each row is done; returns the rows.
///
/// # Panics
/// If `workload` is `pc` and `pc` is `None`, or `workload` is not one of [`WORKLOADS`].
fn run_workload(
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
            let pc_rows = axon::experiment::bench::bench_pc(
                pc.scenario,
                pc.train,
                pc.test,
                &setups,
                1,
                &mut |_| {},
            )?;
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
fn executor_name(e: Executor) -> String {
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
        let r =
            axon::experiment::stress::ring_work(executor, workers, cfg.ring_actors, cfg.ring_hops)?;
        return Ok((cfg.ring_actors, r.wall_s));
    }
    let (neurons, shards, duration_ms) = match workload {
        "cuba" => (cfg.cuba_neurons, workers, cfg.duration_ms),
        "cuba40k" => (cfg.cuba_large_neurons, workers, cfg.duration_ms),
        "cuba-neurons" => (cfg.cuba_neurons, cfg.cuba_neurons, cfg.neurons_duration_ms),
        other => panic!("no workload {other}"),
    };
    let cuba = axon::models::cuba::CubaConfig {
        neurons,
        p_connect: (cfg.fan_in / neurons as f64).min(1.0),
        duration_ms,
        ..axon::models::cuba::CubaConfig::default()
    };
    let runtime = RuntimeConfig {
        executor,
        workers,
        ..RuntimeConfig::default()
    };
    let run = axon::models::cuba::run_cuba(&cuba, cfg.seed, shards, runtime)?;
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
