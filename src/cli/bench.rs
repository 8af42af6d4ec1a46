//! `axon bench`: the flags, printing and exit codes of the benchmarks behind the tables of
//! docs/benchmarks.md (BP epochs, layer-actor epochs, the CUBA network, the message runtime);
//! what they run and measure is `axon::bench`'s.

use axon::cluster::Ranks;
use std::path::PathBuf;

use anyhow::Context;
use axon::bench::{bench_bp as time_bp, BpBenchConfig};
use axon::data::dataset::{Dataset, LoadOptions};
use axon::experiment::run::load_data;
use axon::experiment::scenario::Scenario;
use axon::math::optimizer::OptimizerKind;
use axon::runtime::Executor;
use clap::{Subcommand, ValueEnum};

use super::{bad_input, machine_failure, Failure};

mod runtime;
mod scale;

use runtime::SnnRuns;

#[derive(Subcommand, Debug)]
pub(crate) enum BenchCommand {
    /// Seconds per BP training epoch on the full MNIST training set.
    Bp {
        /// Folder with the IDX files.
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
        /// Layer widths, comma-separated.
        #[arg(long, default_value = "784,256,256,10", value_delimiter = ',')]
        layers: Vec<usize>,
        /// Examples per batch.
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// Threads for the matrix products.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Epochs to time (the median is reported).
        #[arg(long, default_value_t = 3)]
        epochs: usize,
        /// Optimiser.
        #[arg(long, value_enum, default_value_t = BenchOptimizer::Sgd)]
        optimizer: BenchOptimizer,
        /// Use only the first N training examples.
        #[arg(long)]
        train_limit: Option<usize>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Seconds per training epoch of a predictive-coding scenario's actors on several
    /// executors, worker counts and shardings, beside the BP baseline on one thread.
    Pc {
        /// The scenario (its network, algorithm, feedback and data).
        #[arg(default_value = "scenarios/pc-mnist.toml")]
        file: PathBuf,
        /// Override scenario keys, as for `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Setups to time, each EXECUTOR:WORKERS:SHARDS (comma-separated).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "inline:1:1,tokio:1:1,tokio:2:1,tokio:2:2"
        )]
        setups: Vec<String>,
        /// Epochs to time per setup (the fastest is reported).
        #[arg(long, default_value_t = 1)]
        epochs: usize,
        /// Print the rows as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The CUBA network (4000 LIF neurons, 1 s): spikes, rate and simulation wall time for
    /// each seed and setup.
    Snn {
        /// Seeds (comma-separated); the mean rate of each is printed.
        #[arg(long, value_delimiter = ',', default_value = "1")]
        seeds: Vec<u64>,
        /// Setups to time, each EXECUTOR:WORKERS:SHARDS (comma-separated).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "inline:1:1,tokio:1:1,tokio:2:2"
        )]
        setups: Vec<String>,
        /// A scaling table instead: tokio with 1..=cores workers, shards = workers.
        #[arg(long)]
        scale: bool,
        /// Simulated time in ms (one-actor-per-neuron setups, SHARDS = 4000, are slow: try
        /// 100).
        #[arg(long, default_value_t = 1000.0)]
        duration_ms: f64,
        /// Give every synapse a delay drawn uniformly from MIN-MAX ticks (e.g. 3-7): shards
        /// then exchange spikes once per window of MIN ticks instead of every tick.
        #[arg(long, value_name = "MIN-MAX")]
        delays: Option<String>,
        /// Runs per row, in rounds over every setup: each row shows its fastest run and the
        /// spread (slowest over fastest); ratios between setups read steadier on a noisy
        /// machine.
        #[arg(long, default_value_t = 1)]
        repeats: usize,
        /// Print the rows as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Message throughput and round trip of the actor runtime against the bare channels.
    Messages(runtime::MessagesArgs),
    /// A scaling table: wall time, speed-up and efficiency of the loaded ring, PC and CUBA
    /// per executor and worker count.
    Scale(scale::ScaleArgs),
    /// The cost of one exchange window between MPI ranks (under `mpirun -np N`): the
    /// all-gather a rank bridge makes per window, timed on rank 0.
    Exchange {
        /// Windows to time (after 100 untimed).
        #[arg(long, default_value_t = 10_000)]
        windows: u64,
        /// Bytes each rank puts in per window (a window's spike records).
        #[arg(long, default_value_t = 64)]
        bytes: usize,
    },
}

