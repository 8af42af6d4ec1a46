//! Predictive coding on layer actors: Z-IL equals backprop per minibatch (from the same
//! weights) on every executor and sharding; the negative controls break it; Kolen-Pollack
//! with a shared seed needs no weight transport; sharding does not change the numbers.

mod common;

use axon::data::dataset::Dataset;
use axon::learn::coordinator::{LayerEpoch, TrainEvent, TrainPlan};
use axon::learn::layer::{Feedback, KpInit, LayerConfig};
use axon::learn::train::train_layers;
use axon::math::activation::Activation;
use axon::math::loss::Loss;
use axon::math::mlp::{Init, Mlp};
use axon::math::optimizer::{OptimizerConfig, OptimizerKind, Schedule};
use axon::math::rng::SeededRng;
use axon::runtime::traffic::Traffic;
use axon::runtime::{Executor, RuntimeConfig};
use common::mnist;

fn zil_config(batches: usize) -> LayerConfig {
    LayerConfig {
        zil: true,
        steps: 0,
        gamma: 1.0,
        forward_init: true,
        update_before_feedback: false,
        feedback: Feedback::Transpose,
        kp_decay: 0.0,
        kp_init: KpInit::SharedSeed,
        shards: 1,
        loss: Loss::CrossEntropy,
        activation: Activation::Relu,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::Sgd,
            ..OptimizerConfig::default()
        },
        lr: 0.05,
        schedule: Schedule::Constant,
        total_batches: batches,
        check_gradients: true,
        asynchronous: None,
        ep: None,
        spc: None,
        probes: Vec::new(),
    }
}

fn runtime(executor: Executor, workers: usize) -> RuntimeConfig {
    RuntimeConfig {
        executor,
        workers,
        ..RuntimeConfig::default()
    }
}

fn run(
    widths: &[usize],
    data: &Dataset,
    cfg: LayerConfig,
    rt: RuntimeConfig,
    epochs: usize,
) -> (Vec<LayerEpoch>, Traffic) {
    run_at(widths, data, cfg, rt, epochs, 64)
}

/// [`run`] at batch size `batch_size`.
fn run_at(
    widths: &[usize],
    data: &Dataset,
    cfg: LayerConfig,
    rt: RuntimeConfig,
    epochs: usize,
    batch_size: usize,
) -> (Vec<LayerEpoch>, Traffic) {
    let init = init(widths);
    let plan = TrainPlan {
        epochs,
        batch_size,
        seed: 1,
        weights: Init::Kaiming,
    };
    let mut out = Vec::new();
    let report = train_layers(&init, &data.train, &data.test, plan, cfg, rt, &mut |ev| {
        if let TrainEvent::Epoch(e) = ev {
            out.push(*e);
        }
    })
    .expect("the run completes");
    (out, report.traffic)
}

/// The initial network every run here starts from.
fn init(widths: &[usize]) -> Mlp {
    let mut rng = SeededRng::stream(1, "weights");
    Mlp::new(widths, Activation::Relu, Init::Kaiming, &mut rng)
}

fn worst(epochs: &[LayerEpoch]) -> f64 {
    epochs
        .iter()
        .flat_map(|e| e.grad_gap.clone().expect("gradient checks on"))
        .fold(0.0, f64::max)
}

/// Every executor and 1 or 4 shards: Z-IL's gradients equal backprop's from the same weights
/// at every batch, within 1e-5 relative, with transpose feedback (counted weight transport).
#[test]
fn zil_actors_equal_backprop_per_minibatch_on_every_executor_and_sharding() {
    let data = mnist(640, 100);
    for executor in Executor::ALL {
        for shards in [1, 4] {
            for widths in [&[784, 64, 48, 10][..], &[784, 32, 32, 32, 10][..]] {
                let cfg = LayerConfig {
                    shards,
                    ..zil_config(10)
                };
                let (epochs, traffic) = run(widths, &data, cfg, runtime(executor, 2), 1);
                let gap = worst(&epochs);
                assert!(
                    gap < 1e-5,
                    "{executor:?} shards {shards} {widths:?}: gap {gap}"
                );
                assert!(traffic.weight_transport_bytes > 0);
            }
        }
    }
}

