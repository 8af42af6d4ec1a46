//! The bare-channel baselines: each stress pattern on tokio's or crossbeam's channels without
//! axon's actors. They are the one place outside `mailbox` that names the channel crates:
//! measuring them is their purpose.

use std::time::Instant;

use super::Token;

/// The bare tokio channel ring: `n` tasks, the first `tokens` holding a token; each task
/// stops after handling `limit` messages.
pub(super) fn raw_tokio_ring(
    n: usize,
    tokens: usize,
    workers: usize,
    limit: u64,
    capacity: usize,
) -> f64 {
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
pub(super) fn raw_crossbeam_ring(n: usize, tokens: usize, limit: u64, capacity: usize) -> f64 {
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

/// Bare tokio fan-out (one sender task, `n` receiver tasks) or fan-in (`n` senders, one
/// receiver), `rounds` messages per pair.
pub(super) fn raw_tokio_fan(
    n: usize,
    workers: usize,
    rounds: u64,
    capacity: usize,
    fan_in: bool,
) -> f64 {
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
pub(super) fn raw_crossbeam_fan(n: usize, rounds: u64, capacity: usize, fan_in: bool) -> f64 {
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

pub(super) fn raw_tokio_ring_one_token(workers: usize, limit: u64) -> f64 {
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

pub(super) fn raw_crossbeam_ping_pong(limit: u64) -> f64 {
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

/// The tokio runtime the bare-channel baselines run on (the same worker count as axon's).
fn bare_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("a tokio runtime starts")
}
