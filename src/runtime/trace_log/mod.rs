//! The sampled message-event log: one [`TraceEvent`] per sampled message, its two file
//! formats, and the latency and mailbox summary read back from them.
//!
//! The runtime collects events in memory while it runs and calls the writers here once, at
//! the end of a run, off the hot path; nothing in this module runs while messages flow.
//!
//! - **JSONL** ([`write_jsonl`], [`read_jsonl`]): one self-contained JSON object per line, in
//!   send order, names included, so a line can be read (or `grep`ped) on its own:
//!   `{"from":"in","to":"h1","from_id":0,"to_id":1,"kind":"activity","bytes":1024,"step":3,
//!   "send_ns":1200,"recv_ns":4500,"latency_ns":3300,"depth":2}`. [`summarize_file`] turns it
//!   into a [`TraceSummary`]: latency percentiles per edge and kind, and each receiver's
//!   mailbox high-water mark.
//! - **Chrome trace** ([`write_chrome_trace`]): the JSON object format that Perfetto and
//!   `chrome://tracing` open. Each actor is a thread track (pid 1, tid = actor id) named by a
//!   `thread_name` metadata event; each message is a complete (`"X"`) event on its receiver's
//!   track, from send to receive, named by its kind.
//!
//! Times are nanoseconds since the run started; latency is `recv_ns - send_ns`, the time a
//! message spent in flight and waiting in the receiver's mailbox.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::io::{write_atomic, FileError};
use crate::runtime::payload::{label_serde, Label};

mod chrome;
mod summary;
#[cfg(test)]
mod tests;

pub use chrome::write_chrome_trace;
pub use summary::{summarize, summarize_file, EdgeLatency, MailboxHighWater, TraceSummary};

/// One sampled message: who sent what to whom, when it was sent and received.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "K: Label")]
pub struct TraceEvent<K> {
    /// Sending actor's id (its index in the network).
    pub from: u32,
    /// Receiving actor's id.
    pub to: u32,
    /// The message's kind.
    #[serde(with = "label_serde")]
    pub kind: K,
    /// Payload bytes.
    pub bytes: u32,
    /// The step (or tick) the message belongs to.
    pub step: u64,
    /// Nanoseconds since the run started when the message was sent.
    pub send_ns: u64,
    /// Nanoseconds since the run started when the receiver took it out of its mailbox.
    pub recv_ns: u64,
    /// The receiver's data-mailbox depth at that moment: messages still waiting behind it.
    pub depth: u32,
}

impl<K> TraceEvent<K> {
    /// Nanoseconds from send to receive (0 if the clock readings disagree).
    pub fn latency_ns(&self) -> u64 {
        self.recv_ns.saturating_sub(self.send_ns)
    }
}

/// One line of a JSONL trace: a [`TraceEvent`] with the actors' names and its latency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "K: Label")]
pub struct LoggedEvent<K> {
    /// Sending actor's name.
    pub from: String,
    /// Receiving actor's name.
    pub to: String,
    /// Sending actor's id.
    pub from_id: u32,
    /// Receiving actor's id.
    pub to_id: u32,
    /// The message's kind.
    #[serde(with = "label_serde")]
    pub kind: K,
    /// Payload bytes.
    pub bytes: u32,
    /// The step (or tick) the message belongs to.
    pub step: u64,
    /// Nanoseconds since the run started when the message was sent.
    pub send_ns: u64,
    /// Nanoseconds since the run started when the receiver took it out of its mailbox.
    pub recv_ns: u64,
    /// `recv_ns - send_ns`.
    pub latency_ns: u64,
    /// The receiver's data-mailbox depth when it took the message: messages still waiting.
    pub depth: u32,
}

impl<K: Label> LoggedEvent<K> {
    /// The line written for `e`, with names looked up by id in `names`.
    pub fn new(e: &TraceEvent<K>, names: &[String]) -> Self {
        Self {
            from: actor_name(names, e.from),
            to: actor_name(names, e.to),
            from_id: e.from,
            to_id: e.to,
            kind: e.kind,
            bytes: e.bytes,
            step: e.step,
            send_ns: e.send_ns,
            recv_ns: e.recv_ns,
            latency_ns: e.latency_ns(),
            depth: e.depth,
        }
    }
}

/// What can go wrong writing or reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A trace file could not be opened or read.
    #[error("cannot read trace {path}: {source}; check the path (traces are written at the end of a run that samples messages)")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of a JSONL trace is not a trace event.
    #[error("{path}:{line}: not a trace event: {message}; every line must be one JSON object as written by axon (was the file truncated or edited?)")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What the JSON parser found.
        message: String,
    },
    /// A trace file could not be written.
    #[error("cannot write trace: {0}; check that the folder is writable and the disk has room")]
    Write(#[from] FileError),
}

/// Writes `events` as JSONL, one [`LoggedEvent`] per line, sorted by send time; `names[id]`
/// names actor `id` (actors without a name are written `#id`). The file is replaced atomically.
pub fn write_jsonl<K: Label>(
    path: &Path,
    events: &[TraceEvent<K>],
    names: &[String],
) -> Result<(), TraceError> {
    let mut out = Vec::with_capacity(events.len() * 192);
    for e in sorted_by_send(events) {
        serde_json::to_writer(&mut out, &LoggedEvent::new(e, names))
            .expect("a LoggedEvent has only strings and integers, and a Vec cannot fail to grow");
        out.push(b'\n');
    }
    Ok(write_atomic(path, &out)?)
}

/// Reads a JSONL trace written by [`write_jsonl`], in file order. Blank lines are skipped.
pub fn read_jsonl<K: Label>(path: &Path) -> Result<Vec<LoggedEvent<K>>, TraceError> {
    let io = |source| TraceError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut events = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str(&line).map_err(|e| {
            // serde counts lines within the one it was given; keep only its column.
            let text = e.to_string();
            let what = text
                .rsplit_once(" at line ")
                .map_or(&*text, |(what, _)| what);
            TraceError::BadLine {
                path: path.to_owned(),
                line: i + 1,
                message: format!("{what} at column {}", e.column()),
            }
        })?;
        events.push(event);
    }
    Ok(events)
}

fn actor_name(names: &[String], id: u32) -> String {
    names
        .get(id as usize)
        .cloned()
        .unwrap_or_else(|| format!("#{id}"))
}

/// Events in send order; ties broken by the rest of the event, so the order never depends on
/// the order the runtime collected them in.
fn sorted_by_send<K: Label>(events: &[TraceEvent<K>]) -> Vec<&TraceEvent<K>> {
    let mut sorted: Vec<&TraceEvent<K>> = events.iter().collect();
    sorted.sort_by_key(|e| {
        let kind = e.kind.index();
        (e.send_ns, e.recv_ns, e.from, e.to, e.step, kind, e.bytes)
    });
    sorted
}
