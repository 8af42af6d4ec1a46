//! `axon trace`: reading the message traces a run wrote.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use super::{bad_input, Failure};

#[derive(Subcommand, Debug)]
pub(crate) enum TraceCommand {
    /// Per-edge message counts, bytes and latency percentiles, and mailbox high-water marks,
    /// from a trace.jsonl file.
    Summarize {
        /// The JSON-lines event log (trace.jsonl).
        file: PathBuf,
    },
}

/// Runs `axon trace WHAT`.
pub(crate) fn trace(what: TraceCommand) -> Result<(), Failure> {
    match what {
        TraceCommand::Summarize { file } => {
            let summary =
                axon::runtime::trace_log::summarize_file::<axon::message::MessageKind>(&file)
                    .map_err(bad_input)?;
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = write!(std::io::stdout(), "{summary}");
            Ok(())
        }
    }
}
