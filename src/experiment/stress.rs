//! Stress benchmarks of the actor runtime (`axon bench messages`), each against the bare
//! channel on the same pattern in the same run, so the figure that matters is a ratio.
//!
//! Patterns: `ring-loaded` (N actors in a ring, every actor holding a token, forwarded until
//! one actor has handled `hops`), `ring-token` (one token around a ring of N: a chain of
//! wake-ups), `fan-out` (one actor sends `hops` rounds to N), `fan-in` (N actors send `hops`
//! messages each to one) and `ping-pong` (two actors, one message in flight: the round trip).
//! Messages are 16 bytes, as in the anchors.
//! The bare-channel baselines are the one place outside `mailbox` that names the channel
//! crates: measuring them is their purpose.

use std::time::Instant;

use serde::Serialize;

use crate::message::{MessageKind, Payload};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::{Executor, Network, Runtime, RuntimeConfig, RuntimeError};

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

/// Forwards every message on edge 0 until it has handled `limit`.
struct Relay {
    seed: bool,
    handled: u64,
    limit: u64,
}

impl Actor<Token> for Relay {
    fn started(&mut self, ctx: &mut Context<'_, Token>) -> Flow {
        if self.seed {
            ctx.send(0, Token { hops: 0, step: 0 });
        }
        Flow::Continue
    }
    fn handle(&mut self, m: Token, ctx: &mut Context<'_, Token>) -> Flow {
        self.handled += 1;
        if self.handled >= self.limit {
            return Flow::StopAll;
        }
        ctx.send(
            0,
            Token {
                hops: m.hops + 1,
                step: m.step,
            },
        );
        Flow::Continue
    }
}

/// Sends one message to each of its first `edges - 1` out-edges per round, `rounds` rounds,
/// pacing itself with a tick to its own last edge (a self-loop), then stops.
struct Source {
    rounds: u64,
    done: u64,
}

impl Actor<Token> for Source {
    fn started(&mut self, ctx: &mut Context<'_, Token>) -> Flow {
        self.round(ctx)
    }
    fn handle(&mut self, _: Token, ctx: &mut Context<'_, Token>) -> Flow {
        self.round(ctx)
    }
}

impl Source {
    fn round(&mut self, ctx: &mut Context<'_, Token>) -> Flow {
        let targets = ctx.edges() - 1;
        for e in 0..targets {
            ctx.send(
                e,
                Token {
                    hops: self.done,
                    step: self.done,
                },
            );
        }
        self.done += 1;
        if self.done >= self.rounds {
            return Flow::Stop;
        }
        ctx.send(targets, Token { hops: 0, step: 0 });
        Flow::Continue
    }
}

/// Counts arrivals; stops after `expect`.
struct Sink {
    expect: u64,
    got: u64,
}