/// `--optimizer` of `axon bench bp`: the scenario's `train.optimizer` names.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum BenchOptimizer {
    Sgd,
    Momentum,
    Adam,
}

impl BenchOptimizer {
    fn kind(self) -> OptimizerKind {
        match self {
            BenchOptimizer::Sgd => OptimizerKind::Sgd,
            BenchOptimizer::Momentum => OptimizerKind::Momentum,
            BenchOptimizer::Adam => OptimizerKind::Adam,
        }
    }
}

/// Runs `axon bench WHAT`.
pub(crate) fn bench(what: BenchCommand, ranks: &mut Ranks) -> Result<(), Failure> {
    match what {
        BenchCommand::Bp {
            data,
            layers,
            batch_size,
            threads,
            epochs,
            optimizer,
            train_limit,
            json,
        } => {
            let cfg = BpBenchConfig {
                layers,
                batch_size,
                threads,
                epochs,
                optimizer: optimizer.kind(),
            };
            bench_bp(&data, cfg, train_limit, json)
        }
        BenchCommand::Pc {
            file,
            overrides,
            setups,
            epochs,
            json,
        } => bench_pc(&file, &overrides, &setups, epochs, json),
        BenchCommand::Snn {
            seeds,
            setups,
            scale,
            duration_ms,
            delays,
            repeats,
            json,
        } => runtime::bench_snn(
            &seeds,
            &setups,
            scale,
            SnnRuns {
                duration_ms,
                delays: delays.as_deref(),
                repeats,
            },
            json,
        ),
        BenchCommand::Messages(args) => runtime::bench_messages(args),
        BenchCommand::Scale(args) => scale::bench_scale(args),
        BenchCommand::Exchange { windows, bytes } => bench_exchange(windows, bytes, ranks),
    }
}

/// `axon bench exchange`: microseconds per all-gather of `bytes` bytes from every rank.
fn bench_exchange(windows: u64, bytes: usize, ranks: &mut Ranks) -> Result<(), Failure> {
    let Some(x) = ranks.exchange() else {
        return Err(bad_input(anyhow::anyhow!(
            "bench exchange times the exchange between MPI ranks: run it under mpirun with \
             at least 2 ranks (mpirun -np 2 axon bench exchange), from a build with \
             --features mpi"
        )));
    };
    let secs = axon::bench::exchange::time_exchange(x, windows, bytes)
        .map_err(|e| machine_failure(anyhow::anyhow!(e)))?;
    if x.rank() == 0 {
        outln!(
            "exchange across {} ranks: {:.2} us per window ({} windows, {} bytes per rank)",
            x.size(),
            secs / windows.max(1) as f64 * 1e6,
            windows,
            bytes
        );
    }
    Ok(())
}

/// The accepted `EXECUTOR` names, as in the error of a bad `--setups`.
const EXECUTORS: &str = "inline, tokio, threads or pinned";

/// Parses `EXECUTOR:WORKERS:SHARDS` (`EXECUTOR` as `runtime.executor` names it).
fn parse_setup(s: &str) -> Result<(Executor, usize, usize), Failure> {
    use serde::de::value::{Error, StrDeserializer};
    use serde::Deserialize;
    let parts: Vec<&str> = s.split(':').collect();
    let executor = parts
        .first()
        .and_then(|name| Executor::deserialize(StrDeserializer::<Error>::new(name)).ok())
        .ok_or_else(|| {
            bad_input(anyhow::anyhow!(
                "--setups {s}: expected EXECUTOR:WORKERS:SHARDS with EXECUTOR {EXECUTORS}"
            ))
        })?;
    let num = |i: usize| -> Result<usize, Failure> {
        parts
            .get(i)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&v| v >= 1)
            .ok_or_else(|| {
                bad_input(anyhow::anyhow!(
                    "--setups {s}: WORKERS and SHARDS must be whole numbers >= 1"
                ))
            })
    };
    Ok((executor, num(1)?, num(2)?))
}

/// Parses every `--setups` entry.
fn parse_setups(setups: &[String]) -> Result<Vec<(Executor, usize, usize)>, Failure> {
    setups.iter().map(|s| parse_setup(s)).collect()
}

