//! Equilibrium propagation on layer actors: the actors compute what the synchronous reference
//! ([`axon::learn::ep::EpNet`]) computes, for EP and C-EP, tied and oracle feedback, one shard or
//! several; Kolen-Pollack copies from a shared seed stay tied through an epoch with no weight
//! transport and equal the transpose oracle's weights; untied copies are reported; EP learns
//! real MNIST. (The gradient check against finite differences is a unit test of `axon::learn::ep`.)

mod common;

use axon::data::dataset::Dataset;
use axon::learn::backprop::epoch_order;
use axon::learn::coordinator::{LayerEpoch, TrainControl, TrainEvent, TrainPlan};
use axon::learn::ep::{beta_sign, EpConfig, EpNet};
use axon::learn::layer::{Feedback, KpInit, LayerConfig};
use axon::learn::train::{train_layers, train_layers_with};
use axon::math::activation::Activation;
use axon::math::loss::Loss;
use axon::math::matrix::Matrix;
use axon::math::mlp::{Init, Mlp};
use axon::math::optimizer::{OptimizerConfig, OptimizerKind, Schedule};
use axon::math::rng::SeededRng;
use axon::runtime::traffic::Traffic;
use axon::runtime::{Executor, RuntimeConfig};
use common::mnist;

const BATCH: usize = 20;

fn ep(continual: bool) -> EpConfig {
    EpConfig {
        continual,
        free_steps: 20,
        nudged_steps: 4,
        beta: 0.5,
        random_sign_beta: true,
        step: 0.5,
        layer_lr: if continual {
            vec![0.05, 0.025]
        } else {
            vec![0.1, 0.05]
        },
    }
}

fn config(ep: EpConfig, feedback: Feedback, shards: usize, batches: usize) -> LayerConfig {
    LayerConfig {
        zil: false,
        steps: 0,
        gamma: 0.0,
        forward_init: true,
        update_before_feedback: false,
        feedback,
        kp_decay: 0.0,
        kp_init: KpInit::SharedSeed,
        shards,
        loss: Loss::Mse,
        activation: Activation::HardSigmoid,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::Sgd,
            ..OptimizerConfig::default()
        },
        lr: 0.1,
        schedule: Schedule::Constant,
        total_batches: batches,
        check_gradients: false,
        asynchronous: None,
        ep: Some(ep),
        spc: None,
        probes: Vec::new(),
    }
}

fn init(widths: &[usize]) -> Mlp {
    let mut rng = SeededRng::stream(1, "weights");
    Mlp::new(widths, Activation::HardSigmoid, Init::Xavier, &mut rng)
}

fn plan(epochs: usize) -> TrainPlan {
    TrainPlan {
        epochs,
        batch_size: BATCH,
        seed: 1,
        weights: Init::Xavier,
    }
}

fn run(
    net: &Mlp,
    data: &Dataset,
    cfg: LayerConfig,
    executor: Executor,
    epochs: usize,
) -> (Vec<LayerEpoch>, Traffic) {
    let rt = RuntimeConfig {
        executor,
        workers: 2,
        ..RuntimeConfig::default()
    };
    let mut out = Vec::new();
    let report = train_layers(
        net,
        &data.train,
        &data.test,
        plan(epochs),
        cfg,
        rt,
        &mut |ev| {
            if let TrainEvent::Epoch(e) = ev {
                out.push(*e);
            }
        },
    )
    .expect("the run completes");
    (out, report.traffic)
}

/// The synchronous reference trained on the batches the coordinator sends (same order, same
/// signs of beta) for one epoch.
fn reference(net: &Mlp, data: &Dataset, cfg: &EpConfig) -> EpNet {
    let mut r = EpNet {
        layers: net.layers().to_vec(),
        rho: Activation::HardSigmoid,
    };
    let mut order = Vec::new();
    epoch_order(1, 1, data.train.len(), &mut order);
    let (mut x, mut y) = (Matrix::zeros(0, 784), Vec::new());
    for (i, idx) in order.chunks(BATCH).enumerate() {
        data.train.fill_batch(idx, &mut x, &mut y);
        let base = (i * cfg.train_span()) as u64;
        let beta = cfg.beta * beta_sign(1, base);
        r.train_batch(&x, &y, cfg, beta, 1.0);
    }
    r
}

