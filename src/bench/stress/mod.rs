//! Stress benchmarks of the actor runtime (`axon bench messages`), each against the bare
//! channel on the same pattern in the same run, so the figure that matters is a ratio.
//!
//! Patterns: `ring-loaded` (N actors in a ring, every actor holding a token, forwarded for a
//! fixed window), `ring-token` (one token around a ring of N: a chain of wake-ups), `fan-out`
//! (one actor sends `rounds` rounds to N), `fan-in` (N actors send `rounds` messages each to
//! one) and `ping-pong` (two actors, one message in flight: the round trip). Messages are 16
//! bytes, as in the anchors.
//!
//! # What each side counts and times
//!
//! Both sides share one rule, kept in `window`: the window opens when the first actor (bare:
//! task or thread) starts, and every actor and task calls the same methods at the same points.
//! A rate is messages counted / window.
//!
//! - Counted: messages handled by the pattern's receivers (ring relays; fan sinks). The
//!   sources' self-pacing ticks of axon's fan patterns (an actor cannot loop, so it sends
//!   itself a tick per round) are not counted; the bare sources loop and send none.
//! - `ring-loaded`: the window closes a fixed length (`--window-ms`) after it opens; messages
//!   handled before it closes are counted, on both sides. The first relay to see it closed
//!   stops the run.
//! - `ring-token`, `ping-pong`: fixed count. A relay stops the run when it has handled
//!   `limit`; the window closes at that message. Both sides handle `(limit - 1) * n + 1`.
//! - `fan-out`, `fan-in`: fixed count. Each sink stops at its last expected message; the
//!   window closes at the last sink's last message. Both sides handle `n * rounds`.
//! - Tasks are spawned in the order of the actor network (ring `0..n`; the source, then the
//!   sinks; the sink, then the sources), so spawning overlaps the window alike.
//!
//! Before this rule, axon's rate was the runtime's `handled` (every data message, the fan
//! sources' ticks included, and the loaded ring's messages handled while the stop was being
//! broadcast) over `active` (the actors' start to the first stop request: not the time of
//! those last messages); the loaded ring ran until one actor had handled `hops`. The bare
//! rate was every message handled over the time from just before spawning to the last task
//! joined (teardown included); fan-in counted n × rounds on the bare side and n × rounds plus
//! n × (rounds − 1) ticks on axon's; ping-pong counted 2 × trips bare and 2 × trips − 1 on
//! axon.
//!
//! Here: the table and the run; the patterns' actors are in `patterns`, the bare-channel
//! baselines in `bare`, the shared window in `window`, the idle-actor spawn probe in `spawn`.

mod bare;
mod patterns;
mod spawn;
mod window;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::message::{MessageKind, Payload};
use crate::run_error::NetworkRunError;
use crate::runtime::{Executor, Network, Runtime, RuntimeConfig};
use bare::{raw_crossbeam_fan, raw_crossbeam_ring, raw_tokio_fan, raw_tokio_ring};
pub use patterns::ring;
use patterns::{fan, ring_in};
pub use spawn::{spawn_probe, SpawnReport};
use window::{Measure, Window};

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
    /// `ring-loaded`, `ring-token`, `fan-out`, `fan-in` or `ping-pong`.
    pub pattern: &'static str,
    /// The executor axon's side ran on.
    pub executor: Executor,
    /// Actors in the pattern.
    pub actors: usize,
    /// Worker threads (tokio).
    pub workers: usize,
    /// Messages per second through axon's actors (`messages / window_s`).
    pub msgs_per_s: f64,
    /// Messages per second through the bare channel on the same pattern.
    pub raw_msgs_per_s: f64,
    /// Round trip in nanoseconds (ping-pong only).
    pub rtt_ns: Option<f64>,
    /// Round trip of the bare channel (ping-pong only).
    pub raw_rtt_ns: Option<f64>,
    /// Messages axon's receivers handled in the window.
    pub messages: u64,
    /// Messages the bare channel's receivers handled in the window.
    pub raw_messages: u64,
    /// axon's window, seconds: first actor started to the last counted message (or the fixed
    /// window of `ring-loaded`).
    pub window_s: f64,
    /// The bare channel's window, by the same rule.
    pub raw_window_s: f64,
}

/// The loaded ring's window when none is given.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(1000);

