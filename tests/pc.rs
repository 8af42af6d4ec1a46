//! Z-IL equals backprop, per minibatch from the same weights, on real MNIST (f32, within 1e-5
//! relative, as ALGORITHMS.md prescribes), and the three negative controls break it.

use std::path::Path;

use axon::activation::Activation;
use axon::backprop::epoch_order;
use axon::dataset::{Dataset, LoadOptions};
use axon::loss::Loss;
use axon::matrix::{Matrix, Threads};
use axon::mlp::{DenseLayer, Init, Mlp};
use axon::pc::{relative_gap, zil_batch, ZilOptions};
use axon::rng::SeededRng;

fn mnist(limit: usize) -> Dataset {
    Dataset::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist"),
        &LoadOptions {
            train_limit: Some(limit),
            test_limit: Some(10),
            classes: None,
        },
    )
    .expect("shipped MNIST")
}

fn bp_gradients(net: &Mlp, x: &Matrix, labels: &[u8], loss: Loss) -> Vec<DenseLayer> {
    let mut trace = net.trace(x.rows());
    let mut grads = net.gradients(x.rows());
    let out = net.forward(x, &mut trace, Threads::ONE).clone();
    let mut dz = Matrix::zeros(x.rows(), out.cols());
    loss.evaluate(&out, labels, Some(&mut dz));
    net.backward(x, &trace, &dz, &mut grads, Threads::ONE);
    grads.layers
}

/// Walks `batches` minibatches with SGD on the BP model; at each, Z-IL from the same weights
/// must form the same gradients. Returns the largest per-layer gap seen.
fn worst_gap(widths: &[usize], batches: usize, loss: Loss, opts: ZilOptions) -> f64 {
    let data = mnist(64 * batches);
    let mut rng = SeededRng::stream(1, "weights");
    let mut bp = Mlp::new(widths, Activation::Relu, Init::Kaiming, &mut rng);
    let mut order = Vec::new();
    epoch_order(1, 1, data.train.len(), &mut order);
    let mut x = Matrix::zeros(64, widths[0]);
    let mut labels = Vec::new();
    let mut worst = 0.0f64;
    for chunk in order.chunks(64) {
        data.train.fill_batch(chunk, &mut x, &mut labels);
        let want = bp_gradients(&bp, &x, &labels, loss);
        let mut zil = bp.clone();
        let got = zil_batch(&mut zil, &x, &labels, loss, opts);
        worst = relative_gap(&got, &want).into_iter().fold(worst, f64::max);
        for (layer, g) in bp.layers_mut().iter_mut().zip(&want) {
            for (w, &d) in layer
                .weight
                .as_mut_slice()
                .iter_mut()
                .zip(g.weight.as_slice())
            {
                *w -= opts.lr * d;
            }
            for (b, &d) in layer.bias.iter_mut().zip(&g.bias) {
                *b -= opts.lr * d;
            }
        }
    }
    worst
}

#[test]
fn zil_gradients_equal_backprop_per_minibatch() {
    // A full epoch of MNIST (938 batches of 64), every batch from the current BP weights.
    let batches = 938;
    for widths in [&[784, 256, 256, 10][..], &[784, 128, 128, 128, 10][..]] {
        for loss in [Loss::CrossEntropy, Loss::Mse] {
            let gap = worst_gap(widths, batches, loss, ZilOptions::default());
            eprintln!("{widths:?} {loss:?}: worst relative gap {gap:.2e} over {batches} batches");
            assert!(gap < 1e-5, "{widths:?} {loss:?}: Z-IL vs BP gap {gap:e}");
        }
    }
}

#[test]
fn breaking_any_zil_condition_breaks_the_equality() {
    let widths = [784, 128, 128, 10];
    let controls = [
        (
            "gamma 0.9",
            ZilOptions {
                gamma: 0.9,
                ..ZilOptions::default()
            },
        ),
        (
            "no forward sweep",
            ZilOptions {
                forward_init: false,
                ..ZilOptions::default()
            },
        ),
        (
            "update before feedback",
            ZilOptions {
                update_before_feedback: true,
                lr: 0.1,
                ..ZilOptions::default()
            },
        ),
    ];
    for (what, opts) in controls {
        let gap = worst_gap(&widths, 5, Loss::CrossEntropy, opts);
        eprintln!("{what}: gap {gap:.2e}");
        assert!(
            gap > 1e-3,
            "{what} must break Z-IL's equality with BP, gap only {gap:e}"
        );
    }
}