impl Actor<Token> for Sink {
    fn handle(&mut self, _: Token, _: &mut Context<'_, Token>) -> Flow {
        self.got += 1;
        if self.got >= self.expect {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

/// One source to `n` sinks (`fan_in = false`) or `n` sources to one sink.
fn fan(n: usize, rounds: u64, fan_in: bool) -> Network<Token> {
    let mut net = Network::new();
    if fan_in {
        let sink = net.add(
            "sink",
            Sink {
                expect: n as u64 * rounds,
                got: 0,
            },
        );
        for i in 0..n {
            let s = net.add(format!("source-{i}"), Source { rounds, done: 0 });
            net.connect(s, sink);
            net.connect(s, s);
        }
    } else {
        let src = net.add("source", Source { rounds, done: 0 });
        for i in 0..n {
            let k = net.add(
                format!("sink-{i}"),
                Sink {
                    expect: rounds,
                    got: 0,
                },
            );
            net.connect(src, k);
        }
        net.connect(src, src);
    }
    net
}

/// A ring of `n` relays (actor `i` sends to `i + 1`); `seeded(i)`: actor `i` starts with a
/// token; each stops the run after handling `limit` messages.
pub fn ring(n: usize, seeded: impl Fn(usize) -> bool, limit: u64) -> Network<Token> {
    let mut net = Network::new();
    let ids: Vec<usize> = (0..n)
        .map(|i| {
            net.add(
                format!("ring-{i}"),
                Relay {
                    seed: seeded(i),
                    handled: 0,
                    limit,
                },
            )
        })
        .collect();
    for i in 0..n {
        net.connect(ids[i], ids[(i + 1) % n]);
    }
    net
}

/// Messages per second through axon's runtime for a network; also returns the count.
fn through(cfg: RuntimeConfig, net: Network<Token>) -> Result<(f64, u64), RuntimeError> {
    let report = Runtime::new(cfg).run(net)?;
    let msgs = report.handled;
    tracing::info!(startup = ?report.startup, active = ?report.active, elapsed = ?report.elapsed, msgs, "stress run");
    Ok((msgs as f64 / report.active.as_secs_f64(), msgs))
}

/// The bare tokio channel ring: `n` tasks, the first `tokens` holding a token; each task
/// stops after handling `limit` messages.
fn raw_tokio_ring(n: usize, tokens: usize, workers: usize, limit: u64, capacity: usize) -> f64 {
    use tokio::sync::mpsc;
    let rt = bare_runtime(workers);
    rt.block_on(async move {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel::<Token>(capacity)).unzip();
        for tx in &txs[..tokens] {
            tx.send(Token { hops: 0, step: 0 }).await.expect("open");
        }
        let start = Instant::now();
        let mut handles = Vec::with_capacity(n);
        for (i, mut rx) in rxs.into_iter().enumerate() {
            let next = txs[(i + 1) % n].clone();
            handles.push(tokio::spawn(async move {
                let mut handled = 0u64;
                while let Some(mut t) = rx.recv().await {
                    handled += 1;
                    if handled >= limit {
                        break;
                    }
                    t.hops += 1;
                    if next.send(t).await.is_err() {
                        break;
                    }
                }
                handled
            }));
        }
        drop(txs);
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap_or(0);
        }
        total as f64 / start.elapsed().as_secs_f64()
    })
}

/// The bare crossbeam ring on OS threads, the first `tokens` holding a token.
fn raw_crossbeam_ring(n: usize, tokens: usize, limit: u64, capacity: usize) -> f64 {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| crossbeam_channel::bounded::<Token>(capacity))
        .unzip();
    for tx in &txs[..tokens] {
        tx.send(Token { hops: 0, step: 0 }).expect("open");
    }
    let start = Instant::now();
    let handles: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(i, rx)| {
            let next = txs[(i + 1) % n].clone();
            std::thread::spawn(move || {
                let mut handled = 0u64;
                while let Ok(mut t) = rx.recv() {
                    handled += 1;
                    if handled >= limit {
                        break;
                    }
                    t.hops += 1;
                    if next.send(t).is_err() {
                        break;
                    }
                }
                handled
            })
        })
        .collect();
    drop(txs);
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    total as f64 / start.elapsed().as_secs_f64()
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

