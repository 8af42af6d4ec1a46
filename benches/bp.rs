//! Criterion bench: one BP training epoch of 784-256-256-10 on real MNIST, batch 64, one
//! thread (the README's benchmark table quotes it). With `CI` set, 4000 examples instead
//! of 60000 so the bench still runs (and checks it works) in a CI budget.

use std::path::Path;

use axon::bench::{bench_bp, BpBenchConfig};
use axon::data::dataset::{Dataset, LoadOptions};
use axon::math::optimizer::OptimizerKind;
use criterion::{criterion_group, criterion_main, Criterion};

fn bp_epoch(c: &mut Criterion) {
    let limit = std::env::var_os("CI").map(|_| 4000);
    let data = Dataset::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist"),
        &LoadOptions {
            train_limit: limit,
            ..LoadOptions::default()
        },
    )
    .expect("the shipped MNIST copy loads");
    let mut group = c.benchmark_group("bp");
    group.sample_size(10);
    for optimizer in [OptimizerKind::Sgd, OptimizerKind::Adam] {
        let cfg = BpBenchConfig {
            layers: vec![784, 256, 256, 10],
            batch_size: 64,
            threads: 1,
            epochs: 1,
            optimizer,
        };
        group.bench_function(
            format!("epoch_784-256-256-10_b64_1thread_{optimizer:?}").to_lowercase(),
            |b| b.iter(|| bench_bp(&data.train, &cfg, &mut |_, _| {})),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No plots: criterion's plot backend needs system fonts, which CI machines lack.
    config = Criterion::default().without_plots();
    targets = bp_epoch
}
criterion_main!(benches);
