//! `axon bench scale`: its flags, their checks, and the table of wall time, speed-up and
//! efficiency per workload, executor and worker count (the workloads and the rows are
//! `axon::bench::scale`'s, whose doc says what each workload times).

use std::path::PathBuf;

use axon::bench::scale::{run_workload, PcWork, ScaleConfig, WORKLOADS};
use axon::experiment::scenario::Scenario;
use axon::runtime::Executor;
use clap::Args;

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
    /// Runs per row; the row is the best (pc: epochs, the best one).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Size each workload (but pc) so that its 1-worker run takes at least this many
    /// seconds (0: as the size flags say), so that rows hold still from run to run.
    #[arg(long, default_value_t = 1.0)]
    min_work_s: f64,
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
        repeats: args.repeats,
        min_work_s: args.min_work_s,
    };
    let pc_data = pc_data(&args, &workers)?;
    let pc = pc_data.as_ref().map(|(scenario, data)| PcWork {
        scenario,
        train: &data.train,
        test: &data.test,
    });
    outln!(
        "{:<13} {:<8} {:>7} {:>7} {:>10} {:>8} {:>10} {:>7}  work",
        "workload",
        "executor",
        "workers",
        "shards",
        "wall s",
        "speedup",
        "efficiency",
        "spread"
    );
    let mut rows = Vec::new();
    for w in &args.workloads {
        rows.extend(
            run_workload(w, &executors, &workers, &cfg, pc.as_ref(), &mut |r| {
                outln!(
                    "{:<13} {:<8} {:>7} {:>7} {:>10.4} {:>8.2} {:>10.2} {:>6.1}%  {}",
                    r.workload,
                    r.executor,
                    r.workers,
                    r.shards,
                    r.wall_s,
                    r.speedup,
                    r.efficiency,
                    100.0 * r.spread,
                    r.work
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
        || args.repeats == 0
        || !(args.min_work_s.is_finite() && (0.0..=600.0).contains(&args.min_work_s))
        || args.cuba_neurons < 2
        || args.cuba_large_neurons < 2
        || !(args.fan_in.is_finite() && args.fan_in > 0.0)
        || !durations_ok
    {
        return Err(bad_input(anyhow::anyhow!(
            "--workers, --ring-hops, --pc-batches and --repeats must be >= 1, --ring-actors and \
             the neuron counts >= 2, --fan-in > 0, --min-work-s in [0, 600], the durations \
             between 0.1 and 3600000 ms"
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