/// Largest `||a - b|| / ||b||` over the layers' weights and biases.
fn gap(a: &[axon::math::mlp::DenseLayer], b: &[axon::math::mlp::DenseLayer]) -> f64 {
    axon::learn::pc::relative_gap(a, b)
        .into_iter()
        .fold(0.0, f64::max)
}

/// EP and C-EP on actors, with Kolen-Pollack copies from a shared seed and with the transpose
/// oracle, on one shard and on three, end an epoch (10 batches) with the weights the
/// synchronous reference reaches on the same batches, within 1e-5 relative.
#[test]
fn actors_equal_the_synchronous_reference() {
    let data = mnist(10 * BATCH, 100);
    let net = init(&[784, 24, 10]);
    for continual in [false, true] {
        let want = reference(&net, &data, &ep(continual));
        for (feedback, shards, executor) in [
            (Feedback::KolenPollack, 1, Executor::Tokio),
            (Feedback::Transpose, 1, Executor::Threads),
            (Feedback::KolenPollack, 3, Executor::Inline),
            (Feedback::Transpose, 3, Executor::Tokio),
        ] {
            let cfg = config(ep(continual), feedback, shards, 10);
            let (epochs, traffic) = run(&net, &data, cfg, executor, 1);
            let got = &epochs[0].net;
            let g = gap(got.layers(), &want.layers);
            assert!(
                g < 1e-5,
                "continual {continual}, {feedback:?}, {shards} shards: gap {g:e} to the reference"
            );
            assert!(gap(got.layers(), net.layers()) > 1e-3, "the weights moved");
            let transport = traffic.weight_transport_bytes;
            match feedback {
                Feedback::Transpose => assert!(transport > 0, "the oracle's copies are counted"),
                _ => assert_eq!(transport, 0, "Kolen-Pollack moves no weights"),
            }
        }
    }
}

/// C-EP with Kolen-Pollack copies from a shared seed, through a whole epoch (checked at a
/// checkpoint every 5 batches): the hidden layer's copy `B` equals the output's `W^T` within
/// 1e-5 relative, no weight travels, and the feedback gap reported at the epoch's end is 0.
/// The copies of untied runs (`kp_init = random`) start apart and the report says how far.
#[test]
fn kolen_pollack_copies_stay_tied_through_an_epoch() {
    let data = mnist(60 * BATCH, 100);
    let net = init(&[784, 32, 10]);
    let cfg = config(ep(true), Feedback::KolenPollack, 1, 60);
    let control = TrainControl {
        checkpoint_every: Some(5),
        ..TrainControl::default()
    };
    let rt = RuntimeConfig {
        executor: Executor::Tokio,
        workers: 2,
        ..RuntimeConfig::default()
    };
    let (mut checks, mut worst) = (0, 0.0f64);
    let mut epochs = Vec::new();
    let report = train_layers_with(
        &net,
        &data.train,
        &data.test,
        plan(1),
        cfg.clone(),
        rt,
        &control,
        &mut |ev| match ev {
            TrainEvent::Checkpoint(state) => {
                let (mut b, mut w) = (vec![0.0f32; 10 * 32], vec![0.0f32; 10 * 32]);
                state.actors["layer-1.0"]
                    .fill("feedback", &mut b)
                    .expect("the hidden layer saves its copy");
                state.actors["layer-2.0"]
                    .fill("weight", &mut w)
                    .expect("the output saves its weights");
                let diff: f64 = b
                    .iter()
                    .zip(&w)
                    .map(|(x, y)| f64::from(x - y).powi(2))
                    .sum::<f64>()
                    .sqrt();
                let norm: f64 = w.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>().sqrt();
                worst = worst.max(diff / norm);
                checks += 1;
            }
            TrainEvent::Epoch(e) => epochs.push(*e),
            TrainEvent::BatchDone { .. } | TrainEvent::Probe(_) => {}
        },
    )
    .expect("the run completes");
    assert!(checks >= 11, "{checks} checkpoints in the epoch");
    assert!(worst <= 1e-5, "copies drifted apart by {worst:e}");
    assert_eq!(report.traffic.weight_transport_bytes, 0);
    let tied = epochs[0].feedback_gap.clone().expect("the gap is reported");
    assert!(tied[0] <= 1e-5, "reported gap {tied:?}");

    let untied = LayerConfig {
        kp_init: KpInit::Random,
        ..cfg
    };
    let (epochs, traffic) = run(&net, &data, untied, Executor::Tokio, 1);
    let apart = epochs[0].feedback_gap.clone().expect("the gap is reported");
    assert!(
        apart[0] > 0.1,
        "untied copies are reported apart: {apart:?}"
    );
    assert_eq!(traffic.weight_transport_bytes, 0);
}

