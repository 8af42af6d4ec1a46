//! Diehl & Cook on a small real subset: it learns (well above chance), gives the same weights
//! on any sharding and executor, and its traffic holds no weight transport.

use super::*;
use crate::data::dataset::LoadOptions;
use crate::runtime::Executor;
use coordinator::Checkpoints;

fn data(train: usize, test: usize) -> Dataset {
    let opts = LoadOptions {
        train_limit: Some(train),
        test_limit: Some(test),
        ..LoadOptions::default()
    };
    Dataset::load(std::path::Path::new("data/mnist"), &opts).expect("the repository's MNIST copy")
}

fn config(n_exc: usize, train: usize, label: usize, test: usize) -> DiehlCookConfig {
    DiehlCookConfig {
        n_exc,
        epochs: 1,
        train_images: train,
        label_images: label,
        test_images: test,
        curve_every: 100,
        plasticity: Plasticity::diehl_cook(),
        input_delay_ms: INPUT_DELAY_MS,
    }
}

fn runtime(executor: Executor, workers: usize) -> RuntimeConfig {
    RuntimeConfig {
        executor,
        workers,
        ..RuntimeConfig::default()
    }
}

#[test]
fn shards_and_executors_give_the_same_weights() {
    let d = data(30, 10);
    let cfg = config(20, 30, 10, 10);
    let one = run_diehl_cook(
        &cfg,
        &d,
        5,
        (1, runtime(Executor::Inline, 1)),
        RunHooks::default(),
    )
    .unwrap();
    for (shards, rt) in [
        (2, runtime(Executor::Pinned, 2)),
        (3, runtime(Executor::Tokio, 2)),
    ] {
        let other = run_diehl_cook(&cfg, &d, 5, (shards, rt), RunHooks::default()).unwrap();
        assert_eq!(one.weights, other.weights, "{shards} shards");
        assert_eq!(one.theta, other.theta);
        assert_eq!(one.results.confusion, other.results.confusion);
    }
    assert!(one.results.train.spikes > 0);
    assert!(one.theta.iter().any(|&t| t > 20.0), "thresholds grew");
    let traffic = &one.report.traffic;
    assert_eq!(traffic.weight_transport_bytes, 0);
    assert!(traffic.per_kind.contains_key("spike") && traffic.per_kind.contains_key("control"));
}

#[test]
fn a_run_resumed_from_any_checkpoint_ends_with_the_same_weights() {
    let d = data(60, 10);
    let cfg = config(20, 60, 10, 10);
    for shards in [1, 2] {
        let rt = runtime(Executor::Inline, 1);
        let (to, saved) = std::sync::mpsc::channel();
        let hooks = RunHooks {
            checkpoints: Some(Checkpoints {
                every: 20,
                to,
                stop: None,
            }),
            ..RunHooks::default()
        };
        let whole = run_diehl_cook(&cfg, &d, 3, (shards, rt), hooks).unwrap();
        let saved: Vec<_> = saved.try_iter().collect();
        assert_eq!(saved.iter().map(|c| c.images).collect::<Vec<_>>(), [20, 40]);
        for c in &saved {
            let hooks = RunHooks {
                resume: Some(&c.actors),
                ..RunHooks::default()
            };
            let resumed = run_diehl_cook(&cfg, &d, 3, (shards, rt), hooks).unwrap();
            assert_eq!(
                whole.theta, resumed.theta,
                "{shards} shards from {}",
                c.images
            );
            assert_eq!(
                whole.weights, resumed.weights,
                "{shards} shards from {}",
                c.images
            );
            assert_eq!(whole.results.confusion, resumed.results.confusion);
        }
    }
}

/// Two ranks as threads (shards 0 and 1 on ranks 0 and 1, linked by ports): every rank
/// returns the one-process run's weights, thresholds and figures.
#[test]
fn two_thread_ranks_give_the_one_process_weights() {
    let d = data(30, 10);
    let cfg = config(20, 30, 10, 10);
    let rt = runtime(Executor::Pinned, 1);
    let one = run_diehl_cook(&cfg, &d, 5, (2, rt), RunHooks::default()).unwrap();
    let runs = crate::cluster::on_thread_ranks(2, |r| {
        run_diehl_cook_on(r, &cfg, &d, 5, (2, rt), RunHooks::default()).unwrap()
    });
    for (rank, run) in runs.iter().enumerate() {
        assert_eq!(one.weights, run.weights, "rank {rank}");
        assert_eq!(one.theta, run.theta, "rank {rank}");
        assert_eq!(one.results.confusion, run.results.confusion, "rank {rank}");
    }
    let (a, b) = (&one.report.traffic, &runs[0].report.traffic);
    assert_eq!(a.totals, b.totals);
    assert_eq!(a.per_kind, b.per_kind);
    assert_eq!(b.ranks.len(), 2);
}

#[test]
fn input_delays_are_whole_ticks_drawn_from_the_seed() {
    let d = input_delays(784, 10, 1, INPUT_DELAY_MS);
    assert_eq!(d, input_delays(784, 10, 1, INPUT_DELAY_MS));
    assert_ne!(d, input_delays(784, 10, 2, INPUT_DELAY_MS));
    // U(0, 10) ms truncated to 0.5 ms ticks: 0..=19, about evenly.
    assert!(d.iter().all(|&t| t < 20));
    let mean = d.iter().map(|&t| f64::from(t)).sum::<f64>() / d.len() as f64;
    assert!((mean - 9.5).abs() < 0.3, "{mean}");
    assert!(input_delays(784, 10, 1, (0.0, 0.0)).iter().all(|&t| t == 0));
    assert!(input_delays(784, 10, 1, (2.0, 2.4)).iter().all(|&t| t == 4));
}

/// The delays change what is learned (`[0, 0]` is the network without a delay line:
/// `dense::delay`'s tests check a line of zero delays against none).
#[test]
fn delays_change_the_weights() {
    let d = data(30, 10);
    let rt = (1, runtime(Executor::Inline, 1));
    let plain = DiehlCookConfig {
        input_delay_ms: (0.0, 0.0),
        ..config(20, 30, 10, 10)
    };
    let delayed = run_diehl_cook(&config(20, 30, 10, 10), &d, 5, rt, RunHooks::default());
    let plain = run_diehl_cook(&plain, &d, 5, rt, RunHooks::default()).unwrap();
    let delayed = delayed.unwrap();
    assert_ne!(delayed.weights, plain.weights);
    assert!(delayed.results.train.spikes > 0 && plain.results.train.spikes > 0);
}
