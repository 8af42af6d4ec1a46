//! The bare-channel baselines: each stress pattern on tokio's or crossbeam's channels without
//! axon's actors. They are the one place outside `mailbox` that names the channel crates:
//! measuring them is their purpose.
//!
//! Each task (thread) does what the matching actor of `patterns` does with the shared
//! [`Window`]: opens it when it starts, stops counting once a fixed window has closed, closes
//! a fixed-count window at the last counted message, and adds its count when it ends. Tasks
//! are spawned in the network order of the actor pattern (ring `0..n`; fan-out: the source,
//! then the sinks; fan-in: the sink, then the sources).

use std::sync::Arc;

use super::window::Window;
use super::Token;

/// The bare tokio channel ring: `n` tasks, the first `tokens` holding a token; each task
/// stops after handling `limit` messages (or once `w` has expired).
pub(super) fn raw_tokio_ring(
    n: usize,
    tokens: usize,
    workers: usize,
    limit: u64,
    capacity: usize,
    w: &Arc<Window>,
) {
    use tokio::sync::mpsc;
    let rt = bare_runtime(workers);
    rt.block_on(async move {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel::<Token>(capacity)).unzip();
        for tx in &txs[..tokens] {
            tx.send(Token { hops: 0, step: 0 }).await.expect("open");
        }
        let mut handles = Vec::with_capacity(n);
        for (i, mut rx) in rxs.into_iter().enumerate() {
            let next = txs[(i + 1) % n].clone();
            let w = w.clone();
            handles.push(tokio::spawn(async move {
                w.start();
                let mut handled = 0u64;
                while let Some(mut t) = rx.recv().await {
                    if w.expired() {
                        break;
                    }
                    handled += 1;
                    if handled >= limit {
                        w.mark_end();
                        break;
                    }
                    t.hops += 1;
                    if next.send(t).await.is_err() {
                        break;
                    }
                }
                w.add(handled);
            }));
        }
        drop(txs);
        for h in handles {
            let _ = h.await;
        }
    });
}

/// The bare crossbeam ring on OS threads, the first `tokens` holding a token.
pub(super) fn raw_crossbeam_ring(
    n: usize,
    tokens: usize,
    limit: u64,
    capacity: usize,
    w: &Arc<Window>,
) {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| crossbeam_channel::bounded::<Token>(capacity))
        .unzip();
    for tx in &txs[..tokens] {
        tx.send(Token { hops: 0, step: 0 }).expect("open");
    }
    let handles: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(i, rx)| {
            let next = txs[(i + 1) % n].clone();
            let w = w.clone();
            std::thread::spawn(move || {
                w.start();
                let mut handled = 0u64;
                while let Ok(mut t) = rx.recv() {
                    if w.expired() {
                        break;
                    }
                    handled += 1;
                    if handled >= limit {
                        w.mark_end();
                        break;
                    }
                    t.hops += 1;
                    if next.send(t).is_err() {
                        break;
                    }
                }
                w.add(handled);
            })
        })
        .collect();
    drop(txs);
    for h in handles {
        let _ = h.join();
    }
}

/// Bare tokio fan-out (one sender task, `n` receiver tasks) or fan-in (`n` senders, one
/// receiver), `rounds` messages per pair.
pub(super) fn raw_tokio_fan(
    n: usize,
    workers: usize,
    rounds: u64,
    capacity: usize,
    fan_in: bool,
    w: &Arc<Window>,
) {
    use tokio::sync::mpsc;
    let rt = bare_runtime(workers);
    rt.block_on(async move {
        let sink = |mut rx: mpsc::Receiver<Token>, expect: u64| {
            let w = w.clone();
            tokio::spawn(async move {
                w.start();
                let mut got = 0u64;
                while rx.recv().await.is_some() {
                    got += 1;
                    if got >= expect {
                        w.mark_end();
                        break;
                    }
                }
                w.add(got);
            })
        };
        let source = |txs: Vec<mpsc::Sender<Token>>| {
            let w = w.clone();
            tokio::spawn(async move {
                w.start();
                for r in 0..rounds {
                    for tx in &txs {
                        if tx.send(Token { hops: r, step: r }).await.is_err() {
                            return;
                        }
                    }
                }
            })
        };
        let mut handles = Vec::with_capacity(n + 1);
        if fan_in {
            let (tx, rx) = mpsc::channel::<Token>(capacity);
            handles.push(sink(rx, n as u64 * rounds));
            for _ in 0..n {
                handles.push(source(vec![tx.clone()]));
            }
        } else {
            let (txs, rxs): (Vec<_>, Vec<_>) =
                (0..n).map(|_| mpsc::channel::<Token>(capacity)).unzip();
            handles.push(source(txs));
            for rx in rxs {
                handles.push(sink(rx, rounds));
            }
        }
        for h in handles {
            let _ = h.await;
        }
    });
}

/// Bare crossbeam fan-out or fan-in on threads.
pub(super) fn raw_crossbeam_fan(
    n: usize,
    rounds: u64,
    capacity: usize,
    fan_in: bool,
    w: &Arc<Window>,
) {
    use crossbeam_channel::{Receiver, Sender};
    let sink = |rx: Receiver<Token>, expect: u64| {
        let w = w.clone();
        std::thread::spawn(move || {
            w.start();
            let mut got = 0u64;
            while rx.recv().is_ok() {
                got += 1;
                if got >= expect {
                    w.mark_end();
                    break;
                }
            }
            w.add(got);
        })
    };
    let source = |txs: Vec<Sender<Token>>| {
        let w = w.clone();
        std::thread::spawn(move || {
            w.start();
            for r in 0..rounds {
                for tx in &txs {
                    if tx.send(Token { hops: r, step: r }).is_err() {
                        return;
                    }
                }
            }
        })
    };
    let mut handles = Vec::with_capacity(n + 1);
    if fan_in {
        let (tx, rx) = crossbeam_channel::bounded::<Token>(capacity);
        handles.push(sink(rx, n as u64 * rounds));
        for _ in 0..n {
            handles.push(source(vec![tx.clone()]));
        }
    } else {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n)
            .map(|_| crossbeam_channel::bounded::<Token>(capacity))
            .unzip();
        handles.push(source(txs));
        for rx in rxs {
            handles.push(sink(rx, rounds));
        }
    }
    for h in handles {
        let _ = h.join();
    }
}

/// The tokio runtime the bare-channel baselines run on (the same worker count as axon's).
fn bare_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("a tokio runtime starts")
}