/// Bare tokio fan-out (one sender task, `n` receiver tasks) or fan-in (`n` senders, one
/// receiver), `rounds` messages per pair.
fn raw_tokio_fan(n: usize, workers: usize, rounds: u64, capacity: usize, fan_in: bool) -> f64 {
    use tokio::sync::mpsc;
    let rt = bare_runtime(workers);
    rt.block_on(async move {
        let start = Instant::now();
        let total = if fan_in {
            let (tx, mut rx) = mpsc::channel::<Token>(capacity);
            for _ in 0..n {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for r in 0..rounds {
                        if tx.send(Token { hops: r, step: r }).await.is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut got = 0u64;
            while rx.recv().await.is_some() {
                got += 1;
            }
            got
        } else {
            let (txs, rxs): (Vec<_>, Vec<_>) =
                (0..n).map(|_| mpsc::channel::<Token>(capacity)).unzip();
            let sinks: Vec<_> = rxs
                .into_iter()
                .map(|mut rx| {
                    tokio::spawn(async move {
                        let mut got = 0u64;
                        while rx.recv().await.is_some() {
                            got += 1;
                        }
                        got
                    })
                })
                .collect();
            let source = tokio::spawn(async move {
                for r in 0..rounds {
                    for tx in &txs {
                        if tx.send(Token { hops: r, step: r }).await.is_err() {
                            return;
                        }
                    }
                }
            });
            let _ = source.await;
            let mut got = 0;
            for s in sinks {
                got += s.await.unwrap_or(0);
            }
            got
        };
        total as f64 / start.elapsed().as_secs_f64()
    })
}

/// Bare crossbeam fan-out or fan-in on threads.
fn raw_crossbeam_fan(n: usize, rounds: u64, capacity: usize, fan_in: bool) -> f64 {
    let start = Instant::now();
    let total = if fan_in {
        let (tx, rx) = crossbeam_channel::bounded::<Token>(capacity);
        let senders: Vec<_> = (0..n)
            .map(|_| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for r in 0..rounds {
                        if tx.send(Token { hops: r, step: r }).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let got = rx.iter().count() as u64;
        for s in senders {
            let _ = s.join();
        }
        got
    } else {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n)
            .map(|_| crossbeam_channel::bounded::<Token>(capacity))
            .unzip();
        let sinks: Vec<_> = rxs
            .into_iter()
            .map(|rx| std::thread::spawn(move || rx.iter().count() as u64))
            .collect();
        for r in 0..rounds {
            for tx in &txs {
                let _ = tx.send(Token { hops: r, step: r });
            }
        }
        drop(txs);
        sinks.into_iter().map(|s| s.join().unwrap_or(0)).sum()
    };
    total as f64 / start.elapsed().as_secs_f64()
}

fn raw_tokio_ring_one_token(workers: usize, limit: u64) -> f64 {
    use tokio::sync::mpsc;
    let rt = bare_runtime(workers);
    rt.block_on(async move {
        let (a_tx, mut a_rx) = mpsc::channel::<Token>(1024);
        let (b_tx, mut b_rx) = mpsc::channel::<Token>(1024);
        let start = Instant::now();
        // Both sides are tasks on the workers, as axon's actors are.
        let b = tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(t) = b_rx.recv().await {
                n += 1;
                if a_tx.send(t).await.is_err() {
                    break;
                }
            }
            n
        });
        let a = tokio::spawn(async move {
            b_tx.send(Token { hops: 0, step: 0 }).await.expect("open");
            let mut n = 0u64;
            while let Some(t) = a_rx.recv().await {
                n += 1;
                if n >= limit || b_tx.send(t).await.is_err() {
                    break;
                }
            }
            n
        });
        let n = a.await.unwrap_or(0);
        let m = b.await.unwrap_or(0);
        (n + m) as f64 / start.elapsed().as_secs_f64()
    })
}

fn raw_crossbeam_ping_pong(limit: u64) -> f64 {
    let (a_tx, a_rx) = crossbeam_channel::bounded::<Token>(1024);
    let (b_tx, b_rx) = crossbeam_channel::bounded::<Token>(1024);
    let start = Instant::now();
    let b = std::thread::spawn(move || {
        let mut n = 0u64;
        while let Ok(t) = b_rx.recv() {
            n += 1;
            if a_tx.send(t).is_err() {
                break;
            }
        }
        n
    });
    b_tx.send(Token { hops: 0, step: 0 }).expect("open");
    let mut n = 0u64;
    while let Ok(t) = a_rx.recv() {
        n += 1;
        if n >= limit || b_tx.send(t).is_err() {
            break;
        }
    }
    drop(b_tx);
    let m = b.join().unwrap_or(0);
    (n + m) as f64 / start.elapsed().as_secs_f64()
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

/// Resident memory of this process in bytes (Linux; 0 elsewhere).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// The last actor of the spawn probe: once it runs, every other actor has been spawned; it
/// reads the process's memory and ends the run.
struct Closer {
    resident: u64,
}

impl Actor<Token> for Closer {
    fn started(&mut self, _: &mut Context<'_, Token>) -> Flow {
        self.resident = resident_bytes();
        Flow::StopAll
    }
    fn handle(&mut self, _: Token, _: &mut Context<'_, Token>) -> Flow {
        Flow::Continue
    }
}

/// What spawning many idle actors costs.
#[derive(Clone, Debug, Serialize)]
pub struct SpawnReport {
    /// The executor.
    pub executor: Executor,
    /// Idle actors spawned.
    pub actors: usize,
    /// Seconds to build mailboxes and registry and spawn them all.
    pub spawn_s: f64,
    /// Resident memory added per idle actor (mailboxes, task, state), bytes.
    pub bytes_per_actor: f64,
}

/// Spawns `n` idle actors (each with one out-edge, as in a ring) and measures time and memory.
pub fn spawn_probe(
    executor: Executor,
    n: usize,
    workers: usize,
) -> Result<SpawnReport, RuntimeError> {
    let before = resident_bytes();
    let mut net = ring(n, |_| false, u64::MAX);
    let closer = net.add("closer", Closer { resident: 0 });
    net.connect(closer, 0);
    let cfg = RuntimeConfig {
        executor,
        workers,
        ..RuntimeConfig::default()
    };
    let report = Runtime::new(cfg).run(net)?;
    let resident = report
        .actors
        .last()
        .and_then(|a| (a.as_ref() as &dyn std::any::Any).downcast_ref::<Closer>())
        .map_or(0, |c| c.resident);
    Ok(SpawnReport {
        executor,
        actors: n,
        spawn_s: report.startup.as_secs_f64(),
        bytes_per_actor: resident.saturating_sub(before) as f64 / n as f64,
    })
}

/// The tokio runtime the bare-channel baselines run on (the same worker count as axon's).
fn bare_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("a tokio runtime starts")
}
