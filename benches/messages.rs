//! Criterion micro-benches of the actor runtime: a loaded ring and ping-pong on each
//! executor. With `CI` set, sizes shrink so the bench only checks that it runs.
//! (`axon bench messages` prints the same patterns next to the bare channels.)

use axon::bench::stress::ring;
use axon::runtime::{Executor, Runtime, RuntimeConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn messaging(c: &mut Criterion) {
    let ci = std::env::var_os("CI").is_some();
    let (actors, hops, trips) = if ci {
        (100, 20, 2_000)
    } else {
        (1_000, 200, 20_000)
    };
    let mut group = c.benchmark_group("messages");
    group.sample_size(10);
    for executor in Executor::ALL {
        let n = if executor == Executor::Threads {
            8
        } else {
            actors
        };
        let cfg = RuntimeConfig {
            executor,
            workers: 2,
            ..RuntimeConfig::default()
        };
        // No throughput figure for the loaded ring: the run ends when the first actor has
        // handled `hops` messages, and how far the others got depends on scheduling.
        // `axon bench messages` counts the messages actually handled.
        group.throughput(Throughput::Elements(1));
        group.bench_function(
            format!("ring_loaded_{n}_{executor:?}").to_lowercase(),
            |b| {
                b.iter(|| {
                    Runtime::new(cfg)
                        .run(ring(n, |_| true, hops))
                        .expect("ring runs")
                })
            },
        );
        group.throughput(Throughput::Elements(2 * trips));
        group.bench_function(format!("ping_pong_{executor:?}").to_lowercase(), |b| {
            b.iter(|| {
                Runtime::new(cfg)
                    .run(ring(2, |i| i == 0, trips))
                    .expect("ping-pong runs")
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No plots: criterion's plot backend needs system fonts, which CI machines lack.
    config = Criterion::default().without_plots();
    targets = messaging
}
criterion_main!(benches);
