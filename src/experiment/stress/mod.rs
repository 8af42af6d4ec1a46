//! Stress benchmarks of the actor runtime (`axon bench messages`), each against the bare
//! channel on the same pattern in the same run, so the figure that matters is a ratio.
//!
//! Patterns: `ring-loaded` (N actors in a ring, every actor holding a token, forwarded until
//! one actor has handled `hops`), `ring-token` (one token around a ring of N: a chain of
//! wake-ups), `fan-out` (one actor sends `hops` rounds to N), `fan-in` (N actors send `hops`
//! messages each to one) and `ping-pong` (two actors, one message in flight: the round trip).
//! Messages are 16 bytes, as in the anchors.
//!
//! Here: the table and the run; the patterns' actors are in `patterns`, the bare-channel
//! baselines in `bare`, the idle-actor spawn probe in `spawn`.

mod bare;
mod patterns;
mod spawn;

use serde::Serialize;

use crate::message::{MessageKind, Payload};
use crate::runtime::{Executor, Network, Runtime, RuntimeConfig, RuntimeError};
use bare::{
    raw_crossbeam_fan, raw_crossbeam_ping_pong, raw_crossbeam_ring, raw_tokio_fan, raw_tokio_ring,
    raw_tokio_ring_one_token,
};
use patterns::fan;
pub use patterns::ring;
pub use spawn::{spawn_probe, SpawnReport};

/// A 16-byte benchmark message.
#[derive(Clone, Copy, Debug)]
pub struct Token {
    /// Hop count.
    pub hops: u64,
    /// Step (unused by the patterns; present for size).
    pub step: u64,
}

impl Payload for Token {
    type Kind = MessageKind;
    fn kind(&self) -> MessageKind {
        MessageKind::Activity
    }
    fn bytes(&self) -> usize {
        16
    }
    fn step(&self) -> u64 {
        self.step
    }
}

/// One row of the table (`--json` writes a list of these).
#[derive(Clone, Debug, Serialize)]
pub struct StressRow {
    /// `ring-loaded` or `ping-pong`.
    pub pattern: &'static str,
    /// `tokio`, `threads` or `inline`.
    pub executor: Executor,
    /// Actors in the pattern.
    pub actors: usize,
    /// Worker threads (tokio).
    pub workers: usize,
    /// Messages per second through axon's actors.
    pub msgs_per_s: f64,
    /// Messages per second through the bare channel on the same pattern.
    pub raw_msgs_per_s: f64,
    /// Round trip in nanoseconds (ping-pong only).
    pub rtt_ns: Option<f64>,
    /// Round trip of the bare channel (ping-pong only).
    pub raw_rtt_ns: Option<f64>,
}

/// Messages per second through axon's runtime for a network; also returns the count.
fn through(cfg: RuntimeConfig, net: Network<Token>) -> Result<(f64, u64), RuntimeError> {
    let report = Runtime::new(cfg).run(net)?;
    let msgs = report.handled;
    tracing::info!(startup = ?report.startup, active = ?report.active, elapsed = ?report.elapsed, msgs, "stress run");
    Ok((msgs as f64 / report.active.as_secs_f64(), msgs))
}

