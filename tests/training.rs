//! The BP baseline through the public API: it learns real MNIST, and a seed fixes every number.

mod common;

use axon::cluster::Ranks;
use axon::experiment::checkpoint::to_safetensors;
use axon::experiment::run::{run, RunOptions, Silent};
use axon::experiment::scenario::Scenario;
use common::mnist_dir;

/// A small real-MNIST scenario; `net` goes into `[network]`, `extra` after `[train]`'s keys.
fn small(net: &str, extra: &str) -> Scenario {
    let text = format!(
        "name = \"det\"\nseed = 11\n[data]\ndir = \"{}\"\ntrain_limit = 1500\ntest_limit = 400\n\
         [network]\nlayers = [784, 24, 10]\n{net}[train]\nepochs = 2\nbatch_size = 32\n{extra}",
        mnist_dir().display()
    );
    Scenario::from_toml(&text).expect("valid scenario")
}

/// Per epoch: train loss, train accuracy, test loss, test accuracy.
type Curve = Vec<(f64, f64, f64, f64)>;

/// Everything but wall-clock time, and the final weights' file bytes.
fn fingerprint(s: &Scenario) -> (Curve, Vec<u8>) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("run");
    let summary = run(
        s,
        &RunOptions {
            out: Some(out.clone()),
            ..RunOptions::default()
        },
        &mut Silent,
        &mut Ranks::single(),
    )
    .expect("run succeeds");
    let bp = &summary.results.models["bp"];
    let numbers = bp
        .epochs
        .iter()
        .map(|e| (e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy))
        .collect();
    let weights = std::fs::read(out.join(format!(
        "checkpoints/bp/epoch-{}.safetensors",
        bp.epochs.len()
    )))
    .expect("checkpoint");
    (numbers, weights)
}

#[test]
fn same_seed_same_numbers_other_seed_other_numbers() {
    for (optimizer, activation, loss) in [
        ("adam", "relu", "cross-entropy"),
        ("momentum", "tanh", "mse"),
        ("sgd", "sigmoid", "cross-entropy"),
    ] {
        let extra = format!(
            "optimizer = \"{optimizer}\"\nloss = \"{loss}\"\nlr = {}\n[runtime]\nworkers = 1\n",
            if optimizer == "adam" { 0.002 } else { 0.05 }
        );
        let s = small(&format!("activation = \"{activation}\"\n"), &extra);
        let a = fingerprint(&s);
        let b = fingerprint(&s);
        assert_eq!(
            a, b,
            "{optimizer}/{activation}/{loss}: a seed must fix every number and weight"
        );
        let other = s.clone().with_seed(12);
        assert_ne!(
            fingerprint(&other).1,
            a.1,
            "another seed gives other weights"
        );
    }
}

#[test]
fn bp_learns_a_real_subset() {
    // 1500 real training images, 2 epochs of Adam on 784-24-10: well above 0.8 on held-out
    // test images (chance is 0.1). A broken gradient or data pipeline lands near 0.1-0.3.
    let s = small("", "lr = 0.003\n");
    let tmp = tempfile::tempdir().expect("temp dir");
    let summary = run(
        &s,
        &RunOptions {
            out: Some(tmp.path().join("r")),
            ..RunOptions::default()
        },
        &mut Silent,
        &mut Ranks::single(),
    )
    .expect("run succeeds");
    let bp = &summary.results.models["bp"];
    let first = bp.epochs[0];
    let last = bp.epochs[1];
    assert!(
        last.test_accuracy > 0.80,
        "test accuracy {}",
        last.test_accuracy
    );
    assert!(
        last.train_loss < first.train_loss,
        "training loss falls: {} -> {}",
        first.train_loss,
        last.train_loss
    );
}

#[test]
fn more_workers_give_the_same_numbers() {
    // faer splits a product across threads by output blocks, never along the sum, so the
    // baseline's numbers do not depend on the worker count.
    let one = fingerprint(&small("", "[runtime]\nworkers = 1\n"));
    let two = fingerprint(&small("", "[runtime]\nworkers = 2\n"));
    assert_eq!(one, two);
}

#[test]
fn checkpoint_bytes_are_a_function_of_the_weights() {
    let s = small("", "");
    let a = axon::experiment::run::initial_network(&s);
    let b = axon::experiment::run::initial_network(&s);
    assert_eq!(to_safetensors(&a, &[]), to_safetensors(&b, &[]));
}

#[test]
fn message_passing_inference_equals_the_synchronous_evaluation_on_every_executor() {
    use axon::runtime::{Executor, RuntimeConfig};
    let s = small("", "");
    let data = axon::experiment::run::load_data(&s).expect("data");
    let net = axon::experiment::run::initial_network(&s);
    // 400 test images: batches of up to 1000, so one batch; use the training split (1500) for
    // several batches in flight as well.
    for split in [&data.test, &data.train] {
        let want = axon::learn::backprop::evaluate(
            &net,
            split,
            axon::math::loss::Loss::CrossEntropy,
            axon::math::matrix::Threads::ONE,
        );
        for executor in Executor::ALL {
            let config = RuntimeConfig {
                executor,
                workers: 2,
                mailbox_capacity: 1,
                ..RuntimeConfig::default()
            };
            let got = axon::learn::inference::evaluate_by_messages(
                &net,
                split,
                axon::math::loss::Loss::CrossEntropy,
                config,
            )
            .unwrap_or_else(|e| panic!("{executor:?}: {e}"));
            assert_eq!(got.stats, want, "{executor:?}: same maths, same numbers");
            assert_eq!(got.report.traffic.weight_transport_bytes, 0);
        }
    }
}