/// Runs `net` (built around a fresh window) on axon's runtime; with `len`, the window closes
/// `len` after it opens.
fn axon_side(
    cfg: RuntimeConfig,
    len: Option<Duration>,
    net: impl FnOnce(&Arc<Window>) -> Network<Token>,
) -> Result<Measure, NetworkRunError> {
    let w = Window::new();
    let net = net(&w);
    let run = || Runtime::new(cfg).run(net);
    let report = match len {
        Some(len) => w.timed(len, run)?,
        None => run()?,
    };
    let m = w.measure();
    tracing::info!(startup = ?report.startup, active = ?report.active, elapsed = ?report.elapsed, handled = report.handled, counted = m.messages, window_s = m.span_s, "stress run");
    Ok(m)
}

/// Runs a bare-channel pattern around a fresh window.
fn bare_side(len: Option<Duration>, run: impl FnOnce(&Arc<Window>)) -> Measure {
    let w = Window::new();
    match len {
        Some(len) => w.timed(len, || run(&w)),
        None => run(&w),
    }
    w.measure()
}

/// Runs the patterns on every executor. `actors` sizes the rings and fans; `hops` sizes the
/// fixed-count patterns; the loaded ring runs for `window` on each side.
pub fn run_stress(
    actors: usize,
    hops: u64,
    workers: usize,
    sample: u64,
    window: Duration,
) -> Result<Vec<StressRow>, NetworkRunError> {
    let mut rows = Vec::new();
    let capacity = 1024;
    for executor in Executor::ALL {
        // One OS thread per actor: the threads executor (and the bare threads beside every
        // executor but tokio) gets a small ring.
        let n = if executor == Executor::Threads {
            actors.min(8)
        } else {
            actors
        };
        // Executors with many actors per thread (tokio, pinned) are compared with tokio's
        // channels on the same number of tasks; the others with a few crossbeam threads.
        let many = matches!(executor, Executor::Tokio | Executor::Pinned);
        let raw_n = if many { n } else { n.min(8) };
        let cfg = RuntimeConfig {
            executor,
            workers,
            mailbox_capacity: capacity,
            trace_sample: sample,
            ..RuntimeConfig::default()
        };
        // The loaded ring: every actor holds a token; messages handled in a fixed window.
        let len = Some(window);
        let m = axon_side(cfg, len, |w| ring_in(n, |_| true, u64::MAX, true, w))?;
        let raw = bare_side(len, |w| match executor {
            _ if many => raw_tokio_ring(n, n, workers, u64::MAX, capacity, w),
            _ => raw_crossbeam_ring(raw_n, raw_n, u64::MAX, capacity, w),
        });
        rows.push(row("ring-loaded", executor, n, workers, m, raw));
        // One token around the ring: every hop wakes the next actor.
        let token_hops = (2_000 * hops).clamp(2_000, 200_000).max(n as u64);
        let limit = token_hops.div_ceil(n as u64);
        let m = axon_side(cfg, None, |w| ring_in(n, |i| i == 0, limit, true, w))?;
        let raw = bare_side(None, |w| match executor {
            _ if many => raw_tokio_ring(n, 1, workers, limit, capacity, w),
            _ => raw_crossbeam_ring(raw_n, 1, token_hops.div_ceil(raw_n as u64), capacity, w),
        });
        rows.push(row("ring-token", executor, n, workers, m, raw));
        // Fan-out and fan-in: the same message count as the loaded ring, at most 2 M.
        let rounds = (2_000_000 / n as u64).clamp(1, hops);
        for (pattern, fan_in) in [("fan-out", false), ("fan-in", true)] {
            let m = axon_side(cfg, None, |w| fan(n, rounds, fan_in, w))?;
            let raw = bare_side(None, |w| match executor {
                _ if many => raw_tokio_fan(n, workers, rounds, capacity, fan_in, w),
                _ => raw_crossbeam_fan(raw_n, rounds, capacity, fan_in, w),
            });
            rows.push(row(pattern, executor, n, workers, m, raw));
        }
        // Ping-pong: one token between two actors; two messages per round trip.
        let trips = (1_000 * hops).clamp(2_000, 100_000);
        let m = axon_side(cfg, None, |w| ring_in(2, |i| i == 0, trips, true, w))?;
        let raw = bare_side(None, |w| match executor {
            _ if many => raw_tokio_ring(2, 1, workers, trips, capacity, w),
            _ => raw_crossbeam_ring(2, 1, trips, capacity, w),
        });
        let mut r = row("ping-pong", executor, 2, workers, m, raw);
        r.rtt_ns = Some(2e9 / r.msgs_per_s);
        r.raw_rtt_ns = Some(2e9 / r.raw_msgs_per_s);
        rows.push(r);
    }
    Ok(rows)
}