/// `axon bench pc`: the scenario's layer actors on each setup, beside BP on one thread.
fn bench_pc(
    file: &std::path::Path,
    overrides: &[String],
    setups: &[String],
    epochs: usize,
    json: bool,
) -> Result<(), Failure> {
    let scenario = Scenario::load(file, overrides).map_err(bad_input)?;
    let parsed = parse_setups(setups)?;
    let data = load_data(&scenario)?;
    let mut test = data.test.clone();
    test.truncate(1000);
    if !json {
        outln!(
            "{:<5} {:<8} {:>7} {:>6} {:>10}",
            "model",
            "executor",
            "workers",
            "shards",
            "s/epoch"
        );
    }
    let rows = axon::bench::bench_pc(
        &scenario,
        &data.train,
        &test,
        &parsed,
        epochs.max(1),
        &mut |r| {
            if !json {
                outln!(
                    "{:<5} {:<8} {:>7} {:>6} {:>10.3}",
                    r.model,
                    r.executor,
                    r.workers,
                    r.shards,
                    r.best_s
                );
            }
        },
    )
    .map_err(machine_failure)?;
    if json {
        let text = serde_json::to_string_pretty(&rows).map_err(machine_failure)?;
        outln!("{text}");
    }
    Ok(())
}

/// `axon bench bp`: seconds per BP epoch on the data in `data`.
fn bench_bp(
    data: &std::path::Path,
    cfg: BpBenchConfig,
    train_limit: Option<usize>,
    json: bool,
) -> Result<(), Failure> {
    let layers = &cfg.layers;
    if layers.len() < 2
        || layers.contains(&0)
        || cfg.batch_size == 0
        || cfg.threads == 0
        || cfg.epochs == 0
    {
        return Err(bad_input(anyhow::anyhow!(
            "--layers needs at least two widths >= 1; --batch-size, --threads and --epochs must be >= 1"
        )));
    }
    let set = Dataset::load(
        data,
        &LoadOptions {
            train_limit,
            ..LoadOptions::default()
        },
    )
    .with_context(|| format!("loading {}", data.display()))
    .map_err(bad_input)?;
    if set.pixels() != layers[0] || set.classes != layers[layers.len() - 1] {
        return Err(bad_input(anyhow::anyhow!(
            "--layers {:?} must start with the image size {} and end with the class count {}",
            layers,
            set.pixels(),
            set.classes
        )));
    }
    let report = time_bp(&set.train, &cfg, &mut |e, s| {
        if !json {
            eprintln!("epoch {e}: {s:.3} s");
        }
    });
    if json {
        outln!(
            "{}",
            serde_json::to_string(&report).map_err(machine_failure)?
        );
    } else {
        outln!(
            "bp {:?} batch {} threads {}: median {:.3} s/epoch, best {:.3} s ({:.0} GFLOP/s) over {} examples",
            report.layers,
            report.batch_size,
            report.threads,
            report.median_s,
            report.best_s,
            report.gflop_per_epoch / report.best_s,
            report.examples
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names `key` accepts in a scenario, as the parser lists them for an unknown one.
    fn accepted(key: &str) -> Vec<String> {
        let (section, field) = key.split_once('.').expect("a dotted key");
        let e = toml::from_str::<axon::experiment::scenario::ScenarioFile>(&format!(
            "[{section}]\n{field} = \"no-such-value\"\n"
        ))
        .expect_err("an unknown name")
        .to_string();
        let (_, expected) = e.split_once("expected").expect("the accepted names");
        let line = expected.lines().next().unwrap_or_default();
        let mut names: Vec<String> = line
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn setup_executors_are_the_scenario_executors() {
        let mut listed: Vec<String> = EXECUTORS
            .replace(" or ", ", ")
            .split(", ")
            .map(str::to_owned)
            .collect();
        listed.sort();
        let mut named = accepted("runtime.executor");
        named.retain(|n| n != "auto");
        assert_eq!(
            listed, named,
            "every executor but auto (a setup names its executor)"
        );
        for name in &listed {
            assert!(parse_setup(&format!("{name}:1:1")).is_ok(), "{name}");
        }
        assert!(parse_setup("fibers:1:1").is_err());
    }

    #[test]
    fn bench_optimizers_are_the_scenario_optimizers() {
        let mut listed: Vec<String> = BenchOptimizer::value_variants()
            .iter()
            .map(|v| {
                let name = v.to_possible_value().expect("a name").get_name().to_owned();
                let kind: OptimizerKind =
                    serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
                        serde::de::value::Error,
                    >::new(&name))
                    .expect("a train.optimizer name");
                assert_eq!(kind, v.kind(), "{name}");
                name
            })
            .collect();
        listed.sort();
        assert_eq!(listed, accepted("train.optimizer"));
    }
}