/// Runs the patterns on every executor. `actors` sizes the loaded ring; `hops` is messages
/// per ring actor.
pub fn run_stress(
    actors: usize,
    hops: u64,
    workers: usize,
    sample: u64,
) -> Result<Vec<StressRow>, RuntimeError> {
    let mut rows = Vec::new();
    let capacity = 1024;
    for executor in [Executor::Tokio, Executor::Threads, Executor::Inline] {
        // One OS thread per actor: the threads executor gets a small ring.
        let n = if executor == Executor::Threads {
            actors.min(8)
        } else {
            actors
        };
        let cfg = RuntimeConfig {
            executor,
            workers,
            mailbox_capacity: capacity,
            trace_sample: sample,
            ..RuntimeConfig::default()
        };
        let (rate, _) = through(cfg, ring(n, |_| true, hops))?;
        let raw = match executor {
            Executor::Tokio => raw_tokio_ring(n, n, workers, hops, capacity),
            _ => raw_crossbeam_ring(n.min(8), n.min(8), hops, capacity),
        };
        rows.push(row("ring-loaded", executor, n, workers, rate, raw));
        // One token around the ring: every hop wakes the next actor.
        let token_hops = (2_000 * hops).clamp(2_000, 200_000).max(n as u64);
        let (rate, _) = through(cfg, ring(n, |i| i == 0, token_hops.div_ceil(n as u64)))?;
        let raw = match executor {
            Executor::Tokio => {
                raw_tokio_ring(n, 1, workers, token_hops.div_ceil(n as u64), capacity)
            }
            _ => raw_crossbeam_ring(n.min(8), 1, token_hops.div_ceil(n.min(8) as u64), capacity),
        };
        rows.push(row("ring-token", executor, n, workers, rate, raw));
        // Fan-out and fan-in: the same message count as the loaded ring, at most 2 M.
        let fan_n = if executor == Executor::Threads {
            n.min(8)
        } else {
            n
        };
        let rounds = (2_000_000 / fan_n as u64).clamp(1, hops);
        for (pattern, fan_in) in [("fan-out", false), ("fan-in", true)] {
            let (rate, _) = through(cfg, fan(fan_n, rounds, fan_in))?;
            let raw = match executor {
                Executor::Tokio => raw_tokio_fan(fan_n, workers, rounds, capacity, fan_in),
                _ => raw_crossbeam_fan(fan_n.min(8), rounds, capacity, fan_in),
            };
            rows.push(row(pattern, executor, fan_n, workers, rate, raw));
        }
        // Ping-pong: one token between two actors; two messages per round trip.
        let trips = (1_000 * hops).clamp(2_000, 100_000);
        let (rate, _) = through(cfg, ring(2, |i| i == 0, trips))?;
        let raw = match executor {
            Executor::Tokio => raw_tokio_ring_one_token(workers, trips),
            _ => raw_crossbeam_ping_pong(trips),
        };
        rows.push(StressRow {
            pattern: "ping-pong",
            executor,
            actors: 2,
            workers,
            msgs_per_s: rate,
            raw_msgs_per_s: raw,
            rtt_ns: Some(2e9 / rate),
            raw_rtt_ns: Some(2e9 / raw),
        });
    }
    Ok(rows)
}

fn row(
    pattern: &'static str,
    executor: Executor,
    actors: usize,
    workers: usize,
    rate: f64,
    raw: f64,
) -> StressRow {
    StressRow {
        pattern,
        executor,
        actors,
        workers,
        msgs_per_s: rate,
        raw_msgs_per_s: raw,
        rtt_ns: None,
        raw_rtt_ns: None,
    }
}

/// Runs a traced loaded ring of 64 tokio actors (1 in `sample` messages logged) and writes
/// `trace.jsonl`, `trace.json` (Chrome trace), `traffic.json` and `traffic.png` into `dir`.
pub fn traced_ring(
    dir: &std::path::Path,
    workers: usize,
    sample: u64,
) -> Result<Vec<std::path::PathBuf>, StressError> {
    let cfg = RuntimeConfig {
        executor: Executor::Tokio,
        workers,
        mailbox_capacity: 64,
        trace_sample: sample,
        ..RuntimeConfig::default()
    };
    let report = Runtime::new(cfg).run(ring(64, |_| true, 2_000))?;
    std::fs::create_dir_all(dir).map_err(|source| StressError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let paths: Vec<std::path::PathBuf> =
        ["trace.jsonl", "trace.json", "traffic.json", "traffic.png"]
            .iter()
            .map(|f| dir.join(f))
            .collect();
    crate::runtime::trace_log::write_jsonl(&paths[0], &report.trace, &report.names)?;
    crate::runtime::trace_log::write_chrome_trace(&paths[1], &report.trace, &report.names)?;
    let traffic = serde_json::to_string_pretty(&report.traffic).expect("traffic always serialises");
    crate::experiment::run_dir::write_atomic(&paths[2], traffic.as_bytes())?;
    crate::experiment::plot::traffic_heatmap_png(&report.traffic, &report.names, &paths[3])?;
    Ok(paths)
}

/// Why a traced stress run could not write its files.
#[derive(Debug, thiserror::Error)]
pub enum StressError {
    /// The run failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The output folder could not be created.
    #[error("{path}: cannot create folder: {source}")]
    Io {
        /// The folder.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An event log could not be written.
    #[error(transparent)]
    Trace(#[from] crate::runtime::trace_log::TraceError),
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] crate::experiment::run_dir::RunDirError),
    /// The heat map could not be drawn.
    #[error(transparent)]
    Plot(#[from] crate::experiment::plot::PlotError),
}
