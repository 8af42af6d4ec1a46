//! The `axon` command: run and validate scenarios, time the baseline.
//!
//! Exit codes: 0 success, 2 bad input (scenario, data, command line), 1 anything else.

use std::io::{IsTerminal, Write};

/// `println!` that does not panic when stdout is closed early (`axon ... | head`): the rest of
/// the output is dropped, the work itself is already done and saved.
macro_rules! outln {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `print!` that does not panic when stdout is closed early.
macro_rules! out {
    ($($t:tt)*) => {{
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axon::data::dataset::{Dataset, LoadOptions};
use axon::experiment::bench::{bench_bp, BpBenchConfig};
use axon::experiment::results::EpochRecord;
use axon::experiment::run::{load_data, run, Observer, RunError, RunOptions};
use axon::experiment::scenario::Scenario;
use axon::experiment::sweep::{default_jobs, Sweep, SweepError, SweepOptions, SweepRow};
use axon::math::optimizer::OptimizerKind;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

const EXAMPLES: &str = "\
Examples:
  axon run scenarios/quickstart.toml
  axon run scenarios/bp-mnist.toml --set train.epochs=1 --set network.layers=[784,64,10]
  axon run scenarios/bp-mnist.toml --out runs/my-run --quiet
  axon run scenarios/locality-feedback.toml --jobs 2 --set train.epochs=1
  axon validate scenarios/bp-mnist.toml
  axon bench bp --threads 1 --epochs 3
  axon bench messages --actors 100000 --workers 2 --spawn 100000 --trace-out runs/msgs
  axon trace summarize runs/msgs/trace.jsonl";

/// axon: neural networks that learn and spike by message passing.
#[derive(Parser, Debug)]
#[command(name = "axon", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train the scenario in FILE and write a run folder (scenario.toml, results.json,
    /// accuracy.png, checkpoints/). A scenario with a [sweep] table runs every combination of
    /// its values, each into a subfolder, and writes sweep.json, sweep.md and sweep-KEY.png.
    #[command(after_help = EXAMPLES)]
    Run {
        /// Scenario file (TOML).
        file: PathBuf,
        /// Run folder to create (must not exist or be empty). Default: runs/NAME-TIMESTAMP.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Override a scenario key by dotted path, e.g. --set train.epochs=1 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Continue the run in DIR (stopped by Ctrl-C, a crash or a kill) from its last
        /// checkpoint; give the same FILE and --set overrides as the run that wrote it.
        #[arg(long, value_name = "DIR", conflicts_with = "out")]
        resume: Option<PathBuf>,
        /// No progress bars; only the final summary line.
        #[arg(long, short)]
        quiet: bool,
        /// Sweeps: combinations run at once. Default: the cores divided by each run's
        /// runtime.workers, at least 1.
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
    },
    /// Check a scenario (and the data it names) without training; for a sweep, every
    /// combination.
    Validate {
        /// Scenario file (TOML).
        file: PathBuf,
        /// Override a scenario key by dotted path (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Time axon against the figures in the README's benchmark table.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Read message traces written by a run.
    Trace {
        #[command(subcommand)]
        what: TraceCommand,
    },
}

#[derive(Subcommand, Debug)]
enum TraceCommand {
    /// Per-edge message counts, bytes and latency percentiles, and mailbox high-water marks,
    /// from a trace.jsonl file.
    Summarize {
        /// The JSON-lines event log (trace.jsonl).
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
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
        /// Print the rows as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Message throughput and round trip of the actor runtime against the bare channels.
    Messages {
        /// Actors in the loaded ring (the threads executor uses at most 8).
        #[arg(long, default_value_t = 10_000)]
        actors: usize,
        /// Messages each ring actor handles.
        #[arg(long, default_value_t = 100)]
        hops: u64,
        /// Worker threads of the tokio executor, one table block per value (comma-separated).
        /// Default: every count from 1 to the number of cores.
        #[arg(long, value_delimiter = ',')]
        workers: Vec<usize>,
        /// Also write the rows as a JSON list to FILE.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Also run a traced 64-actor loaded ring and write trace.jsonl, trace.json (Chrome
        /// trace, opens in Perfetto), traffic.json and traffic.png into DIR.
        #[arg(long, value_name = "DIR")]
        trace_out: Option<PathBuf>,
        /// 1 in N messages of the traced ring go into its event log.
        #[arg(long, default_value_t = 100)]
        trace_sample: u64,
        /// Sample 1 in N messages into the event log during the timed patterns too (to
        /// measure what sampling costs); 0: off.
        #[arg(long, default_value_t = 0)]
        sample: u64,
        /// Also spawn this many idle actors on tokio and report time and memory per actor.
        #[arg(long)]
        spawn: Option<usize>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BenchOptimizer {
    Sgd,
    Momentum,
    Adam,
}

/// Progress bars on a terminal; nothing otherwise.
struct Bars {
    enabled: bool,
    bar: Option<ProgressBar>,
}

impl Observer for Bars {
    fn data_loaded(&mut self, data: &Dataset) {
        if self.enabled {
            eprintln!(
                "data: {} train, {} test images of {}x{}, {} classes",
                data.train.len(),
                data.test.len(),
                data.rows,
                data.cols,
                data.classes
            );
        }
    }
    fn run_dir(&mut self, path: &std::path::Path) {
        if self.enabled {
            eprintln!("run folder: {}", path.display());
        }
    }
    fn epoch_start(&mut self, label: &str, epoch: usize, epochs: usize, batches: usize) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:32.cyan/blue}] {pos}/{len} batches {elapsed_precise} eta {eta}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{label} epoch {epoch}/{epochs}"));
        self.bar = Some(bar);
    }
    fn batch_done(&mut self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }
    fn epoch_end(&mut self, label: &str, r: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            eprintln!(
                "{label} epoch {}: train loss {:.4} acc {:.4} | test loss {:.4} acc {:.4} | {:.2} s",
                r.epoch, r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy, r.wall_s
            );
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// An error and whether it was the user's input.
struct Failure {
    error: anyhow::Error,
    bad_input: bool,
    /// Stopped by Ctrl-C (exit 130, as shells report SIGINT).
    interrupted: bool,
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        Self {
            bad_input: e.is_bad_input(),
            interrupted: matches!(e, RunError::Interrupted { .. }),
            error: e.into(),
        }
    }
}

fn machine_failure(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        error: error.into(),
        bad_input: false,
        interrupted: false,
    }
}

impl From<SweepError> for Failure {
    fn from(e: SweepError) -> Self {
        Self {
            bad_input: e.is_bad_input(),
            interrupted: false,
            error: e.into(),
        }
    }
}

/// `axon run` on a sweep: every combination, a line per finished one on stderr (unless
/// `quiet`), the markdown table at the end; exit 1 if any failed.
fn run_sweep(
    sweep: &Sweep,
    out: Option<PathBuf>,
    jobs: Option<usize>,
    quiet: bool,
) -> Result<(), Failure> {
    if jobs == Some(0) {
        return Err(bad_input(anyhow::anyhow!("--jobs must be >= 1")));
    }
    // Every combination fits its data before anything runs.
    sweep.check_data()?;
    let total = sweep.combinations.len();
    let jobs = jobs.unwrap_or_else(|| default_jobs(sweep.workers_per_run()));
    if !quiet {
        eprintln!(
            "sweep: {total} combinations of {}, {} at a time",
            sweep.keys.join(", "),
            jobs.min(total)
        );
    }
    let options = SweepOptions {
        out,
        jobs,
        stop: Some(stop_flag()),
    };
    let summary = sweep.run(&options, &|done, row: &SweepRow| {
        if quiet {
            return;
        }
        let what = match &row.error {
            Some(e) => format!("failed: {e}"),
            None => row
                .models
                .iter()
                .map(|(label, m)| {
                    let acc = m
                        .test_accuracy
                        .map_or_else(|| "-".to_owned(), |a| format!("{a:.4}"));
                    format!("{label} {acc}")
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        eprintln!(
            "[{done}/{total}] {}: {what} ({:.1} s)",
            row.folder,
            row.run_s.unwrap_or(0.0)
        );
    })?;
    out!("{}", summary.markdown);
    let failed = summary.failed();
    outln!(
        "{}: {total} combinations, {failed} failed; results in {}",
        sweep.name(),
        summary.dir.display()
    );
    if failed > 0 {
        return Err(Failure {
            error: anyhow::anyhow!(
                "{failed} of {total} combinations failed (see {})",
                summary.dir.join("sweep.md").display()
            ),
            bad_input: false,
            interrupted: false,
        });
    }
    Ok(())
}

fn bad_input(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        error: error.into(),
        bad_input: true,
        interrupted: false,
    }
}

/// A flag the first Ctrl-C (or SIGTERM) sets for a graceful stop; a second one exits at once.
fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = flag.clone();
    let installed = ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting now (the last checkpoint is kept)");
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupt: finishing the batches in flight and saving a checkpoint \
             (press Ctrl-C again to exit at once)"
        );
    });
    if let Err(e) = installed {
        tracing::warn!("cannot install the Ctrl-C handler ({e}); Ctrl-C will kill the run");
    }
    flag
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // Library errors already quote their source in their message; print each cause
            // of the chain once.
            let mut msg = f.error.to_string();
            for cause in f.error.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg = format!("{msg}: {c}");
                }
            }
            eprintln!("error: {msg}");
            ExitCode::from(if f.interrupted {
                130
            } else if f.bad_input {
                2
            } else {
                1
            })
        }
    }
}