/// Z-IL's output error is `-dL/dz * batch` per example, and its gradients divide by the batch
/// again: with a power-of-two batch both scalings are exact in f32, and the actors' gradients
/// equal backprop's from the same weights bit for bit at every minibatch (gap exactly 0.0 over
/// 50 batches of 64), so SGD on either gives the same weights to the bit. At batch 100 the
/// round trip rounds, and the gap stays within 1e-6 at every minibatch.
#[test]
fn zil_actors_are_bit_exact_when_the_batch_is_a_power_of_two() {
    use axon::learn::backprop::{Backprop, TrainConfig};
    use axon::math::matrix::Threads;
    let widths = [784, 64, 48, 10];
    for (batch, bound) in [(64, 0.0), (100, 1e-6)] {
        let data = mnist(50 * batch, 100);
        let rt = runtime(Executor::Inline, 1);
        let (epochs, _) = run_at(&widths, &data, zil_config(50), rt, 1, batch);
        let gap = worst(&epochs);
        eprintln!("batch {batch}: worst gradient gap over 50 minibatches {gap:e}");
        assert!(
            gap <= bound,
            "batch {batch}: gradient gap {gap:e} > {bound:e}"
        );
        if batch == 64 {
            assert_eq!(gap, 0.0);
            let cfg = zil_config(50);
            let mut bp = Backprop::new(
                init(&widths),
                TrainConfig {
                    batch_size: batch,
                    lr: cfg.lr,
                    schedule: cfg.schedule,
                    epochs: 1,
                    loss: cfg.loss,
                    optimizer: cfg.optimizer,
                    seed: 1,
                    threads: Threads::ONE,
                },
            );
            bp.train_epoch(&data.train, 1, &mut |_, _| {});
            let weights = max_weight_gap(&epochs[0].net, bp.net());
            eprintln!("batch 64: weight gap after 50 minibatches {weights:e}");
            assert_eq!(weights, 0.0, "weights after 50 batches of 64");
        }
    }
}

/// Kolen-Pollack from a shared seed keeps B = W^T with no message: still exact, and no byte
/// of weight transport.
#[test]
fn zil_with_shared_seed_kolen_pollack_is_exact_without_weight_transport() {
    let data = mnist(640, 100);
    for shards in [1, 4] {
        let cfg = LayerConfig {
            feedback: Feedback::KolenPollack,
            kp_init: KpInit::SharedSeed,
            shards,
            optimizer: OptimizerConfig {
                kind: OptimizerKind::Adam,
                ..OptimizerConfig::default()
            },
            lr: 1e-3,
            ..zil_config(10)
        };
        let (epochs, traffic) = run(
            &[784, 64, 48, 10],
            &data,
            cfg,
            runtime(Executor::Tokio, 2),
            1,
        );
        let gap = worst(&epochs);
        assert!(gap < 1e-5, "shards {shards}: gap {gap}");
        assert_eq!(traffic.weight_transport_bytes, 0);
        assert!(!traffic.per_kind.contains_key("weight_transport"));
    }
}

/// The three ways to break Z-IL each break the equality by far more than 1e-3.
#[test]
fn negative_controls_break_the_equality() {
    let data = mnist(320, 100);
    let controls = [
        (
            "gamma 0.9",
            LayerConfig {
                gamma: 0.9,
                ..zil_config(5)
            },
        ),
        (
            "no forward sweep",
            LayerConfig {
                forward_init: false,
                ..zil_config(5)
            },
        ),
        (
            "update before feedback",
            LayerConfig {
                update_before_feedback: true,
                ..zil_config(5)
            },
        ),
        (
            "update before feedback (kolen-pollack)",
            LayerConfig {
                update_before_feedback: true,
                feedback: Feedback::KolenPollack,
                ..zil_config(5)
            },
        ),
    ];
    for (name, cfg) in controls {
        let (epochs, _) = run(
            &[784, 64, 48, 10],
            &data,
            cfg,
            runtime(Executor::Inline, 1),
            1,
        );
        let gap = worst(&epochs);
        assert!(gap > 1e-3, "{name}: gap {gap} should exceed 1e-3");
    }
}

