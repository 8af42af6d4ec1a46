//! The `axon` command: run and validate scenarios, time the baseline, read traces.
//!
//! Exit codes: 0 success, 2 bad input (scenario, data, command line), 1 anything else, 130
//! stopped by Ctrl-C. Each subcommand is its own file under `cli/`.

/// `println!` that does not panic when stdout is closed early (`axon ... | head`): the rest of
/// the output is dropped, the work itself is already done and saved.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `print!` that does not panic when stdout is closed early.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

mod cli;

use std::process::ExitCode;

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    init_logging();
    // Under mpirun / srun: join the job (the universe is kept until the end of main, after
    // the ranks, and finalises MPI); else one process.
    #[cfg(feature = "mpi")]
    let (universe, ranks) = match axon::cluster::mpi::start() {
        Ok(started) => started,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    #[cfg(feature = "mpi")]
    let _universe = universe;
    #[cfg(not(feature = "mpi"))]
    let ranks = axon::cluster::Ranks::single();
    // Declared after the universe: dropped (its communicator freed) before MPI finalises.
    let mut ranks = ranks;
    let cli = cli::Cli::parse_last_wins();
    match cli::dispatch(cli.command, &mut ranks) {
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
            match (ranks.rank(), ranks.size()) {
                (rank, size) if size > 1 => eprintln!("error (rank {rank} of {size}): {msg}"),
                _ => eprintln!("error: {msg}"),
            }
            let code = f.exit_code();
            if code == 1 {
                // The other ranks may be waiting in an exchange for this one: end them all.
                ranks.abort_all(1);
            }
            ExitCode::from(code)
        }
    }
}