fn row(
    pattern: &'static str,
    executor: Executor,
    actors: usize,
    workers: usize,
    m: Measure,
    raw: Measure,
) -> StressRow {
    StressRow {
        pattern,
        executor,
        actors,
        workers,
        msgs_per_s: m.rate(),
        raw_msgs_per_s: raw.rate(),
        rtt_ns: None,
        raw_rtt_ns: None,
        messages: m.messages,
        raw_messages: raw.messages,
        window_s: m.span_s,
        raw_window_s: raw.span_s,
    }
}

/// The loaded ring as a fixed amount of work (for `axon bench scale`): `actors` relays, each
/// holding a token and stopping after it has handled `hops` messages, so exactly
/// `actors * hops` messages are handled (checked: any other count is an error). The window runs
/// from the first actor's start to the last message handled.
pub fn ring_work(
    executor: Executor,
    workers: usize,
    actors: usize,
    hops: u64,
) -> Result<RingWork, NetworkRunError> {
    let cfg = RuntimeConfig {
        executor,
        workers,
        mailbox_capacity: 1024,
        ..RuntimeConfig::default()
    };
    let m = axon_side(cfg, None, |w| ring_in(actors, |_| true, hops, false, w))?;
    // Every actor handles exactly `hops` messages, then stops.
    let expected = actors as u64 * hops;
    if m.messages != expected {
        return Err(NetworkRunError::Conservation {
            what: format!("a loaded ring of {actors} actors"),
            expected,
            handled: m.messages,
        });
    }
    Ok(RingWork {
        messages: m.messages,
        wall_s: m.span_s,
    })
}

/// What [`ring_work`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RingWork {
    /// Messages handled (`actors * hops`).
    pub messages: u64,
    /// Seconds from the first actor's start to the last message handled.
    pub wall_s: f64,
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
    crate::io::write_atomic(&paths[2], traffic.as_bytes())
        .map_err(crate::experiment::run_dir::RunDirError::from)?;
    crate::experiment::plot::traffic_heatmap_png(&report.traffic, &report.names, &paths[3])?;
    Ok(paths)
}

impl From<crate::runtime::RuntimeError> for StressError {
    fn from(e: crate::runtime::RuntimeError) -> Self {
        StressError::Runtime(e.into())
    }
}

/// Why a traced stress run could not write its files.
#[derive(Debug, thiserror::Error)]
pub enum StressError {
    /// The run failed.
    #[error(transparent)]
    Runtime(#[from] NetworkRunError),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pattern on every executor: positive rates and windows; where both sides run the
    /// same pattern at the same size, the fixed-count patterns count the same messages.
    #[test]
    fn both_sides_count_the_same_messages() {
        let rows = run_stress(6, 3, 2, 0, Duration::from_millis(30)).expect("runs");
        assert_eq!(rows.len(), 5 * Executor::ALL.len());
        for r in &rows {
            assert!(r.msgs_per_s > 0.0 && r.raw_msgs_per_s > 0.0, "{r:?}");
            assert!(r.window_s > 0.0 && r.raw_window_s > 0.0, "{r:?}");
            assert!(r.messages > 0 && r.raw_messages > 0, "{r:?}");
            let same_size =
                matches!(r.executor, Executor::Tokio | Executor::Pinned) || r.actors <= 8;
            let expected = match r.pattern {
                // 6 actors, limit ceil(6000 / 6) = 1000: (limit - 1) * n + 1.
                "ring-token" => Some(999 * 6 + 1),
                // rounds = min(2 M / 6, hops) = 3, to or from 6 sinks.
                "fan-out" | "fan-in" => Some(6 * 3),
                // trips = 3000: the limit-th message of the second actor.
                "ping-pong" => Some(2 * 3000 - 1),
                _ => {
                    // The fixed window: both sides stop counting at the same timer.
                    assert!(r.window_s >= 0.03 && r.raw_window_s >= 0.03, "{r:?}");
                    None
                }
            };
            if let (true, Some(n)) = (same_size, expected) {
                assert_eq!((r.messages, r.raw_messages), (n, n), "{r:?}");
            }
        }
    }

    /// The scale table's ring handles exactly actors x hops messages.
    #[test]
    fn ring_work_handles_actors_times_hops() {
        for executor in [Executor::Tokio, Executor::Inline] {
            let w = ring_work(executor, 2, 50, 20).expect("runs");
            assert_eq!(w.messages, 1000, "{executor:?}");
            assert!(w.wall_s > 0.0);
        }
    }
}
