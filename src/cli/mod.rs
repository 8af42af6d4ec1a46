//! The command line: the subcommands (one file each), how their failures map to exit
//! codes, and the Ctrl-C flag.

mod bench;
mod progress;
mod run;
mod trace;
mod validate;
mod view;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axon::cluster::Ranks;
use axon::experiment::run::RunError;
use axon::experiment::sweep::SweepError;
use clap::{Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  axon run scenarios/quickstart.toml
  axon run scenarios/bp-mnist.toml --set train.epochs=1 --set network.layers=[784,64,10]
  axon run scenarios/bp-mnist.toml --out runs/my-run --quiet
  axon run scenarios/locality-feedback.toml --jobs 2 --set train.epochs=1
  axon validate scenarios/bp-mnist.toml
  axon bench bp --threads 1 --epochs 3
  axon bench messages --actors 100000 --workers 2 --spawn 100000 --trace-out runs/msgs
  axon trace summarize runs/msgs/trace.jsonl
  axon run scenarios/cuba.toml --live
  axon view runs/my-run";

/// axon: neural networks that learn and spike by message passing.
#[derive(Parser, Debug)]
#[command(name = "axon", version, about, after_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// Parses the command line (exit 2 with usage on a mistake). A flag given twice takes its
    /// last value (`--epochs 3 --epochs 1` times one epoch), as a repeated `--set` does, so a
    /// script can append overrides to a documented command; `--set` itself still accumulates.
    pub(crate) fn parse_last_wins() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let matches = last_value_wins(Self::command()).get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// `cmd` and all its subcommands with every flag overriding an earlier use of itself.
fn last_value_wins(cmd: clap::Command) -> clap::Command {
    cmd.args_override_self(true)
        .mut_subcommands(last_value_wins)
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Train the scenario in FILE and write a run folder (scenario.toml, results.json,
    /// accuracy.png, checkpoints/). A scenario with a [sweep] table runs every combination of
    /// its values, each into a subfolder, and writes sweep.json, sweep.md and sweep-KEY.png.
    #[command(after_help = EXAMPLES)]
    Run(run::RunArgs),
    /// Check a scenario (and the data it names) without training; for a sweep, every
    /// combination.
    Validate(validate::ValidateArgs),
    /// Time axon against the figures in the benchmark tables (docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
    /// Read message traces written by a run.
    Trace {
        #[command(subcommand)]
        what: trace::TraceCommand,
    },
    /// Serve a finished run folder as the live view's page (until Ctrl-C).
    View(view::ViewArgs),
}

/// Runs a subcommand on `ranks` (this process's place in an MPI job, or one process).
pub(crate) fn dispatch(command: Command, ranks: &mut Ranks) -> Result<(), Failure> {
    match command {
        Command::Run(args) => run::run(args, ranks),
        Command::Validate(args) => validate::validate(args),
        Command::Bench { what } => bench::bench(what, ranks),
        Command::Trace { what } => trace::trace(what),
        Command::View(args) => view::view(args),
    }
}

/// An error and whether it was the user's input.
pub(crate) struct Failure {
    pub(crate) error: anyhow::Error,
    bad_input: bool,
    /// Stopped by Ctrl-C (exit 130, as shells report SIGINT).
    interrupted: bool,
}

impl Failure {
    /// 130 when interrupted, 2 for bad input, 1 otherwise.
    pub(crate) fn exit_code(&self) -> u8 {
        if self.interrupted {
            130
        } else if self.bad_input {
            2
        } else {
            1
        }
    }
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        Self {
            bad_input: e.is_bad_input(),
            interrupted: matches!(e, RunError::Interrupted { .. } | RunError::Stopped { .. }),
            error: e.into(),
        }
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

/// A failure of the machine, not the input (exit 1).
fn machine_failure(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        error: error.into(),
        bad_input: false,
        interrupted: false,
    }
}

/// A failure caused by the user's input (exit 2).
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
            "\ninterrupt: finishing the batches in flight and saving a checkpoint (a spiking \
             run: the exchange window in flight, then its figures so far; press Ctrl-C again \
             to exit at once)"
        );
    });
    if let Err(e) = installed {
        tracing::warn!("cannot install the Ctrl-C handler ({e}); Ctrl-C will kill the run");
    }
    flag
}