/// After 10 batches, EP with Kolen-Pollack copies (no transport) has the weights of EP with
/// the transpose oracle (which copies `W` down before every batch).
#[test]
fn kolen_pollack_weights_equal_the_transpose_runs_after_ten_batches() {
    let data = mnist(10 * BATCH, 100);
    let net = init(&[784, 40, 10]);
    for continual in [false, true] {
        let kp = run(
            &net,
            &data,
            config(ep(continual), Feedback::KolenPollack, 1, 10),
            Executor::Tokio,
            1,
        );
        let oracle = run(
            &net,
            &data,
            config(ep(continual), Feedback::Transpose, 1, 10),
            Executor::Tokio,
            1,
        );
        let g = gap(kp.0[0].net.layers(), oracle.0[0].net.layers());
        assert!(g <= 1e-5, "continual {continual}: gap {g:e}");
        assert_eq!(kp.1.weight_transport_bytes, 0);
        assert!(oracle.1.weight_transport_bytes > 0);
    }
}

/// EP learns real MNIST on actors: 3 epochs on 6000 images lift test accuracy far above chance
/// and lower the energy at the free fixed point's cost.
#[test]
fn ep_learns_mnist_on_actors() {
    let data = mnist(6000, 1000);
    let net = init(&[784, 100, 10]);
    let (epochs, traffic) = run(
        &net,
        &data,
        config(ep(false), Feedback::KolenPollack, 1, 900),
        Executor::Tokio,
        3,
    );
    let last = epochs.last().expect("three epochs");
    assert!(
        last.test_accuracy >= 0.85,
        "EP test accuracy {} after 3 epochs",
        last.test_accuracy
    );
    assert!(epochs[2].train_loss < epochs[0].train_loss);
    assert_eq!(
        epochs[0].free_energy.len(),
        1,
        "one energy: at the free fixed point"
    );
    assert!(epochs.iter().all(|e| e.free_energy[0].is_finite()));
    assert_eq!(traffic.weight_transport_bytes, 0);
}

/// A C-EP run (random sign of beta) resumed from a checkpoint taken in the middle of its second
/// epoch ends with exactly the weights and accuracy of the run that went through.
#[test]
fn an_ep_run_resumed_mid_epoch_ends_where_the_whole_run_ends() {
    let data = mnist(20 * BATCH, 100);
    let net = init(&[784, 24, 10]);
    let cfg = config(ep(true), Feedback::KolenPollack, 1, 40);
    let rt = RuntimeConfig {
        executor: Executor::Threads,
        workers: 2,
        ..RuntimeConfig::default()
    };
    let run_with = |control: &TrainControl| {
        let (mut epochs, mut saved) = (Vec::new(), Vec::new());
        train_layers_with(
            &net,
            &data.train,
            &data.test,
            plan(2),
            cfg.clone(),
            rt,
            control,
            &mut |ev| match ev {
                TrainEvent::Epoch(e) => epochs.push(*e),
                TrainEvent::Checkpoint(s) => saved.push(*s),
                TrainEvent::BatchDone { .. } | TrainEvent::Probe(_) => {}
            },
        )
        .expect("the run completes");
        (epochs, saved)
    };
    let every = TrainControl {
        checkpoint_every: Some(5),
        ..TrainControl::default()
    };
    let (whole, saved) = run_with(&every);
    let mid = saved
        .into_iter()
        .find(|s| s.position.epoch == 2 && s.position.next_batch == 10)
        .expect("a checkpoint after batch 10 of epoch 2");
    let (resumed, _) = run_with(&TrainControl {
        resume: Some(mid),
        ..every
    });
    assert_eq!(resumed.len(), 1, "only the second epoch is left");
    let (a, b) = (&resumed[0], &whole[1]);
    assert_eq!(gap(a.net.layers(), b.net.layers()), 0.0);
    assert_eq!(a.test_accuracy, b.test_accuracy);
    assert_eq!(a.train_loss, b.train_loss);
}
