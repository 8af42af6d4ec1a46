//! Stress benchmarks of the actor runtime (`axon bench messages`), each against the bare
//! channel on the same pattern in the same run, so the figure that matters is a ratio.
//!
//! Patterns so far: `ring-loaded` (N actors in a ring, every actor holding a token, each
//! token forwarded until every actor has handled `hops` messages) and `ping-pong` (two actors,
//! one message in flight; the round-trip time). Messages are 16 bytes, as in the anchors.
//! The bare-channel baselines are the one place outside `mailbox` that names the channel
//! crates: measuring them is their purpose.

use std::time::Instant;

use serde::Serialize;

use crate::actor::{Actor, Context, Flow};
use crate::message::{MessageKind, Payload};
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

fn ring(n: usize, seeded: impl Fn(usize) -> bool, limit: u64) -> Network<Token> {
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
    let msgs = report.traffic.totals.messages;
    tracing::info!(startup = ?report.startup, active = ?report.active, elapsed = ?report.elapsed, msgs, "stress run");
    Ok((msgs as f64 / report.active.as_secs_f64(), msgs))
}

/// The bare tokio channel ring: `n` tasks, every one holding a token, `limit` hops each.
fn raw_tokio_ring(n: usize, workers: usize, limit: u64, capacity: usize) -> f64 {
    use tokio::sync::mpsc;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("a tokio runtime starts");
    rt.block_on(async move {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel::<Token>(capacity)).unzip();
        for tx in &txs {
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

/// The bare crossbeam ring on OS threads.
fn raw_crossbeam_ring(n: usize, limit: u64, capacity: usize) -> f64 {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| crossbeam_channel::bounded::<Token>(capacity))
        .unzip();
    for tx in &txs {
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
            ..RuntimeConfig::default()
        };
        let (rate, _) = through(cfg, ring(n, |_| true, hops))?;
        let raw = match executor {
            Executor::Tokio => raw_tokio_ring(n, workers, hops, capacity),
            _ => raw_crossbeam_ring(n.min(8), hops, capacity),
        };
        rows.push(StressRow {
            pattern: "ring-loaded",
            executor,
            actors: n,
            workers,
            msgs_per_s: rate,
            raw_msgs_per_s: raw,
            rtt_ns: None,
            raw_rtt_ns: None,
        });
        // Ping-pong: one token between two actors; two messages per round trip.
        let trips = 100_000;
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

fn raw_tokio_ring_one_token(workers: usize, limit: u64) -> f64 {
    use tokio::sync::mpsc;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("a tokio runtime starts");
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