/// Parses `EXECUTOR:WORKERS:SHARDS`.
fn parse_setup(s: &str) -> Result<(axon::runtime::Executor, usize, usize), Failure> {
    let parts: Vec<&str> = s.split(':').collect();
    let executor = match parts.first().copied() {
        Some("inline") => axon::runtime::Executor::Inline,
        Some("tokio") => axon::runtime::Executor::Tokio,
        Some("threads") => axon::runtime::Executor::Threads,
        _ => {
            return Err(bad_input(anyhow::anyhow!(
            "--setups {s}: expected EXECUTOR:WORKERS:SHARDS with EXECUTOR inline, tokio or threads"
        )))
        }
    };
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

fn dispatch(command: Command) -> Result<(), Failure> {
    match command {
        Command::Run {
            file,
            out,
            overrides,
            resume,
            quiet,
            jobs,
        } => {
            if let Some(sweep) = Sweep::load(&file, &overrides)? {
                if let Some(dir) = resume {
                    return Err(bad_input(anyhow::anyhow!(
                        "--resume: {} is a sweep; resume one of its runs with that run's own \
                         scenario: axon run {}/COMBINATION/scenario.toml --resume {}/COMBINATION",
                        file.display(),
                        dir.display(),
                        dir.display()
                    )));
                }
                return run_sweep(&sweep, out, jobs, quiet);
            }
            if jobs.is_some() {
                return Err(bad_input(anyhow::anyhow!(
                    "--jobs: {} has no [sweep] table; --jobs sets how many of a sweep's runs go at once",
                    file.display()
                )));
            }
            let scenario = Scenario::load(&file, &overrides).map_err(bad_input)?;
            let mut bars = Bars {
                enabled: !quiet && std::io::stderr().is_terminal(),
                bar: None,
            };
            let opts = RunOptions {
                out,
                resume,
                stop: Some(stop_flag()),
            };
            let summary = run(&scenario, &opts, &mut bars)?;
            for (label, m) in &summary.results.models {
                if let Some(f) = m.final_ {
                    outln!(
                        "{}: {label} test accuracy {:.4} after {} epochs, {:.1} s training; results in {}",
                        summary.results.name,
                        f.test_accuracy,
                        m.epochs.len(),
                        f.wall_s,
                        summary.dir.display()
                    );
                }
            }
            if let Some(ann) = summary.results.ann_test_accuracy {
                outln!(
                    "{}: ANN test accuracy {ann:.4}; converted to integrate-and-fire actors:",
                    summary.results.name
                );
                outln!(
                    "{:>6} {:>10} {:>14} {:>20}",
                    "ticks",
                    "test acc",
                    "spikes/image",
                    "syn events/image"
                );
                for p in &summary.results.conversion {
                    outln!(
                        "{:>6} {:>10.4} {:>14.0} {:>20.0}",
                        p.ticks,
                        p.test_accuracy,
                        p.spikes_per_image,
                        p.synaptic_events_per_image
                    );
                }
            }
            if let Some(st) = &summary.results.snn {
                outln!(
                    "{}: {} neurons, {} synapses: {} spikes ({:.2} Hz), {} synaptic events in {} s simulated, {:.4} s wall (+{:.3} s to build); results in {}",
                    summary.results.name,
                    st.neurons,
                    st.synapses,
                    st.spikes,
                    st.mean_rate_hz,
                    st.synaptic_events,
                    st.sim_s,
                    st.wall_s,
                    st.build_s,
                    summary.dir.display()
                );
            }
            if summary.results.models.len() > 1 || summary.results.traffic.is_some() {
                out!("{}", summary.results.summary_table());
            }
            Ok(())
        }
        Command::Validate { file, overrides } => {
            if let Some(sweep) = Sweep::load(&file, &overrides)? {
                sweep.check_data()?;
                let keys: Vec<String> = sweep
                    .keys
                    .iter()
                    .zip(&sweep.values)
                    .map(|(k, v)| format!("{k}: {}", v.len()))
                    .collect();
                outln!(
                    "{}: valid sweep of {} combinations ({}), every one checked against its data",
                    file.display(),
                    sweep.combinations.len(),
                    keys.join(", ")
                );
                return Ok(());
            }
            let scenario = Scenario::load(&file, &overrides).map_err(bad_input)?;
            if scenario.file.algorithm.kind == axon::experiment::scenario::AlgorithmKind::Cuba {
                let c = &scenario.file.cuba;
                outln!(
                    "{}: valid (CUBA: {} LIF neurons, p = {}, {} ms, {} shard(s))",
                    file.display(),
                    c.neurons,
                    c.p_connect,
                    c.duration_ms,
                    scenario.file.runtime.shards
                );
                return Ok(());
            }
            let data = load_data(&scenario)?;
            outln!(
                "{}: valid ({} train / {} test images of {}x{}, layers {:?}, {} on {} worker(s))",
                file.display(),
                data.train.len(),
                data.test.len(),
                data.rows,
                data.cols,
                scenario.file.network.layers,
                scenario.file.algorithm.kind.name(),
                scenario.workers
            );
            Ok(())
        }
        Command::Bench {
            what:
                BenchCommand::Pc {
                    file,
                    overrides,
                    setups,
                    epochs,
                    json,
                },
        } => {
            let scenario = Scenario::load(&file, &overrides).map_err(bad_input)?;
            let parsed = setups
                .iter()
                .map(|s| parse_setup(s))
                .collect::<Result<Vec<_>, _>>()?;
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
            let rows = axon::experiment::bench::bench_pc(
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
        Command::Bench {
            what:
                BenchCommand::Snn {
                    seeds,
                    setups,
                    scale,
                    duration_ms,
                    json,
                },
        } => {
            if !(duration_ms.is_finite() && (0.1..=3.6e6).contains(&duration_ms)) {
                return Err(bad_input(anyhow::anyhow!(
                    "--duration-ms must be between 0.1 (one tick) and 3600000, not {duration_ms}"
                )));
            }
            let setups = if scale {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                (1..=cores)
                    .map(|w| (axon::runtime::Executor::Tokio, w, w))
                    .collect()
            } else {
                setups
                    .iter()
                    .map(|s| parse_setup(s))
                    .collect::<Result<Vec<_>, _>>()?
            };
            let cfg = axon::spike::snn::CubaConfig {
                duration_ms,
                ..axon::spike::snn::CubaConfig::default()
            };
            let mut rows = Vec::new();
            if !json {
                outln!(
                    "{:<8} {:>7} {:>6} {:>5} {:>8} {:>10} {:>7} {:>9} {:>14} {:>12}",
                    "executor",
                    "workers",
                    "shards",
                    "seed",
                    "spikes",
                    "syn events",
                    "rate Hz",
                    "wall s",
                    "syn events/s",
                    "messages/s"
                );
            }
            for &(executor, workers, shards) in &setups {
                for &seed in &seeds {
                    let runtime = axon::runtime::RuntimeConfig {
                        executor,
                        workers,
                        ..axon::runtime::RuntimeConfig::default()
                    };
                    let st = axon::spike::snn::run_cuba(&cfg, seed, shards, runtime)
                        .map_err(machine_failure)?
                        .stats;
                    let ex = format!("{executor:?}").to_lowercase();
                    if !json {
                        outln!(
                            "{:<8} {:>7} {:>6} {:>5} {:>8} {:>10} {:>7.2} {:>9.4} {:>14.0} {:>12.0}",
                            ex,
                            workers,
                            shards,
                            seed,
                            st.spikes,
                            st.synaptic_events,
                            st.mean_rate_hz,
                            st.wall_s,
                            st.synaptic_events as f64 / st.wall_s.max(1e-12),
                            st.messages as f64 / st.wall_s.max(1e-12)
                        );
                    }
                    rows.push(serde_json::json!({
                        "executor": ex, "workers": workers, "shards": shards, "seed": seed,
                        "snn": st,
                    }));
                }
            }
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Bench {
            what:
                BenchCommand::Messages {
                    actors,
                    hops,
                    workers,
                    json,
                    trace_out,
                    trace_sample,
                    sample,
                    spawn,
                },
        } => {
            if actors < 2 || hops == 0 || workers.contains(&0) {
                return Err(bad_input(anyhow::anyhow!(
                    "--actors must be >= 2, --hops and --workers >= 1"
                )));
            }
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let workers: Vec<usize> = if workers.is_empty() {
                (1..=cores).collect()
            } else {
                workers
            };
            let most = workers.iter().copied().max().unwrap_or(1);
            if let Some(n) = spawn {
                let r = axon::experiment::stress::spawn_probe(
                    axon::runtime::Executor::Tokio,
                    n.max(1),
                    most,
                )
                .map_err(machine_failure)?;
                outln!(
                    "spawn: {} idle tokio actors in {:.3} s, {:.0} bytes resident per actor",
                    r.actors,
                    r.spawn_s,
                    r.bytes_per_actor
                );
            }
            let mut rows = Vec::new();
            for &w in &workers {
                rows.extend(
                    axon::experiment::stress::run_stress(actors, hops, w, sample)
                        .map_err(machine_failure)?,
                );
            }
            outln!(
                "{:<12} {:<8} {:>7} {:>7} {:>14} {:>14} {:>6} {:>9} {:>9}",
                "pattern",
                "executor",
                "actors",
                "workers",
                "msgs/s",
                "raw msgs/s",
                "ratio",
                "rtt ns",
                "raw rtt"
            );
            for r in &rows {
                outln!(
                    "{:<12} {:<8} {:>7} {:>7} {:>14.0} {:>14.0} {:>6.2} {:>9} {:>9}",
                    r.pattern,
                    format!("{:?}", r.executor).to_lowercase(),
                    r.actors,
                    r.workers,
                    r.msgs_per_s,
                    r.raw_msgs_per_s,
                    r.msgs_per_s / r.raw_msgs_per_s,
                    r.rtt_ns.map_or("-".to_owned(), |v| format!("{v:.0}")),
                    r.raw_rtt_ns.map_or("-".to_owned(), |v| format!("{v:.0}")),
                );
            }
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&rows).map_err(machine_failure)?;
                axon::experiment::run_dir::write_atomic(&path, text.as_bytes())
                    .map_err(machine_failure)?;
            }
            if let Some(dir) = trace_out {
                let files = axon::experiment::stress::traced_ring(&dir, most, trace_sample.max(1))
                    .map_err(machine_failure)?;
                for f in files {
                    outln!("wrote {}", f.display());
                }
            }
            Ok(())
        }
        Command::Trace {
            what: TraceCommand::Summarize { file },
        } => {
            let summary =
                axon::runtime::trace_log::summarize_file::<axon::message::MessageKind>(&file)
                    .map_err(bad_input)?;
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = write!(std::io::stdout(), "{summary}");
            Ok(())
        }
        Command::Bench {
            what:
                BenchCommand::Bp {
                    data,
                    layers,
                    batch_size,
                    threads,
                    epochs,
                    optimizer,
                    train_limit,
                    json,
                },
        } => {
            if layers.len() < 2
                || layers.contains(&0)
                || batch_size == 0
                || threads == 0
                || epochs == 0
            {
                return Err(bad_input(anyhow::anyhow!(
                    "--layers needs at least two widths >= 1; --batch-size, --threads and --epochs must be >= 1"
                )));
            }
            let set = Dataset::load(
                &data,
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
            let cfg = BpBenchConfig {
                layers,
                batch_size,
                threads,
                epochs,
                optimizer: match optimizer {
                    BenchOptimizer::Sgd => OptimizerKind::Sgd,
                    BenchOptimizer::Momentum => OptimizerKind::Momentum,
                    BenchOptimizer::Adam => OptimizerKind::Adam,
                },
            };
            let report = bench_bp(&set.train, &cfg, &mut |e, s| {
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
    }
}