fn layer_config(shards: usize, batches: usize) -> LayerConfig {
    LayerConfig {
        zil: false,
        steps: 8,
        gamma: 0.1,
        shards,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::Adam,
            ..OptimizerConfig::default()
        },
        lr: 1e-3,
        check_gradients: false,
        ..zil_config(batches)
    }
}

fn max_weight_gap(a: &Mlp, b: &Mlp) -> f64 {
    axon::learn::pc::relative_gap(a.layers(), b.layers())
        .into_iter()
        .fold(0.0, f64::max)
}

/// One actor per neuron (32 hidden actors) gives the numbers of one actor per layer, and a
/// run is the same on every executor.
#[test]
fn one_actor_per_neuron_equals_one_actor_per_layer() {
    let data = mnist(1000, 500);
    let widths = [784, 32, 10];
    let (one, _) = run(
        &widths,
        &data,
        layer_config(1, 48),
        runtime(Executor::Inline, 1),
        3,
    );
    let (per_neuron, traffic) = run(
        &widths,
        &data,
        layer_config(32, 48),
        runtime(Executor::Tokio, 2),
        3,
    );
    let gap = max_weight_gap(&per_neuron[2].net, &one[2].net);
    assert!(gap < 1e-6, "weights differ by {gap}");
    assert!((per_neuron[2].test_accuracy - one[2].test_accuracy).abs() < 1e-9);
    assert!(
        one[2].test_accuracy > 0.7,
        "learns: {}",
        one[2].test_accuracy
    );
    assert!(traffic.per_edge.iter().any(|e| e.from == "layer-1.31"));
}

/// A lockstep run is deterministic: the same seed gives bit-identical weights and energies
/// whatever the executor or worker count.
#[test]
fn lockstep_runs_are_deterministic_across_executors() {
    let data = mnist(640, 100);
    let widths = [784, 48, 32, 10];
    let (a, _) = run(
        &widths,
        &data,
        layer_config(3, 10),
        runtime(Executor::Inline, 1),
        1,
    );
    for executor in [Executor::Tokio, Executor::Threads] {
        let (b, _) = run(&widths, &data, layer_config(3, 10), runtime(executor, 2), 1);
        assert_eq!(a[0].net, b[0].net, "{executor:?}");
        assert_eq!(a[0].free_energy, b[0].free_energy, "{executor:?}");
    }
    // Energy falls during inference.
    let f = &a[0].free_energy;
    assert!(f[f.len() - 1] < f[0], "{f:?}");
}

/// Random feedback and direct feedback learn with no weight transport.
#[test]
fn local_feedback_modes_learn_without_weight_transport() {
    let data = mnist(3000, 500);
    for feedback in [Feedback::Random, Feedback::Direct, Feedback::KolenPollack] {
        let cfg = LayerConfig {
            feedback,
            kp_init: KpInit::Random,
            ..layer_config(2, 94)
        };
        let (epochs, traffic) = run(
            &[784, 64, 64, 10],
            &data,
            cfg,
            runtime(Executor::Tokio, 2),
            2,
        );
        assert_eq!(traffic.weight_transport_bytes, 0, "{feedback:?}");
        // Well above chance (0.1) after 94 batches; random feedback starts slowest (its B
        // has to be aligned with first).
        assert!(
            epochs[1].test_accuracy > 0.3,
            "{feedback:?}: {}",
            epochs[1].test_accuracy
        );
    }
}
